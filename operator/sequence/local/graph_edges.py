"""What the edges of `sequence up` need for the file's `[graph.*]` blocks: which venues get an
edge, which symbols each edge books, and graph-order limits large enough for the graphs.

- A node pinned to a venue (`venue = "kraken"`) needs that venue's edge and its symbol there.
- A routed node (no `venue`) can trade on every venue of the file whose simulated market has a
  price for its symbol (`start_prices`, or any symbol when the sim sets none); a replay or live
  feed books only what the file's deploy blocks and pinned nodes name.
- Each edge's graph orders go through its pre-trade risk with the edge's default limits (1 unit
  per order, position 5, notional 100,000 per order), a backstop shared by every graph trading
  there. A local paper run raises the order size, position and notional limits to what the file's
  graphs can trade, so the edge does not refuse a graph its own risk layers allow.
"""

from __future__ import annotations

import json

from ..models.graph import ExecutionGraphSpec
from ..project import Project

# the edge's built-in default risk (sequence_edge.edge_policy.BUILTIN_DEFAULT_RISK), the floor here
DEFAULT_ORDER_QTY = 1.0
DEFAULT_POSITION = 5.0
DEFAULT_NOTIONAL = 100_000.0
PRICE_ROOM = 1.25  # notional headroom for the market moving away from the start price


def _sim_prices(project: Project, venue: str) -> dict[str, float] | None:
    """The venue's simulated start prices; None when its feed is not simulated."""
    block = project.config.venue.get(venue)
    if block is None:
        return {}
    if block.feed.kind != "sim":
        return None
    return dict(block.feed.sim.start_prices) if block.feed.sim is not None else {}


def _routable(project: Project, venue: str, symbol: str) -> bool:
    prices = _sim_prices(project, venue)
    return prices is not None and (not prices or symbol in prices)


def graph_symbols(project: Project, venue: str) -> set[str]:
    """Symbols VENUE's edge books for the file's graphs."""
    symbols = set()
    for graph in project.config.graph.values():
        for node in graph.nodes.values():
            if node.venue == venue or (node.venue is None and _routable(project, venue, node.symbol)):
                symbols.add(node.symbol)
    return symbols


def graph_venues(project: Project) -> set[str]:
    """Venues the file's graphs can trade on (each gets an edge)."""
    declared = set(project.config.venue)
    pinned = {n.venue for g in project.config.graph.values() for n in g.nodes.values() if n.venue}
    return pinned | {v for v in declared if graph_symbols(project, v)}


def node_bounds(graph: ExecutionGraphSpec) -> dict[str, float]:
    """The most each node can trade: its qty, or for a derived node its incoming edges' sizings
    applied to their sources' bounds (a scaled notional counts its cap at the node's limit price)."""
    bounds: dict[str, float] = {}

    def bound(name: str, seen: frozenset[str]) -> float:
        if name in bounds:
            return bounds[name]
        node = graph.nodes[name]
        total = 0.0 if node.derived else node.qty
        if node.derived and name not in seen:
            for edge in graph.edges:
                if edge.to == name and edge.from_ in graph.nodes:
                    total += _contribution(edge.sizing, bound(edge.from_, seen | {name}), node.limit_price)
        bounds[name] = total
        return total

    for name in graph.nodes:
        bound(name, frozenset())
    return bounds


def _contribution(sizing: object, source: float, price: float | None) -> float:
    if isinstance(sizing, dict):
        if "fixed" in sizing:
            return float(sizing["fixed"])
        if "linear_hedge" in sizing:
            return abs(float(sizing["linear_hedge"])) * source
        cap = (sizing.get("scaled_notional") or {}).get("cap_usd")
        return float(cap) / price if cap and price else 0.0
    return source  # parent_filled_qty, incremental_fill, residual: at most the source's quantity


def graph_risk_args(project: Project, venue: str) -> list[str]:
    """`--graph-risk` for VENUE's edge when the file's graphs need more than the edge's defaults."""
    symbols = graph_symbols(project, venue)
    prices = _sim_prices(project, venue) or {}
    largest, notional = 0.0, 0.0
    per_symbol: dict[str, float] = {}
    for graph in project.config.graph.values():
        for name, qty in node_bounds(graph).items():
            node = graph.nodes[name]
            if node.symbol not in symbols or node.venue not in (None, venue):
                continue
            largest = max(largest, qty)
            per_symbol[node.symbol] = per_symbol.get(node.symbol, 0.0) + qty
            price = node.limit_price or prices.get(node.symbol)
            if price:
                notional = max(notional, qty * price * PRICE_ROOM)
    limits = {
        "max_order_qty": max(DEFAULT_ORDER_QTY, largest),
        "max_position": max(DEFAULT_POSITION, *per_symbol.values(), 0.0),
        "max_notional": max(DEFAULT_NOTIONAL, round(notional, 2)),
    }
    defaults = (DEFAULT_ORDER_QTY, DEFAULT_POSITION, DEFAULT_NOTIONAL)
    if tuple(limits.values()) == defaults:
        return []
    return ["--graph-risk", json.dumps(limits)]
