"""The live order gateway: orders to a real venue through ccxt's authenticated REST API.

The edge drives it from a worker thread (orders/live_orders.py) once its pre-trade risk passed an
order:

- every order carries the edge's idempotent id as the venue's client order id (ccxt's unified
  `clientOrderId`); a submit whose outcome is unknown (a timeout, a dropped connection) is never
  blindly retried: the gateway reconciles open orders from the venue first and resends only if
  the venue does not have it, so a retry never makes a duplicate;
- `start()` reconciles the venue's open orders before anything is sent (after a restart, orders
  the previous process placed are known again and not sent twice);
- a kill switch cancels every open order and refuses every submit until `reset_kill()`;
- `dry_run` logs what would be sent and sends nothing (a first day in production);
- credentials are files (a mounted Secret), refused when anyone but the owner can read them.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..market.live import LiveFeedUnavailable, _load_ccxt_pro
from ..market.venues import PROTOCOLS, ccxt_symbol

log = logging.getLogger("sequence.edge.gateway")

ORDER_VENUES = ("coinbase", "kraken")  # tested against stand-ins of their private REST APIs
CLIENT_ID_PARAM = {"coinbase": "client_order_id"}
# the edge's order types -> ccxt's unified type and params
ORDER_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "limit": ("limit", {}),
    "ioc": ("limit", {"timeInForce": "IOC"}),
    "post_only": ("limit", {"postOnly": True}),
    "market": ("market", {}),
}


class GatewayError(RuntimeError):
    """The gateway refused or could not do what was asked; the message says why."""


class CredentialsError(GatewayError):
    """Missing or unsafe credentials files."""


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(api_key={self.api_key[:4]}..., secret=***)"


def load_credentials(directory: str | Path) -> Credentials:
    """`api_key` and `api_secret` files in `directory` (a mounted Secret), readable only by this
    process's user: owner-only (0600/0400), or in a pod the Secret's files (root-owned, mode 0440)
    with this process's own group (the pod's fsGroup). Anything readable by others is refused."""
    root = Path(directory)
    values: dict[str, str] = {}
    for name in ("api_key", "api_secret"):
        path = root / name
        try:
            info = path.stat()
        except OSError:
            raise CredentialsError(
                f"credentials file {path} not found (expected api_key and api_secret)"
            ) from None
        mode = stat.S_IMODE(info.st_mode)
        group_ok = not mode & stat.S_IWGRP and info.st_gid == os.getgid()
        if mode & stat.S_IRWXO or (mode & stat.S_IRWXG and not group_ok):
            raise CredentialsError(
                f"credentials file {path} is readable by others (mode {mode:o}): "
                "make it readable only by the gateway's user (chmod 600, or defaultMode 0440 with the "
                "edge's own group as fsGroup on the Secret volume)"
            )
        if info.st_uid not in (os.getuid(), 0):
            raise CredentialsError(f"credentials file {path} belongs to another user (uid {info.st_uid})")
        values[name] = path.read_text().strip()
        if not values[name]:
            raise CredentialsError(f"credentials file {path} is empty")
    return Credentials(values["api_key"], values["api_secret"])


class _SharedNonce:
    """One strictly increasing nonce for several clients of the same API key."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.last = 0

    def __call__(self) -> int:
        self.last = max(int(self.source()), self.last + 1)
        return self.last


