"""The live order gateway: orders to a real venue through ccxt's authenticated REST API.

Not yet wired into the edge: `mode = "live"` is still refused (the edge's OMS is paper only).
This is the piece the edge will call once risk has passed an order:

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
    """`api_key` and `api_secret` files in `directory` (a mounted Secret), readable only by their owner."""
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
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsError(
                f"credentials file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
                "make it readable only by the gateway's user (chmod 600, or defaultMode 0400 on the Secret)"
            )
        if info.st_uid != os.getuid():
            raise CredentialsError(f"credentials file {path} belongs to another user (uid {info.st_uid})")
        values[name] = path.read_text().strip()
        if not values[name]:
            raise CredentialsError(f"credentials file {path} is empty")
    return Credentials(values["api_key"], values["api_secret"])


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
        if venue not in PROTOCOLS:
            raise GatewayError(
                f"no live order gateway for venue {venue!r} (available: {', '.join(sorted(PROTOCOLS))})"
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
        self.exchange = getattr(ccxt_pro, PROTOCOLS[venue].ccxt_class)(config)
        if rest_endpoint:
            urls = self.exchange.urls["api"]
            for key, value in list(urls.items()):
                if key != "ws" and isinstance(value, str):
                    urls[key] = rest_endpoint.rstrip("/")
        self.dry_run = dry_run
        self.killed = False
        self.open: dict[str, dict[str, Any]] = {}  # client order id -> the venue's order
        self.dry_run_log: list[dict[str, Any]] = []
        self.counts = {
            "sent": 0,
            "acked": 0,
            "rejected": 0,
            "cancelled": 0,
            "retries_avoided": 0,
            "reconciles": 0,
        }

    async def start(self) -> list[str]:
        """Load markets and reconcile the venue's open orders before anything is sent."""
        await self.exchange.load_markets()
        return await self.reconcile()

    async def close(self) -> None:
        await self.exchange.close()

    async def reconcile(self) -> list[str]:
        """The venue's open orders become the gateway's: returns their client order ids."""
        orders = await self.exchange.fetch_open_orders()
        self.open = {str(o["clientOrderId"]): o for o in orders if o.get("clientOrderId")}
        self.counts["reconciles"] += 1
        return sorted(self.open)

    async def submit(
        self, client_id: str, symbol: str, side: str, qty: float, price: float
    ) -> dict[str, Any]:
        """A limit order; idempotent by client_id (a known id returns the venue's order, sends nothing)."""
        if self.killed:
            raise GatewayError("kill switch engaged: every order is refused until it is reset")
        if side not in ("buy", "sell") or not qty > 0 or not price > 0:
            raise GatewayError(f"bad order: side {side!r}, qty {qty}, price {price}")
        if client_id in self.open:
            self.counts["retries_avoided"] += 1
            return self.open[client_id]
        unified = ccxt_symbol(symbol, self.venue)
        if self.dry_run:
            intent = {
                "clientOrderId": client_id,
                "symbol": unified,
                "side": side,
                "amount": qty,
                "price": price,
            }
            self.dry_run_log.append(intent)
            log.info("dry run: would send %s", intent)
            return {**intent, "status": "dry_run"}
        ccxt_errors = _load_ccxt_pro()
        try:
            self.counts["sent"] += 1
            order = await self.exchange.create_order(
                unified, "limit", side, qty, price, {"clientOrderId": client_id}
            )
        except ccxt_errors.NetworkError:
            # outcome unknown: the venue may have the order. Look before sending it again.
            await self.reconcile()
            if client_id in self.open:
                self.counts["retries_avoided"] += 1
                return self.open[client_id]
            self.counts["sent"] += 1
            order = await self.exchange.create_order(
                unified, "limit", side, qty, price, {"clientOrderId": client_id}
            )
        except ccxt_errors.ExchangeError as exc:
            self.counts["rejected"] += 1
            raise GatewayError(f"{self.venue} rejected {client_id}: {exc}") from None
        order = {**order, "clientOrderId": order.get("clientOrderId") or client_id}
        self.open[client_id] = order
        self.counts["acked"] += 1
        return order

    async def cancel(self, client_id: str) -> None:
        order = self.open.get(client_id)
        if order is None:
            raise GatewayError(f"no open order with client id {client_id}")
        if not self.dry_run:
            await self.exchange.cancel_order(order["id"])
        del self.open[client_id]
        self.counts["cancelled"] += 1

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
            **self.counts,
        }
