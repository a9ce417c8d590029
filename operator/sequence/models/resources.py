"""The four custom resources: spec and status models plus CRD metadata.

`sequence crds` turns these into crds/*.yaml (see sequence.crdgen); nothing in
crds/ is edited by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from .common import DnsName, MeshLabel, Resources, Sha256, SpecModel, StatusBase, Symbol
from .graph import ExecutionGraphSpec
from .specs import Feed, RiskLimits, WasmLimits

# ---------------------------------------------------------------- AlgoDeployment


class ConfigMapRef(SpecModel):
    """A bundle stored in a ConfigMap of the same namespace (what `sequence render` produces)."""

    name: DnsName = Field(description="ConfigMap name, in the AlgoDeployment's namespace.")
    key: str = Field(
        default="bundle.wasm",
        min_length=1,
        description="Key holding the bundle, in binaryData (or base64 in data); default bundle.wasm. A "
        "missing ConfigMap or key fails the deployment with BundleNotFound, listing the keys there are.",
    )


class BundleRef(SpecModel):
    """Where the algorithm comes from; exactly one of configMap, url, oci."""

    config_map: ConfigMapRef | None = Field(
        default=None, description="Read the bundle from a ConfigMap; for bundles up to about 1 MiB."
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https://",
        description="Download the bundle over https (plain http is refused). The operator fetches it, "
        "checks sha256 and pushes the bytes to the edges. Larger than the operator's maxBundleBytes "
        "(default 64 MiB) fails with BundleTooLarge; edges accept at most 32 MiB.",
    )
    oci: str | None = Field(
        default=None,
        pattern=r"^oci://",
        description="An oci:// artifact reference. Not supported by this operator release yet: the "
        "deployment fails with BundleSourceUnsupported; use configMap or url.",
    )
    sha256: Sha256 = Field(
        description="sha256 of the bundle bytes, 64 lowercase hex digits. The operator and every edge "
        "verify the bytes against it; a mismatch fails with BundleSha256Mismatch and nothing runs. "
        "Changing it (a new bundle) pushes and hot-swaps the algorithm on every edge.",
    )
    size_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Bundle size in bytes, for display (status.sizeBytes) until the bundle is read; "
        "not checked.",
    )


class AlgoDeploymentSpec(SpecModel):
    """The desired algorithm: which bundle, where, on which symbols, with which limits and params."""

    venue: DnsName = Field(
        description="Venue whose edges run this algorithm: every edge of every VenueEdge in the namespace "
        "with this spec.venue gets an instance. With none, the operator creates a sandbox VenueEdge named "
        "after the venue (unless createSandboxEdges is off) and the deployment waits as Pending."
    )
    label: MeshLabel = Field(
        description="Name other mesh instances send messages to (seq.send); 1-32 letters, digits, '_', "
        "'.', '-'. Unique within its MeshGroup."
    )
    mesh_group: DnsName | None = Field(
        default=None,
        description="MeshGroup this instance belongs to; its messages are routed only within that group. "
        "Omitted: not in any mesh, and messages it sends are dropped.",
    )
    symbols: list[Symbol] = Field(
        min_length=1,
        max_length=16,
        description="Symbols the algorithm trades, BASE-QUOTE or BASE-QUOTE-PERP (e.g. BTC-USD); 1 to 16, "
        "no repeats. The edge keeps a book for each; removing one from a running deployment cancels its "
        "resting orders there and is refused while the position in it is not flat.",
    )
    runtime: Literal["wasm", "native"] = Field(
        default="wasm",
        description="wasm (default): a WebAssembly module in the edge's sandbox (deadline, memory cap). "
        "native: a shared library run without the sandbox, refused with NativeNotAllowed by edges that "
        "only run wasm.",
    )
    bundle: BundleRef = Field(description="Where the algorithm's code comes from, and its sha256.")
    state: Literal["Running", "Stopped", "Paused"] = Field(
        default="Stopped",
        description="Desired state; default Stopped, so that an algorithm is loaded on every edge (and its "
        "feeds warm up) before its first book update. Running: gets books and trades. Paused: no books until "
        "Running again, but the instance and its market-data subscriptions stay warm (Stopped releases "
        "them). Changing it never cancels resting orders.",
    )
    peers: list[MeshLabel] = Field(
        default_factory=list,
        description="Labels this instance sends messages to; documentation of the mesh's shape, shown in "
        "the topology. Not enforced: a send to any label of the group is routed.",
    )
    risk: RiskLimits = Field(
        default_factory=RiskLimits,
        description="Pre-trade limits the edge checks before any order reaches the market; every refusal "
        "reaches the algorithm as on_reject with the reason. Omitted: no limits except 256 resting orders.",
    )
    wasm: WasmLimits = Field(
        default_factory=WasmLimits,
        description="Sandbox limits of a wasm algorithm: deadline per callback and memory cap.",
    )
    params: dict[str, str] = Field(
        default_factory=dict,
        description="Settings the algorithm reads with seq.param(key), as text (numbers in decimal "
        "notation, booleans true/false). Which keys mean what is up to the algorithm; an absent key "
        "gives it its own default. Changing params pushes and hot-swaps the instance.",
    )
    restart_nonce: str | None = Field(
        default=None,
        description="Change it to any new value to restart the algorithm on every edge (stop + start; a "
        "Failed instance is pushed again). The value itself means nothing.",
    )


class EdgeInstanceStatus(SpecModel):
    """The algorithm's instance on one edge, as that edge last reported it."""

    edge_id: str = Field(description="Edge id (the pod name for edges the operator runs).")
    pod: str | None = Field(default=None, description="Pod of the edge; absent for external edges.")
    endpoint: str | None = Field(default=None, description="Control endpoint host:port of the edge.")
    state: str = Field(
        description="Loaded (pushed, not started), Running, Stopped, Failed (trap, missed deadline, memory "
        "cap: see lastError; push again or change restartNonce) or Unreachable (the edge did not answer)."
    )
    last_heartbeat: str | None = Field(
        default=None,
        description="RFC 3339 time of the instance's last heartbeat (once a second while running).",
    )
    orders: int = Field(default=0, description="Orders the instance has placed on this edge.")
    fills: int = Field(default=0, description="Fills it has received.")
    rejects: int = Field(
        default=0, description="Orders refused (risk, OMS); the reasons are in the edge's metrics."
    )
    position: float | None = Field(
        default=None, description="Net position over its symbols, in base units (one symbol: that position)."
    )
    pnl: float | None = Field(
        default=None,
        description="Realized + unrealized PnL, fees included, in quote currency, marked to mid.",
    )
    last_error: str | None = Field(
        default=None, max_length=1024, description="Why the instance failed or a push was refused, if it did."
    )
    bundle_sha256: str | None = Field(
        default=None, description="sha256 of the bundle the edge reports it runs."
    )
    config_hash: str | None = Field(
        default=None,
        description="Hash of the configuration last pushed to this edge (the operator's bookkeeping: a "
        "different one means a push is due).",
    )


