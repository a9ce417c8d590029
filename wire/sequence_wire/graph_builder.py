"""A Python builder for execution graphs, mirroring the Rust SDK's.

    graph = (
        GraphBuilder(submit=client.submit_graph)
        .node("spot", Node.buy("ETH-USD", 200).policy(Policy.SOR))
        .node("hedge", Node.sell("ETH-USD-PERP", 0).perp().derived())
        .edge("spot", "hedge", Trigger.ON_FILL, sizing=Sizing.linear_hedge(-1.0))
        .risk(lambda r: r.max_notional_usd(500_000).on_runtime_breach(FailureAction.CANCEL_ALL))
        .submit()
    )

`build()` returns the `GraphSubmitRequest` (the graph's wire form, checked
like a Sequence.toml graph); `submit()` hands it to the `submit` callable the
builder was made with (an HTTP client's, or a graph engine's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .graphs import GraphSubmitRequest, graph_problems

R = TypeVar("R")


class Policy:
    SOR = "sor"
    DIRECT = "direct"
    PASSIVE = "passive"
    AGGRESSIVE = "aggressive"


class Urgency:
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class FailureAction:
    CANCEL_ALL = "cancel_all_open"
    CANCEL_PENDING = "cancel_pending"
    PAUSE = "pause_graph"
    CONTINUE = "do_nothing"


@dataclass(frozen=True)
class EdgeTrigger:
    """A trigger in wire form, with the condition `on_fill_ratio` needs."""

    wire: str | dict[str, Any]
    condition: dict[str, float] | None = None


class Trigger:
    ON_ACCEPTED = EdgeTrigger("on_accepted")
    FIRST_FILL = EdgeTrigger("on_first_fill")
    ON_FILL = EdgeTrigger("on_fill")
    FULL_FILL = EdgeTrigger("on_full_fill")
    ON_CANCEL = EdgeTrigger("on_cancel")
    ON_DONE = EdgeTrigger("on_done")

    @staticmethod
    def fill_pct(ratio: float) -> EdgeTrigger:
        """Fires once when filled / target reaches `ratio` (0 < ratio <= 1)."""
        return EdgeTrigger("on_fill_ratio", {"fill_ratio_gte": ratio})

    @staticmethod
    def timeout(ms: int) -> EdgeTrigger:
        return EdgeTrigger({"on_timeout": {"ms": ms}})

    @staticmethod
    def on_price(symbol: str, direction: str, offset_pct: float) -> EdgeTrigger:
        return EdgeTrigger({"on_price": {"symbol": symbol, "direction": direction, "offset_pct": offset_pct}})


class Sizing:
    PARENT_FILLED_QTY = "parent_filled_qty"
    INCREMENTAL_FILL = "incremental_fill"
    RESIDUAL = "residual"

    @staticmethod
    def linear_hedge(multiplier: float) -> dict[str, float]:
        return {"linear_hedge": multiplier}

    @staticmethod
    def scaled_notional(multiplier: float, cap_usd: float | None = None) -> dict[str, Any]:
        inner: dict[str, float] = {"multiplier": multiplier}
        if cap_usd is not None:
            inner["cap_usd"] = cap_usd
        return {"scaled_notional": inner}

    @staticmethod
    def fixed(qty: float) -> dict[str, float]:
        return {"fixed": qty}


class Node:
    """One leg. `Node.buy(symbol, qty)` / `Node.sell(symbol, qty)`, then options."""

    def __init__(self, side: str, symbol: str, qty: float) -> None:
        self.fields: dict[str, Any] = {"side": side, "symbol": symbol, "qty": qty}

    @classmethod
    def buy(cls, symbol: str, qty: float) -> Node:
        return cls("buy", symbol, qty)

    @classmethod
    def sell(cls, symbol: str, qty: float) -> Node:
        return cls("sell", symbol, qty)

    def _set(self, **fields: Any) -> Node:
        self.fields.update(fields)
        return self

    def derived(self) -> Node:
        """The quantity comes from the incoming edge's sizing."""
        return self._set(derived=True, qty=0.0)

    def policy(self, policy: str) -> Node:
        return self._set(policy=policy)

    def venue(self, venue: str) -> Node:
        return self._set(venue=venue)

    def perp(self) -> Node:
        return self._set(perp=True)

    def limit_price(self, price: float) -> Node:
        return self._set(limit_price=price)

    def twap(self, slices: int, interval_ms: int) -> Node:
        return self._set(twap={"slices": slices, "interval_ms": interval_ms})

    def urgency(self, urgency: str) -> Node:
        return self._set(urgency=urgency)

    def max_slippage_bps(self, bps: float) -> Node:
        return self._set(max_slippage_bps=bps)

    def horizon_ms(self, ms: int) -> Node:
        return self._set(horizon_ms=ms)


