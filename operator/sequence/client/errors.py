"""The errors every client call raises: one hierarchy for the edge and the coordinator, sync and async.

ApiError
├── Unreachable   no answer: connect error, timeout, 5xx. Try again later; the server may come back.
└── Rejected      a 4xx with the server's reason: the request itself is wrong, retrying it won't help.
    └── NotFound  404: the deployment, group, order or route does not exist.
"""

from __future__ import annotations


class ApiError(Exception):
    """A control-API call that did not succeed. `endpoint` is the server, `reason` a CamelCase
    word (the server's, or Unreachable), `message` what happened."""

    def __init__(self, endpoint: str, reason: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{endpoint}: {reason}: {message}")
        self.endpoint = endpoint
        self.reason = reason
        self.message = message
        self.status = status


class Unreachable(ApiError):
    """The server did not answer usefully: connect error, timeout, or a 5xx."""

    def __init__(self, endpoint: str, message: str, status: int | None = None) -> None:
        super().__init__(endpoint, "Unreachable", message, status)


class Rejected(ApiError):
    """A 4xx: the server refused the request with `reason` (sequence_wire.errors.REASONS) and
    changed nothing."""

    status: int

    def __init__(self, endpoint: str, status: int, reason: str, message: str) -> None:
        super().__init__(endpoint, reason, message, status)


class NotFound(Rejected):
    """404: the named deployment, group or order (or the route) does not exist."""