class AlgoDeploymentStatus(StatusBase):
    """What the operator and the edges report about the deployment."""

    lifecycle_state: (
        Literal["Pending", "Deploying", "Running", "Paused", "Stopped", "Degraded", "Failed", "Deleting"]
        | None
    ) = Field(
        default=None,
        description="Pending: no edge for the venue yet. Deploying: pushing or starting. Running / Paused / Stopped: "
        "as desired on every capable edge. Degraded: some edges unreachable, refused the push or failed "
        "the instance. Failed: the bundle is unusable or every edge failed it. Deleting: being removed.",
    )
    deployment_id: str | None = Field(
        default=None, description="Id the edges know it by: <namespace>.<name>."
    )
    size_bytes: int | None = Field(default=None, description="Bundle size in bytes.")
    bundle_sha256: str | None = Field(default=None, description="sha256 of the bundle verified and pushed.")
    pushed_to: int = Field(default=0, description="Edges reporting the current bundle.")
    capable_edges: int = Field(default=0, description="Edges of the venue that should run it.")
    edges_summary: str | None = Field(
        default=None, description="pushedTo/capableEdges, e.g. 2/2, for kubectl get."
    )
    edges: list[EdgeInstanceStatus] = Field(
        default_factory=list, max_length=64, description="The instance on each edge; at most 64 listed."
    )
    restart_nonce: str | None = Field(
        default=None,
        description="spec.restartNonce last applied; equal to the spec once the restart is done.",
    )


