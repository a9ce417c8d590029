"""The Sequence.toml model: what a trading team writes and pushes to git.

    [project]            name, namespace
    [venue.<name>]       mode, feed, credentials, replicas, resources, external
    [deploy.<name>]      venue, label, symbols, bundle (+ sha256), runtime, risk, params, state, peers
    [graph.<name>]       an ExecutionGraph (nodes, edges, risk)

Field-level rules live on the models; rules that span blocks are in
`project_problems`, which reports each violation with its location so the
loader can name the file, line and field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from .common import DnsName, MeshLabel, Resources, Sha256, Symbol
from .graph import ExecutionGraphSpec, graph_problems, graph_warnings
from .specs import Feed, RiskLimits, WasmLimits


def _param_value(value: Any) -> str:
    """Params reach the algorithm as strings (seq.param); accept TOML scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError(f"a param must be a string, number or boolean, not {type(value).__name__}")


ParamValue = Annotated[Any, AfterValidator(_param_value)]


def _endpoint(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"external endpoint {value!r} must be host:port")
    return value


Endpoint = Annotated[str, AfterValidator(_endpoint)]


class TomlModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectBlock(TomlModel):
    name: DnsName = Field(description="Project name; prefixes every resource it renders")
    namespace: DnsName | None = Field(default=None, description="Target namespace (default: the current one)")


class VenueBlock(TomlModel):
    mode: Literal["sandbox", "live"] = Field(
        default="sandbox",
        description="sandbox: paper fills against the feed, no real orders; live: orders go to the venue",
    )
    feed: Feed = Field(default_factory=Feed)
    credentials: DnsName | None = Field(
        default=None,
        description="Secret with the venue API keys (api_key, api_secret), mounted as files readable only "
        "by the edge (live only, in a cluster)",
    )
    credentials_dir: str | None = Field(
        default=None,
        description="Directory holding api_key and api_secret files (mode 0600), relative to this file: "
        "the venue's credentials for `sequence up` (live only)",
    )
    dry_run: bool = Field(
        default=False,
        description="Live only: log every order the edge would send and send none (a first day in production)",
    )
    orders_endpoint: str | None = Field(
        default=None,
        description="Live only: the venue's private REST base URL instead of its real one (a local "
        "stand-in, the venue's test environment)",
    )
    replicas: int = Field(default=1, ge=0, le=16)
    resources: Resources = Field(default_factory=Resources)
    external: list[Endpoint] = Field(
        default_factory=list, description="host:port control endpoints of edges running outside the cluster"
    )
    state_volume: DnsName | None = Field(
        default=None,
        description="PersistentVolumeClaim for the edge's trading journal (keeps positions and orders "
        "when the pod moves; replicas must be 1)",
    )
    allow_native: bool = Field(
        default=False,
        description="Let this venue's edges run native (.so) algorithms: unsandboxed, inside the edge "
        "process, for first-party code only",
    )


class DeployBlock(TomlModel):
    venue: DnsName
    label: MeshLabel | None = Field(default=None, description="Mesh label (default: the block name)")
    symbols: list[Symbol] = Field(min_length=1, max_length=16)
    bundle: str = Field(
        min_length=1, description="Built .wasm relative to this file, or https:// / oci:// URL"
    )
    sha256: Sha256 | None = Field(default=None, description="Required for remote bundles")
    runtime: Literal["wasm", "native"] = "wasm"
    state: Literal["stopped", "running", "paused"] = "stopped"
    peers: list[MeshLabel] = Field(default_factory=list, description="Labels this instance sends messages to")
    risk: RiskLimits = Field(default_factory=RiskLimits)
    wasm: WasmLimits = Field(default_factory=WasmLimits)
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Handed to the algorithm as strings"
    )

    @field_validator("bundle")
    @classmethod
    def _no_plain_http(cls, value: str) -> str:
        if value.startswith("http://"):
            raise ValueError("bundle URLs must use https:// (or oci://)")
        return value

    @property
    def is_remote(self) -> bool:
        return self.bundle.startswith(("https://", "oci://"))


