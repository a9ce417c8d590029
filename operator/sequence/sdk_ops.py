"""Every public call of the SDK as an operation (sdk_core.Op), for a local session or a cluster.

`sequence.Sequence` and `sequence.aio.Sequence` hold one `Operations` and run what it returns:
the names, arguments and shapes are decided here once.
"""

from __future__ import annotations

import time
from typing import Any

from . import sdk_cluster as kube
from .client import calls
from .cluster import ClusterTarget
from .local.state import LocalState
from .local.target import TargetError
from .sdk_core import METRIC_FIELDS as METRIC_FIELDS
from .sdk_core import (
    Blocking,
    Deployment,
    DeploymentEdge,
    Local,
    Op,
    Pause,
    SequenceError,
    deploy_local,
    edge_action,
    logs_local,
    mesh_local,
    metrics_of,
    pick_symbol,
    push_config,
    rows_local,
    statuses_local,
    undeploy_local,
    venue_of,
)

POLL_S = 0.5  # how often a cluster call looks at the resource's status while it waits for the operator
SETTLED = ("Running", "Stopped", "Paused", "Degraded", "Failed")


def _kube(fn: Any, *args: Any) -> Op[Any]:
    """One blocking Kubernetes call; its refusal becomes a SequenceError."""
    try:
        result = yield Blocking(fn, args)
    except TargetError as exc:
        raise SequenceError(str(exc)) from None
    except Exception as exc:  # the Kubernetes client's ApiException and transport errors
        reason = getattr(exc, "reason", None) or exc
        raise SequenceError(f"the Kubernetes API refused the call: {reason}") from None
    return result


class Operations:
    """The SDK's calls against WHERE: a local session (or edges by URL), or a cluster namespace."""

    def __init__(self, where: Local | ClusterTarget) -> None:
        self.where = where

    @property
    def kind(self) -> str:
        return "cluster" if isinstance(self.where, ClusterTarget) else "local"

    # ------------------------------------------------------------ the deployment-keyed calls

    def deploy_algo(
        self,
        name: str,
        wasm_bytes: bytes,
        symbols: list[str],
        venue: str | None,
        risk: dict[str, Any] | None,
        params: dict[str, Any] | None,
        state: str,
        runtime: str,
        label: str | None,
        wait: float,
    ) -> Op[Deployment]:
        config = push_config(symbols, risk, params, state, runtime, label)
        if isinstance(self.where, Local):
            return (yield from deploy_local(self.where, name, wasm_bytes, venue, config))
        return (yield from self._deploy_cluster(self.where, name, wasm_bytes, venue, config, wait))

    def _deploy_cluster(
        self,
        target: ClusterTarget,
        name: str,
        wasm_bytes: bytes,
        venue: str | None,
        config: dict[str, Any],
        wait: float,
    ) -> Op[Deployment]:
        known = yield from _kube(kube.venues, target)
        venue = venue_of({v: v for v in known}, venue)
        fields = {**config, "venue": venue, "label": config.get("label") or name}
        try:
            objects = kube.algo_objects(target, name, wasm_bytes, fields)
        except TargetError as exc:
            raise SequenceError(str(exc)) from None
        algo = yield from _kube(kube.apply, target, objects)
        algo = yield from self._until_acted(target, algo["metadata"]["name"], wait)
        return _deployment_of(name, algo, len(wasm_bytes))

    def _until_acted(self, target: ClusterTarget, algo_name: str, wait: float) -> Op[dict[str, Any]]:
        """The AlgoDeployment once the operator has acted on its newest spec and settled (or WAIT s)."""
        deadline = time.monotonic() + wait
        while True:
            algo: dict[str, Any] = yield from _kube(kube.get, target, algo_name)
            status = algo.get("status") or {}
            acted = (status.get("observedGeneration") or 0) >= (algo["metadata"].get("generation") or 1)
            if (acted and status.get("lifecycleState") in SETTLED) or time.monotonic() >= deadline:
                return algo
            yield Pause(POLL_S)

    def algo_status(self, name: str) -> Op[dict[str, Any]]:
        if isinstance(self.where, Local):
            return (yield from edge_action(self.where, name, calls.status, "status"))
        return kube.row((yield from _kube(kube.get, self.where, name)))

    def _set_state(self, name: str, state: str, wait: float) -> Op[dict[str, Any]]:
        if isinstance(self.where, Local):
            action = calls.start if state == "Running" else calls.stop
            return (
                yield from edge_action(self.where, name, action, "start" if state == "Running" else "stop")
            )
        patched = yield from _kube(kube.set_state, self.where, name, state)
        return kube.row((yield from self._until_acted(self.where, patched["metadata"]["name"], wait)))

    def algo_start(self, name: str, wait: float) -> Op[dict[str, Any]]:
        return (yield from self._set_state(name, "Running", wait))

    def algo_stop(self, name: str, wait: float) -> Op[dict[str, Any]]:
        return (yield from self._set_state(name, "Stopped", wait))

    def algo_undeploy(self, name: str, wait: float) -> Op[dict[str, Any]]:
        if isinstance(self.where, Local):
            return (yield from undeploy_local(self.where, name))
        result: dict[str, Any] = yield from _kube(kube.delete, self.where, name)
        deadline = time.monotonic() + wait
        while (yield from _kube(kube.exists, self.where, result["name"])) and time.monotonic() < deadline:
            yield Pause(POLL_S)  # the finalizer removes it from every edge first
        return result

    def algo_logs(self, name: str, n: int) -> Op[list[dict[str, Any]]]:
        if isinstance(self.where, Local):
            return (yield from logs_local(self.where, name, n))
        lines: list[dict[str, Any]] = yield from _kube(kube.logs, self.where, name, n)
        return lines

    def algo_mesh(self, name: str) -> Op[dict[str, Any]]:
        if isinstance(self.where, Local):
            return (yield from mesh_local(self.where, name))
        mesh: dict[str, Any] = yield from _kube(kube.mesh, self.where, name)
        return mesh

    def algo_metrics(self, name: str) -> Op[dict[str, Any]]:
        if isinstance(self.where, Local):
            return metrics_of((yield from edge_action(self.where, name, calls.status, "metrics")))
        algo = yield from _kube(kube.get, self.where, name)
        statuses = yield from _kube(kube.edge_statuses, self.where, algo)
        return _summed_metrics(kube.row(algo), [s.as_dict() for s in statuses])

    # ------------------------------------------------------------ the symbol-keyed (legacy) calls

    def algos(self, per_edge: bool = False) -> Op[list[dict[str, Any]]]:
        """`GET /v1/algos[?detail=edge]`: one row per symbol per deployment (per edge)."""
        if isinstance(self.where, Local):
            return (yield from rows_local(self.where, per_edge))
        from sequence_wire.algos import algo_rows

        statuses, names = yield from _kube(kube.all_edge_statuses, self.where)
        return [row.to_json() for row in algo_rows(statuses, names, per_edge)]

    def algo(self, symbol: str) -> Op[dict[str, Any]]:
        return pick_symbol((yield from self.algos()), symbol)

    def _by_symbol(self, symbol: str) -> Op[str]:
        row = yield from self.algo(symbol)
        return str(row["name"] if isinstance(self.where, ClusterTarget) else row["deployment_id"])

    def algo_start_by_symbol(self, symbol: str, wait: float) -> Op[dict[str, Any]]:
        return (yield from self.algo_start((yield from self._by_symbol(symbol)), wait))

    def algo_stop_by_symbol(self, symbol: str, wait: float) -> Op[dict[str, Any]]:
        return (yield from self.algo_stop((yield from self._by_symbol(symbol)), wait))

    def algo_logs_by_symbol(self, symbol: str, n: int) -> Op[list[dict[str, Any]]]:
        return (yield from self.algo_logs((yield from self._by_symbol(symbol)), n))

    def algo_stats(self, symbol: str) -> Op[dict[str, Any]]:
        """The symbol's row with its deployment's metrics (orders, fills, latency, PnL)."""
        row = yield from self.algo(symbol)
        metrics = yield from self.algo_metrics((yield from self._by_symbol(symbol)))
        return {**metrics, **row}

    def statuses(self) -> Op[list[dict[str, Any]]]:
        """Every deployment's full status (with its `name`)."""
        if isinstance(self.where, Local):
            return (yield from statuses_local(self.where))
        algos = yield from _kube(ClusterTarget.select, self.where, None)
        return [kube.row(a) for a in algos]


