"""Blocking clients (httpx.Client): `sequence up`, the CLI verbs, scripts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from sequence_wire import coordinator_api as cc
from sequence_wire import edge_api as edge
from sequence_wire import graphs as g

from . import calls
from .calls import Call, CallHook
from .errors import ApiError, Unreachable

T = TypeVar("T")


class _SyncClient:
    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 5.0,
        token: str | None = None,
        on_call: CallHook | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.base_url = calls.base_url(endpoint)
        self.timeout = timeout
        self.on_call = on_call
        self._headers = calls.headers(token, self.base_url)
        self._owned = http is None
        self.http = http or httpx.Client(timeout=timeout)

    def _send(self, call: Call[T]) -> T:
        error: ApiError | None = None
        try:
            response = self.http.request(
                call.method,
                self.base_url + call.path,
                params=call.params or None,
                json=call.body,
                headers=self._headers,
                timeout=call.timeout or self.timeout,
            )
            return call.finish(self.endpoint, response.status_code, response.text)
        except httpx.HTTPError as exc:
            error = Unreachable(self.endpoint, calls.describe_transport_error(exc))
            raise error from exc
        except ApiError as exc:
            error = exc
            raise
        finally:
            self._count(error)

    def _count(self, error: ApiError | None) -> None:
        if self.on_call is not None:
            self.on_call(calls.outcome(error))

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class EdgeClient(_SyncClient):
    """The edge's control API (docs/edge-api.md), blocking."""

    def health(self) -> edge.Health:
        return self._send(calls.edge_health())

    def info(self) -> edge.EdgeInfo:
        return self._send(calls.edge_info())

    def push(
        self,
        deployment_id: str,
        bundle: bytes,
        config: Mapping[str, Any] | BaseModel | None = None,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> edge.DeploymentStatus:
        """Load or hot-swap `bundle` (its sha256 is computed unless `config` gives it)."""
        return self._send(calls.push(deployment_id, calls.push_body(bundle, config, fields), timeout))

    def push_url(
        self, deployment_id: str, bundle_url: str, sha256: str, *, timeout: float | None = None, **fields: Any
    ) -> edge.DeploymentStatus:
        """Have the edge download the bundle from `bundle_url` (https://)."""
        body = calls.push_body(None, None, {**fields, "bundle_url": bundle_url, "sha256": sha256})
        return self._send(calls.push(deployment_id, body, timeout))

    def start(self, deployment_id: str) -> edge.DeploymentStatus:
        return self._send(calls.start(deployment_id))

    def stop(self, deployment_id: str) -> edge.DeploymentStatus:
        return self._send(calls.stop(deployment_id))

    def pause(self, deployment_id: str) -> edge.DeploymentStatus:
        """on_pause; no books until resume, the instance and its subscriptions stay warm."""
        return self._send(calls.pause(deployment_id))

    def resume(self, deployment_id: str) -> edge.DeploymentStatus:
        return self._send(calls.resume(deployment_id))

    def remove(self, deployment_id: str, *, timeout: float | None = None) -> edge.RemoveResult:
        return self._send(calls.remove(deployment_id, timeout))

    def status(self, deployment_id: str) -> edge.DeploymentStatus:
        return self._send(calls.status(deployment_id))

    def deployments(self) -> list[edge.DeploymentStatus]:
        return self._send(calls.deployments())

    def orders(self, deployment_id: str, open_only: bool = False) -> list[edge.Order]:
        return self._send(calls.orders(deployment_id, open_only))

    def trace(self, order_ref: str) -> edge.OrderTrace:
        return self._send(calls.trace(order_ref))

    def book(self, symbol: str, depth: int = 10) -> edge.BookDepth:
        """One book's top `depth` levels and the edge's fee schedule."""
        return self._send(calls.book(symbol, depth))

    def mids(self, symbol: str, since_ns: int = 0) -> edge.MidHistory:
        """The book's mid since `since_ns` (the edge keeps the last minutes)."""
        return self._send(calls.mids(symbol, since_ns))

    def kill_switch(self, engaged: bool, reason: str = "") -> edge.KillSwitchStatus:
        """Engage (cancel every resting order, at the venue too; refuse new ones) or release."""
        return self._send(calls.kill_switch(engaged, reason))

    def logs(self, deployment_id: str, tail: int = 100, follow: bool = False) -> Iterator[edge.LogLine]:
        """The last `tail` lines; with `follow`, then every new line until the deployment is removed."""
        call = calls.logs(deployment_id, tail, follow)
        timeout = httpx.Timeout(self.timeout, read=None) if follow else self.timeout
        started = False  # counted once, when the answer starts (or fails to)
        try:
            with self.http.stream(
                "GET",
                self.base_url + call.path,
                params=call.params,
                headers=self._headers,
                timeout=timeout,
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise calls.failure(self.endpoint, response.status_code, response.text)
                started = True
                self._count(None)
                for line in response.iter_lines():
                    if line.strip():
                        yield calls.parse_line(self.endpoint, call, line)
        except httpx.HTTPError as exc:
            error = Unreachable(self.endpoint, calls.describe_transport_error(exc))
            if not started:
                self._count(error)
            raise error from exc
        except ApiError as exc:
            if not started:
                self._count(exc)
            raise


class CoordinatorClient(_SyncClient):
    """The coordinator's HTTP API (docs/mesh.md), blocking."""

    def health(self) -> cc.CoordinatorHealth:
        return self._send(calls.coordinator_health())

    def groups(self) -> cc.MeshGroups:
        return self._send(calls.groups())

    def group_of(self, deployment_id: str) -> cc.Topology:
        return self._send(calls.group_of(deployment_id))

    def topology(self, group: str) -> cc.Topology:
        return self._send(calls.topology(group))

    def set_routes(self, group: str, members: list[cc.Member] | list[dict[str, Any]]) -> cc.Topology:
        return self._send(calls.set_routes(group, members))

    def delete_routes(self, group: str) -> cc.GroupDeleted:
        return self._send(calls.delete_routes(group))

    def edges(self) -> cc.ConnectedEdges:
        return self._send(calls.connected_edges())

    def route(self, symbol: str, side: str, qty: float, sandbox: bool = False) -> cc.RoutePreference:
        """Where the graph engine's smart order router would send this order now."""
        return self._send(calls.route(symbol, side, qty, sandbox))

    # graphs (docs/graphs.md)

    def graph_submit(
        self, graph: Mapping[str, Any] | BaseModel, client_id: str | None = None
    ) -> g.GraphSubmitResponse:
        return self._send(calls.graph_submit(graph, client_id))

    def graph_list(self, include_finished: bool = True) -> g.GraphListResponse:
        return self._send(calls.graph_list(include_finished))

    def graph_status(self, graph_id: str) -> g.GraphStatusResponse:
        return self._send(calls.graph_status(graph_id))

    def graph_cancel(self, graph_id: str, reason: str | None = None) -> g.GraphStatusResponse:
        return self._send(calls.graph_cancel(graph_id, reason))

    def graph_resume(self, graph_id: str) -> g.GraphStatusResponse:
        return self._send(calls.graph_resume(graph_id))

    def graph_amend(
        self, graph_id: str, node: str, amend: Mapping[str, Any] | g.AmendNodeRequest
    ) -> g.GraphStatusResponse:
        return self._send(calls.graph_amend(graph_id, node, amend))

    def graph_engine(self) -> dict[str, Any]:
        return self._send(calls.graph_engine())
