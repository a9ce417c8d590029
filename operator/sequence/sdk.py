"""`import sequence; seq = sequence.connect()`: deploy and run algorithms from Python.

`connect()` picks the target as the CLI does: the running `sequence up` session of the project
(or the only one running), else the current kubeconfig context, where the calls go through the
AlgoDeployment resources and the operator. `sequence.aio` is the same for asyncio: both run the
operations of sdk_ops.py, which decide every name and shape once. docs/sdk.md has runnable examples.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .client import ApiError, EdgeClient
from .cluster import ClusterTarget
from .local.state import SeveralSessions, session_of
from .local.target import TargetError
from .project import project_identity
from .sdk_core import (
    Blocking,
    Deployment,
    DeploymentEdge,
    Done,
    Http,
    Local,
    Logs,
    Op,
    Pause,
    SequenceError,
    advance,
    handed_back,
)
from .sdk_graphs import GraphCalls
from .sdk_ops import METRIC_FIELDS, Connection, Operations

__all__ = ["METRIC_FIELDS", "Deployment", "DeploymentEdge", "Sequence", "SequenceError", "connect"]

T = TypeVar("T")
WAIT_S = 60.0  # how long a cluster call waits for the operator to act on a change


def run(op: Op[T], token: str | None) -> T:
    """Run OP with the blocking clients: every step it yields is done here, its answer (or its
    error) sent back in."""
    answer: Any = None
    error: Exception | None = None
    while not isinstance(step := advance(op, answer, error), Done):
        answer, error = None, None
        try:
            answer = _do(step, token)
        except Exception as exc:
            error = handed_back(step, exc)
    return step.value  # type: ignore[no-any-return]


def _do(step: Any, token: str | None) -> Any:
    if isinstance(step, Http):
        with EdgeClient(step.url, token=token, timeout=step.timeout) as client:
            return client._send(step.call)
    if isinstance(step, Logs):
        with EdgeClient(step.url, token=token) as client:
            return list(client.logs(step.deployment_id, tail=step.n))
    if isinstance(step, Blocking):
        return step.fn(*step.args)
    if isinstance(step, Pause):
        time.sleep(step.seconds)
        return None
    raise TypeError(f"unknown step {step!r}")


class Sequence(Connection, GraphCalls):
    """A connection to a running session (its edges and coordinator) or a cluster namespace. Use
    `connect()`. Deployment NAMEs are deploy_algo's (or a deploy block's) names, or their ids."""

    def _run(self, op: Op[T]) -> T:
        return run(op, self.token)

    def __enter__(self) -> Sequence:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    # ------------------------------------------------------------ deployment-keyed

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
        wait: float = WAIT_S,
    ) -> Deployment:
        """Push WASM_BYTES as NAME to every edge of VENUE (the only venue when there is one).
        Deployments start stopped unless state="Running"; deploying a name again hot-swaps it."""
        return self._run(
            self.ops.deploy_algo(name, wasm_bytes, symbols, venue, risk, params, state, runtime, label, wait)
        )

    def algo_status(self, name: str) -> dict[str, Any]:
        """The deployment's full state: counters, position, PnL, risk in force, last error."""
        return self._run(self.ops.algo_status(name))

    def algo_start(self, name: str, wait: float = WAIT_S) -> dict[str, Any]:
        return self._run(self.ops.algo_start(name, wait))

    def algo_stop(self, name: str, wait: float = WAIT_S) -> dict[str, Any]:
        """Stop it (books and new orders stop; resting orders stay: cancel them in on_stop)."""
        return self._run(self.ops.algo_stop(name, wait))

    def algo_undeploy(self, name: str, wait: float = WAIT_S) -> dict[str, Any]:
        """Stop and remove it: on_shutdown runs, its open orders are cancelled."""
        return self._run(self.ops.algo_undeploy(name, wait))

    def algo_logs(self, name: str, n: int = 100) -> list[dict[str, Any]]:
        """The last N log lines, oldest first (`ts_ns`, `level`, `message`)."""
        return self._run(self.ops.algo_logs(name, n))

    def algo_mesh(self, name: str) -> dict[str, Any]:
        """The mesh topology of the deployment's group: deployment_id, mesh_group, instances, links."""
        return self._run(self.ops.algo_mesh(name))

    def algo_metrics(self, name: str) -> dict[str, Any]:
        """Orders, fills, latency and PnL."""
        return self._run(self.ops.algo_metrics(name))

    def deployments(self) -> list[dict[str, Any]]:
        """Every deployment's full status, each with its `name`."""
        return self._run(self.ops.statuses())

    # ------------------------------------------------------------ symbol-keyed (legacy)

    def algos(self) -> list[dict[str, Any]]:
        """`GET /v1/algos`: one row per symbol per deployment."""
        return self._run(self.ops.algos())

    def algos_per_edge(self) -> list[dict[str, Any]]:
        """`GET /v1/algos?detail=edge`: one row per symbol per deployment per edge."""
        return self._run(self.ops.algos(per_edge=True))

    def algo(self, symbol: str) -> dict[str, Any]:
        return self._run(self.ops.algo(symbol))

    def algo_start_by_symbol(self, symbol: str, wait: float = WAIT_S) -> dict[str, Any]:
        return self._run(self.ops.algo_start_by_symbol(symbol, wait))

    def algo_stop_by_symbol(self, symbol: str, wait: float = WAIT_S) -> dict[str, Any]:
        return self._run(self.ops.algo_stop_by_symbol(symbol, wait))

    def algo_logs_by_symbol(self, symbol: str, n: int = 100) -> list[dict[str, Any]]:
        return self._run(self.ops.algo_logs_by_symbol(symbol, n))

    def algo_stats(self, symbol: str) -> dict[str, Any]:
        return self._run(self.ops.algo_stats(symbol))


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    project: str | Path = ".",
    target: str = "auto",
    namespace: str | None = None,
    context: str | None = None,
) -> Sequence:
    """Connect as the CLI does: the `sequence up` session of the project at PROJECT (the current
    directory; the only running session when it has no Sequence.toml), else the current kubeconfig
    context (NAMESPACE: the project's, else the context's). TARGET "local" or "cluster" forces one.
    Given URL, that one edge (TOKEN its bearer token)."""
    return Sequence(*resolve(url, token, project, target, namespace, context))


def resolve(
    url: str | None,
    token: str | None,
    project: str | Path,
    target: str,
    namespace: str | None,
    context: str | None,
) -> tuple[Operations, str | None]:
    """What `connect()` of both twins connects to, and the token it sends."""
    if target not in ("auto", "local", "cluster"):
        raise SequenceError(f"target must be auto, local or cluster, not {target!r}")
    if url is not None:
        with EdgeClient(url, token=token) as client:
            try:
                venue = client.info().venue
            except ApiError as exc:
                raise SequenceError(f"edge {url}: {exc}") from exc
        return Operations(Local(None, {venue: url}, token)), token
    name, project_ns = project_identity(project)
    why = ""
    if target != "cluster":
        try:
            session, why = session_of(name)
        except SeveralSessions as exc:
            raise SequenceError(f"several sessions run ({exc}): pass project=") from None
        if session is not None:
            session_token = token or session.token()
            return Operations(Local(session, dict(session.edges), session_token)), session_token
        if target == "local":
            raise SequenceError(f"{why}: start it with `sequence up`")
    try:
        cluster = ClusterTarget(name, namespace or project_ns, context)
    except TargetError as exc:
        raise SequenceError("; ".join(m for m in (why, f"cluster: {exc}") if m)) from None
    return Operations(cluster), token
