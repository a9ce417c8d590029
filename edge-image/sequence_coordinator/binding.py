"""Who may do what on the mesh port (docs/security.md, "Mesh").

The control token in HELLO authenticates "an edge of this namespace". What it may then do is bound
to the venue it declared in HELLO:

- one live connection per venue: a second HELLO for a venue that is already connected is refused,
  whoever sends it (a `client_id` is no secret: DELIVER frames carry the sender's). An edge that
  lost its connection is dropped at once when the socket closes, or after the peer timeout when it
  went silent; its reconnection attempts (with backoff) then succeed;
- every instance it registers is at that venue;
- in a mesh group with a routing table, an instance is admitted only as the (deployment, label,
  venue) row of that table: an edge cannot take a label of a deployment it does not host;
- its top of book counts for that venue only (TOB frames carry no venue: the connection's is used).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sequence_wire import mesh as mp
from sequence_wire.auth import Credentials

UNAUTHORIZED = "Unauthorized"
VENUE_TAKEN = "VenueTaken"


class Refused(mp.ProtocolError):
    """A frame that is well formed but not allowed: answered with an ERROR frame of this reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_hello_token(credentials: Credentials, hello: dict[str, Any]) -> None:
    token = hello.get("token")
    if token is None:
        raise Refused(UNAUTHORIZED, "HELLO carries no 'token': the mesh port needs the namespace's token")
    if not credentials.allows_mesh(token):
        raise Refused(UNAUTHORIZED, "HELLO carries an unknown token")


def venue_conflict(venue: str, owner_edge: str | None) -> None:
    """Raise if `venue` is bound to a live connection (of edge `owner_edge`)."""
    if owner_edge is not None:
        raise Refused(
            VENUE_TAKEN,
            f"venue {venue!r} is already connected (edge {owner_edge}); one edge per venue on the mesh",
        )


class TableRow(Protocol):
    """One row of a routing table (router.Member)."""

    @property
    def deployment(self) -> str: ...

    @property
    def venue(self) -> str: ...


def admission_error(
    group: str, table: Mapping[str, TableRow] | None, deployment_id: str, label: str, venue: str
) -> str | None:
    """Why the instance (deployment, label) at `venue` may not be in `group` (whose routing table is
    `table`, if any), or None if it may."""
    if table is None:
        return None  # without a table the registered labels define the group (docs/mesh.md)
    member = table.get(label)
    if member is None:
        return f"label {label!r} is not in the routing table of mesh group {group!r}"
    if member.deployment != deployment_id or member.venue != venue:
        return (
            f"label {label!r} of mesh group {group!r} belongs to deployment {member.deployment!r} "
            f"at venue {member.venue!r}, not {deployment_id!r} at {venue!r}"
        )
    return None
