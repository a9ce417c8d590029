"""Python client of the Sequence control APIs: the venue edge's (docs/edge-api.md) and the mesh
coordinator's (docs/mesh.md). The CLI, `sequence up` and the operator use it; so can you.

    from sequence.client import EdgeClient, Rejected

    with EdgeClient("127.0.0.1:7070") as edge:
        status = edge.push("mm", wasm_bytes, symbols=["BTC-USD"], state="Running")
        print(status.state, edge.orders("mm", open_only=True))

`AsyncEdgeClient` / `AsyncCoordinatorClient` are the same calls for asyncio. Answers are the
models of `sequence_wire` (pydantic); failures raise `Unreachable` (no useful answer: connect
error, timeout, 5xx) or `Rejected` (a 4xx with the server's reason; `NotFound` for 404), both
`ApiError`. `token` is sent as `Authorization: Bearer <token>`; `on_call(outcome)` is told
"ok", "unreachable" or "rejected" after every call (for metrics).
"""

from sequence_wire.coordinator_api import (
    ConnectedEdges,
    CoordinatorHealth,
    GroupDeleted,
    Member,
    MeshGroups,
    RoutingTable,
    Topology,
)
from sequence_wire.edge_api import (
    DeploymentStatus,
    EdgeInfo,
    Health,
    LogLine,
    Order,
    OrderTrace,
    PushRequest,
    RemoveResult,
)
from sequence_wire.errors import REASONS

from .aio import AsyncCoordinatorClient, AsyncEdgeClient
from .calls import CallHook
from .errors import ApiError, NotFound, Rejected, Unreachable
from .sync import CoordinatorClient, EdgeClient

__all__ = [
    "REASONS",
    "ApiError",
    "AsyncCoordinatorClient",
    "AsyncEdgeClient",
    "CallHook",
    "ConnectedEdges",
    "CoordinatorClient",
    "CoordinatorHealth",
    "DeploymentStatus",
    "EdgeClient",
    "EdgeInfo",
    "GroupDeleted",
    "Health",
    "LogLine",
    "Member",
    "MeshGroups",
    "NotFound",
    "Order",
    "OrderTrace",
    "PushRequest",
    "Rejected",
    "RemoveResult",
    "RoutingTable",
    "Topology",
    "Unreachable",
]