class SequenceFile(TomlModel):
    project: ProjectBlock
    venue: dict[DnsName, VenueBlock] = Field(default_factory=dict)
    deploy: dict[DnsName, DeployBlock] = Field(default_factory=dict)
    graph: dict[DnsName, ExecutionGraphSpec] = Field(default_factory=dict)

    def label_of(self, name: str) -> str:
        return self.deploy[name].label or name


Location = tuple[str | int, ...]


def project_problems(cfg: SequenceFile) -> list[tuple[Location, str]]:
    """Rules that span blocks."""
    problems: list[tuple[Location, str]] = []
    if not cfg.deploy and not cfg.graph:
        problems.append((("project",), "nothing to deploy: add a [deploy.<name>] or [graph.<name>] block"))
    for name, venue in cfg.venue.items():
        if venue.state_volume and venue.replicas > 1:
            problems.append(
                (
                    ("venue", name, "state_volume"),
                    "one edge process owns a journal: state_volume needs replicas = 1",
                )
            )
        if venue.mode == "live" and not venue.credentials and not venue.credentials_dir:
            problems.append(
                (
                    ("venue", name, "credentials"),
                    'a live venue places real orders and needs credentials = "<secret>" (a cluster) or '
                    'credentials_dir = "<dir>" (sequence up)',
                )
            )
        if venue.mode == "live" and venue.feed.kind != "live" and not venue.external:  # external: theirs
            problems.append(
                (
                    ("venue", name, "feed"),
                    'a live venue trades on the venue\'s own book: feed = { kind = "live" }',
                )
            )
        for field in ("credentials", "credentials_dir", "dry_run", "orders_endpoint"):
            if venue.mode == "sandbox" and getattr(venue, field):
                problems.append(
                    (
                        ("venue", name, field),
                        f'only live venues use {field}; remove it or set mode = "live"',
                    )
                )
    seen: dict[str, str] = {}
    for name in cfg.deploy:
        label = cfg.label_of(name)
        where: Location = ("deploy", name, "label") if cfg.deploy[name].label else ("deploy", name)
        if label in seen:
            problems.append((where, f"label {label!r} is already used by [deploy.{seen[label]}]"))
        else:
            seen[label] = name
    for name, block in cfg.deploy.items():
        for i, peer in enumerate(block.peers):
            if peer not in seen:
                known = ", ".join(sorted(seen)) or "none"
                problems.append(
                    (
                        ("deploy", name, "peers", i),
                        f"peer {peer!r} is not a label in this file (labels: {known})",
                    )
                )
        if block.is_remote and not block.sha256:
            problems.append(
                (
                    ("deploy", name, "sha256"),
                    'a remote bundle needs sha256 = "<64 hex digits>" so edges can verify it',
                )
            )
        if len(set(block.symbols)) != len(block.symbols):
            problems.append((("deploy", name, "symbols"), "symbols must not repeat"))
        venue_block = cfg.venue.get(block.venue)
        if block.runtime == "native" and not (venue_block and venue_block.allow_native):
            problems.append(
                (
                    ("deploy", name, "runtime"),
                    f'runtime "native" runs unsandboxed inside the edge: set allow_native = true on '
                    f"[venue.{block.venue}] to allow it (first-party code only), or deploy the .wasm",
                )
            )
    for name, graph in cfg.graph.items():
        for loc, msg in graph_problems(graph):
            problems.append((("graph", name, *loc), msg))
    return problems


def project_warnings(cfg: SequenceFile) -> list[tuple[Location, str]]:
    """Settings that are accepted but have no effect."""
    return [
        (("graph", name, *loc), msg)
        for name, graph in cfg.graph.items()
        for loc, msg in graph_warnings(graph)
    ]
