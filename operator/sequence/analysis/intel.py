"""`sequence intel SYMBOL`: a symbol's market structure across the project's edges (docs/cli.md).

- coverage: which edges (venues) carry the symbol, and how healthy their feeds are;
- slippage curves from each venue's live book: the cost, in bps of the venue's mid, of a market
  order of 1x, 5x and 25x the reference size, walking the levels (the size-weighted price of the
  levels it would take). The reference size is the smallest top-of-book size over the venues and
  sides, so every venue is measured at the same quantities and 25x mostly stays inside the books; a
  size deeper than the book answered is `null`;
- fee-adjusted cost: the same plus the venue's taker fee;
- the routing preference: the venue the coordinator's graph engine would route a buy and a sell to
  (its smart order router), when a coordinator answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sequence_wire.coordinator_api import RoutePreference
from sequence_wire.edge_api import BookDepth, EdgeInfo

MULTIPLES = (1, 5, 25)


@dataclass
class Coverage:
    venue: str
    edge_id: str
    carries: bool
    feed: str
    feed_healthy: bool
    lag_ms: float
    stale: bool | None = None
    mid: float | None = None
    spread_bps: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    error: str | None = None  # the edge did not answer


@dataclass
class Curve:
    venue: str
    side: str
    sizes: list[float]
    cost_bps: list[float | None]  # per size; None: deeper than the book
    taker_fee_bps: float
    fee_adjusted_bps: list[float | None]


@dataclass
class IntelReport:
    symbol: str
    reference_size: float | None
    multiples: list[int]
    coverage: list[Coverage]
    curves: list[Curve]
    routing: dict[str, RoutePreference | None] = field(default_factory=dict)  # side -> choice
    routing_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["routing"] = {
            side: (pref.model_dump(mode="json") if pref is not None else None)
            for side, pref in self.routing.items()
        }
        return out


def walk_cost_bps(levels: Sequence[Sequence[float]], mid: float, qty: float, side: str) -> float | None:
    """Cost in bps of the mid of taking `qty` from `levels` (asks for a buy, bids for a sell):
    `side * (average price - mid) / mid`. None when the levels hold less than `qty`."""
    left, spent = qty, 0.0
    for px, size in levels:
        take = min(left, size)
        spent += take * px
        left -= take
        if left <= qty * 1e-12:
            average = spent / qty
            sign = 1 if side == "buy" else -1
            return sign * (average - mid) / mid * 1e4
    return None


def coverage_row(info: EdgeInfo, book: BookDepth | None, symbol: str) -> Coverage:
    row = Coverage(
        venue=info.venue,
        edge_id=info.edge_id,
        carries=symbol in info.symbols,
        feed=info.feed.kind,
        feed_healthy=info.feed.healthy,
        lag_ms=info.feed.lag_ms,
    )
    if book is not None:
        row.stale = book.stale
        row.mid = book.mid
        if book.bids and book.asks and book.mid:
            row.spread_bps = (book.asks[0][0] - book.bids[0][0]) / book.mid * 1e4
            row.bid_size, row.ask_size = book.bids[0][1], book.asks[0][1]
    return row


def reference_size(books: Sequence[BookDepth]) -> float | None:
    tops = [size for b in books if b.bids and b.asks for size in (b.bids[0][1], b.asks[0][1])]
    return min(tops) if tops else None


def curves(books: Sequence[BookDepth], size: float, multiples: Sequence[int] = MULTIPLES) -> list[Curve]:
    out = []
    sizes = [size * m for m in multiples]
    for book in books:
        if book.mid is None:
            continue
        for side, levels in (("buy", book.asks), ("sell", book.bids)):
            costs = [walk_cost_bps(levels, book.mid, q, side) for q in sizes]
            fee = book.fees.taker_bps
            out.append(
                Curve(
                    venue=book.venue,
                    side=side,
                    sizes=sizes,
                    cost_bps=costs,
                    taker_fee_bps=fee,
                    fee_adjusted_bps=[c + fee if c is not None else None for c in costs],
                )
            )
    return out


def analyze(
    symbol: str,
    edges: Sequence[tuple[EdgeInfo, BookDepth | None]],
    unreachable: Sequence[Coverage] = (),
    multiples: Sequence[int] = MULTIPLES,
) -> IntelReport:
    books = [book for _info, book in edges if book is not None and not book.stale]
    size = reference_size(books)
    return IntelReport(
        symbol=symbol,
        reference_size=size,
        multiples=list(multiples),
        coverage=[coverage_row(info, book, symbol) for info, book in edges] + list(unreachable),
        curves=curves(books, size, multiples) if size else [],
    )
