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
    name: DnsName
    key: str = Field(default="bundle.wasm", min_length=1)


class BundleRef(SpecModel):
    """Where the algorithm comes from; exactly one of configMap, url, oci."""

    config_map: ConfigMapRef | None = None
    url: str | None = Field(default=None, pattern=r"^https://")
    oci: str | None = Field(default=None, pattern=r"^oci://")
    sha256: Sha256 = Field(description="Edges verify the bytes against this")
    size_bytes: int | None = Field(default=None, ge=0)


class AlgoDeploymentSpec(SpecModel):
    venue: DnsName = Field(description="Venue whose edges run this algorithm")
    label: MeshLabel = Field(description="Mesh label other instances send to")
    mesh_group: DnsName | None = Field(default=None, description="MeshGroup this instance belongs to")
    symbols: list[Symbol] = Field(min_length=1, max_length=16)
    runtime: Literal["wasm", "native"] = "wasm"
    bundle: BundleRef
    state: Literal["Running", "Stopped", "Paused"] = Field(
        default="Stopped",
        description="Desired state. Paused: no books until Running again, but the instance and its "
        "market-data subscriptions stay warm (Stopped releases them)",
    )
    peers: list[MeshLabel] = Field(default_factory=list)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    wasm: WasmLimits = Field(default_factory=WasmLimits)
    params: dict[str, str] = Field(default_factory=dict, description="Handed to the algorithm (seq.param)")
    restart_nonce: str | None = Field(
        default=None, description="Change to restart the algorithm on every edge"
    )


class EdgeInstanceStatus(SpecModel):
    edge_id: str
    pod: str | None = None
    endpoint: str | None = None
    state: str = Field(description="Deploying, Running, Stopped, Failed, Unreachable")
    last_heartbeat: str | None = None
    orders: int = 0
    fills: int = 0
    rejects: int = 0
    position: float | None = None
    pnl: float | None = None
    last_error: str | None = Field(default=None, max_length=1024)
    bundle_sha256: str | None = Field(default=None, description="Bundle the edge reports it runs")
    config_hash: str | None = Field(
        default=None, description="Configuration last pushed to this edge (the operator's bookkeeping)"
    )


class AlgoDeploymentStatus(StatusBase):
    lifecycle_state: (
        Literal["Pending", "Deploying", "Running", "Paused", "Stopped", "Degraded", "Failed", "Deleting"]
        | None
    ) = None
    deployment_id: str | None = None
    size_bytes: int | None = None
    bundle_sha256: str | None = None
    pushed_to: int = 0
    capable_edges: int = 0
    edges_summary: str | None = Field(default=None, description="pushedTo/capableEdges, for kubectl get")
    edges: list[EdgeInstanceStatus] = Field(default_factory=list, max_length=64)
    restart_nonce: str | None = Field(default=None, description="spec.restartNonce last applied")


# ---------------------------------------------------------------- MeshGroup


class MeshMember(SpecModel):
    deployment: DnsName = Field(description="AlgoDeployment name")
    label: MeshLabel
    venue: DnsName
    peers: list[MeshLabel] = Field(default_factory=list)


class MeshGroupSpec(SpecModel):
    members: list[MeshMember] = Field(default_factory=list, max_length=256)


class MeshInstance(SpecModel):
    mesh_id: str
    edge_id: str
    label: MeshLabel
    venue: str
    deployment: str | None = None


class MeshLink(SpecModel):
    from_: str = Field(alias="from")
    to: str
    messages: int = 0
    drops: int = 0
    p50_us: float | None = None
    p99_us: float | None = None


class MeshGroupStatus(StatusBase):
    lifecycle_state: Literal["Pending", "Ready", "Degraded", "Failed"] | None = None
    coordinator: str | None = Field(default=None, description="Coordinator endpoint serving this group")
    instance_count: int = 0
    instances: list[MeshInstance] = Field(default_factory=list, max_length=256)
    links: list[MeshLink] = Field(default_factory=list, max_length=1024)
    dropped_unknown_label: int = 0


# ---------------------------------------------------------------- ExecutionGraph


class GraphNodeStatus(SpecModel):
    status: str
    filled_qty: float = 0.0
    target_qty: float = 0.0
    node_order_id: str | None = None


class ExecutionGraphStatus(StatusBase):
    lifecycle_state: Literal["Pending", "Active", "Paused", "Completed", "Aborted", "Failed"] | None = None
    graph_id: str | None = None
    node_count: int = 0
    nodes: dict[str, GraphNodeStatus] = Field(default_factory=dict)
    edges_fired: dict[str, int] = Field(default_factory=dict)


# ---------------------------------------------------------------- VenueEdge


class VenueEdgeSpec(SpecModel):
    venue: DnsName
    mode: Literal["sandbox", "live"] = "sandbox"
    feed: Feed = Field(default_factory=Feed)
    replay_config_map: DnsName | None = Field(default=None, description="ConfigMap holding the replay file")
    credentials_secret: DnsName | None = Field(default=None, description="Secret with venue keys (live only)")
    replicas: int = Field(default=1, ge=0, le=16)
    resources: Resources = Field(default_factory=Resources)
    external: list[str] = Field(
        default_factory=list, description="Control endpoints (host:port) of edges outside the cluster"
    )
    allow_native: bool = Field(
        default=False,
        description="Run native (.so) algorithm bundles: they execute unsandboxed inside the edge "
        "process (sequence edge --allow-native); off by default",
    )


class EdgeEndpointStatus(SpecModel):
    edge_id: str
    endpoint: str
    pod: str | None = None
    reachable: bool = False
    last_seen: str | None = None
    feed_healthy: bool | None = None
    feed_lag_ms: float | None = None
    deployments: list[str] = Field(default_factory=list)


class VenueEdgeStatus(StatusBase):
    lifecycle_state: Literal["Pending", "Ready", "Degraded", "Failed"] | None = None
    managed: bool | None = None
    ready_edges: int = 0
    desired_edges: int = 0
    edges_summary: str | None = Field(default=None, description="ready/desired, for kubectl get")
    endpoints: list[EdgeEndpointStatus] = Field(default_factory=list, max_length=64)


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
    short: str
    spec: type[SpecModel]
    status: type[StatusBase]
    columns: tuple[Column, ...]
    description: str
    # CEL rules on .spec: (rule, message)
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
        "mesh",
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
                "self.members.all(m, self.members.exists_one(o, o.label == m.label))",
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
            Column("State", ".status.lifecycleState"),
            Column("Nodes", ".status.nodeCount", "integer"),
            READY,
            MESSAGE,
            AGE,
        ),
        "A multi-leg order run by the coordinator's graph engine (seed 004).",
        field_rules={
            "edges": (("self.all(e, e.to != e.from)", "an edge cannot connect a node to itself"),),
        },
    ),
    Kind(
        "VenueEdge",
        "venueedges",
        "edge",
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
                "self.mode != 'live' || has(self.credentialsSecret)",
                "a live venue needs credentialsSecret",
            ),
            (
                "self.mode != 'sandbox' || !has(self.credentialsSecret)",
                "credentialsSecret is only used by live venues",
            ),
            (
                "self.feed.kind != 'replay' || has(self.feed.replay)",
                "feed kind replay needs feed.replay",
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