# ---------------------------------------------------------------- MeshGroup


class MeshMember(SpecModel):
    """One algorithm instance of the group and who it talks to."""

    deployment: DnsName = Field(description="Name of the AlgoDeployment, in this namespace.")
    label: MeshLabel = Field(
        description="Label the instance is reached at; unique in the group. Messages to a label no member "
        "has are dropped and counted (status.droppedUnknownLabel)."
    )
    venue: DnsName = Field(description="Venue the deployment runs on.")
    peers: list[MeshLabel] = Field(
        default_factory=list,
        description="Labels this member sends to; each must be a label of the group (checked by the "
        "coordinator), but not enforced as an access list.",
    )


class MeshGroupSpec(SpecModel):
    """The routing table the namespace's coordinator uses for this group."""

    members: list[MeshMember] = Field(
        default_factory=list,
        max_length=256,
        description="Instances of the group, at most 256, labels unique. Empty: routes come from the "
        "instances that register themselves.",
    )


class MeshInstance(SpecModel):
    """An instance the coordinator sees registered."""

    mesh_id: str = Field(description="Unique id in the mesh: <label>@<edge id>.")
    edge_id: str = Field(description="Edge that hosts it.")
    label: MeshLabel = Field(description="Label it receives messages at.")
    venue: str = Field(description="Venue of that edge.")
    deployment: str | None = Field(default=None, description="Deployment id, <namespace>.<name>.")


class MeshLink(SpecModel):
    """Traffic from one label to another since the coordinator started."""

    from_: str = Field(alias="from", description="Sending label.")
    to: str = Field(description="Receiving label.")
    messages: int = Field(default=0, description="Messages delivered to the receiver's on_message.")
    drops: int = Field(
        default=0,
        description="Messages lost on this link (no instance, oversize, backpressure, disconnects).",
    )
    p50_us: float | None = Field(
        default=None,
        description="Median latency, in microseconds, from the sender's seq.send to the receiver's "
        "on_message, over the last 4096 messages (hosts must share a clock).",
    )
    p99_us: float | None = Field(default=None, description="99th percentile of the same, in microseconds.")


class MeshGroupStatus(StatusBase):
    """The group as the coordinator reports it."""

    lifecycle_state: Literal["Pending", "Ready", "Degraded", "Failed"] | None = Field(
        default=None,
        description="Pending: the coordinator has not answered yet. Ready: routing table loaded. Degraded: "
        "the coordinator stopped answering. Failed: it refused the routing table (see error).",
    )
    coordinator: str | None = Field(
        default=None, description="Control endpoint of the coordinator serving this group."
    )
    instance_count: int = Field(default=0, description="Instances registered with the coordinator.")
    instances: list[MeshInstance] = Field(
        default_factory=list, max_length=256, description="Those instances, at most 256 listed."
    )
    links: list[MeshLink] = Field(
        default_factory=list,
        max_length=1024,
        description="Traffic per sender -> receiver label pair, at most 1024 listed.",
    )
    dropped_unknown_label: int = Field(
        default=0,
        description="Messages dropped because no member has the label they were sent to (a typo in a "
        "label or a member that is missing).",
    )


# ---------------------------------------------------------------- ExecutionGraph


