"""How much a derived node trades: each edge's contribution to its target.

Every firing recomputes the edge's contribution; a derived node's target is
the sum of its incoming edges' contributions (never below what it has
already filled). So under a repeating `on_fill` edge, `parent_filled_qty`
and `linear_hedge` track the parent's cumulative fill, and
`incremental_fill` adds the fill since the edge last fired: both give a hedge
that follows every fill.

    parent_filled_qty         the parent's cumulative filled qty
    incremental_fill          previous contribution + fill since the last firing
    {linear_hedge = m}        |m| x the parent's filled qty (m < 0: opposite side)
    {scaled_notional = ...}   parent filled notional x multiplier (capped at
                              cap_usd), converted at the child's symbol mid
    residual                  parent target - parent filled
    {fixed = q}               q
"""

from __future__ import annotations

from typing import Any

from .model import SCALE, EdgeRuntime, NodeRuntime


def contribution_1e8(
    sizing: Any, state: EdgeRuntime, parent: NodeRuntime, child_price_1e8: int | None
) -> int:
    """The edge's new contribution to the child's target, at a firing."""
    if sizing is None or sizing == "parent_filled_qty":
        return parent.filled_1e8
    if sizing == "incremental_fill":
        return state.contribution_1e8 + max(parent.filled_1e8 - state.last_filled_1e8, 0)
    if sizing == "residual":
        return max(parent.target_1e8 - parent.filled_1e8, 0)
    ((name, value),) = sizing.items()
    if name == "linear_hedge":
        return round(abs(float(value)) * parent.filled_1e8)
    if name == "fixed":
        return round(float(value) * SCALE)
    if name == "scaled_notional":
        notional = parent.cost_usd * value["multiplier"]
        if value.get("cap_usd") is not None:
            notional = min(notional, value["cap_usd"])
        price = child_price_1e8 or parent.avg_price_1e8
        if not price or notional <= 0:
            return 0
        return int(notional * SCALE * SCALE / price)
    raise ValueError(f"unknown sizing {name!r}")
