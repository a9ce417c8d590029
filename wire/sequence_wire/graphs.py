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
    ms: int = Field(gt=0, description="Milliseconds after the source node activates")


class OnPrice(WireModel):
    symbol: Symbol
    direction: Literal["above", "below"]
    offset_pct: float = Field(description="Offset from the reference price in percent (e.g. -5.0)")


class ScaledNotional(WireModel):
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
    slices: int = Field(ge=1, le=10_000, description="Number of child slices")
    interval_ms: int = Field(gt=0, description="Milliseconds between slices")


class GraphNode(SpecModel):
    side: Literal["buy", "sell"]
    symbol: Symbol
    qty: NonNegativeFloat = Field(default=0.0, description="Target quantity; 0 for derived nodes")
    derived: bool = Field(default=False, description="Quantity comes from the incoming edge's sizing")
    venue: str | None = Field(default=None, description="Pin to a venue; omit to let the policy choose")
    policy: Literal["sor", "direct", "passive", "aggressive"] = "sor"
    perp: bool = False
    limit_price: PositiveFloat | None = None
    twap: Twap | None = None
    urgency: Literal["low", "normal", "high", "urgent"] = "normal"
    max_slippage_bps: NonNegativeFloat | None = None
    horizon_ms: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _qty_matches_derived(self) -> GraphNode:
        if self.derived and self.qty != 0:
            raise ValueError("a derived node takes its qty from its incoming edge: set qty = 0 or omit it")
        if not self.derived and self.qty <= 0:
            raise ValueError("qty must be > 0 (or set derived = true)")
        return self


class EdgeCondition(WireModel):
    fill_ratio_gte: float = Field(gt=0, le=1, description="Fire once filled/target >= this ratio")


class GraphEdge(SpecModel):
    from_: str = Field(alias="from", max_length=63, description="Source node id")
    to: str = Field(max_length=63, description="Target node id")
    trigger: Any = Field(
        description="Wire form: one of "
        + ", ".join(f'"{t}"' for t in SIMPLE_TRIGGERS)
        + ', {"on_timeout": {"ms": N}} or {"on_price": {"symbol", "direction", "offset_pct"}}',
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    condition: EdgeCondition | None = Field(
        default=None, description="Only for on_fill_ratio (ignored, with a warning, on on_fill)"
    )
    sizing: Any = Field(
        default=None,
        description='Wire form: "parent_filled_qty", "incremental_fill", "residual", {"linear_hedge": m}, '
        '{"scaled_notional": {"multiplier", "cap_usd"}} or {"fixed": q}',
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

    max_notional_usd: PositiveFloat | None = None
    max_leverage: PositiveFloat | None = None
    max_concurrent_graphs: int | None = Field(default=None, ge=1)


class PreTradeRisk(SpecModel):
    """Layer 2: per-node gates."""

    max_node_notional_usd: PositiveFloat | None = None
    require_balance_check: bool = False
    max_slippage_bps: NonNegativeFloat | None = None


class RuntimeRisk(SpecModel):
    """Layer 3: enforced continuously while the graph runs."""

    max_unhedged_qty: PositiveFloat | None = None
    max_loss_usd: PositiveFloat | None = None
    max_drawdown_usd: PositiveFloat | None = None


class FailurePolicy(SpecModel):
    """Layer 4: what happens on a breach."""

    on_runtime_breach: FailureAction = "cancel_all_open"
    on_disconnect: FailureAction = "pause_graph"


class GraphRisk(SpecModel):
    admission: AdmissionRisk = Field(default_factory=AdmissionRisk)
    pre_trade: PreTradeRisk = Field(default_factory=PreTradeRisk)
    runtime: RuntimeRisk = Field(default_factory=RuntimeRisk)
    failure: FailurePolicy = Field(default_factory=FailurePolicy)


class ExecutionGraphSpec(SpecModel):
    nodes: dict[str, GraphNode] = Field(min_length=1, max_length=256, description="Nodes by id")
    edges: list[GraphEdge] = Field(default_factory=list, max_length=256)
    risk: GraphRisk = Field(default_factory=GraphRisk)
    sandbox: bool = Field(default=True, description="Paper-trade the graph (no real orders)")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free JSON kept with the graph and returned in its status",
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