class GraphNodeStatus(SpecModel):
    """Progress of one node, as the coordinator's graph engine last reported it."""

    status: str = Field(
        description="pending, active, partial_fill, completed, cancelled, rejected, expired or skipped."
    )
    filled_qty: float = Field(default=0.0, description="Quantity filled so far, in base units.")
    target_qty: float = Field(
        default=0.0, description="Quantity the node aims for (its qty, or its incoming edge's sizing)."
    )
    avg_price: float | None = Field(
        default=None, description="Average fill price; absent before the first fill."
    )
    orders: int = Field(
        default=0, description="Orders the node has sent to venues so far (every slice and attempt)."
    )
    slices: int = Field(default=0, description="TWAP child slices of the node; 0 for a node without twap.")
    urgency: str | None = Field(
        default=None, description="The urgency the node works with (after any amend)."
    )
    max_slippage_bps: float | None = Field(
        default=None, description="The node's max_slippage_bps (after any amend); absent: none of its own."
    )
    horizon_ms: int | None = Field(
        default=None, description="The node's horizon in milliseconds (after any amend); absent: none."
    )
    reason: str | None = Field(
        default=None, max_length=1024, description="Why the node was cancelled, rejected or expired."
    )


GRAPH_LIFECYCLE = Literal[
    "Pending", "Active", "PartialFill", "Paused", "Completed", "Aborted", "Expired", "Refused", "Lost"
]


class ExecutionGraphStatus(StatusBase):
    """The graph as the coordinator's graph engine reports it, written by the operator."""

    lifecycle_state: GRAPH_LIFECYCLE | None = Field(
        default=None,
        description="Pending: not submitted yet (coordinator not answering) or submitted and nothing "
        "started. Active: orders working. PartialFill: some fills. Paused: a failure action paused it "
        "(resume with `sequence graph resume`). Completed: every node that ran completed. Aborted: "
        "cancelled, a failure action, or a node cancelled or rejected. Expired: a node's horizon ran out. "
        "Refused: the coordinator refused the graph (see reason); retried every poll until admitted. "
        "Lost: the coordinator no longer knows the running graph (its state was lost).",
    )
    status: (
        Literal["pending", "active", "partial_fill", "completed", "aborted", "expired", "paused"] | None
    ) = Field(
        default=None, description="The graph's state in the engine, as `sequence graph status` shows it."
    )
    graph_id: str | None = Field(default=None, description="Id of the graph in the coordinator's engine.")
    client_id: str | None = Field(
        default=None,
        description="Id the operator submits the graph with (<namespace>/<name>): a retried submit "
        "returns the running graph instead of starting a second one.",
    )
    coordinator: str | None = Field(
        default=None, description="Control endpoint of the coordinator running it."
    )
    reason: str | None = Field(
        default=None,
        max_length=1024,
        description="Why the graph aborted, expired or paused, or why the coordinator refused it.",
    )
    node_count: int = Field(default=0, description="Number of nodes.")
    nodes_done: int = Field(
        default=0,
        description="Nodes that reached a final state (completed, cancelled, rejected, expired, skipped).",
    )
    nodes_summary: str | None = Field(
        default=None, description="nodesDone/nodeCount, e.g. 2/3, for kubectl get."
    )
    nodes: dict[str, GraphNodeStatus] = Field(default_factory=dict, description="Progress per node id.")
    edges_fired: dict[str, int] = Field(
        default_factory=dict,
        description="Times each edge's trigger fired, by from->to (from->to#2 for a second edge between "
        "the same nodes).",
    )
    pnl: float | None = Field(
        default=None, description="Realized + unrealized PnL of the graph in USD, marked to the NBBO."
    )
    breaches: list[str] = Field(
        default_factory=list, max_length=64, description="Risk breaches and disconnects the engine saw."
    )
    warnings: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="What the coordinator accepted but ignores (e.g. a fill_ratio_gte condition on on_fill).",
    )
    submitted_spec_hash: str | None = Field(
        default=None,
        description="sha256 of the submitted spec without the nodes' urgency, maxSlippageBps and horizonMs. "
        "A running graph cannot take any other change: a spec that hashes differently is refused "
        "(condition SpecChangeRefused); delete and re-create the object to run a different graph.",
    )


