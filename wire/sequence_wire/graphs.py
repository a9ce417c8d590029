"""Execution graphs on the wire: the graph spec and the graph API's bodies.

The spec (nodes, triggered edges, sizing, 4-layer risk) is written the same
way in Sequence.toml, in the ExecutionGraph CRD and in a `POST /v1/graphs`
body. Triggers, conditions, sizings and failure actions keep their wire forms
(`"on_fill_ratio"` + `condition.fill_ratio_gte`, `{"on_timeout": {"ms": N}}`,
`"cancel_all_open"`...) because the coordinator's graph engine consumes them
as they are.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .common import NonNegativeFloat, PositiveFloat, SpecModel, Symbol, WireModel

SIMPLE_TRIGGERS = (
    "on_accepted",
    "on_first_fill",
    "on_fill",
    "on_full_fill",
    "on_fill_ratio",
    "on_cancel",
    "on_done",
)
OBJECT_TRIGGERS = ("on_timeout", "on_price")
TRIGGERS = SIMPLE_TRIGGERS + OBJECT_TRIGGERS
SIMPLE_SIZINGS = ("parent_filled_qty", "incremental_fill", "residual")
OBJECT_SIZINGS = ("linear_hedge", "scaled_notional", "fixed")
SIZINGS = SIMPLE_SIZINGS + OBJECT_SIZINGS
FAILURE_ACTIONS = ("cancel_all_open", "cancel_pending", "pause_graph", "do_nothing")
FailureAction = Literal["cancel_all_open", "cancel_pending", "pause_graph", "do_nothing"]


class OnTimeout(WireModel):
    """Fire a fixed time after the source node activates."""

    ms: int = Field(gt=0, description="Milliseconds after the source node activates")


class OnPrice(WireModel):
    """Fire when a symbol's price crosses a level relative to the reference price."""

    symbol: Symbol = Field(description="Symbol whose price is watched.")
    direction: Literal["above", "below"] = Field(
        description="Fire when the price goes above or below the level."
    )
    offset_pct: float = Field(description="Offset from the reference price in percent (e.g. -5.0)")


class ScaledNotional(WireModel):
    """Size the child by the parent's filled notional."""

    multiplier: float = Field(description="Child notional = parent filled notional x multiplier")
    cap_usd: PositiveFloat | None = Field(default=None, description="Optional USD cap on the child notional")


def _one_key(value: Any, allowed: tuple[str, ...], what: str) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"{what} object must have exactly one key, one of: {', '.join(allowed)}")
    ((key, inner),) = value.items()
    if key not in allowed:
        raise ValueError(f"unknown {what} {key!r}; expected one of: {', '.join(allowed)}")
    return key, inner


def parse_trigger(value: Any) -> str | dict[str, Any]:
    """Validate a trigger in wire form; returns it normalised."""
    if isinstance(value, str):
        if value in OBJECT_TRIGGERS:
            raise ValueError(f"trigger {value!r} needs parameters, e.g. {{ {value} = {{ ... }} }}")
        if value not in SIMPLE_TRIGGERS:
            raise ValueError(f"unknown trigger {value!r}; expected one of: {', '.join(TRIGGERS)}")
        return value
    key, inner = _one_key(value, OBJECT_TRIGGERS, "trigger")
    model = OnTimeout if key == "on_timeout" else OnPrice
    return {key: model.model_validate(inner).model_dump(exclude_none=True)}


def parse_sizing(value: Any) -> str | dict[str, Any]:
    if isinstance(value, str):
        if value in OBJECT_SIZINGS:
            raise ValueError(f"sizing {value!r} needs a parameter, e.g. {{ {value} = ... }}")
        if value not in SIMPLE_SIZINGS:
            raise ValueError(f"unknown sizing {value!r}; expected one of: {', '.join(SIZINGS)}")
        return value
    key, inner = _one_key(value, OBJECT_SIZINGS, "sizing")
    if key == "scaled_notional":
        return {key: ScaledNotional.model_validate(inner).model_dump(exclude_none=True)}
    if isinstance(inner, bool) or not isinstance(inner, int | float):
        raise ValueError(f"sizing {key} takes a number")
    if key == "fixed" and inner <= 0:
        raise ValueError("sizing fixed must be a positive quantity")
    return {key: float(inner)}


