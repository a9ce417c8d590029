"""Transaction cost analysis of a deployment's orders, from what its edges keep (docs/cli.md, `tca`).

Signs: every number is in basis points of a price, positive when it cost the deployment money.

- slippage of a fill: `side * (fill px - arrival mid) / arrival mid`, where `side` is +1 for a buy and
  -1 for a sell and the arrival mid is the book's mid when the edge's OMS received the order;
- markout at horizon h: `side * (mid h seconds after the fill - fill px) / fill px`, from the edge's
  mid history: positive when the market moved our way after the fill (a good fill), negative when
  it moved against us (adverse selection);
- fees: each fill's notional times the edge's maker or taker rate (the paper OMS's schedule);
- fill rate: filled quantity over ordered quantity, orders the OMS rejected left out.

Averages over fills weigh each fill by its notional. A markout whose horizon has not passed yet,
or which is older than the edge's mid history, is left out (and counted as such).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sequence_wire.edge_api import FeeSchedule, MidHistory, Order, OrderTrace

HORIZONS_S = (1, 10, 60)  # the table's markouts
CURVE_S = (0, 1, 2, 5, 10, 20, 30, 60)  # the plot's markout curve
NS = 1_000_000_000


@dataclass(frozen=True)
class VenueData:
    """What one edge answered for one deployment: its orders (traces for those that filled), its
    fee schedule and the mid history of the symbols traded."""

    venue: str
    deployment_id: str
    orders: Sequence[Order]
    traces: Sequence[OrderTrace]
    fees: FeeSchedule
    mids: dict[str, MidHistory]


@dataclass(frozen=True)
class FillCost:
    venue: str
    deployment_id: str
    order_ref: str
    symbol: str
    side: str
    ts_ns: int
    px: float
    qty: float
    maker: bool
    fee: float
    arrival_mid: float | None
    slippage_bps: float | None
    markouts_bps: dict[str, float | None]  # horizon in seconds (as text, for JSON) -> bps

    @property
    def notional(self) -> float:
        return self.px * self.qty


@dataclass
class CostSummary:
    """The numbers of one row of the table: everything, or one venue."""

    orders: int = 0
    rejected: int = 0
    filled_orders: int = 0
    ordered_qty: float = 0.0
    filled_qty: float = 0.0
    fill_rate: float | None = None
    fills: int = 0
    notional: float = 0.0
    share: float | None = None  # of the deployment's filled notional
    fees: float = 0.0
    fees_bps: float | None = None
    slippage_bps: float | None = None
    markouts_bps: dict[str, float | None] = field(default_factory=dict)
    markouts_known: dict[str, int] = field(default_factory=dict)
    maker_fills: int = 0


@dataclass
class TcaReport:
    deployments: list[str]
    symbol: str | None
    total: CostSummary
    venues: dict[str, CostSummary]
    fills: list[FillCost]
    curve_s: list[int]
    curve_bps: dict[str, list[float | None]]  # "all" and each venue -> markout at each curve horizon
    dropped_fill_events: int = 0  # fills a trace no longer holds (more events than it keeps)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mid_at(history: MidHistory | None, ts_ns: int) -> float | None:
    """The mid in force at `ts_ns`, or None when the history does not cover that time."""
    if history is None or not history.ts_ns or ts_ns > history.until_ns or ts_ns < history.from_ns:
        return None
    i = bisect.bisect_right(history.ts_ns, ts_ns) - 1
    return history.mids[i] if i >= 0 else None


def _sign(side: str) -> int:
    return 1 if side == "buy" else -1


def fill_costs(data: VenueData, symbol: str | None, horizons: Iterable[int]) -> list[FillCost]:
    out = []
    for trace in data.traces:
        if symbol is not None and trace.symbol != symbol:
            continue
        sign = _sign(trace.side)
        history = data.mids.get(trace.symbol)
        for event in trace.events:
            if event.event != "fill" or event.px is None or event.qty is None:
                continue
            px, qty = event.px, event.qty
            rate = data.fees.maker_bps if event.maker else data.fees.taker_bps
            arrival = trace.arrival_mid
            markouts = {}
            for h in horizons:
                later = mid_at(history, event.ts_ns + h * NS)
                markouts[str(h)] = sign * (later - px) / px * 1e4 if later is not None else None
            out.append(
                FillCost(
                    venue=data.venue,
                    deployment_id=data.deployment_id,
                    order_ref=trace.order_ref,
                    symbol=trace.symbol,
                    side=trace.side,
                    ts_ns=event.ts_ns,
                    px=px,
                    qty=qty,
                    maker=bool(event.maker),
                    fee=px * qty * rate / 1e4,
                    arrival_mid=arrival,
                    slippage_bps=sign * (px - arrival) / arrival * 1e4 if arrival else None,
                    markouts_bps=markouts,
                )
            )
    return out


def _weighted(pairs: Iterable[tuple[float | None, float]]) -> tuple[float | None, int]:
    """Notional-weighted mean of the known values, and how many were known."""
    total = weight = 0.0
    known = 0
    for value, w in pairs:
        if value is not None:
            total += value * w
            weight += w
            known += 1
    return (total / weight if weight else None), known


def summarize(orders: Iterable[Order], fills: list[FillCost], horizons: Iterable[int]) -> CostSummary:
    s = CostSummary()
    for order in orders:
        s.orders += 1
        if order.state == "rejected":
            s.rejected += 1
            continue
        s.ordered_qty += order.qty
        s.filled_qty += order.filled
        s.filled_orders += order.state == "filled"
    s.fill_rate = s.filled_qty / s.ordered_qty if s.ordered_qty else None
    s.fills = len(fills)
    s.maker_fills = sum(f.maker for f in fills)
    s.notional = sum(f.notional for f in fills)
    s.fees = sum(f.fee for f in fills)
    s.fees_bps = s.fees / s.notional * 1e4 if s.notional else None
    s.slippage_bps, _ = _weighted((f.slippage_bps, f.notional) for f in fills)
    for h in horizons:
        key = str(h)
        s.markouts_bps[key], s.markouts_known[key] = _weighted(
            (f.markouts_bps[key], f.notional) for f in fills
        )
    return s


def analyze(
    data: Sequence[VenueData], symbol: str | None = None, horizons: Sequence[int] = HORIZONS_S
) -> TcaReport:
    """The report over every venue's data (`symbol`: only that pair)."""
    wanted = sorted({*horizons, *CURVE_S})
    venues: dict[str, CostSummary] = {}
    all_fills: list[FillCost] = []
    all_orders: list[Order] = []
    dropped = 0
    curve: dict[str, list[float | None]] = {}
    for venue in sorted({d.venue for d in data}):
        mine = [d for d in data if d.venue == venue]
        orders = [o for d in mine for o in d.orders if symbol is None or o.symbol == symbol]
        fills = [f for d in mine for f in fill_costs(d, symbol, wanted)]
        dropped += sum(t.dropped_events or 0 for d in mine for t in d.traces)
        venues[venue] = summarize(orders, fills, wanted)
        curve[venue] = [venues[venue].markouts_bps[str(h)] for h in CURVE_S]
        all_fills += fills
        all_orders += orders
    total = summarize(all_orders, all_fills, wanted)
    total.share = 1.0 if total.notional else None
    curve["all"] = [total.markouts_bps[str(h)] for h in CURVE_S]
    for summary in venues.values():
        summary.share = summary.notional / total.notional if total.notional else None
    all_fills.sort(key=lambda f: f.ts_ns)
    return TcaReport(
        deployments=sorted({d.deployment_id for d in data}),
        symbol=symbol,
        total=total,
        venues=venues,
        fills=all_fills,
        curve_s=list(CURVE_S),
        curve_bps=curve,
        dropped_fill_events=dropped,
    )


def histogram(values: Sequence[float], bins: int = 20) -> tuple[list[float], list[int]]:
    """Edges (bins + 1) and counts of `values` in equal-width bins (one bin when all are equal)."""
    if not values:
        return [], []
    low, high = min(values), max(values)
    if high == low:
        return [low - 0.5, high + 0.5], [len(values)]
    width = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return [low + i * width for i in range(bins + 1)], counts
