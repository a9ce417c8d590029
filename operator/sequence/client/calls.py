"""Every control-API call, described once: method, path, query, body and how to read the answer.

The sync and async clients only move a `Call` over HTTP (httpx.Client / httpx.AsyncClient) and
hand the response to `Call.finish`, so both build the same requests and parse them the same way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from sequence_wire import algos as al
from sequence_wire import coordinator_api as cc
from sequence_wire import edge_api as edge
from sequence_wire import graphs as g
from sequence_wire.auth import TOKEN_ENV

from . import logins
from .errors import NotFound, Rejected, Unreachable

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: called once per call with its outcome: "ok", "unreachable" or "rejected" (404 counts as ok:
#: asking whether something exists is a normal question)
CallHook = Callable[[str], None]


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    timeout: float | None = None
    ok_statuses: tuple[int, ...] = ()  # non-2xx statuses whose body is still the answer (503 healthz)

    def finish(self, endpoint: str, status: int, text: str) -> T:
        """The parsed answer, or Rejected / NotFound (4xx) / Unreachable (5xx, unreadable body)."""
        if status >= 400 and status not in self.ok_statuses:
            raise failure(endpoint, status, text)
        try:
            return self.parse(json.loads(text) if text else None)
        except (ValueError, ValidationError) as exc:
            raise Unreachable(
                endpoint, f"{self.method} {self.path}: unreadable answer: {exc}", status
            ) from None


def parse_line(endpoint: str, call: Call[T], line: str) -> T:
    """One line of an NDJSON answer (logs)."""
    try:
        return call.parse(json.loads(line))
    except (ValueError, ValidationError) as exc:
        raise Unreachable(endpoint, f"{call.method} {call.path}: unreadable line: {exc}") from None


def failure(endpoint: str, status: int, text: str) -> Unreachable | Rejected:
    """The error of a >= 400 answer (its JSON error shape, or the raw text)."""
    reason, message = "", text[:1024]
    try:
        detail = json.loads(text)["error"]
        reason, message = str(detail["reason"]), str(detail["message"])[:1024]
    except (ValueError, KeyError, TypeError):
        pass
    if status >= 500:
        return Unreachable(endpoint, f"HTTP {status}: {message}", status)
    if status == 404:
        return NotFound(endpoint, status, reason or "NotFound", message)
    return Rejected(endpoint, status, reason or "Rejected", message)


def outcome(exc: BaseException | None) -> str:
    if exc is None or isinstance(exc, NotFound):
        return "ok"
    return "unreachable" if isinstance(exc, Unreachable) else "rejected"


def describe_transport_error(exc: httpx.HTTPError) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({detail})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({detail})"
    return detail


def base_url(endpoint: str) -> str:
    """`host:port` or a URL -> the URL the client talks to."""
    return endpoint.rstrip("/") if "://" in endpoint else f"http://{endpoint}"


def headers(token: str | None, endpoint: str | None = None) -> dict[str, str]:
    """The bearer token: the one given, else $SEQUENCE_TOKEN (what `sequence up` exports to its
    processes and what standalone edges read), else the token `sequence login --url` stored for
    ENDPOINT's origin (sent to that origin only), else none."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and endpoint is not None:
        stored = logins.login_for_url(endpoint)
        token = stored.token if stored else None
    return {"Authorization": f"Bearer {token}"} if token else {}


def _model(cls: type[M]) -> Callable[[Any], M]:
    return cls.model_validate


def _list(cls: type[M]) -> Callable[[Any], list[M]]:
    adapter: TypeAdapter[list[M]] = TypeAdapter(list[cls])  # type: ignore[valid-type]
    return adapter.validate_python


def _id(deployment_id: str) -> str:
    return quote(deployment_id, safe="")  # namespace/name travels as namespace%2Fname


# ---------------------------------------------------------------- edge (docs/edge-api.md)


def edge_health() -> Call[edge.Health]:
    return Call("GET", "/healthz", _model(edge.Health), ok_statuses=(503,))


def edge_info() -> Call[edge.EdgeInfo]:
    return Call("GET", "/v1/edge", _model(edge.EdgeInfo))