class Twap(SpecModel):
    """Time slicing: the node's quantity is split into equal child orders."""

    slices: int = Field(
        ge=1, le=10_000, description="Number of child orders, 1 to 10000; each gets qty / slices."
    )
    interval_ms: int = Field(gt=0, description="Milliseconds between two slices, above 0.")


class GraphNode(SpecModel):
    """One order of the graph. A node with no incoming edge starts at once; the others wait for an
    edge to fire."""

    side: Literal["buy", "sell"] = Field(description="buy or sell.")
    symbol: Symbol = Field(description="Symbol, BASE-QUOTE or BASE-QUOTE-PERP (e.g. ETH-USD, ETH-USD-PERP).")
    qty: NonNegativeFloat = Field(
        default=0.0,
        description="Target quantity in base units; must be above 0 unless derived, and 0 (or omitted) "
        "when derived.",
    )
    derived: bool = Field(
        default=False,
        description="The quantity comes from the incoming edge's sizing (default false); needs an incoming "
        "edge.",
    )
    venue: str | None = Field(
        default=None, description="Pin the node to a venue; omit to let the policy choose."
    )
    policy: Literal["sor", "direct", "passive", "aggressive"] = Field(
        default="sor",
        description="How the order is worked: sor (default) routes across venues for the best price; direct "
        "sends it to the pinned venue as is; passive rests at the touch (maker); aggressive takes liquidity.",
    )
    perp: bool = Field(
        default=False, description="Trade the perpetual contract of the symbol (default false)."
    )
    limit_price: PositiveFloat | None = Field(
        default=None,
        description="Worst price the node accepts, in quote currency (buy: at most, sell: at least); omitted: "
        "no limit.",
    )
    twap: Twap | None = Field(
        default=None, description="Slice the node over time: the engine spawns that many child orders."
    )
    urgency: Literal["low", "normal", "high", "urgent"] = Field(
        default="normal",
        description="How hard the engine pushes for fills: low waits for good prices, urgent crosses the "
        "spread at once; default normal.",
    )
    max_slippage_bps: NonNegativeFloat | None = Field(
        default=None,
        description="Largest move away from the price at activation, in basis points, the node accepts; "
        "omitted: the graph's risk.preTrade.maxSlippageBps, if any.",
    )
    horizon_ms: int | None = Field(
        default=None,
        gt=0,
        description="Time the node has to complete, in milliseconds (above 0); omitted: no deadline.",
    )

    @model_validator(mode="after")
    def _qty_matches_derived(self) -> GraphNode:
        if self.derived and self.qty != 0:
            raise ValueError("a derived node takes its qty from its incoming edge: set qty = 0 or omit it")
        if not self.derived and self.qty <= 0:
            raise ValueError("qty must be > 0 (or set derived = true)")
        return self


class EdgeCondition(WireModel):
    """Threshold of an on_fill_ratio trigger."""

    fill_ratio_gte: float = Field(
        gt=0,
        le=1,
        description="Fire once, when filled / target reaches this ratio (above 0, at most 1; 0.5 = half filled).",
    )


