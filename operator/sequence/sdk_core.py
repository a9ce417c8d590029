"""What the SDK's calls do, written once for `sequence.Sequence` and `sequence.aio.Sequence`.

Each call is a generator that yields the I/O it needs as steps (an HTTP call of the client, a log
read, a blocking Kubernetes call, a pause) and gets each answer back; the blocking twin runs the
steps with the blocking clients, the asyncio twin awaits them. So both twins build the same
requests and the same shapes, and neither holds logic of its own.

Two places a connection can point at: a local `sequence up` session (or one edge by URL), where the
calls talk to the edges and the coordinator; and a cluster, where they go through the
AlgoDeployment custom resources like the CLI's verbs (sdk_cluster.py) and the operator does the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sequence_wire import edge_api as edge
from sequence_wire.algos import algo_rows

from .client import ApiError, NotFound, Rejected, Unreachable, calls
from .client.calls import Call
from .local.state import LocalDeployment, LocalState
from .local.target import TargetError

T = TypeVar("T")


class SequenceError(Exception):
    """A call the SDK could not make: no session, unknown deployment or venue, a refused push."""


@dataclass
class DeploymentEdge:
    """One edge that can run a deployment (it serves the deployment's venue)."""

    edge_id: str
    venue: str
    url: str
    pushed: bool
    status: str  # the edge's state of the deployment ("Loaded", "Stopped", "Running", ...) or "Error"
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


# ---------------------------------------------------------------- steps


@dataclass(frozen=True)
class Http:
    """One control-API call to URL (an edge, the coordinator or the session)."""

    url: str
    call: Call[Any]
    timeout: float = 10.0


@dataclass(frozen=True)
class Logs:
    """The last N log lines of a deployment on an edge (NDJSON, read line by line)."""

    url: str
    deployment_id: str
    n: int


@dataclass(frozen=True)
class Blocking:
    """A blocking call (the Kubernetes client): run as is, or in a thread by the asyncio twin."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Pause:
    seconds: float


Step = Http | Logs | Blocking | Pause
Op = Generator[Step, Any, T]


@dataclass(frozen=True)
class Done:
    value: Any


def advance(op: Op[Any], answer: Any, error: BaseException | None) -> Step | Done:
    """Hand the last step's answer (or error) to OP: its next step, or Done with its result."""
    try:
        return op.throw(error) if error is not None else op.send(answer)
    except StopIteration as done:
        return Done(done.value)


def handed_back(step: Step, exc: Exception) -> Exception:
    """EXC of STEP, to throw into the operation: a control-API or target failure, or any error of
    a blocking Kubernetes call (the operation words it). Anything else is a bug: raised as is."""
    if isinstance(exc, (ApiError, TargetError)) or isinstance(step, Blocking):
        return exc
    raise exc


# ---------------------------------------------------------------- where a connection points


@dataclass
class Local:
    """A `sequence up` session (`session`), or edges given by URL (`session` None)."""

    session: LocalState | None
    edges: dict[str, str]  # venue -> edge control API URL
    token: str | None

    def fresh(self) -> LocalState | None:
        """The session file as it is now (the CLI verbs and `sequence up` change it too)."""
        if self.session is None:
            return None
        try:
            self.session = LocalState.load(self.session.path)
        except (OSError, ValueError, TypeError):
            raise SequenceError(f"session {self.session.project!r} is no longer running") from None
        self.edges = dict(self.session.edges)
        return self.session


# ---------------------------------------------------------------- shapes


def push_config(
    symbols: list[str],
    risk: dict[str, Any] | None,
    params: dict[str, Any] | None,
    state: str,
    runtime: str,
    label: str | None,
) -> dict[str, Any]:
    """The edge push body of `deploy_algo` (without the bundle)."""
    config: dict[str, Any] = {"symbols": list(symbols), "state": state, "runtime": runtime}
    if label:
        config["label"] = label
    if params:
        config["params"] = {k: param_text(v) for k, v in params.items()}
    if risk:
        config["risk"] = dict(risk)
    return config


def param_text(value: Any) -> str:
    """A param as the algorithm reads it (params are strings on the wire)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def metrics_of(status: dict[str, Any]) -> dict[str, Any]:
    return {key: status.get(key) for key in METRIC_FIELDS}


def pick_symbol(rows: list[dict[str, Any]], symbol: str) -> dict[str, Any]:
    """The one algorithm trading SYMBOL (the legacy calls' key)."""
    mine = [r for r in rows if r["symbol"] == symbol]
    if not mine:
        raise SequenceError(f"no algorithm trades {symbol!r}")
    if len(mine) > 1:
        names = ", ".join(r["name"] for r in mine)
        raise SequenceError(f"several deployments trade {symbol!r} ({names}): use the deployment-keyed calls")
    return mine[0]


def empty_mesh(deployment_id: str) -> dict[str, Any]:
    return {"deployment_id": deployment_id, "mesh_group": None, "instances": [], "links": []}


# ---------------------------------------------------------------- local: the edges and the coordinator


def _send(url: str, call: Call[T], what: str, timeout: float = 10.0) -> Op[T]:
    """Yield one call; its failure becomes a SequenceError naming WHAT."""
    try:
        result: T = yield Http(url, call, timeout)
    except ApiError as exc:
        raise SequenceError(f"{what}: {exc}") from exc
    return result


def _locate(where: Local, name: str) -> Op[tuple[str, str]]:
    """(deployment id, edge URL) of NAME (a deployment name or id)."""
    session = where.fresh()
    if session is not None:
        dep = _session_deployment(session, name)
        return dep.deployment_id, session.edges[dep.venue]
    for url in where.edges.values():
        try:
            yield Http(url, calls.status(name))
            return name, url
        except NotFound:
            continue
    raise SequenceError(f"no deployment {name!r} on {', '.join(where.edges.values())}")


def _session_deployment(session: LocalState, name: str) -> LocalDeployment:
    for dep in session.deployments.values():
        if name in (dep.name, dep.deployment_id):
            return dep
    raise SequenceError(f"no deployment {name!r} in {session.project}")


def venue_of(edges: dict[str, str], venue: str | None) -> str:
    if venue is None:
        if len(edges) != 1:
            raise SequenceError(f"several venues ({', '.join(sorted(edges))}): pass venue=")
        return next(iter(edges))
    if venue not in edges:
        raise SequenceError(f"no edge serves venue {venue!r} (venues: {', '.join(sorted(edges))})")
    return venue


def deploy_local(
    where: Local, name: str, wasm_bytes: bytes, venue: str | None, config: dict[str, Any]
) -> Op[Deployment]:
    session = where.fresh()
    venue = venue_of(where.edges, venue)
    dep_id = f"{session.project}-{name}" if session is not None else name
    if len(dep_id) > 63:
        raise SequenceError(f"deployment id {dep_id!r} is longer than 63 characters")
    url = where.edges[venue]
    body = calls.push_body(wasm_bytes, config, {})
    try:
        status: edge.DeploymentStatus = yield Http(url, calls.push(dep_id, body), 30.0)
    except (Rejected, Unreachable) as exc:
        raise SequenceError(f"the {venue} edge refused {name}: {exc}") from exc
    if session is not None:
        label = config.get("label") or name
        recorded = LocalDeployment(name, dep_id, venue, label, list(config["symbols"]))
        LocalState.update(session.path, lambda fresh: fresh.deployments.__setitem__(name, recorded))
    pushed = DeploymentEdge(status.edge_id, venue, url, True, status.state)
    return Deployment(
        deployment_id=dep_id,
        name=name,
        symbols=list(status.symbols),
        size_bytes=status.size_bytes,
        status=status.state,
        pushed_to=[pushed.edge_id],
        capable_edges=[pushed.edge_id],
        edges=[pushed],
    )


def edge_action(where: Local, name: str, action: Callable[[str], Call[Any]], verb: str) -> Op[dict[str, Any]]:
    """status / start / stop of one deployment: the edge's status after it."""
    dep_id, url = yield from _locate(where, name)
    status = yield from _send(url, action(dep_id), f"{verb} {name}")
    result: dict[str, Any] = status.as_dict()
    return result


def undeploy_local(where: Local, name: str) -> Op[dict[str, Any]]:
    dep_id, url = yield from _locate(where, name)
    removed = yield from _send(url, calls.remove(dep_id, timeout=30.0), f"undeploy {name}", 30.0)
    session = where.fresh()
    if session is not None:

        def forget(fresh: LocalState) -> None:
            for key, dep in list(fresh.deployments.items()):
                if name in (dep.name, dep.deployment_id):
                    del fresh.deployments[key]

        LocalState.update(session.path, forget)
    result: dict[str, Any] = removed.as_dict()
    return result


def logs_local(where: Local, name: str, n: int) -> Op[list[dict[str, Any]]]:
    dep_id, url = yield from _locate(where, name)
    try:
        lines: list[edge.LogLine] = yield Logs(url, dep_id, n)
    except ApiError as exc:
        raise SequenceError(f"logs {name}: {exc}") from exc
    return [line.as_dict() for line in lines]


def mesh_local(where: Local, name: str) -> Op[dict[str, Any]]:
    """The coordinator's topology of NAME's mesh group (every instance of the group)."""
    dep_id, _ = yield from _locate(where, name)
    session = where.session
    if session is None or not session.coordinator_url:
        raise SequenceError("this connection has no coordinator (connect to a session)")
    try:
        topology = yield Http(session.coordinator_url, calls.group_of(dep_id))
    except NotFound:
        return empty_mesh(dep_id)  # in no mesh group
    except ApiError as exc:
        raise SequenceError(f"mesh of {name}: {exc}") from exc
    result: dict[str, Any] = topology.as_dict()
    return result


def rows_local(where: Local, per_edge: bool) -> Op[list[dict[str, Any]]]:
    """`GET /v1/algos[?detail=edge]`: the session's endpoint; for edges given by URL, the same
    rows built here from their statuses."""
    session = where.fresh()
    if session is not None and session.api_url:
        rows = yield from _send(session.api_url, calls.algos(per_edge), "algos")
        return [row.as_dict() for row in rows]
    statuses: list[edge.DeploymentStatus] = []
    for url in where.edges.values():
        statuses += yield from _send(url, calls.deployments(), f"edge {url}")
    names = {d.deployment_id: d.name for d in session.deployments.values()} if session else {}
    return [row.to_json() for row in algo_rows(statuses, names, per_edge)]


def statuses_local(where: Local) -> Op[list[dict[str, Any]]]:
    """Every deployment on the connection's edges, with its `name` in a session."""
    session = where.fresh()
    names = {d.deployment_id: d.name for d in session.deployments.values()} if session else {}
    found = []
    for url in where.edges.values():
        statuses = yield from _send(url, calls.deployments(), f"edge {url}")
        for status in statuses:
            found.append({**status.as_dict(), "name": names.get(status.deployment_id, status.deployment_id)})
    return found
