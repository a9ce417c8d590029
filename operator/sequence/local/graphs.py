"""The `[graph.*]` blocks of a `sequence up` session: submitted to the session's coordinator once
the edges are up in its graph engine, followed while the session runs, reported in the summary.

Each graph is submitted with client_id `<project>/<graph name>`, so a second submit (a retry, or
`sequence graph submit NAME` while it runs) returns the running graph instead of starting another.
The coordinator journals its graphs in the session's state directory: when the supervisor restarts
a killed coordinator, the graphs continue from the journal under the same ids and no order is
placed twice, so nothing is submitted again.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from ..client import ApiError, CoordinatorClient, Rejected
from ..project import Project

VENUES_TIMEOUT_S = 60.0  # edges join the engine within seconds of their HELLO
PRICE_TIMEOUT_S = 30.0  # a graph with a notional limit waits for its symbols' first quotes
RETRY_S = 0.25


class GraphSubmitError(Exception):
    pass


def client_id(project: str, graph: str) -> str:
    return f"{project}/{graph}"


def graph_body(project: Project, name: str) -> dict[str, Any]:
    """The wire form of `[graph.NAME]` (ValueError naming the graphs when it has none)."""
    graphs = project.config.graph
    if name not in graphs:
        known = ", ".join(graphs) or "none"
        raise ValueError(f"no graph {name!r} in {project.name}'s Sequence.toml (graphs: {known})")
    return graphs[name].model_dump(mode="json", by_alias=True, exclude_none=True)


def wait_venues(url: str, venues: list[str], timeout: float = VENUES_TIMEOUT_S) -> None:
    """Until every one of VENUES has an edge connected to the coordinator's graph engine."""
    deadline = time.monotonic() + timeout
    missing = set(venues)
    while time.monotonic() < deadline:
        with CoordinatorClient(url, timeout=2.0) as client, contextlib.suppress(ApiError):
            missing = set(venues) - set(client.graph_engine().get("venues") or {})
            if not missing:
                return
        time.sleep(RETRY_S)
    raise GraphSubmitError(
        f"edges not in the graph engine after {timeout:.0f}s: {', '.join(sorted(missing))}"
    )


def submit(url: str, project: Project, name: str, timeout: float = PRICE_TIMEOUT_S) -> str:
    """Submit `[graph.NAME]` (idempotent by its client id); its graph id. Admission refusals are
    final, except for a missing price: the engine has not seen the symbol's first quote yet."""
    body = graph_body(project, name)
    deadline = time.monotonic() + timeout
    with CoordinatorClient(url, timeout=10.0) as client:
        while True:
            try:
                return client.graph_submit(body, client_id(project.name, name)).graph_id
            except Rejected as exc:
                if "no price for" not in exc.message or time.monotonic() > deadline:
                    raise GraphSubmitError(f"graph {name}: {exc.message}") from None
            time.sleep(RETRY_S)


@dataclass
class SessionGraphs:
    """The session's graphs: name -> graph id, and what the engine last said of each."""

    project: Project
    ids: dict[str, str] = field(default_factory=dict)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> GraphStatusResponse
    errors: dict[str, str] = field(default_factory=dict)  # name -> why it was not submitted
    cancelled_at_shutdown: list[str] = field(default_factory=list)
    closed: bool = False  # the session is ending: keep the status seen before the cancels

    def submit_all(self, url: str, venues: list[str]) -> None:
        if not self.project.config.graph:
            return
        try:
            wait_venues(url, venues)
        except GraphSubmitError as exc:  # every graph says why; the deployments run on
            self.errors = {name: str(exc) for name in self.project.config.graph}
            return
        for name in self.project.config.graph:
            try:
                self.ids[name] = submit(url, self.project, name)
            except (GraphSubmitError, ApiError) as exc:
                self.errors[name] = str(exc)

    def collect(self, url: str) -> None:
        """The engine's status of every submitted graph (the last one stays while it restarts)."""
        if not self.ids or self.closed:
            return
        with CoordinatorClient(url, timeout=2.0) as client:
            for name, graph_id in self.ids.items():
                with contextlib.suppress(ApiError):
                    self.last[name] = client.graph_status(graph_id).model_dump(mode="json", by_alias=True)

    def cancel_running(self, url: str) -> None:
        """At the end of the session: cancel the graphs still running (their open orders with them)."""
        self.closed = True
        with CoordinatorClient(url, timeout=5.0) as client:
            for name, graph_id in self.ids.items():
                if (self.last.get(name) or {}).get("status") in FINISHED:
                    continue
                with contextlib.suppress(ApiError):
                    client.graph_cancel(graph_id, "sequence up ended")
                    self.cancelled_at_shutdown.append(name)

    def summary(self) -> dict[str, Any]:
        """name -> GraphStatusResponse (as last seen before the session ended), or {"error"}."""
        out: dict[str, Any] = {name: self.last[name] for name in self.ids if name in self.last}
        out.update({name: {"error": why} for name, why in self.errors.items()})
        return out


FINISHED = ("completed", "aborted", "expired")
