"""The edges (and coordinator) of the target that `tca` and `intel` read, as typed readers.

A local session's edges are read with the SDK's `EdgeClient`; a cluster's through the API server's
pod proxy (as `logs` and `trace` do), parsed into the same wire models. Either way the verbs see
`EdgeReader`s and compute on the models only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from sequence_wire import edge_api as wire

from ..client import EdgeClient, Unreachable
from ..cluster import ClusterTarget
from ..local.target import LocalTarget
from .targets import Target


class EdgeReader(Protocol):
    def info(self) -> wire.EdgeInfo: ...

    def book(self, symbol: str, depth: int = 10) -> wire.BookDepth: ...

    def mids(self, symbol: str, since_ns: int = 0) -> wire.MidHistory: ...

    def orders(self, deployment_id: str, open_only: bool = False) -> list[wire.Order]: ...

    def trace(self, order_ref: str) -> wire.OrderTrace: ...


class ClusterEdge:
    """An edge of a cluster deployment, through the API server's pod proxy."""

    def __init__(self, target: ClusterTarget, edge: dict[str, Any]) -> None:
        self.target = target
        self.edge = edge
        self.name = str(edge.get("edgeId") or edge.get("endpoint") or "?")

    def _get(self, path: str) -> Any:
        try:
            response = self.target._edge_get(self.edge, path)
        except Exception as exc:  # the proxy, DNS, a closed port: the edge is not reachable from here
            raise Unreachable(self.name, str(exc)) from None
        status = getattr(response, "status_code", None) or getattr(response, "status", 0)
        body = response.text if hasattr(response, "text") else response.data.decode()
        if status != 200:
            raise Unreachable(self.name, f"GET {path}: HTTP {status}: {body[:300]}")
        return json.loads(body)

    def info(self) -> wire.EdgeInfo:
        return wire.EdgeInfo.model_validate(self._get("/v1/edge"))

    def book(self, symbol: str, depth: int = 10) -> wire.BookDepth:
        return wire.BookDepth.model_validate(self._get(f"/v1/book/{quote(symbol, safe='')}?depth={depth}"))

    def mids(self, symbol: str, since_ns: int = 0) -> wire.MidHistory:
        return wire.MidHistory.model_validate(
            self._get(f"/v1/mids/{quote(symbol, safe='')}?since_ns={since_ns}")
        )

    def orders(self, deployment_id: str, open_only: bool = False) -> list[wire.Order]:
        rows = self._get(f"/v1/deployments/{quote(deployment_id, safe='')}/orders")
        return [wire.Order.model_validate(row) for row in rows]

    def trace(self, order_ref: str) -> wire.OrderTrace:
        return wire.OrderTrace.model_validate(self._get(f"/v1/orders/{quote(order_ref, safe='')}/trace"))


@dataclass(frozen=True)
class DeploymentEdge:
    name: str  # the deploy block (or AlgoDeployment) name
    deployment_id: str
    venue: str
    reader: EdgeReader


@contextmanager
def deployment_edges(target: Target, name: str | None) -> Iterator[list[DeploymentEdge]]:
    """Every (deployment, edge) pair of the selected deployments."""
    if isinstance(target, LocalTarget):
        token = target.state.token()
        clients: dict[str, EdgeClient] = {}
        try:
            out = []
            for dep in target.select(name):
                url = target.state.edge_url(dep)
                client = clients.setdefault(url, EdgeClient(url, token=token))
                out.append(DeploymentEdge(dep.name, dep.deployment_id, dep.venue, client))
            yield out
        finally:
            for client in clients.values():
                client.close()
        return
    out = []
    for algo in target.select(name):
        status = algo.get("status") or {}
        dep_id = status.get("deploymentId") or f"{target.namespace}.{algo['metadata']['name']}"
        for edge in status.get("edges") or []:
            venue = str(edge.get("venue") or algo["spec"].get("venue", ""))
            out.append(DeploymentEdge(algo["metadata"]["name"], dep_id, venue, ClusterEdge(target, edge)))
    yield out


@contextmanager
def project_edges(target: Target) -> Iterator[list[tuple[str, EdgeReader]]]:
    """(name, reader) of every edge of the target: a local session's, or a cluster project's edges
    that its deployments run on."""
    if isinstance(target, LocalTarget):
        token = target.state.token()
        clients = [(venue, EdgeClient(url, token=token)) for venue, url in sorted(target.state.edges.items())]
        try:
            yield [(venue, client) for venue, client in clients]
        finally:
            for _venue, client in clients:
                client.close()
        return
    seen: dict[str, tuple[str, EdgeReader]] = {}
    for algo in target.select(None):
        for edge in (algo.get("status") or {}).get("edges") or []:
            reader = ClusterEdge(target, edge)
            seen.setdefault(str(edge.get("endpoint") or reader.name), (reader.name, reader))
    yield list(seen.values())