class LiveOrderGateway:
    """One venue account's orders, by the edge's client order ids."""

    def __init__(
        self,
        venue: str,
        credentials: Credentials,
        *,
        dry_run: bool = False,
        rest_endpoint: str | None = None,
        markets: dict[str, Any] | None = None,
        timeout_ms: int = 10_000,
    ) -> None:
        if venue not in ORDER_VENUES:
            raise GatewayError(
                f"no live order gateway for venue {venue!r} (available: {', '.join(ORDER_VENUES)}; "
                "hyperliquid signs orders with a wallet key and needs 128-bit client ids: not wired yet)"
            )
        try:
            ccxt_pro = _load_ccxt_pro()
        except LiveFeedUnavailable as exc:
            raise GatewayError(str(exc)) from None
        config: dict[str, Any] = {
            "apiKey": credentials.api_key,
            "secret": credentials.secret,
            "enableRateLimit": True,
            "timeout": timeout_ms,
        }
        if markets:
            config["markets"] = markets
        self.venue = venue
        # Two clients of the same account: `exchange` places and cancels, `reader` polls. ccxt paces
        # each client's calls to the venue's rate limits in one queue, so a slow read (Kraken
        # charges OpenOrders 3 s of its budget) never holds an order back. They share one nonce
        # sequence: the venue requires it to grow across all calls of a key.
        cls = getattr(ccxt_pro, PROTOCOLS[venue].ccxt_class)
        self.exchange = cls(config)
        self.reader = cls(config)
        nonce = _SharedNonce(self.exchange.nonce)
        for client in (self.exchange, self.reader):
            client.nonce = nonce
            if rest_endpoint:
                urls = client.urls["api"]
                for key, value in list(urls.items()):
                    if key != "ws" and isinstance(value, str):
                        urls[key] = rest_endpoint.rstrip("/")
        self._acked_since_fetch: set[str] = set()  # acked while a reconcile was reading
        self.dry_run = dry_run
        self.killed = False
        self.open: dict[str, dict[str, Any]] = {}  # client order id -> the venue's order
        self.dry_run_log: list[dict[str, Any]] = []
        self.filled: dict[str, float] = {}  # client order id -> quantity already reported filled
        self.reported_cost: dict[str, float] = {}  # client order id -> cost of what was reported
        self.unknown_open: list[str] = []  # open at the venue, not placed by this gateway's edge
        self.balances: dict[str, float] = {}
        self.can_trade = self.can_withdraw = "unknown"
        self.permissions_source = f"{venue} has no API for a key's permissions"
        self.counts = {
            "sent": 0,
            "acked": 0,
            "rejected": 0,
            "cancelled": 0,
            "retries_avoided": 0,
            "reconciles": 0,
            "fills": 0,
        }

    async def start(self) -> list[str]:
        """Load markets and reconcile the venue's open orders before anything is sent."""
        await self.exchange.load_markets()
        self.reader.set_markets(self.exchange.markets)
        found = await self.reconcile()
        self.unknown_open = list(found)  # until the edge's next poll names its own
        return found

    async def close(self) -> None:
        await self.exchange.close()
        await self.reader.close()

    async def reconcile(self) -> list[str]:
        """The venue's open orders become the gateway's: returns their client order ids. Orders
        acked while it was reading are kept (the venue's answer predates them)."""
        self._acked_since_fetch = set()
        orders = await self.reader.fetch_open_orders()
        found = {str(o["clientOrderId"]): o for o in orders if o.get("clientOrderId")}
        self.open = {**found, **{c: o for c, o in self.open.items() if c in self._acked_since_fetch}}
        self.counts["reconciles"] += 1
        return sorted(found)

    async def read_permissions(self) -> None:
        """The API key's trade / withdraw permissions where the venue says (Coinbase Advanced Trade's
        key_permissions); Kraken has no such API: "unknown"."""
        if self.venue != "coinbase":
            return
        found = await self.reader.v3PrivateGetBrokerageKeyPermissions()
        yes_no = {True: "yes", False: "no"}
        self.can_trade = yes_no.get(found.get("can_trade"), "unknown")
        self.can_withdraw = yes_no.get(found.get("can_transfer"), "unknown")
        self.permissions_source = "GET /api/v3/brokerage/key_permissions (can_trade, can_transfer)"

    async def read_balances(self) -> dict[str, float]:
        # Coinbase: the Advanced Trade portfolio's accounts (v3), not the retail wallets (v2)
        balance = await self.reader.fetch_balance({"v3": True} if self.venue == "coinbase" else {})
        self.balances = {k: float(v) for k, v in (balance.get("total") or {}).items() if v is not None}
        return self.balances

    async def poll(self, known: dict[str, float]) -> list[tuple[Any, ...]]:
        """Read back what happened at the venue to the orders in `known` (client id -> quantity the
        edge has seen filled): ("fill", id, px, qty) for new fills, ("closed", id, status) for orders
        the venue closed; a reconciliation of the open orders, so it also finds orders lost by a
        restart. Orders open at the venue and not in `known` are listed in `unknown_open`."""
        venue_open = set(await self.reconcile())
        events: list[tuple[Any, ...]] = []
        for client_id, seen in known.items():
            # what the edge has seen filled (its journal, after a restart), unless this gateway
            # reported more already and the edge has not applied it yet
            self.filled[client_id] = max(seen, self.filled.get(client_id, 0.0))
        for client_id, order in self.open.items():
            if client_id in known:
                events += self._fill_events(client_id, order)
        self.unknown_open = sorted(set(self.open) - set(known))
        gone = [c for c in known if c not in venue_open and c not in self._acked_since_fetch]
        for client_id in gone:
            done = await self._closed_order(client_id)
            if done is None:
                events.append(("closed", client_id, "not at the venue"))
                continue
            events += self._fill_events(client_id, done)
            events.append(("closed", client_id, str(done.get("status") or "closed")))
        return events

    def _fill_events(self, client_id: str, order: dict[str, Any]) -> list[tuple[Any, ...]]:
        """A fill for what the venue filled beyond what was reported (`filled`) already."""
        seen = self.filled.get(client_id, 0.0)
        filled = float(order.get("filled") or 0.0)
        if filled <= seen + 1e-12:
            return []
        qty = filled - seen
        price = float(order.get("average") or order.get("price") or 0.0)
        cost, before = order.get("cost"), self.reported_cost.get(client_id)
        if cost and before is not None:  # the price of this part alone, from the venue's cost
            price = (float(cost) - before) / qty
        self.reported_cost[client_id] = float(cost) if cost else (before or 0.0) + price * qty
        self.filled[client_id] = filled
        self.counts["fills"] += 1
        return [("fill", client_id, price, qty)]

    async def _closed_order(self, client_id: str) -> dict[str, Any] | None:
        """The venue's record of a closed order, by client order id (None: it never reached the venue)."""
        # Kraken's closed orders include cancelled ones; Coinbase lists FILLED and CANCELLED apart
        for method in ("fetch_closed_orders", "fetch_canceled_orders"):
            if method == "fetch_canceled_orders" and not self.reader.has.get("fetchCanceledOrders"):
                break
            orders = await getattr(self.reader, method)(params={"clientOrderId": client_id})
            for order in orders:
                if order.get("clientOrderId") == client_id:
                    return dict(order)
        return None

    async def submit(
        self, client_id: str, symbol: str, side: str, qty: float, price: float, order_type: str = "limit"
    ) -> dict[str, Any]:
        """One order (limit, ioc, post_only, market: price ignored); idempotent by client_id (a known
        id returns the venue's order and sends nothing)."""
        if self.killed:
            raise GatewayError("kill switch engaged: every order is refused until it is reset")
        if order_type not in ORDER_TYPES:
            raise GatewayError(f"bad order type {order_type!r} (one of {', '.join(ORDER_TYPES)})")
        if side not in ("buy", "sell") or not qty > 0 or not (price > 0 or order_type == "market"):
            raise GatewayError(f"bad order: side {side!r}, qty {qty}, price {price}")
        if client_id in self.open:
            self.counts["retries_avoided"] += 1
            return self.open[client_id]
        unified = ccxt_symbol(symbol, self.venue)
        kind, extra = ORDER_TYPES[order_type]
        limit = None if kind == "market" else price
        if self.dry_run:
            intent = {
                "clientOrderId": client_id,
                "symbol": unified,
                "type": order_type,
                "side": side,
                "amount": qty,
                "price": limit,
            }
            self.dry_run_log.append(intent)
            log.info("dry run: would send %s", intent)
            return {**intent, "status": "dry_run"}
        ccxt_errors = _load_ccxt_pro()
        # the venue's own field where ccxt's unified clientOrderId is not passed on (ccxt 4.5's
        # coinbase replaces it with a fresh "ccxt-<uuid>"; its raw client_order_id is sent as given)
        params = {CLIENT_ID_PARAM.get(self.venue, "clientOrderId"): client_id, **extra}
        try:
            self.counts["sent"] += 1
            order = await self.exchange.create_order(unified, kind, side, qty, limit, params)
        except ccxt_errors.NetworkError:
            # outcome unknown: the venue may have the order. Look before sending it again.
            await self.reconcile()
            if client_id in self.open:
                self.counts["retries_avoided"] += 1
                return self.open[client_id]
            self.counts["sent"] += 1
            order = await self.exchange.create_order(unified, kind, side, qty, limit, params)
        except ccxt_errors.ExchangeError as exc:
            self.counts["rejected"] += 1
            raise GatewayError(f"{self.venue} rejected {client_id}: {exc}") from None
        order = {**order, "clientOrderId": order.get("clientOrderId") or client_id, "symbol": unified}
        self.open[client_id] = order
        self._acked_since_fetch.add(client_id)
        self.filled.setdefault(client_id, 0.0)
        self.reported_cost.setdefault(client_id, 0.0)
        self.counts["acked"] += 1
        return order

    async def cancel(self, client_id: str) -> list[tuple[Any, ...]]:
        """Cancel at the venue. Returns the fills of an order that filled before the cancel got there
        (the venue no longer had it open), as ("fill", id, px, qty): they count all the same."""
        order = self.open.get(client_id)
        if order is None:
            raise GatewayError(f"no open order with client id {client_id}")
        events: list[tuple[Any, ...]] = []
        if not self.dry_run:
            ccxt_errors = _load_ccxt_pro()
            try:
                await self.exchange.cancel_order(order["id"], order.get("symbol"))
            except ccxt_errors.OrderNotFound:
                done = await self._closed_order(client_id)
                if done is not None:
                    events = self._fill_events(client_id, done)
        del self.open[client_id]
        self.counts["cancelled"] += 1
        return events

    async def kill(self) -> int:
        """Engage the kill switch: refuse every submit, cancel every open order at the venue."""
        self.killed = True
        await self.reconcile()
        cancelled = 0
        for client_id in list(self.open):
            await self.cancel(client_id)
            cancelled += 1
        log.warning("%s kill switch engaged: %d open order(s) cancelled", self.venue, cancelled)
        return cancelled

    def reset_kill(self) -> None:
        self.killed = False

    def status(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "dry_run": self.dry_run,
            "killed": self.killed,
            "open_orders": len(self.open),
            "can_trade": self.can_trade,
            "can_withdraw": self.can_withdraw,
            "permissions_source": self.permissions_source,
            "unknown_open_orders": list(self.unknown_open),
            "balances": dict(self.balances),
            **self.counts,
        }
