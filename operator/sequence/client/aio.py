"""Asyncio clients (httpx.AsyncClient): the operator's reconcilers, async applications.

The same calls as the blocking clients (calls.py describes each once); only the transport differs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
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


class _AsyncClient:
    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 5.0,
        token: str | None = None,
        on_call: CallHook | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.base_url = calls.base_url(endpoint)
        self.timeout = timeout
        self.on_call = on_call
        self._headers = calls.headers(token, self.base_url)
        self._owned = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout)

    async def _send(self, call: Call[T]) -> T:
        error: ApiError | None = None
        try:
            response = await self.http.request(
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

    async def close(self) -> None:
        if self._owned:
            await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()


class AsyncEdgeClient(_AsyncClient):
    """The edge's control API (docs/edge-api.md), asyncio."""

    async def health(self) -> edge.Health:
        return await self._send(calls.edge_health())

    async def info(self) -> edge.EdgeInfo:
        return await self._send(calls.edge_info())

    async def push(
        self,
        deployment_id: str,
        bundle: bytes,
        config: Mapping[str, Any] | BaseModel | None = None,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> edge.DeploymentStatus:
        """Load or hot-swap `bundle` (its sha256 is computed unless `config` gives it)."""
        return await self._send(calls.push(deployment_id, calls.push_body(bundle, config, fields), timeout))

    async def push_url(
        self, deployment_id: str, bundle_url: str, sha256: str, *, timeout: float | None = None, **fields: Any
    ) -> edge.DeploymentStatus:
        """Have the edge download the bundle from `bundle_url` (https://)."""
        body = calls.push_body(None, None, {**fields, "bundle_url": bundle_url, "sha256": sha256})
        return await self._send(calls.push(deployment_id, body, timeout))

    async def start(self, deployment_id: str) -> edge.DeploymentStatus:
        return await self._send(calls.start(deployment_id))

    async def stop(self, deployment_id: str) -> edge.DeploymentStatus:
        return await self._send(calls.stop(deployment_id))

    async def pause(self, deployment_id: str) -> edge.DeploymentStatus:
        """on_pause; no books until resume, the instance and its subscriptions stay warm."""
        return await self._send(calls.pause(deployment_id))

    async def resume(self, deployment_id: str) -> edge.DeploymentStatus:
        return await self._send(calls.resume(deployment_id))

    async def remove(self, deployment_id: str, *, timeout: float | None = None) -> edge.RemoveResult:
        return await self._send(calls.remove(deployment_id, timeout))

    async def status(self, deployment_id: str) -> edge.DeploymentStatus:
        return await self._send(calls.status(deployment_id))

    async def deployments(self) -> list[edge.DeploymentStatus]:
        return await self._send(calls.deployments())

    async def orders(self, deployment_id: str, open_only: bool = False) -> list[edge.Order]:
        return await self._send(calls.orders(deployment_id, open_only))

    async def trace(self, order_ref: str) -> edge.OrderTrace:
        return await self._send(calls.trace(order_ref))

    async def book(self, symbol: str, depth: int = 10) -> edge.BookDepth:
        """One book's top `depth` levels and the edge's fee schedule."""
        return await self._send(calls.book(symbol, depth))

    async def mids(self, symbol: str, since_ns: int = 0) -> edge.MidHistory:
        """The book's mid since `since_ns` (the edge keeps the last minutes)."""
        return await self._send(calls.mids(symbol, since_ns))

    async def kill_switch(self, engaged: bool, reason: str = "") -> edge.KillSwitchStatus:
        """Engage (cancel every resting order, at the venue too; refuse new ones) or release."""
        return await self._send(calls.kill_switch(engaged, reason))

    async def logs(
        self, deployment_id: str, tail: int = 100, follow: bool = False
    ) -> AsyncIterator[edge.LogLine]:
        """The last `tail` lines; with `follow`, then every new line until the deployment is removed."""
        call = calls.logs(deployment_id, tail, follow)
        timeout = httpx.Timeout(self.timeout, read=None) if follow else self.timeout
        started = False  # counted once, when the answer starts (or fails to)
        try:
            async with self.http.stream(
                "GET",
                self.base_url + call.path,
                params=call.params,
                headers=self._headers,
                timeout=timeout,
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise calls.failure(self.endpoint, response.status_code, response.text)
                started = True
                self._count(None)
                async for line in response.aiter_lines():
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


class AsyncCoordinatorClient(_AsyncClient):
    """The coordinator's HTTP API (docs/mesh.md), asyncio."""

    async def health(self) -> cc.CoordinatorHealth:
        return await self._send(calls.coordinator_health())

    async def groups(self) -> cc.MeshGroups:
        return await self._send(calls.groups())

    async def group_of(self, deployment_id: str) -> cc.Topology:
        return await self._send(calls.group_of(deployment_id))

    async def topology(self, group: str) -> cc.Topology:
        return await self._send(calls.topology(group))

    async def set_routes(self, group: str, members: list[cc.Member] | list[dict[str, Any]]) -> cc.Topology:
        return await self._send(calls.set_routes(group, members))

    async def delete_routes(self, group: str) -> cc.GroupDeleted:
        return await self._send(calls.delete_routes(group))

    async def edges(self) -> cc.ConnectedEdges:
        return await self._send(calls.connected_edges())

    async def route(self, symbol: str, side: str, qty: float, sandbox: bool = False) -> cc.RoutePreference:
        """Where the graph engine's smart order router would send this order now."""
        return await self._send(calls.route(symbol, side, qty, sandbox))

    # graphs (docs/graphs.md)

    async def graph_submit(
        self, graph: Mapping[str, Any] | BaseModel, client_id: str | None = None
    ) -> g.GraphSubmitResponse:
        return await self._send(calls.graph_submit(graph, client_id))

    async def graph_list(self, include_finished: bool = True) -> g.GraphListResponse:
        return await self._send(calls.graph_list(include_finished))

    async def graph_status(self, graph_id: str) -> g.GraphStatusResponse:
        return await self._send(calls.graph_status(graph_id))

    async def graph_cancel(self, graph_id: str, reason: str | None = None) -> g.GraphStatusResponse:
        return await self._send(calls.graph_cancel(graph_id, reason))

    async def graph_resume(self, graph_id: str) -> g.GraphStatusResponse:
        return await self._send(calls.graph_resume(graph_id))

    async def graph_amend(
        self, graph_id: str, node: str, amend: Mapping[str, Any] | g.AmendNodeRequest
    ) -> g.GraphStatusResponse:
        return await self._send(calls.graph_amend(graph_id, node, amend))

    async def graph_engine(self) -> dict[str, Any]:
        return await self._send(calls.graph_engine())
