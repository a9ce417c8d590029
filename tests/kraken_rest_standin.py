"""A local stand-in for Kraken's private REST API (AddOrder, CancelOrder, OpenOrders, ClosedOrders,
BalanceEx), for the
order gateway's tests without internet. It checks every request's API-Key and API-Sign exactly as
Kraken documents them (HMAC-SHA512 of the path and SHA256(nonce + body) with the base64 secret),
keeps orders by txid and client order id, refuses a duplicate open client order id, and can hold
an AddOrder response past the client's timeout (the order is placed, the answer is lost)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

API_KEY = "standin-key"
SECRET = base64.b64encode(b"standin-secret-bytes-0123456789").decode()
ALTNAME = {"XXBTZUSD": "XBTUSD"}


class KrakenRestStandIn:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}  # txid -> order
        self.add_requests: list[dict[str, str]] = []
        self.bad_signatures = 0
        self.hold_next_add_s = 0.0
        self.reject_adds = 0  # the next N AddOrders are refused (EOrder:Insufficient funds)
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        app = web.Application()
        for name in ("AddOrder", "CancelOrder", "OpenOrders", "ClosedOrders", "BalanceEx"):
            app.router.add_post(f"/0/private/{name}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def open_orders(self) -> dict[str, dict[str, Any]]:
        return {t: o for t, o in self.orders.items() if o["status"] == "open"}

    def by_client_id(self, client_id: str) -> tuple[str, dict[str, Any]]:
        return next((t, o) for t, o in self.orders.items() if o.get("cl_ord_id") == client_id)

    def fill(self, txid: str, qty: float) -> None:
        """The market trades `qty` of a resting order at its limit price (Kraken's vol_exec, cost, price)."""
        order = self.orders[txid]
        order["vol_exec"] = f"{float(order['vol_exec']) + qty:.8f}"
        order["cost"] = f"{float(order['cost']) + qty * float(order['descr']['price']):.8f}"
        order["price"] = f"{float(order['cost']) / float(order['vol_exec']):.8f}"
        if float(order["vol_exec"]) >= float(order["vol"]) - 1e-12:
            order["status"] = "closed"
            order["closetm"] = time.time()

    def cancel_by_venue(self, txid: str) -> None:
        """The venue closes an order on its own (an expiry, a self-trade prevention)."""
        self.orders[txid]["status"] = "canceled"
        self.orders[txid]["reason"] = "Order expired"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        params = dict(parse_qsl(body))
        digest = hashlib.sha256((params.get("nonce", "") + body).encode()).digest()
        expected = base64.b64encode(
            hmac.new(base64.b64decode(SECRET), request.path.encode() + digest, hashlib.sha512).digest()
        ).decode()
        if request.headers.get("API-Key") != API_KEY or request.headers.get("API-Sign") != expected:
            self.bad_signatures += 1
            return web.json_response({"error": ["EAPI:Invalid signature"]})
        name = request.path.rsplit("/", 1)[1]
        if name == "AddOrder":
            return await self._add(params)
        if name == "CancelOrder":
            order = self.orders.get(params.get("txid", ""))
            if order is None or order["status"] != "open":
                return web.json_response({"error": ["EOrder:Unknown order"]})
            order["status"] = "canceled"
            return web.json_response({"error": [], "result": {"count": 1}})
        if name == "ClosedOrders":
            client_id = params.get("cl_ord_id")
            closed = {
                t: o
                for t, o in self.orders.items()
                if o["status"] != "open" and (client_id is None or o.get("cl_ord_id") == client_id)
            }
            return web.json_response({"error": [], "result": {"closed": closed, "count": len(closed)}})
        if name == "BalanceEx":
            return web.json_response(
                {
                    "error": [],
                    "result": {
                        "ZUSD": {"balance": "10000.0000", "hold_trade": "0.0000"},
                        "XXBT": {"balance": "0.5000000000", "hold_trade": "0.0000000000"},
                    },
                }
            )
        return web.json_response({"error": [], "result": {"open": self.open_orders()}})

    async def _add(self, params: dict[str, str]) -> web.Response:
        self.add_requests.append(params)
        client_id = params.get("cl_ord_id")
        if client_id and any(o.get("cl_ord_id") == client_id for o in self.open_orders().values()):
            return web.json_response({"error": ["EOrder:Duplicate cl_ord_id"]})
        if self.reject_adds > 0 or float(params.get("volume", "0")) > 1:
            self.reject_adds = max(0, self.reject_adds - 1)
            return web.json_response({"error": ["EOrder:Insufficient funds"]})
        txid = f"O{next(self._ids):05d}-STAND-IN"
        pair = ALTNAME.get(params["pair"], params["pair"])
        descr = f"{params['type']} {params['volume']} {pair} @ limit {params['price']}"
        self.orders[txid] = {
            "refid": None, "userref": 0, "cl_ord_id": client_id, "status": "open", "opentm": time.time(),
            "starttm": 0, "expiretm": 0, "vol": params["volume"], "vol_exec": "0.00000000", "cost": "0",
            "fee": "0", "price": "0", "misc": "", "oflags": "fciq",
            "descr": {"pair": pair, "type": params["type"], "ordertype": params["ordertype"],
                      "price": params["price"], "price2": "0", "leverage": "none", "order": descr, "close": ""},
        }  # fmt: skip
        if self.hold_next_add_s:
            hold, self.hold_next_add_s = self.hold_next_add_s, 0.0
            await asyncio.sleep(hold)  # placed, but the answer arrives after the client gave up
        return web.json_response({"error": [], "result": {"descr": {"order": descr}, "txid": [txid]}})
