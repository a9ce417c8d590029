"""What the graph engine needs from the world: a venue port and a clock.

The engine never talks to sockets. Whoever hosts it (the coordinator process,
or a test) implements `VenuePort` to send orders to the edges and feeds the
edges' answers and market data back through the engine's `on_*` methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

Side = Literal["buy", "sell"]
Tif = Literal["gtc", "ioc", "post_only"]
OrderEventKind = Literal["ack", "fill", "cancel", "reject"]


@dataclass(frozen=True)
class AccountSnapshot:
    """A venue account as its edge reports it (paper or live), for balance and leverage checks."""

    equity_usd: float
    available_usd: float
    positions_1e8: dict[str, int] = field(default_factory=dict)  # symbol -> signed quantity


class VenuePort(Protocol):
    """Orders out, account snapshots in. Implementations must not block.

    `place`: `price_1e8` None is a market order; otherwise a limit order with
    time in force `gtc` (rests), `ioc` (takes what it can, the venue reports
    the unfilled rest with a cancel event, or a reject when nothing filled) or
    `post_only`. The edge's OMS refuses a `client_order_id` it has already
    seen, which is what makes a retried place harmless.

    Every outcome comes back later through `GraphEngine.on_order_event`. An
    exception raised by `place` or `cancel` is treated as an immediate reject
    (place) or as "still open, retried when the venue is back" (cancel).
    """

    def place(
        self,
        venue: str,
        client_order_id: str,
        symbol: str,
        side: Side,
        qty_1e8: int,
        price_1e8: int | None,
        tif: Tif,
    ) -> None: ...

    def cancel(self, venue: str, client_order_id: str) -> None: ...

    def account(self, venue: str) -> AccountSnapshot | None:
        """The venue account the graph's orders go to; None when unknown."""
        ...


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    """Wall-clock milliseconds for production (journaled times survive restarts)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