def _deployment_of(name: str, algo: dict[str, Any], size: int) -> Deployment:
    """deploy_algo's answer from the AlgoDeployment's status."""
    status = algo.get("status") or {}
    sha = algo["spec"]["bundle"]["sha256"]
    edges = [
        DeploymentEdge(
            edge_id=e["edgeId"],
            venue=algo["spec"]["venue"],
            url=e.get("endpoint") or "",
            pushed=e.get("bundleSha256") == sha and e.get("state") not in ("Unreachable", "Failed"),
            status=e.get("state", ""),
            error=e.get("lastError"),
        )
        for e in status.get("edges") or []
    ]
    return Deployment(
        deployment_id=kube.deployment_id(algo),
        name=name,
        symbols=list(algo["spec"].get("symbols") or []),
        size_bytes=int(status.get("sizeBytes") or size),
        status=status.get("lifecycleState") or "Pending",
        pushed_to=[e.edge_id for e in edges if e.pushed],
        capable_edges=[e.edge_id for e in edges],
        edges=edges,
    )


def _summed_metrics(row: dict[str, Any], statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """algo_metrics of a deployment on several edges: counters and PnL summed, positions summed per
    symbol, latency per edge (quantiles do not add up)."""
    if not statuses:
        return {
            **{key: None for key in METRIC_FIELDS},
            "state": row["state"],
            "orders": row["orders"],
            "fills": row["fills"],
        }
    summed: dict[str, Any] = {"state": row["state"]}
    for key in ("orders", "open_orders", "fills", "rejects", "cancels", "callbacks", "traps"):
        summed[key] = sum(s.get(key) or 0 for s in statuses)
    for key in ("realized_pnl", "unrealized_pnl", "fees"):
        summed[key] = sum(s.get(key) or 0.0 for s in statuses)
    position: dict[str, float] = {}
    for s in statuses:
        for symbol, qty in (s.get("position") or {}).items():
            position[symbol] = position.get(symbol, 0.0) + qty
    summed["position"] = position
    summed["latency_ns"] = (
        statuses[0].get("latency_ns")
        if len(statuses) == 1
        else {s["edge_id"]: s.get("latency_ns") for s in statuses}
    )
    summed["tick_to_order_ns"] = (
        statuses[0].get("tick_to_order_ns")
        if len(statuses) == 1
        else {s["edge_id"]: s.get("tick_to_order_ns") for s in statuses}
    )
    return summed


class Connection:
    """What both twins hold: the operations and the token they send."""

    def __init__(self, ops: Operations, token: str | None = None) -> None:
        self.ops = ops
        self.token = token
        # the `sequence up` session (locally), else None: its project and file (mixins read it)
        self.session: LocalState | None = ops.where.session if isinstance(ops.where, Local) else None

    @property
    def target(self) -> str:
        """ "local" or "cluster"."""
        return self.ops.kind

    @property
    def edges(self) -> dict[str, str]:
        """venue -> edge control API URL (locally), else empty."""
        return dict(self.ops.where.edges) if isinstance(self.ops.where, Local) else {}
