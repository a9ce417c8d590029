"""GraphStatusResponse from a graph's runtime state."""

from __future__ import annotations

from sequence_wire.graphs import (
    EdgeStatus,
    GraphState,
    GraphStatusResponse,
    NodeStatus,
    OrderStatus,
    SliceStatus,
)

from .model import SCALE, GraphRuntime


def graph_state(g: GraphRuntime) -> GraphState:
    """pending | active | partial_fill | completed | aborted | expired | paused."""
    if g.final_status is not None:
        return g.final_status
    if g.paused:
        return "paused"
    nodes = g.nodes.values()
    if all(n.activated_ms is None for n in nodes):
        return "pending"
    return "partial_fill" if any(n.filled_1e8 for n in nodes) else "active"


def graph_status(g: GraphRuntime) -> GraphStatusResponse:
    nodes: dict[str, NodeStatus] = {}
    for name, n in g.nodes.items():
        spec = g.spec.nodes[name]
        avg = n.avg_price_1e8
        nodes[name] = NodeStatus(
            status=n.status,
            side=spec.side,
            symbol=spec.symbol,
            filled_qty_1e8=n.filled_1e8,
            target_qty_1e8=n.target_1e8,
            avg_price=None if avg is None else avg / SCALE,
            orders=[
                OrderStatus(
                    client_order_id=o.client_order_id,
                    venue=o.venue,
                    side=o.side,
                    slice=o.slice,
                    attempt=o.attempt,
                    qty_1e8=o.qty_1e8,
                    price_1e8=o.price_1e8,
                    tif=o.tif,
                    filled_qty_1e8=o.filled_1e8,
                    status=o.status,
                    reason=o.reason,
                )
                for o in n.orders
            ],
            slices=[
                SliceStatus(
                    index=s.index,
                    status=s.status,
                    start_ms=s.start_ms,
                    target_qty_1e8=s.target_1e8,
                    filled_qty_1e8=s.filled_1e8,
                )
                for s in n.slices
            ]
            if spec.twap is not None
            else [],
            urgency=n.urgency,
            max_slippage_bps=n.max_slippage_bps,
            horizon_ms=n.horizon_ms,
            reason=n.reason,
        )
    edges = {
        state.id: EdgeStatus.model_validate(
            {
                "from": edge.from_,
                "to": edge.to,
                "trigger": edge.trigger,
                "fired": state.fired,
                "fire_count": state.fire_count,
            }
        )
        for edge, state in zip(g.spec.edges, g.edges, strict=True)
    }
    return GraphStatusResponse(
        graph_id=g.graph_id,
        client_id=g.client_id,
        status=graph_state(g),
        nodes=nodes,
        edges=edges,
        sandbox=g.spec.sandbox,
        metadata=dict(g.spec.metadata),
        pnl_usd=round(g.pnl_usd, 8),
        breaches=list(g.breaches),
        reason=g.reason,
        created_ms=g.created_ms,
        updated_ms=g.updated_ms,
    )
