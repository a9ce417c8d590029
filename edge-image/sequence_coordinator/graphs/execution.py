"""How a node works its order: venue, price and time in force at each moment.

A working slice has a schedule from its start to its horizon. Its aggression
`a` goes from 0 (passive: join the bid when buying, the ask when selling) to 1
(cross: take the far touch), depending on the urgency and on the fraction `f`
of the horizon elapsed:

    low      a = f^2           (stays passive longest)
    normal   a = f
    high     a = 0.5 + f       (starts mid-spread)
    urgent   a = 1             (crosses at once)

The price is `near + a * (far - near)`, and never past the slippage cap:
`arrival_mid * (1 + max_slippage_bps / 10_000)` for a buy (minus for a sell),
where arrival_mid is the NBBO mid when the node activated; nor past
`limit_price`. When the horizon runs out the slice sends one last IOC at the
far touch (within the cap); what that does not fill expires.

Without a horizon: a node with `limit_price` rests at that price; one without
crosses at once (a market order, protected by the slippage cap) and rests at
the cap if the book runs out. `policy = "passive"` never crosses (a = 0) and
`policy = "aggressive"` always does (a = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sequence_wire.graphs import GraphNode

from .market import Market, Touch
from .model import NodeRuntime, SliceRuntime

REPRICE_MIN_MS = 100  # a resting order is moved at most this often (cancel/replace churn)


@dataclass(frozen=True)
class Plan:
    venue: str
    price_1e8: int
    tif: Literal["gtc", "ioc"]
    final: bool  # the last-chance IOC at the horizon


def aggression(urgency: str, policy: str, fraction: float | None, has_limit: bool) -> float:
    """0 = passive at the touch, 1 = cross. `fraction` None: no horizon."""
    if policy == "passive":
        return 0.0
    if policy == "aggressive" or urgency == "urgent":
        return 1.0
    if fraction is None:
        return 0.0 if has_limit else 1.0
    f = min(max(fraction, 0.0), 1.0)
    if urgency == "low":
        return f * f
    if urgency == "high":
        return min(1.0, 0.5 + f)
    return f


def slippage_cap(side: str, arrival_mid_1e8: int | None, bps: float | None) -> int | None:
    """The worst price the node may pay (buy) or accept (sell), or None for no cap."""
    if bps is None or arrival_mid_1e8 is None:
        return None
    if side == "buy":  # round towards the safe side
        return math.floor(arrival_mid_1e8 * (1 + bps / 10_000))
    return math.ceil(arrival_mid_1e8 * (1 - bps / 10_000))


def effective_slippage(node_bps: float | None, risk_bps: float | None) -> float | None:
    """The node's own cap and the graph's pre-trade cap: the tighter wins."""
    caps = [b for b in (node_bps, risk_bps) if b is not None]
    return min(caps) if caps else None


def _bound(side: str, price: int, *limits: int | None) -> int:
    for limit in limits:
        if limit is not None:
            price = min(price, limit) if side == "buy" else max(price, limit)
    return price


def _reaches(side: str, price_1e8: int, far_1e8: int | None) -> bool:
    """Whether an order at PRICE is marketable against the far touch FAR."""
    if not far_1e8:
        return False
    return far_1e8 <= price_1e8 if side == "buy" else far_1e8 >= price_1e8


def choose_venue(
    spec: GraphNode, market: Market, sandbox: bool, current: str | None
) -> tuple[str | None, Touch]:
    """The venue to work on and its touch: pinned, or the best price for our side (SOR).

    A tie keeps the current venue so a resting order is not moved for nothing.
    """
    if spec.venue is not None:
        ok = market.eligible(spec.venue, spec.symbol, sandbox)
        return (spec.venue if ok else None), market.touch(spec.symbol, sandbox=sandbox, venue=spec.venue)
    best = market.touch(spec.symbol, sandbox=sandbox)
    venue = best.ask_venue if spec.side == "buy" else best.bid_venue
    if current is not None and current != venue and market.eligible(current, spec.symbol, sandbox):
        mine = market.touch(spec.symbol, sandbox=sandbox, venue=current)
        far_mine = mine.ask_1e8 if spec.side == "buy" else mine.bid_1e8
        far_best = best.ask_1e8 if spec.side == "buy" else best.bid_1e8
        if far_mine and far_mine == far_best:
            venue = current
    if venue is None:  # nothing quoted on our side: any carrier
        carriers = market.carriers(spec.symbol, sandbox)
        venue = current if current in carriers else (carriers[0] if carriers else None)
    touch = market.touch(spec.symbol, sandbox=sandbox, venue=venue) if venue else best
    return venue, touch


def plan(
    spec: GraphNode,
    node: NodeRuntime,
    sl: SliceRuntime,
    market: Market,
    *,
    sandbox: bool,
    risk_slippage_bps: float | None,
    now_ms: int,
    current_venue: str | None,
) -> Plan | None:
    """What the slice's order should be now; None when it cannot be priced yet."""
    venue, touch = choose_venue(spec, market, sandbox, current_venue)
    if venue is None:
        return None
    side = spec.side
    cap = slippage_cap(
        side, node.arrival_mid_1e8, effective_slippage(node.max_slippage_bps, risk_slippage_bps)
    )
    limit = round(spec.limit_price * 1e8) if spec.limit_price is not None else None
    final = sl.horizon_end_ms is not None and now_ms >= sl.horizon_end_ms
    near = touch.bid_1e8 if side == "buy" else touch.ask_1e8
    far = touch.ask_1e8 if side == "buy" else touch.bid_1e8
    if final:
        if not far:
            return None
        return Plan(venue, _bound(side, far, cap, limit), "ioc", True)
    fraction = None
    if sl.horizon_end_ms is not None:
        span = max(sl.horizon_end_ms - sl.start_ms, 1)
        fraction = (now_ms - sl.start_ms) / span
    a = aggression(node.urgency, spec.policy, fraction, limit is not None)
    if fraction is None and limit is not None and spec.policy not in ("passive", "aggressive"):
        price = _bound(side, limit, cap)
        # A resting limit moves only to a venue where it would fill now: following the best
        # touch while it rests away from the market is cancel/replace churn for nothing.
        if (
            current_venue is not None
            and venue != current_venue
            and not _reaches(side, price, far)
            and market.eligible(current_venue, spec.symbol, sandbox)
        ):
            venue = current_venue
        return Plan(venue, price, "gtc", False)
    if not near and not far:
        return None if limit is None else Plan(venue, _bound(side, limit, cap), "gtc", False)
    near = near or far
    far = far or near
    price = near + round(a * (far - near))
    return Plan(venue, _bound(side, price, cap, limit), "gtc", False)
