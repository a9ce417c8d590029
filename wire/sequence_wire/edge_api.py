"""Request and response bodies of the edge's control API (docs/edge-api.md).

The edge builds every JSON answer from these models and parses every push with `PushRequest`;
the client (`sequence.client`) returns them. Prices and quantities are natural units (floats).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from .base import OpenReply, Reply, Request
from .limits import RiskLimits, WasmLimits
from .types import MeshLabel, Sha256, Symbol, param_text

DeploymentState = Literal["Loaded", "Running", "Paused", "Stopped", "Failed"]
ParamValue = str | int | float | bool


class PushRequest(Request):
    """`PUT /v1/deployments/{id}`: load (or hot-swap) a bundle."""

    bundle: str | None = Field(
        default=None, description="base64 of the .wasm, or of the .so with runtime native (or bundle_url)"
    )
    bundle_url: str | None = Field(
        default=None,
        description="https:// URL the edge downloads the .wasm from (or bundle); http:// only on an "
        "edge started with --allow-http-bundles",
    )
    sha256: Sha256 = Field(description="64 hex digits, either case; the bytes are verified against it")
    runtime: Literal["wasm", "native"] = "wasm"
    symbols: list[Symbol] = Field(min_length=1, max_length=16, description="required, 1 to 16, unique")
    label: MeshLabel | None = None
    mesh_group: str | None = Field(default=None, max_length=253)
    peers: list[MeshLabel] = Field(default_factory=list, max_length=64)
    params: dict[str, str] = Field(
        default_factory=dict,
        description="strings, numbers or booleans; the algorithm reads them as text, numbers in decimal "
        "notation",
    )
    risk: RiskLimits = Field(default_factory=RiskLimits)
    wasm: WasmLimits = Field(default_factory=WasmLimits)
    state: Literal["Stopped", "Running", "Paused"] = "Stopped"
    max_symbols: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="symbols the algorithm may have, seq.subscribe included (default: the symbols given)",
    )
    # `"risk": {"unlimited": true}` (taken out of `risk` by the edge's parse_push): run without
    # limits, accepted only by an edge started with --allow-unlimited-risk
    _risk_unlimited: bool = PrivateAttr(default=False)

    @property
    def risk_unlimited(self) -> bool:
        return self._risk_unlimited

    @field_validator("params", mode="before")
    @classmethod
    def _params_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool):
                raise ValueError(f"param {key!r} must be a string, a number or a boolean")
            out[key] = param_text(item)
        return out

    @model_validator(mode="after")
    def _one_source(self) -> PushRequest:
        if (self.bundle is None) == (self.bundle_url is None):
            raise ValueError("give exactly one of bundle (base64) or bundle_url")
        if self.bundle_url is not None and not self.bundle_url.startswith(("https://", "http://")):
            raise ValueError(f"bundle_url must be an https:// URL, got {self.bundle_url!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"symbols must be unique, got {self.symbols}")
        return self


class Health(Reply):
    """`GET /healthz` of the edge (200 ok, 503 with a reason before the first valid book)."""

    ok: bool
    reason: str | None = None


class FeedStatus(OpenReply):
    """The feed of `/v1/edge`; adapter settings (seed, file, speed, ...) ride along as extra keys."""

    kind: str
    healthy: bool
    lag_ms: float
    updates: int


class BookTop(Reply):
    """A book's top levels in natural units, [price, quantity] each (empty while stale)."""

    stale: bool
    bids: list[list[float]] = Field(default_factory=list)
    asks: list[list[float]] = Field(default_factory=list)


class EdgeMesh(Reply):
    """`/v1/edge` `mesh`: the same keys with or without a coordinator."""

    coordinator: str | None = None
    connected: bool = False
    registered: bool = False
    rejected: dict[str, str] = Field(default_factory=dict)
    refused: str | None = Field(
        default=None, description="the coordinator's last ERROR (e.g. `Unauthorized: ...`), or null"
    )
    coordinator_venues: list[str] = Field(default_factory=list)
    client: dict[str, int] = Field(default_factory=dict)
    dropped: dict[str, int] = Field(default_factory=dict)


class GraphOrdersInfo(Reply):
    """`/v1/edge` `graph_orders`: the execution-graph orders the coordinator sent this edge (its
    `:graphs` OMS account, docs/graphs.md); null without a coordinator."""

    account: str = Field(description="The OMS account graph orders trade in (`:graphs`)")
    open: int = Field(description="Graph orders resting now")
    orders: int = Field(description="Places received")
    acks: int
    fills: int
    cancels: int
    rejects: int
    invalid: int = Field(description="ORDER frames refused as malformed")
    events_unsent: int = Field(description="Events waiting for the coordinator to be back")
    events_dropped: int = Field(description="Events dropped while it was away (beyond 65,536)")
    equity_usd: float
    available_usd: float
    positions_1e8: dict[str, int]


