"""A local stand-in for Coinbase Advanced Trade's private REST API (api/v3/brokerage: orders,
orders/batch_cancel, orders/historical/batch, accounts, key_permissions), for the order gateway's
tests without internet. It checks every request's CB-ACCESS-KEY / CB-ACCESS-SIGN / CB-ACCESS-TIMESTAMP
as Coinbase documents its API-key (HMAC) authentication: hex HMAC-SHA256 of timestamp + method +
request path + body with the secret. Bodies follow the API reference: `success_response` /
`error_response` on create, `results` on batch cancel, `orders` with `order_configuration`,
`filled_size`, `average_filled_price` and `status` (OPEN, FILLED, CANCELLED) on the history."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from typing import Any

from aiohttp import web

API_KEY = "standin-coinbase-key"
SECRET = "standin-coinbase-secret-0123456789"  # not base64: ccxt signs with HMAC, not a cloud JWT
PREFIX = "/api/v3/brokerage"


class CoinbaseRestStandIn:
    def __init__(self, *, can_trade: bool = True, can_transfer: bool = False) -> None:
        self.orders: dict[str, dict[str, Any]] = {}  # order_id -> order
        self.create_requests: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.reject_creates = 0  # the next N creates fail with INSUFFICIENT_FUND
        self.permissions = {"can_view": True, "can_trade": can_trade, "can_transfer": can_transfer}
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
        app.router.add_post(f"{PREFIX}/orders", self._create)
        app.router.add_post(f"{PREFIX}/orders/batch_cancel", self._cancel)
        app.router.add_get(f"{PREFIX}/orders/historical/batch", self._history)
        app.router.add_get(f"{PREFIX}/accounts", self._accounts)
        app.router.add_get(f"{PREFIX}/key_permissions", self._key_permissions)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def open_orders(self) -> dict[str, dict[str, Any]]:
        return {i: o for i, o in self.orders.items() if o["status"] == "OPEN"}

    def by_client_id(self, client_id: str) -> dict[str, Any]:
        return next(o for o in self.orders.values() if o["client_order_id"] == client_id)

    def fill(self, order_id: str, qty: float) -> None:
        """The market trades `qty` of a resting order at its limit price."""
        order = self.orders[order_id]
        config = order["order_configuration"]["limit_limit_gtc"]
        filled = float(order["filled_size"]) + qty
        order["filled_size"] = f"{filled:.8f}"
        order["average_filled_price"] = config["limit_price"]
        order["filled_value"] = f"{filled * float(config['limit_price']):.8f}"
        order["completion_percentage"] = f"{100 * filled / float(config['base_size']):.2f}"
        if filled >= float(config["base_size"]) - 1e-12:
            order["status"] = "FILLED"

    def _authentic(self, request: web.Request, body: str) -> bool:
        timestamp = request.headers.get("CB-ACCESS-TIMESTAMP", "")
        message = timestamp + request.method + request.path + body
        expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
        fresh = timestamp.isdigit() and abs(int(timestamp) - time.time()) < 30
        ok = (
            request.headers.get("CB-ACCESS-KEY") == API_KEY
            and request.headers.get("CB-ACCESS-SIGN") == expected
        )
        if not (ok and fresh):
            self.bad_signatures += 1
        return ok and fresh

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"error": "unauthorized", "message": "invalid signature"}, status=401)

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.text()
        if not self._authentic(request, body):
            return self._unauthorized()
        params = json.loads(body)
        self.create_requests.append(params)
        client_id = params["client_order_id"]
        if self.reject_creates > 0:
            self.reject_creates -= 1
            return web.json_response(
                {
                    "success": False,
                    "failure_reason": "UNKNOWN_FAILURE_REASON",
                    "order_id": "",
                    "error_response": {
                        "error": "INSUFFICIENT_FUND",
                        "message": "Insufficient balance in source account",
                        "error_details": "",
                        "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",
                    },
                    "order_configuration": params.get("order_configuration"),
                }
            )
        for order in self.orders.values():  # Coinbase answers a reused client_order_id with the first order
            if order["client_order_id"] == client_id:
                return web.json_response(self._success(order))
        order_id = str(uuid.UUID(int=next(self._ids)))
        order = {
            "order_id": order_id, "product_id": params["product_id"], "user_id": "standin",
            "order_configuration": params["order_configuration"], "side": params["side"],
            "client_order_id": client_id, "status": "OPEN", "time_in_force": "GOOD_UNTIL_CANCELLED",
            "created_time": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
            "completion_percentage": "0", "filled_size": "0", "average_filled_price": "0", "fee": "",
            "number_of_fills": "0", "filled_value": "0", "pending_cancel": False, "size_in_quote": False,
            "total_fees": "0", "size_inclusive_of_fees": False, "total_value_after_fees": "0",
            "trigger_status": "INVALID_ORDER_TYPE", "order_type": "LIMIT", "reject_reason": "",
            "settled": False, "product_type": "SPOT", "reject_message": "", "cancel_message": "",
        }  # fmt: skip
        self.orders[order_id] = order
        return web.json_response(self._success(order))

    @staticmethod
    def _success(order: dict[str, Any]) -> dict[str, Any]:
        return {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": order["order_id"],
            "success_response": {
                "order_id": order["order_id"],
                "product_id": order["product_id"],
                "side": order["side"],
                "client_order_id": order["client_order_id"],
            },
            "order_configuration": order["order_configuration"],
        }

    async def _cancel(self, request: web.Request) -> web.Response:
        body = await request.text()
        if not self._authentic(request, body):
            return self._unauthorized()
        results = []
        for order_id in json.loads(body).get("order_ids", []):
            order = self.orders.get(order_id)
            if order is None or order["status"] != "OPEN":
                results.append(
                    {"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": order_id}
                )
                continue
            order["status"] = "CANCELLED"
            results.append(
                {"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": order_id}
            )
        return web.json_response({"results": results})

    async def _history(self, request: web.Request) -> web.Response:
        if not self._authentic(request, ""):
            return self._unauthorized()
        statuses = request.query.getall("order_status", [])
        product = request.query.get("product_id")
        orders = [
            o
            for o in self.orders.values()
            if (not statuses or o["status"] in statuses) and (product is None or o["product_id"] == product)
        ]
        return web.json_response({"orders": orders, "sequence": "0", "has_next": False, "cursor": ""})

    async def _accounts(self, request: web.Request) -> web.Response:
        if not self._authentic(request, ""):
            return self._unauthorized()
        accounts = [
            {
                "uuid": str(uuid.UUID(int=1000 + i)), "name": f"{currency} Wallet", "currency": currency,
                "available_balance": {"value": value, "currency": currency}, "default": True, "active": True,
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z", "deleted_at": None,
                "type": "ACCOUNT_TYPE_CRYPTO" if currency != "USD" else "ACCOUNT_TYPE_FIAT", "ready": True,
                "hold": {"value": "0", "currency": currency},
            }
            for i, (currency, value) in enumerate((("USD", "10000"), ("BTC", "0.5")))
        ]  # fmt: skip
        return web.json_response(
            {"accounts": accounts, "has_next": False, "cursor": "", "size": len(accounts)}
        )

    async def _key_permissions(self, request: web.Request) -> web.Response:
        if not self._authentic(request, ""):
            return self._unauthorized()
        return web.json_response(
            {**self.permissions, "portfolio_uuid": str(uuid.UUID(int=7)), "portfolio_type": "DEFAULT"}
        )