# ---------------------------------------------------------------- VenueEdge


class VenueEdgeSpec(SpecModel):
    """The edges of one venue: how many, which feed, which mode, or where external ones listen."""

    venue: DnsName = Field(
        description="Venue served. AlgoDeployments with this venue run on these edges; every VenueEdge of "
        "the namespace adds its venue to the venue table algorithms see."
    )
    mode: Literal["sandbox", "live"] = Field(
        default="sandbox",
        description="sandbox (default): market data from the feed, fills simulated by the paper OMS, no "
        "real orders. live: orders that pass the edge's risk go to the venue; needs credentialsSecret and "
        "a live feed.",
    )
    feed: Feed = Field(
        default_factory=Feed, description="Where book updates come from; default a sim feed with defaults."
    )
    replay_config_map: DnsName | None = Field(
        default=None,
        description="ConfigMap holding the replay file under its file name (feed.replay.file); mounted "
        "into the edge pods.",
    )
    credentials_secret: DnsName | None = Field(
        default=None,
        description="Secret with the venue's API keys under api_key and api_secret, mounted as files "
        "readable only by the edge's user and group (mode 0440, fsGroup), never as environment "
        "variables. Required with mode live, refused with sandbox.",
    )
    dry_run: bool = Field(
        default=False,
        description="mode live: log every order the edge would send and send none (reads still reach the "
        "venue: open orders, balances).",
    )
    orders_endpoint: str | None = Field(
        default=None,
        description="mode live: the venue's private REST base URL instead of its real one (a stand-in, "
        "the venue's test environment).",
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Edge pods to run, 0 to 16; default 1. Every pod runs every algorithm of the venue. "
        "0 keeps the object but runs nothing (ScaledToZero). Ignored with external.",
    )
    resources: Resources = Field(
        default_factory=Resources,
        description="CPU and memory of the edge container; empty: the operator's edgeDefaults.resources.",
    )
    external: list[str] = Field(
        default_factory=list,
        description="Control endpoints (host:port) of edges running outside the cluster. When set, the "
        "operator creates no pods and uses these edges.",
    )
    state_volume: DnsName | None = Field(
        default=None,
        description="PersistentVolumeClaim holding the edge's trading journal (positions, PnL, resting "
        "orders, next order id, risk budget, kill switch per deployment), so the state survives the pod "
        "being deleted or moved. Needs replicas 1 (pods are replaced, never run side by side). Without "
        "it the journal is on an emptyDir: it survives container restarts (a failed liveness probe, a "
        "crash), not the pod.",
    )
    allow_native: bool = Field(
        default=False,
        description="Run native (.so) algorithm bundles: they execute unsandboxed inside the edge "
        "process (sequence edge --allow-native); off by default",
    )
    project: DnsName | None = Field(
        default=None,
        description="The project (Sequence.toml) that declares this VenueEdge; `sequence render` sets it. "
        "Once set it cannot change: a second project declaring the same venue in this namespace is "
        "refused by the API server instead of taking the first project's edges over.",
    )


