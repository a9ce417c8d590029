"""When an edge fires, from its source node's state.

`on_fill` repeats: it fires once for every evaluation that sees new fills
(after every fill event while the graph runs). Every other trigger is
one-shot. `on_price` compares the symbol's NBBO mid with a reference price:
the source node's average fill price once it has a fill, before that the mid
when the source activated; it fires when the mid is at or past
`reference * (1 + offset_pct / 100)` in the given direction.
"""

from __future__ import annotations

from typing import Any

from sequence_wire.graphs import GraphEdge

from .market import Market
from .model import SCALE, EdgeRuntime, NodeRuntime

TERMINAL_FOR_DONE = ("completed", "cancelled", "rejected", "expired")


def kind(trigger: Any) -> str:
    """The trigger's name: "on_fill", "on_timeout", ..."""
    return trigger if isinstance(trigger, str) else next(iter(trigger))


def repeats(trigger: Any) -> bool:
    return kind(trigger) == "on_fill"


def price_threshold_1e8(edge: GraphEdge, source: NodeRuntime) -> int | None:
    """The on_price trigger level, or None while the source has no reference price."""
    params = edge.trigger["on_price"]
    reference = source.avg_price_1e8 or source.arrival_mid_1e8
    if reference is None:
        return None
    return round(reference * (1 + float(params["offset_pct"]) / 100))


def due(edge: GraphEdge, state: EdgeRuntime, source: NodeRuntime, market: Market, now_ms: int) -> bool:
    """Whether the edge fires now (the caller records the firing)."""
    name = kind(edge.trigger)
    if name == "on_fill":
        return source.filled_1e8 > state.last_filled_1e8
    if state.fired:
        return False
    if name == "on_accepted":
        return source.accepted
    if name == "on_first_fill":
        return source.fill_count > 0
    if name == "on_full_fill":
        return source.target_1e8 > 0 and source.filled_1e8 >= source.target_1e8
    if name == "on_fill_ratio":
        assert edge.condition is not None
        ratio = source.filled_1e8 / source.target_1e8 if source.target_1e8 else 0.0
        return source.target_1e8 > 0 and ratio >= edge.condition.fill_ratio_gte
    if name == "on_timeout":
        ms = edge.trigger["on_timeout"]["ms"]
        return source.activated_ms is not None and now_ms >= source.activated_ms + ms
    if name == "on_cancel":
        return source.status == "cancelled"
    if name == "on_done":
        return source.status in TERMINAL_FOR_DONE
    if name == "on_price":
        if source.activated_ms is None:
            return False
        level = price_threshold_1e8(edge, source)
        mid = market.mid_1e8(edge.trigger["on_price"]["symbol"])
        if level is None or mid is None:
            return False
        if edge.trigger["on_price"]["direction"] == "below":
            return mid <= level
        return mid >= level
    raise ValueError(f"unknown trigger {name!r}")


def timeout_at_ms(edge: GraphEdge, state: EdgeRuntime, source: NodeRuntime) -> int | None:
    """When an unfired on_timeout edge fires, for the engine's wake-up time."""
    if kind(edge.trigger) != "on_timeout" or state.fired or source.activated_ms is None:
        return None
    return int(source.activated_ms + edge.trigger["on_timeout"]["ms"])


def may_still_fire(edge: GraphEdge, state: EdgeRuntime, source: NodeRuntime, source_alive: bool) -> bool:
    """Whether the edge can fire in the future (it may activate its target).

    `source_alive`: the source node is working, or pending and able to start.
    Timers and price triggers outlive their source; the others need its events.
    """
    if state.fired and not repeats(edge.trigger):
        return False
    if source_alive:
        return True
    return kind(edge.trigger) in ("on_timeout", "on_price") and source.activated_ms is not None


def usd(qty_1e8: int, price_1e8: int) -> float:
    return qty_1e8 * price_1e8 / (SCALE * SCALE)
