"""`import sequence; seq = sequence.connect()`: deploy and run algorithms from Python.

The calls of the SDK lifecycle (`deploy_algo`, `algo_status`, `algo_start`, `algo_stop`,
`algo_undeploy`, `algo_logs`, `algo_mesh`, `algo_metrics`) against a running `sequence up`
session, or one edge given by URL. Built on the one client (sequence.client): no second HTTP
stack. docs/sdk.md has runnable examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .client import ApiError, CoordinatorClient, EdgeClient, NotFound, Rejected, Unreachable
from .local.state import LocalDeployment, LocalState, running_sessions
from .sdk_graphs import GraphCalls


class SequenceError(Exception):
    """A call the SDK could not make: no session, unknown deployment or venue, a refused push."""


@dataclass
class DeploymentEdge:
    """One edge that can run a deployment (it serves the deployment's venue)."""

    edge_id: str
    venue: str
    url: str
    pushed: bool
    status: str  # the edge's state of the deployment ("Stopped", "Running", ...) or "Error"
    error: str | None = None


@dataclass
class Deployment:
    """What `deploy_algo` returns: where the bundle went and in what state it is."""

    deployment_id: str
    name: str
    symbols: list[str]
    size_bytes: int
    status: str
    pushed_to: list[str]
    capable_edges: list[str]
    edges: list[DeploymentEdge] = field(default_factory=list)


# algo_metrics: the status fields that answer "is it trading, how fast, for how much"
METRIC_FIELDS = (
    "state",
    "orders",
    "open_orders",
    "fills",
    "rejects",
    "cancels",
    "position",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "callbacks",
    "traps",
    "latency_ns",
    "tick_to_order_ns",
)


class Sequence(GraphCalls):
    """A connection to a running session (its edges and coordinator). Use `connect()`."""

    def __init__(self, session: LocalState | None, edges: dict[str, str], token: str | None) -> None:
        self.session = session
        self.edges = edges  # venue -> edge control API URL
        self.token = token

    # ------------------------------------------------------------ plumbing

    def __enter__(self) -> Sequence:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def _client(self, url: str, timeout: float = 10.0) -> EdgeClient:
        return EdgeClient(url, token=self.token, timeout=timeout)

    def _fresh_session(self) -> LocalState | None:
        """The session file as it is now (the CLI verbs and `sequence up` change it too)."""
        if self.session is None:
            return None
        try:
            self.session = LocalState.load(self.session.path)
        except (OSError, ValueError, TypeError):
            raise SequenceError(f"session {self.session.project!r} is no longer running") from None
        return self.session

    def deployment_id(self, name: str) -> str:
        """The edge id of NAME (a deployment name or id)."""
        session = self._fresh_session()
        if session is None:
            return name
        for dep in session.deployments.values():
            if name in (dep.name, dep.deployment_id):
                return dep.deployment_id
        raise SequenceError(f"no deployment {name!r} in {session.project}")

    def _locate(self, name: str) -> tuple[str, str]:
        """(deployment id, edge URL) of a deployment."""
        session = self._fresh_session()
        if session is not None:
            for dep in session.deployments.values():
                if name in (dep.name, dep.deployment_id):
                    return dep.deployment_id, session.edges[dep.venue]
            raise SequenceError(f"no deployment {name!r} in {session.project}")
        for url in self.edges.values():
            with self._client(url) as client:
                try:
                    client.status(name)
                    return name, url
                except NotFound:
                    continue
        raise SequenceError(f"no deployment {name!r} on {', '.join(self.edges.values())}")

    def _call(self, name: str, action: str, *args: Any) -> Any:
        dep_id, url = self._locate(name)
        with self._client(url) as client:
            try:
                return getattr(client, action)(dep_id, *args)
            except ApiError as exc:
                raise SequenceError(f"{action} {name}: {exc}") from exc

    # ------------------------------------------------------------ the lifecycle

    def deploy_algo(
        self,
        name: str,
        wasm_bytes: bytes,
        symbols: list[str],
        venue: str | None = None,
        risk: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        *,
        state: str = "Stopped",
        runtime: str = "wasm",
        label: str | None = None,
    ) -> Deployment:
        """Push WASM_BYTES as NAME to every edge of VENUE (the only venue when there is one).

        Deployments start stopped (`algo_start` runs them) unless state="Running". Pushing a name
        again hot-swaps the bundle and config in place.
        """
        venue = self._venue(venue)
        session = self._fresh_session()
        dep_id = f"{session.project}-{name}" if session is not None else name
        if len(dep_id) > 63:
            raise SequenceError(f"deployment id {dep_id!r} is longer than 63 characters")
        config: dict[str, Any] = {"symbols": list(symbols), "state": state, "runtime": runtime}
        if label:
            config["label"] = label
        if params:
            config["params"] = {k: _param(v) for k, v in params.items()}
        if risk:
            config["risk"] = risk
        url = self.edges[venue]
        with self._client(url, timeout=30.0) as client:
            try:
                status = client.push(dep_id, wasm_bytes, config)
                edge = DeploymentEdge(status.edge_id, venue, url, True, status.state)
            except (Rejected, Unreachable) as exc:
                raise SequenceError(f"the {venue} edge refused {name}: {exc}") from exc
        if session is not None:
            session.deployments[name] = LocalDeployment(name, dep_id, venue, label or name, list(symbols))
            session.save()
        return Deployment(
            deployment_id=dep_id,
            name=name,
            symbols=list(status.symbols),
            size_bytes=status.size_bytes,
            status=status.state,
            pushed_to=[edge.edge_id],
            capable_edges=[edge.edge_id],
            edges=[edge],
        )

    def _venue(self, venue: str | None) -> str:
        if venue is None:
            if len(self.edges) != 1:
                raise SequenceError(f"several venues ({', '.join(sorted(self.edges))}): pass venue=")
            return next(iter(self.edges))
        if venue not in self.edges:
            raise SequenceError(f"no edge serves venue {venue!r} (venues: {', '.join(sorted(self.edges))})")
        return venue

    def algos(self) -> list[dict[str, Any]]:
        """Every deployment on the connection's edges: the edges' statuses (with `name` in a
        session: the deploy block's or deploy_algo's name)."""
        session = self._fresh_session()
        names = {d.deployment_id: d.name for d in session.deployments.values()} if session else {}
        found = []
        for url in self.edges.values():
            with self._client(url) as client:
                try:
                    statuses = client.deployments()
                except ApiError as exc:
                    raise SequenceError(f"edge {url}: {exc}") from exc
            for status in statuses:
                entry = status.as_dict()
                found.append({**entry, "name": names.get(status.deployment_id, status.deployment_id)})
        return found

    def algo_status(self, name: str) -> dict[str, Any]:
        """The edge's status of a deployment (state, counters, risk, last error)."""
        result: dict[str, Any] = self._call(name, "status").as_dict()
        return result

    def algo_start(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(name, "start").as_dict()
        return result

    def algo_stop(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(name, "stop").as_dict()
        return result

    def algo_undeploy(self, name: str) -> dict[str, Any]:
        """Remove a deployment: on_shutdown runs, its orders are cancelled; the final status."""
        result: dict[str, Any] = self._call(name, "remove").as_dict()
        session = self._fresh_session()
        if session is not None:
            for key, dep in list(session.deployments.items()):
                if name in (dep.name, dep.deployment_id):
                    del session.deployments[key]
            session.save()
        return result

    def algo_logs(self, name: str, n: int = 100) -> list[dict[str, Any]]:
        """The last N log lines of a deployment, oldest first."""
        dep_id, url = self._locate(name)
        with self._client(url) as client:
            return [line.as_dict() for line in client.logs(dep_id, tail=n)]

    def algo_metrics(self, name: str) -> dict[str, Any]:
        """Orders, fills, latency and PnL of a deployment."""
        status = self.algo_status(name)
        return {key: status.get(key) for key in METRIC_FIELDS}

    def algo_mesh(self) -> dict[str, Any]:
        """The session's mesh topology (members, links) from the coordinator."""
        session = self._fresh_session()
        if session is None or not session.coordinator_url:
            raise SequenceError("this connection has no coordinator")
        with CoordinatorClient(session.coordinator_url, token=self.token) as client:
            try:
                result: dict[str, Any] = client.topology(session.project).as_dict()
            except ApiError as exc:
                raise SequenceError(f"mesh: {exc}") from exc
        return result


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def connect(url: str | None = None, token: str | None = None, *, project: str | Path = ".") -> Sequence:
    """Connect to the `sequence up` session of the project in PROJECT (default: the current
    directory; the only running session when the directory has no Sequence.toml), or, given
    URL, to that one edge (TOKEN is its bearer token)."""
    if url is not None:
        with EdgeClient(url, token=token) as client:
            try:
                venue = client.info().venue
            except ApiError as exc:
                raise SequenceError(f"edge {url}: {exc}") from exc
        return Sequence(None, {venue: url}, token)
    sessions = running_sessions()
    name = _project_name(Path(project))
    mine = [s for s in sessions if s.project == name] if name else sessions
    if len(mine) != 1:
        if name:
            raise SequenceError(f"project {name!r} is not running locally: start it with `sequence up`")
        if not sessions:
            raise SequenceError("no running session: start one with `sequence up`, or pass url=")
        raise SequenceError(f"several sessions ({', '.join(s.project for s in sessions)}): pass project=")
    session = mine[0]
    return Sequence(session, dict(session.edges), token or session.token())


def _project_name(path: Path) -> str | None:
    from .project import ConfigError, load_project, resolve_path

    file = resolve_path(path)
    if not file.is_file():
        return None
    try:
        return load_project(file, check_files=False).name
    except ConfigError:
        return None