class EdgeEndpointStatus(SpecModel):
    """One edge as the operator last saw it."""

    edge_id: str = Field(description="Edge id (the pod name for edges the operator runs).")
    endpoint: str = Field(description="Control endpoint host:port.")
    pod: str | None = Field(default=None, description="Pod name; absent for external edges.")
    reachable: bool = Field(default=False, description="Whether the edge answered the last GET /v1/edge.")
    last_seen: str | None = Field(default=None, description="RFC 3339 time it last answered.")
    feed_healthy: bool | None = Field(
        default=None, description="Whether its books are consistent (false: stale or resynchronizing)."
    )
    feed_lag_ms: float | None = Field(
        default=None, description="How far the feed is behind real time, in milliseconds."
    )
    feed_connected: bool | None = Field(
        default=None,
        description="Live feed: whether it is connected to the venue (absent for sim and replay).",
    )
    feed_last_update_age_s: float | None = Field(
        default=None, description="Live feed: seconds since the venue's last book message."
    )
    feed_gaps: int | None = Field(
        default=None,
        description="Live feed: sequence gaps and checksum failures detected since the edge started.",
    )
    feed_resyncs: int | None = Field(
        default=None,
        description="Live feed: books made valid again from a fresh snapshot since the edge started.",
    )
    kill_switch: bool | None = Field(
        default=None,
        description="Whether the edge's kill switch is engaged: every order refused, none resting "
        "(`sequence kill-switch`).",
    )
    gateway_connected: bool | None = Field(
        default=None, description="Mode live: whether the order gateway's last call to the venue succeeded."
    )
    gateway_reconciled: bool | None = Field(
        default=None,
        description="Mode live: open orders reconciled with the venue since the last (re)connection; books "
        "reach the algorithms only while true.",
    )
    gateway_dry_run: bool | None = Field(
        default=None, description="Mode live: orders are logged and never sent (dryRun)."
    )
    can_trade: Literal["yes", "no", "unknown"] | None = Field(
        default=None, description="Mode live: whether the API key may place orders, as the venue reports it."
    )
    can_withdraw: Literal["yes", "no", "unknown"] | None = Field(
        default=None, description="Mode live: whether the API key may withdraw funds (should be no)."
    )
    deployments: list[str] = Field(
        default_factory=list, description="Deployment ids (<namespace>.<name>) the edge hosts."
    )


class VenueEdgeStatus(StatusBase):
    """The venue's edges as the operator last saw them."""

    lifecycle_state: Literal["Pending", "Ready", "Degraded", "Failed"] | None = Field(
        default=None,
        description="Pending: no edge has answered yet. Ready: every desired edge answers with a healthy "
        "feed (or replicas is 0). Degraded: some do not.",
    )
    managed: bool | None = Field(
        default=None, description="True when the operator runs the edge pods; false for external edges."
    )
    ready_edges: int = Field(default=0, description="Edges that answered with a healthy feed.")
    desired_edges: int = Field(
        default=0, description="Edges wanted: replicas, or the number of external ones."
    )
    edges_summary: str | None = Field(default=None, description="readyEdges/desiredEdges, for kubectl get.")
    endpoints: list[EdgeEndpointStatus] = Field(
        default_factory=list, max_length=64, description="Each edge, at most 64 listed."
    )


# ---------------------------------------------------------------- CRD metadata


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


READY = Column("Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition")
AGE = Column("Age", ".metadata.creationTimestamp", "date")
MESSAGE = Column(
    "Message",
    '.status.conditions[?(@.type=="Ready")].message',
    priority=1,
    description="Why it is (not) ready",
)


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short: str  # specific enough not to collide with other projects' CRDs (not `edge`, `mesh`)
    spec: type[SpecModel]
    status: type[StatusBase]
    columns: tuple[Column, ...]
    description: str
    # CEL rules on .spec: (rule, message). A rule must hold on a spec with any optional field absent
    # (guard with has()): the API server evaluates it on what the user sent plus schema defaults, and a
    # missing key is an error, not false (tests/test_cel_rules.py checks every rule that way).
    spec_rules: tuple[tuple[str, str], ...] = ()
    field_rules: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def singular(self) -> str:
        return self.kind.lower()