class RiskConfig:
    """The four risk layers; each method sets one limit and returns the config."""

    def __init__(self) -> None:
        self.layers: dict[str, dict[str, Any]] = {
            "admission": {},
            "pre_trade": {},
            "runtime": {},
            "failure": {},
        }

    def _set(self, layer: str, **fields: Any) -> RiskConfig:
        self.layers[layer].update(fields)
        return self

    def max_notional_usd(self, usd: float) -> RiskConfig:
        return self._set("admission", max_notional_usd=usd)

    def max_leverage(self, leverage: float) -> RiskConfig:
        return self._set("admission", max_leverage=leverage)

    def max_concurrent_graphs(self, n: int) -> RiskConfig:
        return self._set("admission", max_concurrent_graphs=n)

    def max_node_notional_usd(self, usd: float) -> RiskConfig:
        return self._set("pre_trade", max_node_notional_usd=usd)

    def require_balance_check(self) -> RiskConfig:
        return self._set("pre_trade", require_balance_check=True)

    def max_slippage_bps(self, bps: float) -> RiskConfig:
        return self._set("pre_trade", max_slippage_bps=bps)

    def max_unhedged_qty(self, qty: float) -> RiskConfig:
        return self._set("runtime", max_unhedged_qty=qty)

    def max_loss_usd(self, usd: float) -> RiskConfig:
        return self._set("runtime", max_loss_usd=usd)

    def max_drawdown_usd(self, usd: float) -> RiskConfig:
        return self._set("runtime", max_drawdown_usd=usd)

    def on_runtime_breach(self, action: str) -> RiskConfig:
        return self._set("failure", on_runtime_breach=action)

    def on_disconnect(self, action: str) -> RiskConfig:
        return self._set("failure", on_disconnect=action)


class GraphBuilder(Generic[R]):
    def __init__(self, submit: Callable[[GraphSubmitRequest], R] | None = None) -> None:
        self._submit = submit
        self._nodes: dict[str, dict[str, Any]] = {}
        self._edges: list[dict[str, Any]] = []
        self._risk = RiskConfig()
        self._sandbox = True
        self._metadata: dict[str, Any] = {}
        self._client_id: str | None = None

    def node(self, node_id: str, node: Node) -> GraphBuilder[R]:
        if node_id in self._nodes:
            raise ValueError(f"node {node_id!r} is already in the graph")
        self._nodes[node_id] = dict(node.fields)
        return self

    def edge(self, src: str, dst: str, trigger: EdgeTrigger, *, sizing: Any = None) -> GraphBuilder[R]:
        edge: dict[str, Any] = {"from": src, "to": dst, "trigger": trigger.wire}
        if trigger.condition is not None:
            edge["condition"] = trigger.condition
        if sizing is not None:
            edge["sizing"] = sizing
        self._edges.append(edge)
        return self

    def edge_with(
        self, src: str, dst: str, trigger: EdgeTrigger, configure: Callable[[EdgeConfig], EdgeConfig]
    ) -> GraphBuilder[R]:
        return self.edge(src, dst, trigger, sizing=configure(EdgeConfig()).sizing_value)

    def risk(self, configure: Callable[[RiskConfig], RiskConfig]) -> GraphBuilder[R]:
        self._risk = configure(self._risk)
        return self

    def sandbox(self, on: bool = True) -> GraphBuilder[R]:
        """Paper venues only (the default)."""
        self._sandbox = on
        return self

    def metadata(self, value: dict[str, Any]) -> GraphBuilder[R]:
        self._metadata = dict(value)
        return self

    def client_id(self, value: str) -> GraphBuilder[R]:
        """Your own id for the graph: submitting it again returns the running graph."""
        self._client_id = value
        return self

    def build(self) -> GraphSubmitRequest:
        """The graph's wire form; raises ValueError listing every problem."""
        nodes = {  # a derived node has no qty on the wire
            node_id: {k: v for k, v in fields.items() if not (k == "qty" and fields.get("derived"))}
            for node_id, fields in self._nodes.items()
        }
        body: dict[str, Any] = {
            "nodes": nodes,
            "edges": self._edges,
            "risk": {k: v for k, v in self._risk.layers.items() if v},
            "sandbox": self._sandbox,
            "metadata": self._metadata,
        }
        if self._client_id is not None:
            body["client_id"] = self._client_id
        request = GraphSubmitRequest.model_validate(body)
        problems = graph_problems(request)
        if problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        return request

    def submit(self) -> R:
        if self._submit is None:
            raise RuntimeError("this builder has no submit function: use build() or pass submit=")
        return self._submit(self.build())


class EdgeConfig:
    """What `edge_with` configures: the sizing."""

    def __init__(self) -> None:
        self.sizing_value: Any = None

    def sizing(self, sizing: Any) -> EdgeConfig:
        self.sizing_value = sizing
        return self