Permission = Literal["yes", "no", "unknown"]


class GatewayInfo(Reply):
    """`/v1/edge` `gateway`: the live order gateway of an edge in `mode live` (null in sandbox).
    `sequence preflight` reads `can_trade` and `can_withdraw` (trading allowed, withdrawals not)."""

    venue: str
    dry_run: bool = Field(description="true: orders are logged, never sent (a first day in production)")
    kill_switch: bool = Field(description="true: every order is refused and none rests at the venue")
    can_trade: Permission = Field(
        description="whether the API key may place orders, as the venue reports it; unknown where the "
        "venue has no API for a key's permissions (Kraken)"
    )
    can_withdraw: Permission = Field(description="whether the API key may withdraw funds (should be no)")
    permissions_source: str = Field(description="where can_trade / can_withdraw come from")
    connected: bool = Field(description="the last call to the venue succeeded")
    reconciled: bool = Field(
        description="open orders were reconciled since the last (re)connection; books reach the algos "
        "only while true"
    )
    open_orders: int = Field(description="orders open at the venue that this edge placed")
    unknown_open_orders: list[str] = Field(
        description="client order ids open at the venue that no deployment on this edge owns (left alone)"
    )
    last_reconcile_ms: int | None = Field(
        description="Unix time in ms of the last reconciliation with the venue; null before the first"
    )
    reconciles: int
    sent: int = Field(description="orders sent to the venue (create calls)")
    acked: int
    rejected: int = Field(description="orders the venue refused (the algo gets VENUE_REJECT)")
    cancelled: int = Field(description="cancels the venue confirmed")
    fills: int = Field(description="fills read back from the venue")
    retries_avoided: int = Field(description="sends skipped because the venue already had the order")
    errors: int = Field(description="calls that failed (network, venue errors other than rejects)")
    dry_run_orders: int = Field(description="orders logged and not sent (dry_run)")
    last_error: str | None = None
    balances: dict[str, float] = Field(
        default_factory=dict, description="the account's total balance per asset at the last reconcile"
    )


class KillSwitchRequest(Request):
    """`POST /v1/kill-switch`: engage (cancel every open order, refuse every new one) or release."""

    engaged: bool = Field(description="true: engage; false: release")
    reason: str = Field(default="", max_length=256, description="why (shown in the status and logs)")


class KillSwitchStatus(Reply):
    """`/v1/edge` `kill_switch`, and the answer of `POST /v1/kill-switch`."""

    engaged: bool
    since: str | None = Field(description="when it was engaged; null while released")
    reason: str = Field(description="the reason given when it was engaged")
    cancelled: int = Field(description="resting orders it cancelled when last engaged")


class JournalInfo(Reply):
    """Where the edge journals its deployments' trading state (docs/operations.md, "Durable state")."""

    dir: str
    fsync_ms: int
    deployments: list[str]
    flushes: int
    bytes_written: int


class Restored(Reply):
    """What an edge restart brought back from a deployment's journal."""

    at_ns: int
    same_bundle: bool
    next_id: int
    open_orders: int
    fills: int
    orders: int
    position: dict[str, float]
    realized_pnl: float
    kill_switch: bool


class EdgeInfo(Reply):
    """`GET /v1/edge`."""

    edge_id: str
    venue: str
    mode: str
    feed: FeedStatus
    symbols: list[str]
    books: dict[str, BookTop] = Field(default_factory=dict, description="top 10 levels of each book")
    deployments: list[str]
    started_at: str | None
    engine: dict[str, int | float]
    venues: list[str]
    journal: JournalInfo | None = Field(default=None, description="null without --state-dir")
    mesh: EdgeMesh
    graph_orders: GraphOrdersInfo | None = Field(
        default=None, description="Execution-graph orders; null without --coordinator"
    )
    kill_switch: KillSwitchStatus = Field(description="The edge-wide kill switch (POST /v1/kill-switch)")
    gateway: GatewayInfo | None = Field(
        default=None, description="The live order gateway; null unless the edge runs in mode live"
    )


class LastError(Reply):
    reason: str
    message: str
    time: str | None = None


class Quantiles(Reply):
    """Nanoseconds at the median and the 99th percentile (null before the first sample)."""

    p50: int | float | None = None
    p99: int | float | None = None


class Latency(Quantiles):
    """Callback latency in nanoseconds, with the largest seen."""

    max: int | float | None = None