def push_body(
    bundle: bytes | None, config: Mapping[str, Any] | BaseModel | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The push body: `config` (a PushRequest, or the same keys as a mapping) and `fields` on top;
    with `bundle` bytes, their base64 and (unless given) their sha256."""
    if isinstance(config, BaseModel):
        body = config.model_dump(mode="json", exclude_unset=True)
    else:
        body = dict(config or {})
    body.update(fields)
    if bundle is not None:
        body["bundle"] = base64.b64encode(bundle).decode()
        body.pop("bundle_url", None)
        body.setdefault("sha256", hashlib.sha256(bundle).hexdigest())
    return body


def push(
    deployment_id: str, body: dict[str, Any], timeout: float | None = None
) -> Call[edge.DeploymentStatus]:
    return Call(
        "PUT",
        f"/v1/deployments/{_id(deployment_id)}",
        _model(edge.DeploymentStatus),
        body=body,
        timeout=timeout,
    )


def start(deployment_id: str) -> Call[edge.DeploymentStatus]:
    return Call("POST", f"/v1/deployments/{_id(deployment_id)}/start", _model(edge.DeploymentStatus))


def stop(deployment_id: str) -> Call[edge.DeploymentStatus]:
    return Call("POST", f"/v1/deployments/{_id(deployment_id)}/stop", _model(edge.DeploymentStatus))


def pause(deployment_id: str) -> Call[edge.DeploymentStatus]:
    return Call("POST", f"/v1/deployments/{_id(deployment_id)}/pause", _model(edge.DeploymentStatus))


def resume(deployment_id: str) -> Call[edge.DeploymentStatus]:
    return Call("POST", f"/v1/deployments/{_id(deployment_id)}/resume", _model(edge.DeploymentStatus))


def remove(deployment_id: str, timeout: float | None = None) -> Call[edge.RemoveResult]:
    return Call("DELETE", f"/v1/deployments/{_id(deployment_id)}", _model(edge.RemoveResult), timeout=timeout)


def status(deployment_id: str) -> Call[edge.DeploymentStatus]:
    return Call("GET", f"/v1/deployments/{_id(deployment_id)}", _model(edge.DeploymentStatus))


def deployments() -> Call[list[edge.DeploymentStatus]]:
    return Call("GET", "/v1/deployments", _list(edge.DeploymentStatus))


def orders(deployment_id: str, open_only: bool = False) -> Call[list[edge.Order]]:
    return Call(
        "GET",
        f"/v1/deployments/{_id(deployment_id)}/orders",
        _list(edge.Order),
        params={"open": "1" if open_only else "0"},
    )


def trace(order_ref: str) -> Call[edge.OrderTrace]:
    return Call("GET", f"/v1/orders/{quote(order_ref, safe='')}/trace", _model(edge.OrderTrace))


def kill_switch(engaged: bool, reason: str = "") -> Call[edge.KillSwitchStatus]:
    body = edge.KillSwitchRequest(engaged=engaged, reason=reason).model_dump()
    return Call("POST", "/v1/kill-switch", _model(edge.KillSwitchStatus), body=body)


def logs(deployment_id: str, tail: int = 100, follow: bool = False) -> Call[edge.LogLine]:
    """The request of `GET .../logs`; its answer is NDJSON, one `parse` per line."""
    params = {"tail": str(tail), **({"follow": "1"} if follow else {})}
    return Call("GET", f"/v1/deployments/{_id(deployment_id)}/logs", _model(edge.LogLine), params=params)


# ---------------------------------------------------------------- session (docs/sdk.md)


def algos(per_edge: bool = False) -> Call[list[al.AlgoRow]]:
    """`GET /v1/algos[?detail=edge]` of a `sequence up` session: one row per symbol per deployment."""
    if per_edge:
        return Call("GET", "/v1/algos", _list(al.AlgoEdgeRow), params={"detail": "edge"})
    return Call("GET", "/v1/algos", _list(al.AlgoRow))


# ---------------------------------------------------------------- edge market data (docs/edge-api.md)


def book(symbol: str, depth: int = 10) -> Call[edge.BookDepth]:
    return Call(
        "GET", f"/v1/book/{quote(symbol, safe='')}", _model(edge.BookDepth), params={"depth": str(depth)}
    )


def mids(symbol: str, since_ns: int = 0) -> Call[edge.MidHistory]:
    return Call(
        "GET",
        f"/v1/mids/{quote(symbol, safe='')}",
        _model(edge.MidHistory),
        params={"since_ns": str(since_ns)},
    )


# ---------------------------------------------------------------- coordinator (docs/mesh.md)


def coordinator_health() -> Call[cc.CoordinatorHealth]:
    return Call("GET", "/healthz", _model(cc.CoordinatorHealth))


def groups() -> Call[cc.MeshGroups]:
    return Call("GET", "/v1/mesh", _model(cc.MeshGroups))


def group_of(deployment_id: str) -> Call[cc.Topology]:
    return Call("GET", "/v1/mesh", _model(cc.Topology), params={"deployment_id": deployment_id})


def topology(group: str) -> Call[cc.Topology]:
    return Call("GET", f"/v1/mesh/{quote(group, safe='')}", _model(cc.Topology))


def set_routes(group: str, members: list[cc.Member] | list[dict[str, Any]]) -> Call[cc.Topology]:
    rows = [m.model_dump(mode="json") if isinstance(m, BaseModel) else dict(m) for m in members]
    return Call("PUT", f"/v1/mesh/{quote(group, safe='')}", _model(cc.Topology), body={"members": rows})


def delete_routes(group: str) -> Call[cc.GroupDeleted]:
    return Call("DELETE", f"/v1/mesh/{quote(group, safe='')}", _model(cc.GroupDeleted))


def connected_edges() -> Call[cc.ConnectedEdges]:
    return Call("GET", "/v1/edges", _model(cc.ConnectedEdges))


def route(symbol: str, side: str, qty: float, sandbox: bool = False) -> Call[cc.RoutePreference]:
    params = {"symbol": symbol, "side": side, "qty": repr(float(qty)), "sandbox": "1" if sandbox else "0"}
    return Call("GET", "/v1/graphs-engine/route", _model(cc.RoutePreference), params=params)


# ---------------------------------------------------------------- graphs (docs/graphs.md)


def _graph_id(graph_id: str) -> str:
    return quote(graph_id, safe="")


def _body_of(value: Mapping[str, Any] | BaseModel | None) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(value or {})


def graph_submit(
    graph: Mapping[str, Any] | BaseModel, client_id: str | None = None
) -> Call[g.GraphSubmitResponse]:
    """Submit a graph in its wire form; resubmitting a running graph's `client_id` returns it."""
    body = _body_of(graph)
    if client_id is not None:
        body["client_id"] = client_id
    return Call("POST", "/v1/graphs", _model(g.GraphSubmitResponse), body=body)


def graph_list(include_finished: bool = True) -> Call[g.GraphListResponse]:
    return Call(
        "GET",
        "/v1/graphs",
        _model(g.GraphListResponse),
        params={"include_finished": "1" if include_finished else "0"},
    )


def graph_status(graph_id: str) -> Call[g.GraphStatusResponse]:
    return Call("GET", f"/v1/graphs/{_graph_id(graph_id)}", _model(g.GraphStatusResponse))


def graph_cancel(graph_id: str, reason: str | None = None) -> Call[g.GraphStatusResponse]:
    body = g.CancelGraphRequest(reason=reason).model_dump(mode="json", exclude_none=True)
    return Call("POST", f"/v1/graphs/{_graph_id(graph_id)}/cancel", _model(g.GraphStatusResponse), body=body)


def graph_resume(graph_id: str) -> Call[g.GraphStatusResponse]:
    return Call("POST", f"/v1/graphs/{_graph_id(graph_id)}/resume", _model(g.GraphStatusResponse), body={})


def graph_amend(
    graph_id: str, node: str, amend: Mapping[str, Any] | g.AmendNodeRequest
) -> Call[g.GraphStatusResponse]:
    """Retune a running node's urgency, max_slippage_bps or horizon_ms."""
    request = amend if isinstance(amend, g.AmendNodeRequest) else g.AmendNodeRequest.model_validate(amend)
    return Call(
        "PUT",
        f"/v1/graphs/{_graph_id(graph_id)}/nodes/{quote(node, safe='')}",
        _model(g.GraphStatusResponse),
        body=request.model_dump(mode="json", exclude_none=True),
    )


def graph_engine() -> Call[dict[str, Any]]:
    """The engine's view: graphs, running, venues {venue: [edge_id]}, journal, counters."""
    return Call("GET", "/v1/graphs-engine", _object)


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value
