"""A local stand-in for the venues' public order-book websockets, for tests without internet.

One aiohttp server over TLS (a self-signed certificate made here, trusted by the client through
ccxt's `cafile` option) speaking one venue's message format, as the venues document it and as
ccxt's parsers read it: Coinbase Advanced Trade `level2` (`l2_data`, `sequence_num`), Kraken
websocket v2 `book` (with its CRC32 checksum), Hyperliquid `l2Book` (full snapshots). It keeps
each product's book, answers a subscribe with a snapshot, and lets a test push deltas, lose a
message (a sequence gap), send a wrong checksum, or drop every connection.

The server runs on its own thread and loop; every public method is thread-safe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Levels = dict[Decimal, Decimal]


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "standin-cert.pem", directory / "standin-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def kraken_checksum(bids: Levels, asks: Levels, pair_decimals: int, lot_decimals: int) -> int:
    """Kraken v2's book checksum, written from the venue's documentation (Decimal strings)."""

    def digits(value: Decimal, places: int) -> str:
        return format(value, f".{places}f").replace(".", "").lstrip("0")

    text = "".join(
        digits(p, pair_decimals) + digits(asks[p], lot_decimals) for p in sorted(asks)[:10]
    ) + "".join(
        digits(p, pair_decimals) + digits(bids[p], lot_decimals) for p in sorted(bids, reverse=True)[:10]
    )
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


# ccxt market entries (what load_markets would build from the venues' REST market lists)
MARKETS: dict[str, dict[str, dict[str, Any]]] = {
    "coinbase": {
        "BTC/USD": {
            "id": "BTC-USD",
            "symbol": "BTC/USD",
            "base": "BTC",
            "quote": "USD",
            "baseId": "BTC",
            "quoteId": "USD",
            "type": "spot",
            "spot": True,
            "swap": False,
            "active": True,
            "precision": {"price": 0.01, "amount": 1e-8},
            "limits": {},
            "info": {},
        },
        "ETH/USD": {
            "id": "ETH-USD",
            "symbol": "ETH/USD",
            "base": "ETH",
            "quote": "USD",
            "baseId": "ETH",
            "quoteId": "USD",
            "type": "spot",
            "spot": True,
            "swap": False,
            "active": True,
            "precision": {"price": 0.01, "amount": 1e-8},
            "limits": {},
            "info": {},
        },
    },
    "kraken": {
        "BTC/USD": {
            "id": "XXBTZUSD",
            "symbol": "BTC/USD",
            "base": "BTC",
            "quote": "USD",
            "baseId": "XXBT",
            "quoteId": "ZUSD",
            "type": "spot",
            "spot": True,
            "swap": False,
            "active": True,
            "precision": {"price": 0.01, "amount": 1e-8},
            "limits": {},
            "info": {"wsname": "XBT/USD", "pair_decimals": 2, "lot_decimals": 8},
        },
    },
    "hyperliquid": {
        "BTC/USDC:USDC": {
            "id": "0",
            "symbol": "BTC/USDC:USDC",
            "base": "BTC",
            "quote": "USDC",
            "settle": "USDC",
            "baseId": "0",
            "quoteId": "USDC",
            "baseName": "BTC",
            "type": "swap",
            "spot": False,
            "swap": True,
            "contract": True,
            "linear": True,
            "active": True,
            "precision": {"price": 1, "amount": 0.00001},
            "limits": {},
            "info": {},
        },
        "PURR/USDC": {
            "id": "PURR/USDC",
            "symbol": "PURR/USDC",
            "base": "PURR",
            "quote": "USDC",
            "baseId": "1",
            "quoteId": "USDC",
            "baseName": "PURR",
            "type": "spot",
            "spot": True,
            "swap": False,
            "active": True,
            "precision": {"price": 0.00001, "amount": 1},
            "limits": {},
            "info": {},
        },
    },
}
KRAKEN_DECIMALS = {"BTC/USD": (2, 8)}


class VenueStandIn:
    """A venue's public book websocket on 127.0.0.1 over TLS."""

    def __init__(self, venue: str, cert: Path, key: Path) -> None:
        self.venue = venue
        self.books: dict[str, tuple[Levels, Levels]] = {}  # wire id -> (bids, asks)
        self.subscribed: dict[web.WebSocketResponse, set[str]] = {}
        self.seq = 0  # coinbase: per server here (one connection at a time in the tests)
        self.connections = 0
        self.subscribe_requests: list[Any] = []
        self.channels: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._snapshots_allowed = asyncio.Event()
        self._snapshots_allowed.set()
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(str(cert), str(key))
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = self._call(self._start())

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/ws"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def close(self) -> None:
        self.hold_snapshots(False)  # let held subscribe handlers finish
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ test controls

    def set_book(self, wire_id: str, bids: dict[str, str], asks: dict[str, str]) -> None:
        """The product's book (what the next subscribe's snapshot shows)."""
        self._loop.call_soon_threadsafe(
            self.books.__setitem__,
            wire_id,
            (
                {Decimal(p): Decimal(q) for p, q in bids.items()},
                {Decimal(p): Decimal(q) for p, q in asks.items()},
            ),
        )

    def update(
        self,
        wire_id: str,
        bids: dict[str, str] | None = None,
        asks: dict[str, str] | None = None,
        *,
        lose: bool = False,
        bad_checksum: bool = False,
    ) -> None:
        """Apply a delta to the product's book and send it; `lose` skips the send (a gap on
        coinbase: the next message's sequence_num jumps), `bad_checksum` sends a wrong CRC."""
        self._call(self._update(wire_id, bids or {}, asks or {}, lose, bad_checksum))

    def hold_snapshots(self, hold: bool) -> None:
        """While held, subscribes are acknowledged but their snapshots wait."""
        event = self._snapshots_allowed
        self._loop.call_soon_threadsafe(event.clear if hold else event.set)

    def move_to(self, wire_id: str, mid: Decimal, step: Decimal, levels: int = 5, qty: str = "0.5") -> None:
        """Replace the product's book by `levels` per side around `mid` (one delta message)."""
        bids, asks = self.book(wire_id)
        new_bids = {mid - step * (i + 1): Decimal(qty) for i in range(levels)}
        new_asks = {mid + step * (i + 1): Decimal(qty) for i in range(levels)}
        bid_delta = {str(p): "0" for p in bids if p not in new_bids} | {
            str(p): str(q) for p, q in new_bids.items()
        }
        ask_delta = {str(p): "0" for p in asks if p not in new_asks} | {
            str(p): str(q) for p, q in new_asks.items()
        }
        self.update(wire_id, bids=bid_delta, asks=ask_delta)

    def heartbeat(self) -> None:
        """Coinbase: one `heartbeats` message to every connection (sequenced like the rest)."""
        self._call(self._heartbeat())

    async def _heartbeat(self) -> None:
        for ws in list(self.subscribed):
            await self._send(
                ws,
                {
                    "channel": "heartbeats",
                    "client_id": "",
                    "timestamp": _now_iso(),
                    "events": [{"current_time": _now_iso(), "heartbeat_counter": "1"}],
                },
            )

    def subscribers(self) -> int:
        return sum(1 for subs in self.subscribed.values() if subs)

    def drop_all(self) -> None:
        """Close every client connection (the venue going away for a moment)."""
        self._call(self._drop_all())

    def book(self, wire_id: str) -> tuple[Levels, Levels]:
        return self._call(self._copy(wire_id))

    async def _copy(self, wire_id: str) -> tuple[Levels, Levels]:
        bids, asks = self.books[wire_id]
        return dict(bids), dict(asks)

    async def _drop_all(self) -> None:
        for ws in list(self.subscribed):
            await ws.close()

    # ------------------------------------------------------------------ the server

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self.subscribed[ws] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._on_request(ws, json.loads(msg.data))
        finally:
            self.subscribed.pop(ws, None)
        return ws

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        if self.venue == "coinbase":
            self.seq += 1
            payload = {**payload, "sequence_num": self.seq}
        if not ws.closed:
            await ws.send_str(json.dumps(payload))

    async def _on_request(self, ws: web.WebSocketResponse, req: dict[str, Any]) -> None:
        self.subscribe_requests.append(req)
        # kraken and hyperliquid keepalives (ccxt sends Kraken's v1 form `event` on a URL without "v2")
        if req.get("method") == "ping" or req.get("event") == "ping":
            await ws.send_str(
                json.dumps({"method": "pong"} if self.venue == "kraken" else {"channel": "pong"})
            )
            return
        if self.venue == "coinbase" and req.get("type") == "subscribe":
            ids = [str(p) for p in req.get("product_ids", [])] if req.get("channel") == "level2" else []
            self.channels.add(str(req.get("channel")))
            await self._send(
                ws,
                {
                    "channel": "subscriptions",
                    "client_id": "",
                    "timestamp": _now_iso(),
                    "events": [{"subscriptions": {"level2": ids}}],
                },
            )
        elif self.venue == "kraken" and req.get("method") == "subscribe":
            ids = [str(p) for p in req["params"]["symbol"]]
            for wire in ids:
                await ws.send_str(
                    json.dumps(
                        {
                            "method": "subscribe",
                            "success": True,
                            "req_id": req.get("req_id"),
                            "result": {"channel": "book", "depth": 10, "snapshot": True, "symbol": wire},
                        }
                    )
                )
        elif self.venue == "hyperliquid" and req.get("method") == "subscribe":
            ids = [str(req["subscription"]["coin"])]
            await ws.send_str(json.dumps({"channel": "subscriptionResponse", "data": req}))
        else:
            return
        await self._snapshots_allowed.wait()
        for wire in ids:
            self.subscribed[ws].add(wire)
            await self._send(ws, self._snapshot(wire))

    def _snapshot(self, wire: str) -> dict[str, Any]:
        bids, asks = self.books.get(wire, ({}, {}))
        if self.venue == "coinbase":
            updates = [_cb_level("bid", p, q) for p, q in sorted(bids.items(), reverse=True)]
            updates += [_cb_level("offer", p, q) for p, q in sorted(asks.items())]
            return {
                "channel": "l2_data",
                "client_id": "",
                "timestamp": _now_iso(),
                "events": [{"type": "snapshot", "product_id": wire, "updates": updates}],
            }
        if self.venue == "kraken":
            return {
                "channel": "book",
                "type": "snapshot",
                "data": [
                    {
                        "symbol": wire,
                        "bids": _kr_levels(bids, True),
                        "asks": _kr_levels(asks, False),
                        "checksum": kraken_checksum(bids, asks, *KRAKEN_DECIMALS[wire]),
                    }
                ],
            }
        return _hl_book(wire, bids, asks)

    async def _update(
        self, wire: str, bids_d: dict[str, str], asks_d: dict[str, str], lose: bool, bad_checksum: bool
    ) -> None:
        bids, asks = self.books[wire]
        for side, delta in ((bids, bids_d), (asks, asks_d)):
            for p, q in delta.items():
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        if self.venue == "coinbase":
            updates = [_cb_level("bid", Decimal(p), Decimal(q)) for p, q in bids_d.items()]
            updates += [_cb_level("offer", Decimal(p), Decimal(q)) for p, q in asks_d.items()]
            payload = {
                "channel": "l2_data",
                "client_id": "",
                "timestamp": _now_iso(),
                "events": [{"type": "update", "product_id": wire, "updates": updates}],
            }
        elif self.venue == "kraken":
            crc = kraken_checksum(bids, asks, *KRAKEN_DECIMALS[wire]) ^ (0xFFFF if bad_checksum else 0)
            payload = {
                "channel": "book",
                "type": "update",
                "data": [
                    {
                        "symbol": wire,
                        "timestamp": _now_iso(),
                        "bids": [{"price": float(p), "qty": float(q)} for p, q in bids_d.items()],
                        "asks": [{"price": float(p), "qty": float(q)} for p, q in asks_d.items()],
                        "checksum": crc,
                    }
                ],
            }
        else:
            payload = _hl_book(wire, bids, asks)
        for ws, subs in list(self.subscribed.items()):
            if wire in subs:
                if lose:
                    self.seq += 1  # the message is lost on the way: its sequence number is used up
                    continue
                await self._send(ws, payload)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cb_level(side: str, p: Decimal, q: Decimal) -> dict[str, str]:
    return {"side": side, "event_time": _now_iso(), "price_level": str(p), "new_quantity": str(q)}


def _kr_levels(levels: Levels, descending: bool) -> list[dict[str, float]]:
    return [{"price": float(p), "qty": float(levels[p])} for p in sorted(levels, reverse=descending)]


def _hl_book(wire: str, bids: Levels, asks: Levels) -> dict[str, Any]:
    return {
        "channel": "l2Book",
        "data": {
            "coin": wire,
            "time": time.time_ns() // 1_000_000,
            "levels": [
                [{"px": str(p), "sz": str(bids[p]), "n": 1} for p in sorted(bids, reverse=True)],
                [{"px": str(p), "sz": str(asks[p]), "n": 1} for p in sorted(asks)],
            ],
        },
    }


def write_markets(venue: str, directory: Path) -> Path:
    path = directory / f"{venue}-markets.json"
    path.write_text(json.dumps(MARKETS[venue]))
    return path