class DeploymentMesh(Reply):
    """A deployment's `mesh` block; connected/registered/rejected only with a coordinator."""

    sent: int = 0
    received: int = 0
    send_errors: int = 0
    dropped: int = 0
    undelivered: int = 0
    connected: bool | None = None
    registered: bool | None = None
    rejected: str | None = None


class KillSwitch(Reply):
    pnl: float
    ts_ns: int
    max_loss: float | None = None


class RiskInForce(Reply):
    """The limits a deployment runs with and where they come from."""

    source: Literal["deployment", "edge-default", "unlimited"]
    limits: dict[str, float] = Field(default_factory=dict)
    from_edge_default: list[str] = Field(
        default_factory=list, description="limits the push left unset, taken from the edge's defaults"
    )


class DeploymentStatus(Reply):
    """`GET /v1/deployments/{id}`, and the answer of push, start and stop."""

    deployment_id: str
    label: str | None = None
    mesh_group: str | None = None
    edge_id: str
    venue: str
    symbols: list[str]
    state: DeploymentState
    runtime: Literal["wasm", "native"] = "wasm"
    bundle_sha256: str
    size_bytes: int
    capabilities: list[str]
    last_heartbeat: str | None = None
    orders: int = 0
    open_orders: int = 0
    fills: int = 0
    rejects: int = 0
    cancels: int = 0
    position: dict[str, float] = Field(default_factory=dict)
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    fees: float = 0.0
    callbacks: int = 0
    traps: int = 0
    deadline_hits: int = 0
    latency_ns: Latency = Field(default_factory=Latency)
    last_error: LastError | None = None
    mesh: DeploymentMesh = Field(default_factory=DeploymentMesh)
    rejects_by_reason: dict[str, int] = Field(default_factory=dict)
    kill_switch: KillSwitch | None = None
    risk: RiskInForce | None = None
    restored: Restored | None = Field(default=None, description="after an edge restart, from the journal")
    tick_to_order_ns: Quantiles = Field(default_factory=Quantiles)
    removed: bool | None = Field(default=None, description="true in the final status DELETE returns")


class RemoveResult(Reply):
    """`DELETE /v1/deployments/{id}`."""

    cancelled: int
    cancelled_by_algo: int
    cancelled_by_edge: int
    status: DeploymentStatus


class LogLine(Reply):
    """One NDJSON line of `GET /v1/deployments/{id}/logs`."""

    ts_ns: int
    level: str
    message: str


class Order(Reply):
    """One entry of `GET /v1/deployments/{id}/orders` (`queue_ahead` only with `open=1`)."""

    order_ref: str
    deployment_id: str
    order_id: int
    symbol: str
    side: str
    type: str
    px: float
    qty: float
    filled: float
    state: str
    arrival_mid: float | None = Field(
        default=None, description="the book's mid when the OMS received the order (null: no two-sided book)"
    )
    queue_ahead: float | None = None


class TraceEvent(Reply):
    """One lifecycle event; fill/amend/cancel/expire/reject add px, qty, maker, final or reason."""

    event: str
    ts_ns: int
    px: float | None = None
    qty: float | None = None
    maker: bool | None = None
    final: bool | None = None
    reason: str | None = None


class OrderTrace(Reply):
    """`GET /v1/orders/{order_ref}/trace`."""

    order_ref: str
    deployment_id: str
    order_id: int
    symbol: str
    side: str
    type: str
    px: float
    qty: float
    filled: float
    state: str
    arrival_mid: float | None = Field(
        default=None, description="the book's mid when the OMS received the order (null: no two-sided book)"
    )
    events: list[TraceEvent]
    dropped_events: int | None = None


class FeeSchedule(Reply):
    """The fees this edge charges on paper fills, in bps of notional (negative: a rebate)."""

    maker_bps: float
    taker_bps: float


class BookDepth(Reply):
    """`GET /v1/book/{symbol}?depth=N`: one book's levels, best first, [price, quantity] each."""

    symbol: str
    edge_id: str
    venue: str
    stale: bool = Field(description="true while the book is not valid (then no levels)")
    mid: float | None = Field(description="(best bid + best ask) / 2; null without both sides")
    bids: list[list[float]]
    asks: list[list[float]]
    fees: FeeSchedule
    feed_healthy: bool


class MidHistory(Reply):
    """`GET /v1/mids/{symbol}`: the book's mid over time, sampled every `step_ms`; a mid holds from
    its `ts_ns` until the next one (only changes are kept)."""

    symbol: str
    step_ms: int
    from_ns: int = Field(description="the oldest time the history answers for (0: no sample yet)")
    until_ns: int = Field(description="the time of the latest sample: later mids are not known yet")
    ts_ns: list[int]
    mids: list[float]
