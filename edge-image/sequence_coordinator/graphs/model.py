"""Runtime state of a graph: what the engine journals and rebuilds on restart.

Quantities and prices are integers scaled by 1e8 (as at the edges); USD
amounts are floats. Everything here is plain data: the behaviour lives in
triggers.py, sizing.py, execution.py, risk.py and runtime.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sequence_wire.graphs import ExecutionGraphSpec, NodeState, OrderState

SCALE = 100_000_000
OPEN_ORDER_STATES = ("pending_new", "live", "pending_cancel")
SliceState = Literal["pending", "active", "completed", "expired", "cancelled"]


class State(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class OrderRuntime(State):
    client_order_id: str
    node: str
    venue: str
    symbol: str
    side: Literal["buy", "sell"]
    slice: int
    attempt: int
    qty_1e8: int
    price_1e8: int | None
    tif: Literal["gtc", "ioc", "post_only"]
    placed_ms: int
    filled_1e8: int = 0
    status: OrderState = "pending_new"
    reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATES


class SliceRuntime(State):
    index: int
    start_ms: int
    target_1e8: int
    filled_1e8: int = 0
    status: SliceState = "pending"
    horizon_end_ms: int | None = None
    attempts: int = 0  # orders placed so far: the next order's attempt number
    rejects: int = 0  # consecutive rejects
    retry_at_ms: int = 0
    final_sent: bool = False  # the last-chance IOC at the horizon went out


class NodeRuntime(State):
    id: str
    index: int
    status: NodeState = "pending"
    target_1e8: int = 0
    filled_1e8: int = 0
    cost_usd: float = 0.0  # sum of fill qty x price, for the average price
    fill_count: int = 0
    accepted: bool = False
    activated_ms: int | None = None
    arrival_mid_1e8: int | None = None
    urgency: str = "normal"
    max_slippage_bps: float | None = None
    horizon_ms: int | None = None
    slices: list[SliceRuntime] = Field(default_factory=list)
    orders: list[OrderRuntime] = Field(default_factory=list)
    reason: str | None = None

    @property
    def avg_price_1e8(self) -> int | None:
        if not self.filled_1e8:
            return None
        return round(self.cost_usd * SCALE * SCALE / self.filled_1e8)

    @property
    def open_orders(self) -> list[OrderRuntime]:
        return [o for o in self.orders if o.is_open]

    @property
    def working(self) -> bool:
        return self.status in ("active", "partial_fill")


class EdgeRuntime(State):
    id: str
    fired: bool = False
    fire_count: int = 0
    last_filled_1e8: int = 0  # the source's filled qty when this edge last fired
    contribution_1e8: int = 0  # this edge's share of the child's target


class GraphRuntime(State):
    graph_id: str
    client_id: str | None
    spec: ExecutionGraphSpec
    nodes: dict[str, NodeRuntime]
    edges: list[EdgeRuntime]
    created_ms: int
    updated_ms: int
    paused: bool = False
    paused_at_ms: int | None = None
    final_status: Literal["completed", "aborted", "expired"] | None = None
    reason: str | None = None
    positions_1e8: dict[str, int] = Field(default_factory=dict)  # symbol -> signed filled qty
    cash_usd: float = 0.0
    last_price_1e8: dict[str, int] = Field(default_factory=dict)  # symbol -> last fill price
    peak_pnl_usd: float = 0.0
    pnl_usd: float = 0.0
    breaches: list[str] = Field(default_factory=list)
    latched: list[str] = Field(default_factory=list)  # breach kinds already acted on
    warnings: list[str] = Field(default_factory=list)