KINDS: tuple[Kind, ...] = (
    Kind(
        "AlgoDeployment",
        "algodeployments",
        "algo",
        AlgoDeploymentSpec,
        AlgoDeploymentStatus,
        (
            Column("State", ".status.lifecycleState", description="Lifecycle state"),
            Column("Desired", ".spec.state", priority=1),
            Column("Venue", ".spec.venue"),
            Column("Label", ".spec.label"),
            Column("Runtime", ".spec.runtime", description="wasm (sandboxed) or native (.so)"),
            Column("Edges", ".status.edgesSummary", description="pushed/capable edges"),
            READY,
            Column("Error", ".status.error.reason", priority=1),
            MESSAGE,
            AGE,
        ),
        "A trading algorithm deployed to every capable edge of a venue.",
        field_rules={
            "bundle": (
                (
                    "(has(self.configMap) ? 1 : 0) + (has(self.url) ? 1 : 0) + (has(self.oci) ? 1 : 0) == 1",
                    "bundle needs exactly one of configMap, url or oci",
                ),
            ),
        },
    ),
    Kind(
        "MeshGroup",
        "meshgroups",
        "seqmesh",
        MeshGroupSpec,
        MeshGroupStatus,
        (
            Column("State", ".status.lifecycleState"),
            Column("Instances", ".status.instanceCount", "integer"),
            Column("Coordinator", ".status.coordinator", priority=1),
            READY,
            MESSAGE,
            AGE,
        ),
        "Algorithm instances that exchange labelled messages through the namespace's coordinator.",
        spec_rules=(
            (
                "!has(self.members) || self.members.all(m, self.members.exists_one(o, o.label == m.label))",
                "member labels must be unique",
            ),
        ),
    ),
    Kind(
        "ExecutionGraph",
        "executiongraphs",
        "xg",
        ExecutionGraphSpec,
        ExecutionGraphStatus,
        (
            Column("State", ".status.lifecycleState", description="Lifecycle state"),
            Column("Nodes", ".status.nodesSummary", description="nodes done/total"),
            Column("Graph", ".status.graphId", priority=1, description="Id in the coordinator's engine"),
            Column("Reason", ".status.reason", priority=1),
            READY,
            MESSAGE,
            AGE,
        ),
        "A multi-leg order: nodes (orders) linked by triggered edges, with four layers of risk, run by "
        "the coordinator's graph engine.",
        field_rules={
            "edges": (("self.all(e, e.to != e.from)", "an edge cannot connect a node to itself"),),
        },
    ),
    Kind(
        "VenueEdge",
        "venueedges",
        "seqedge",
        VenueEdgeSpec,
        VenueEdgeStatus,
        (
            Column("State", ".status.lifecycleState"),
            Column("Venue", ".spec.venue"),
            Column("Mode", ".spec.mode"),
            Column("Feed", ".spec.feed.kind"),
            Column("Edges", ".status.edgesSummary", description="ready/desired edges"),
            READY,
            MESSAGE,
            AGE,
        ),
        "The edge processes of one venue: feed, books, paper or live OMS, and the algorithm host.",
        spec_rules=(
            (
                "!has(self.mode) || self.mode != 'live' || has(self.credentialsSecret)",
                "a live venue needs credentialsSecret",
            ),
            (
                "(has(self.mode) && self.mode == 'live') || !has(self.credentialsSecret)",
                "credentialsSecret is only used by live venues",
            ),
            (
                "!has(self.feed) || !has(self.feed.kind) || self.feed.kind != 'replay' || has(self.feed.replay)",
                "feed kind replay needs feed.replay",
            ),
            (
                "!has(self.stateVolume) || !has(self.replicas) || self.replicas <= 1",
                "stateVolume needs replicas 0 or 1 (one edge process owns a journal)",
            ),
            # A transition rule (runs on updates only): one project's VenueEdge is not another's.
            (
                "!has(oldSelf.project) || (has(self.project) && self.project == oldSelf.project)",
                "this VenueEdge belongs to another project (spec.project cannot change): give this "
                "project's venue another name, or deploy it to another namespace",
            ),
        ),
    ),
)

KIND_BY_NAME: dict[str, Kind] = {k.kind: k for k in KINDS}


def crd_name(kind: Kind) -> str:
    return f"{kind.plural}.sequence.dev"


def spec_dump(model: SpecModel) -> dict[str, Any]:
    """A spec as it appears in a Kubernetes object: camelCase, no unset optionals."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")
