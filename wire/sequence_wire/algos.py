"""The symbol-keyed view of deployments: `GET /v1/algos[?detail=edge]` (docs/sdk.md).

One row per symbol per deployment ("one running algorithm per symbol"), built from the edges'
deployment statuses. `?detail=edge` gives one row per symbol per deployment per edge. The SDK's
`algos()` / `algos_per_edge()` return the same rows as dicts.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from .base import Reply
from .edge_api import DeploymentStatus


class AlgoRow(Reply):
    """One symbol of one deployment. Counters and PnL are the deployment's (a multi-symbol
    deployment's rows share them); `position` is this symbol's, summed over its edges."""

    symbol: str
    deployment_id: str
    name: str = Field(description="the deploy block's or deploy_algo's name (the id when unknown)")
    venue: str
    state: str = Field(description="the edges' common state; differing states are listed, comma-separated")
    edges: list[str] = Field(description="edge ids running it")
    orders: int
    open_orders: int
    fills: int
    rejects: int
    position: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float


class AlgoEdgeRow(AlgoRow):
    """`?detail=edge`: one symbol of one deployment on one edge."""

    edge_id: str


def _row(symbol: str, name: str, statuses: list[DeploymentStatus]) -> dict[str, object]:
    first = statuses[0]
    states = sorted({s.state for s in statuses})
    return {
        "symbol": symbol,
        "deployment_id": first.deployment_id,
        "name": name,
        "venue": first.venue,
        "state": ", ".join(states),
        "edges": [s.edge_id for s in statuses],
        "orders": sum(s.orders for s in statuses),
        "open_orders": sum(s.open_orders for s in statuses),
        "fills": sum(s.fills for s in statuses),
        "rejects": sum(s.rejects for s in statuses),
        "position": sum(s.position.get(symbol, 0.0) for s in statuses),
        "realized_pnl": sum(s.realized_pnl for s in statuses),
        "unrealized_pnl": sum(s.unrealized_pnl for s in statuses),
        "fees": sum(s.fees for s in statuses),
    }


def algo_rows(
    statuses: Iterable[DeploymentStatus], names: dict[str, str] | None = None, per_edge: bool = False
) -> list[AlgoRow]:
    """The rows of `GET /v1/algos` from edge statuses (`names`: deployment id -> name), sorted by
    symbol then deployment id (then edge id with `per_edge`)."""
    names = names or {}
    groups: dict[tuple[str, str], list[DeploymentStatus]] = {}
    for status in statuses:
        for symbol in status.symbols:
            groups.setdefault((symbol, status.deployment_id), []).append(status)
    rows: list[AlgoRow] = []
    for (symbol, dep_id), members in sorted(groups.items()):
        name = names.get(dep_id, dep_id)
        if per_edge:
            for status in sorted(members, key=lambda s: s.edge_id):
                rows.append(
                    AlgoEdgeRow.model_validate({**_row(symbol, name, [status]), "edge_id": status.edge_id})
                )
        else:
            rows.append(AlgoRow.model_validate(_row(symbol, name, members)))
    return rows
