"""The one error shape and the one vocabulary of error reasons of the edge's and the
coordinator's control APIs (docs/edge-api.md, docs/mesh.md).

Every refusal is `{"error": {"reason": "CamelCase", "message": "..."}}` with the status below and
changes nothing; a 5xx (`Internal`) is a bug. Both servers raise `RequestError`; clients read
`ErrorReply`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

# reason -> HTTP status. Both servers draw from this one set; docs/edge-api.md and docs/mesh.md
# list every reason their server can return (tests/test_edge_api_doc.py checks it).
COMMON_REASONS: dict[str, int] = {
    "Unauthorized": 401,  # no bearer token, or not one this server knows (docs/security.md)
    "Forbidden": 403,  # the metrics token outside /metrics
    "BadJson": 400,  # the body is not JSON
    "BodyTooLarge": 413,  # the body is above the server's size limit
    "UnknownRoute": 404,  # no such path
    "MethodNotAllowed": 405,  # the path exists, the method does not
    "NotFound": 404,  # the path is right, the named thing does not exist
    "Internal": 500,  # a bug: the server failed to answer
}
EDGE_REASONS: dict[str, int] = {
    **COMMON_REASONS,
    "BadQuery": 400,  # a query parameter out of range or malformed
    # push
    "InvalidPush": 400,
    "UnknownField": 400,
    "BadBase64": 400,
    "Sha256Mismatch": 400,
    "BundleTooLarge": 413,  # above the edge's --max-bundle-bytes (or the body above its cap)
    "BundleDownloadFailed": 400,
    "BundleUrlRefused": 400,  # https only, public addresses only, no redirects (--allow-http-bundles ...)
    "TooManyFunctions": 400,  # above the edge's --max-functions
    "CompileError": 400,  # the compile worker refused the module
    "CompileTimeout": 400,  # above the edge's --compile-timeout
    "CompileResourceLimit": 400,  # above the edge's --compile-memory-mib
    "CompileUnavailable": 503,  # the edge cannot compile right now (its fault, not the push's)
    "InvalidRisk": 400,  # a limit that is not finite or not representable in the 1e8 fixed point
    "InvalidParams": 400,
    "InvalidKillSwitch": 400,  # a kill-switch body that is not {"engaged": bool, "reason": str}  # too many params, long names or texts, non-finite numbers
    "UnlimitedRiskRefused": 403,  # risk.unlimited on an edge without --allow-unlimited-risk
    "NativeNotAllowed": 403,  # a native (.so) push on an edge without --allow-native
    # the native loader's checks (sequence_edge.algo.native.*Error without "Error")
    "NotElf": 400,
    "Dlopen": 400,
    "MissingSymbol": 400,
    "Capabilities": 400,
    "NativeCreate": 400,  # the library's create() returned NULL
    "BadBundle": 400,
    # the host's bundle checks (sequence_edge.algo.host.*Error without "Error")
    "NotWasm": 400,
    "Compile": 400,
    "MissingExport": 400,
    "ExportSignature": 400,
    "ImportMismatch": 400,
    "AbiMismatch": 400,
    "IoBlock": 400,
    "Instantiation": 400,
    "UnknownSymbol": 400,
    "SymbolInUse": 400,
    # ids and lifecycle
    "BadDeploymentId": 400,
    "BadOrderRef": 400,
    "Failed": 409,  # start of a failed instance
    "JournalUnreadable": 409,
    "Paused": 409,  # start of a paused instance (resume it)
    "NotRunning": 409,  # pause of an instance that is not running
    "NotPaused": 409,  # resume of an instance that is not paused  # the deployment's journal cannot be restored: a person has to look
}
COORDINATOR_REASONS: dict[str, int] = {
    **COMMON_REASONS,
    "BadGroupName": 400,
    "InvalidRoutingTable": 400,
    # execution graphs (docs/graphs.md): the graph engine's errors by name
    "AdmissionError": 422,  # an invalid graph, or one its admission risk refuses: nothing placed
    "GraphNotFound": 404,  # no such graph, or no such node in it
    "GraphStateError": 409,  # the graph finished already, or is not paused (resume)
    "GraphError": 400,  # an invalid amend
    "InvalidBody": 400,  # a cancel/resume body that is not its model, or a missing body
    "BadQuery": 400,  # a query parameter out of range or malformed (/v1/graphs-engine/route)
}
REASONS: dict[str, int] = {**EDGE_REASONS, **COORDINATOR_REASONS}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str
    message: str


class ErrorReply(BaseModel):
    """The body of every 4xx/5xx answer."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class RequestError(Exception):
    """A refused request: the server answers `ErrorReply` with `status` and changes nothing."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"{reason!r} is not an error reason of the control APIs (sequence_wire.errors)")
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = REASONS[reason]

    def reply(self) -> ErrorReply:
        return ErrorReply(error=ErrorDetail(reason=self.reason, message=self.message))


def describe(exc: ValidationError, limit: int = 5) -> str:
    """A validation failure in words, naming each bad field (`members[0].label: ...`)."""
    problems = []
    for err in exc.errors()[:limit]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "body"
        if err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field")
        elif err["type"] == "missing":
            problems.append(f"{where} must be given")
        else:
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
