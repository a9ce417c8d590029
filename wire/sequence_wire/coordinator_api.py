"""Request and response bodies of the coordinator's HTTP API (docs/mesh.md, "HTTP API")."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import Reply, Request
from .types import MeshLabel


class Member(Request):
    """One row of a routing table (a MeshGroup's spec.members)."""

    deployment: str = Field(min_length=1)
    label: MeshLabel
    venue: str = Field(min_length=1)
    peers: list[MeshLabel] = Field(default_factory=list)


class RoutingTable(Request):
    """`PUT /v1/mesh/{group}`: labels unique, peers must be labels of the table."""

    members: list[Member]

    @model_validator(mode="after")
    def _consistent(self) -> RoutingTable:
        labels = [m.label for m in self.members]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(
                f"label(s) {duplicates} appear more than once; labels are unique in a mesh group"
            )
        for m in self.members:
            for peer in m.peers:
                if peer not in labels:
                    raise ValueError(f"peer {peer!r} of {m.label!r} is not a label of this mesh group")
        return self


class CoordinatorHealth(Reply):
    """`GET /healthz` of the coordinator."""

    ok: bool
    edges: int


class TopologyInstance(Reply):
    """A registered instance (the fields of MeshInstance in the MeshGroup status)."""

    mesh_id: str
    edge_id: str
    label: str
    venue: str
    deployment: str | None = None


class TopologyLink(Reply):
    """Traffic from one label to another (the fields of MeshLink in the MeshGroup status)."""

    from_: str = Field(alias="from")
    to: str
    messages: int
    drops: int
    p50_us: float | None = None
    p99_us: float | None = None


class Topology(Reply):
    """`GET /v1/mesh/{group}` (and each group of `GET /v1/mesh`)."""

    deployment_id: str | None = Field(default=None, description="only with ?deployment_id=")
    mesh_group: str
    instances: list[TopologyInstance]
    links: list[TopologyLink]
    dropped_unknown_label: int
    dropped_unknown_label_by_label: dict[str, int]
    dropped: dict[str, int]
    routed: int
    routing_table: bool
    missing_labels: list[str] | None = Field(default=None, description="only with a routing table")


class MeshGroups(Reply):
    """`GET /v1/mesh`."""

    groups: list[Topology]


class GroupDeleted(Reply):
    """`DELETE /v1/mesh/{group}`."""

    deleted: str


class ConnectedEdge(Reply):
    """One entry of `GET /v1/edges`."""

    edge_id: str
    venue: str
    peer: str
    instances: int
    counters: dict[str, int]


class ConnectedEdges(Reply):
    """`GET /v1/edges`."""

    edges: list[ConnectedEdge]


class VenueTouch(Reply):
    """One venue's top of book as the graph engine last saw it (prices 0: no quote on that side)."""

    venue: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    eligible: bool = Field(description="up, carrying the symbol, and paper when the route is for a sandbox")


class RoutePreference(Reply):
    """`GET /v1/graphs-engine/route`: where the graph engine's smart order router would send an order now."""

    symbol: str
    side: str
    qty: float
    sandbox: bool
    venue: str | None = Field(description="the venue the router picks; null when no venue carries the symbol")
    price: float | None = Field(
        description="that venue's far touch (the ask for a buy), null without a quote"
    )
    venues: list[VenueTouch]
