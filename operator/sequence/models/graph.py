"""ExecutionGraph spec (seed 004): nodes, triggered edges, sizing, 4-layer risk.

Triggers, conditions, sizings and failure actions keep the seed's wire forms
(`"on_fill_ratio"` + `condition.fill_ratio_gte`, `{"on_timeout": {"ms": N}}`,
`"cancel_all_open"`...), because the coordinator's graph engine consumes them
as they are. The same spelling is used in Sequence.toml and in the CRD.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

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
    condition: EdgeCondition | None = Field(default=None, description="Only for on_fill_ratio")
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
        if self.condition is not None and self.trigger != "on_fill_ratio":
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
    metadata: dict[str, str] = Field(default_factory=dict)


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