class GraphEdge(SpecModel):
    """A triggered link: when the trigger fires on the source node, the target node activates."""

    from_: str = Field(alias="from", max_length=63, description="Id of the source node (a key of nodes).")
    to: str = Field(
        max_length=63, description="Id of the node it activates (a key of nodes; not the source, no cycles)."
    )
    trigger: Any = Field(
        description='When the edge fires, in wire form: "on_accepted" (the source order is '
        'acknowledged), "on_first_fill" (its first partial fill), "on_fill" (every fill, again and '
        'again: a streaming hedge), "on_full_fill" (100% filled), "on_fill_ratio" (once, when the '
        'fill ratio reaches condition.fill_ratio_gte), "on_cancel" (it was cancelled), "on_done" (any '
        'end: filled, cancelled, rejected, expired), {"on_timeout": {"ms": N}} (N ms after the source '
        'activates) or {"on_price": {"symbol", "direction": "above"|"below", "offset_pct"}} (a price '
        "crosses the reference price moved by offset_pct percent).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    condition: EdgeCondition | None = Field(
        default=None,
        description="Required with trigger on_fill_ratio; on on_fill it is accepted with a warning and ignored; refused with any other trigger.",
    )
    sizing: Any = Field(
        default=None,
        description="How a derived target's quantity follows the source, in wire form: "
        '"parent_filled_qty" (the source\'s cumulative filled quantity), "incremental_fill" (only what '
        'filled since the edge last fired), "residual" (source target minus filled), {"linear_hedge": m} '
        "(filled quantity x m; negative = the opposite side, -1.0 = a 1:1 hedge), "
        '{"scaled_notional": {"multiplier", "cap_usd"}} (the filled notional x multiplier, at most cap_usd) '
        'or {"fixed": q} (q, whatever the source did). Omitted: the target\'s own qty.',
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @field_validator("trigger")
    @classmethod
    def _trigger(cls, v: Any) -> Any:
        return parse_trigger(v)

    @field_validator("sizing")
    @classmethod
    def _sizing(cls, v: Any) -> Any:
        return None if v is None else parse_sizing(v)

    @model_validator(mode="after")
    def _condition(self) -> GraphEdge:
        if self.trigger == "on_fill_ratio" and self.condition is None:
            raise ValueError("trigger on_fill_ratio needs condition = { fill_ratio_gte = 0.5 }")
        if self.condition is not None and self.trigger not in ("on_fill_ratio", "on_fill"):
            raise ValueError(f"condition only applies to trigger on_fill_ratio, not {self.trigger!r}")
        return self


class AdmissionRisk(SpecModel):
    """Layer 1: before any order leaves."""

    max_notional_usd: PositiveFloat | None = Field(
        default=None,
        description="Refuse the graph if the notional of all its nodes together exceeds this, in USD; "
        "omitted: no limit.",
    )
    max_leverage: PositiveFloat | None = Field(
        default=None,
        description="Refuse the graph if it would take the account's leverage above this (3.0 = 3x); "
        "omitted: no limit.",
    )
    max_concurrent_graphs: int | None = Field(
        default=None,
        ge=1,
        description="Refuse the graph while this many graphs are already active (at least 1); omitted: no limit.",
    )


class PreTradeRisk(SpecModel):
    """Layer 2: per-node gates."""

    max_node_notional_usd: PositiveFloat | None = Field(
        default=None,
        description="Refuse a node whose order notional exceeds this, in USD; omitted: no limit.",
    )
    require_balance_check: bool = Field(
        default=False,
        description="Check the account holds enough balance for each node before it sends (default false).",
    )
    max_slippage_bps: NonNegativeFloat | None = Field(
        default=None,
        description="Refuse a node whose expected fill price is further than this from the price at "
        "activation, in basis points; a node's own maxSlippageBps overrides it. Omitted: no limit.",
    )


class RuntimeRisk(SpecModel):
    """Layer 3: enforced continuously while the graph runs."""

    max_unhedged_qty: PositiveFloat | None = Field(
        default=None,
        description="Breach when the net quantity across the graph's legs (filled on one side, not yet "
        "hedged on the other) exceeds this, in base units; omitted: no limit.",
    )
    max_loss_usd: PositiveFloat | None = Field(
        default=None,
        description="Breach when the graph's realized + unrealized loss exceeds this, in USD; omitted: no limit.",
    )
    max_drawdown_usd: PositiveFloat | None = Field(
        default=None,
        description="Breach when PnL falls this far below its peak during the graph, in USD; omitted: no limit.",
    )


class FailurePolicy(SpecModel):
    """Layer 4: what happens on a breach."""

    on_runtime_breach: FailureAction = Field(
        default="cancel_all_open",
        description="On a runtime limit breach: cancel_all_open (default) cancels every open order of the "
        "graph; cancel_pending cancels the nodes not yet sent; pause_graph stops activating nodes and keeps "
        "orders; do_nothing only reports it.",
    )
    on_disconnect: FailureAction = Field(
        default="pause_graph",
        description="When the graph engine loses its connection to a venue: same choices; default "
        "pause_graph.",
    )


class GraphRisk(SpecModel):
    """Four layers of risk: admission, pre-trade, runtime, and what to do on a breach."""

    admission: AdmissionRisk = Field(
        default_factory=AdmissionRisk, description="Layer 1, checked once before any order leaves."
    )
    pre_trade: PreTradeRisk = Field(
        default_factory=PreTradeRisk, description="Layer 2, checked on each node before it sends an order."
    )
    runtime: RuntimeRisk = Field(
        default_factory=RuntimeRisk, description="Layer 3, enforced continuously while the graph runs."
    )
    failure: FailurePolicy = Field(
        default_factory=FailurePolicy, description="Layer 4: what happens on a breach or a disconnect."
    )


class ExecutionGraphSpec(SpecModel):
    """A multi-leg order: nodes (orders) linked by triggered edges, with four layers of risk."""

    nodes: dict[str, GraphNode] = Field(
        min_length=1, max_length=256, description="Nodes by id (1 to 256); ids are what edges refer to."
    )
    edges: list[GraphEdge] = Field(
        default_factory=list,
        max_length=256,
        description="Triggered links between nodes, at most 256; no self-loops, no cycles. Empty: every node "
        "starts at once.",
    )
    risk: GraphRisk = Field(
        default_factory=GraphRisk, description="Limits and breach actions; omitted: no limits."
    )
    sandbox: bool = Field(default=True, description="Paper-trade the graph, no real orders (default true).")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free JSON kept with the graph and returned in its status; not interpreted.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


def graph_problems(spec: ExecutionGraphSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-node rules: (location inside the spec, message) for each violation."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    incoming: dict[str, list[int]] = {n: [] for n in spec.nodes}
    adjacency: dict[str, list[str]] = {n: [] for n in spec.nodes}
    for i, edge in enumerate(spec.edges):
        for end, name in (("from", edge.from_), ("to", edge.to)):
            if name not in spec.nodes:
                problems.append((("edges", i, end), f"edge refers to unknown node {name!r}"))
        if edge.from_ == edge.to:
            problems.append((("edges", i, "to"), f"edge from {edge.from_!r} to itself"))
        if edge.from_ in spec.nodes and edge.to in spec.nodes:
            incoming[edge.to].append(i)
            adjacency[edge.from_].append(edge.to)
    for i, edge in enumerate(spec.edges):
        source, target = spec.nodes.get(edge.from_), spec.nodes.get(edge.to)
        if source is None or target is None or not isinstance(edge.sizing, dict):
            continue
        m = edge.sizing.get("linear_hedge")
        if isinstance(m, float) and m != 0:
            side = source.side if m > 0 else ("sell" if source.side == "buy" else "buy")
            if target.derived and target.side != side:
                problems.append(
                    (
                        ("edges", i, "sizing"),
                        f"linear_hedge {m} from {edge.from_!r} ({source.side}) gives a {side}, "
                        f"but node {edge.to!r} is a {target.side}",
                    )
                )
    for node_id, node in spec.nodes.items():
        if node.derived and not incoming[node_id]:
            problems.append((("nodes", node_id, "derived"), "a derived node needs an incoming edge"))
    cycle = _find_cycle(adjacency)
    if cycle:
        problems.append((("edges",), "cycle in graph: " + " -> ".join(cycle)))
    return problems


def _find_cycle(adjacency: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in adjacency[node]:
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(adjacency):
        if node not in state and (found := visit(node)):
            return found
    return None


def graph_warnings(spec: ExecutionGraphSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Accepted but ignored settings: (location inside the spec, message) for each."""
    warnings: list[tuple[tuple[str | int, ...], str]] = []
    for i, edge in enumerate(spec.edges):
        if edge.trigger == "on_fill" and edge.condition is not None:
            warnings.append(
                (
                    ("edges", i, "condition"),
                    "on_fill fires on every fill and ignores condition.fill_ratio_gte; "
                    "use trigger on_fill_ratio to fire once at a fill ratio",
                )
            )
        target = spec.nodes.get(edge.to)
        if edge.sizing is not None and target is not None and not target.derived:
            warnings.append(
                (
                    ("edges", i, "sizing"),
                    f"node {edge.to!r} has a fixed qty, so this edge's sizing is ignored "
                    "(set derived = true to size it from the edge)",
                )
            )
    return warnings


def edge_ids(spec: ExecutionGraphSpec) -> list[str]:
    """Status key of each edge, in order: "from->to", then "from->to#2"... for repeats."""
    ids: list[str] = []
    seen: dict[str, int] = {}
    for edge in spec.edges:
        base = f"{edge.from_}->{edge.to}"
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return ids


# ---------------------------------------------------------------- client order ids

_READABLE_NODE = re.compile(r"^[A-Za-z0-9_.]{1,24}$")


def client_order_id(graph_id: str, node_id: str, node_index: int, slice_index: int, attempt: int) -> str:
    """The id of one order of a graph: `g<hash>-<node>-s<slice>-a<attempt>`.

    Deterministic from graph, node, slice and attempt: a retry after a restart
    computes the same id, and the edge's OMS refuses an id it has seen, so an
    order can never be placed twice. A node id that is long or has other
    characters is written as `n<index>` (its position in the graph).
    """
    digest = hashlib.sha256(graph_id.encode()).hexdigest()[:12]
    node = node_id if _READABLE_NODE.match(node_id) else f"n{node_index}"
    return f"g{digest}-{node}-s{slice_index}-a{attempt}"


def order_id_u64(client_order_id: str) -> int:
    """The edge OMS's 64-bit client order id for a graph order id (never 0)."""
    value = int.from_bytes(hashlib.blake2b(client_order_id.encode(), digest_size=8).digest(), "little")
    return value or 1


# ---------------------------------------------------------------- the graph API

GraphState = Literal["pending", "active", "partial_fill", "completed", "aborted", "expired", "paused"]
NodeState = Literal[
    "pending", "active", "partial_fill", "completed", "cancelled", "rejected", "expired", "skipped"
]
OrderState = Literal["pending_new", "live", "pending_cancel", "filled", "cancelled", "rejected"]
TERMINAL_GRAPH_STATES = ("completed", "aborted", "expired")
TERMINAL_NODE_STATES = ("completed", "cancelled", "rejected", "expired", "skipped")


class GraphSubmitRequest(ExecutionGraphSpec):
    """`POST /v1/graphs`: a graph in its wire form, plus the submitter's own id for it.

    Submitting again with the `client_id` of a graph that is still running
    returns that graph instead of starting a second one.
    """

    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:/-]+$",
        description="The submitter's id for this graph (e.g. project/graph name); idempotency key",
    )


class GraphSubmitResponse(WireModel):
    graph_id: str
    client_id: str | None
    status: GraphState
    warnings: list[str] = Field(default_factory=list)


class OrderStatus(WireModel):
    client_order_id: str
    venue: str
    side: Literal["buy", "sell"]
    slice: int
    attempt: int
    qty_1e8: int
    price_1e8: int | None = Field(description="Limit price; null for a market order")
    tif: Literal["gtc", "ioc", "post_only"]
    filled_qty_1e8: int
    status: OrderState
    reason: str | None = None


class SliceStatus(WireModel):
    index: int
    status: NodeState
    start_ms: int = Field(description="When the slice starts working (engine clock, ms)")
    target_qty_1e8: int
    filled_qty_1e8: int


class NodeStatus(WireModel):
    status: NodeState
    side: Literal["buy", "sell"]
    symbol: str
    filled_qty_1e8: int
    target_qty_1e8: int
    avg_price: float | None = Field(description="Average fill price; null before the first fill")
    orders: list[OrderStatus] = Field(default_factory=list)
    slices: list[SliceStatus] = Field(default_factory=list, description="TWAP child slices")
    urgency: str
    max_slippage_bps: float | None
    horizon_ms: int | None
    reason: str | None = None


class EdgeStatus(WireModel):
    from_: str = Field(alias="from")
    to: str
    trigger: str | dict[str, Any]
    fired: bool
    fire_count: int

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class GraphStatusResponse(WireModel):
    graph_id: str
    client_id: str | None
    status: GraphState
    nodes: dict[str, NodeStatus]
    edges: dict[str, EdgeStatus]
    sandbox: bool
    metadata: dict[str, Any] = Field(default_factory=dict)
    pnl_usd: float = Field(description="Realized + unrealized PnL, marked to the NBBO")
    breaches: list[str] = Field(default_factory=list, description="Risk breaches and disconnects seen")
    reason: str | None = Field(default=None, description="Why the graph aborted, expired or paused")
    created_ms: int
    updated_ms: int


class GraphListResponse(WireModel):
    graphs: list[GraphStatusResponse]


class CancelGraphRequest(WireModel):
    """`POST /v1/graphs/{id}/cancel`: cancel every open order; the graph ends aborted."""

    reason: str | None = Field(default=None, max_length=256)


class ResumeGraphRequest(WireModel):
    """`POST /v1/graphs/{id}/resume`: a paused graph continues where it stopped."""


class AmendNodeRequest(WireModel):
    """`PUT /v1/graphs/{id}/nodes/{node}`: retune a node's execution parameters."""

    urgency: Literal["low", "normal", "high", "urgent"] | None = None
    max_slippage_bps: NonNegativeFloat | None = None
    horizon_ms: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _something(self) -> AmendNodeRequest:
        if self.urgency is None and self.max_slippage_bps is None and self.horizon_ms is None:
            raise ValueError("amend needs at least one of urgency, max_slippage_bps, horizon_ms")
        return self
