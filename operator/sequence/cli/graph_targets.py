"""Where `sequence graph` sends its calls: the coordinator of the local `sequence up` session, one
given by URL (`--coordinator`), or the cluster's (the namespace's `sequence-coordinator` Service
through the API server's service proxy, with the namespace's token, as the verbs reach edges).

Both speak the graph API's calls as `sequence.client.calls` describes them, so the answers are
parsed the same way and failures are the client's `ApiError`s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import click

from sequence_wire import coordinator_api as cc
from sequence_wire import graphs as g
from sequence_wire.auth import TOKEN_HEADER

from ..client import CoordinatorClient, Unreachable, calls
from ..client.calls import Call
from ..cluster import ClusterTarget
from ..local.target import LocalTarget
from .targets import resolve_target

T = TypeVar("T")

COORDINATOR_SERVICE = "sequence-coordinator:control"  # reconcilers/kube.py: name and port name


class GraphAPI:
    """The graph calls, over one transport (`_send`)."""

    where = ""  # "local <project>", "cluster namespace/<ns>", or the URL
    project: str | None = None  # the project whose graphs `NAME` means (client id `<project>/NAME`)

    def _send(self, call: Call[T]) -> T:
        raise NotImplementedError

    def submit(self, body: dict[str, Any], client_id: str | None) -> g.GraphSubmitResponse:
        return self._send(calls.graph_submit(body, client_id))

    def list(self, include_finished: bool = True) -> g.GraphListResponse:
        return self._send(calls.graph_list(include_finished))

    def status(self, graph_id: str) -> g.GraphStatusResponse:
        return self._send(calls.graph_status(graph_id))

    def cancel(self, graph_id: str, reason: str | None) -> g.GraphStatusResponse:
        return self._send(calls.graph_cancel(graph_id, reason))

    def resume(self, graph_id: str) -> g.GraphStatusResponse:
        return self._send(calls.graph_resume(graph_id))

    def amend(self, graph_id: str, node: str, amend: dict[str, Any]) -> g.GraphStatusResponse:
        return self._send(calls.graph_amend(graph_id, node, amend))

    def route(self, symbol: str, side: str, qty: float, sandbox: bool) -> cc.RoutePreference:
        """Where the engine's smart order router would send an order now (`sequence intel`)."""
        return self._send(calls.route(symbol, side, qty, sandbox))


class DirectGraphs(GraphAPI):
    """A coordinator's HTTP API at a URL (the local session's, or `--coordinator`)."""

    def __init__(self, url: str, token: str | None, where: str, project: str | None) -> None:
        self.url, self.token, self.where, self.project = url, token, where, project

    def _send(self, call: Call[T]) -> T:
        with CoordinatorClient(self.url, token=self.token, timeout=15.0) as client:
            return client._send(call)


class ClusterGraphs(GraphAPI):
    """The namespace's coordinator through the API server's service proxy."""

    def __init__(self, target: ClusterTarget) -> None:
        self.target = target
        self.where = f"cluster namespace {target.namespace}"
        self.project = target.project_name

    def _send(self, call: Call[T]) -> T:
        path = f"/api/v1/namespaces/{self.target.namespace}/services/{COORDINATOR_SERVICE}/proxy{call.path}"
        api = self.target.api_client
        # The API server takes `Authorization` for itself and does not forward it to the Service.
        headers = {TOKEN_HEADER: self.target.token(), "Content-Type": "application/json"}
        request = api.param_serialize(
            call.method,
            path,
            query_params=list(call.params.items()),
            header_params=headers,
            body=call.body,
            auth_settings=["BearerToken"],
        )
        try:
            response = api.call_api(*request, _request_timeout=15)
            text = response.read().decode()
        except Exception as exc:  # the API server or its proxy did not answer
            raise Unreachable(self.where, f"{call.method} {call.path}: {exc}") from None
        return call.finish(self.where, response.status, text)


def graph_api(project_path: Path, coordinator: str | None) -> GraphAPI:
    """The coordinator `sequence graph` talks to (see the module docstring)."""
    if coordinator:
        from .targets import project_identity

        return DirectGraphs(coordinator, None, coordinator, project_identity(project_path)[0])
    return target_graphs(resolve_target(project_path))


def target_graphs(target: LocalTarget | ClusterTarget) -> GraphAPI:
    """The coordinator of a resolved target: the local session's, or the namespace's."""
    if isinstance(target, LocalTarget):
        if not target.state.coordinator_url:
            raise click.ClickException(f"the session of {target.project} runs no coordinator")
        where = f"local {target.project}"
        return DirectGraphs(target.state.coordinator_url, target.state.token(), where, target.project)
    return ClusterGraphs(target)


def load_json_graph(path: Path) -> dict[str, Any]:
    """A graph in its wire form from a JSON file (ValueError saying what is wrong)."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON graph: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError(f"{path}: a graph is a JSON object (nodes, edges, risk, ...)")
    return body
