"""AlgoDeployment status: per-edge entries, the verdict (lifecycle + conditions), Events.

Kept apart from algos.py (which talks to the edges) so each reads on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import kopf

from ..models import AlgoDeploymentSpec
from .bundles import BundleError
from .status import Cond, Verdict, bounded, error_info, note, ready_message


class Pass(Protocol):
    """What the status needs of a reconcile pass (algos.Pass); a Protocol, so that this module
    does not import algos.py, which imports this one."""

    @property
    def spec(self) -> AlgoDeploymentSpec: ...
    @property
    def status(self) -> dict[str, Any]: ...
    @property
    def id(self) -> str: ...
    @property
    def restart(self) -> bool: ...
    @property
    def size(self) -> int | None: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def bundle_error(self) -> BundleError | None: ...


@dataclass
class Target:
    endpoint: str
    pod: str | None
    venue_edge: str


@dataclass
class EdgeOutcome:
    entry: dict[str, Any]
    actions: list[tuple[str, str]] = field(default_factory=list)  # (event reason, message)
    problem: tuple[str, str] | None = None  # (reason, message) of a failure seen on this edge


def _in_desired_state(state: str | None, desired: str) -> bool:
    if desired in ("Running", "Paused"):
        return state == desired
    return state in ("Stopped", "Loaded")


def edge_entry(target: Target, report: dict[str, Any] | None, previous: dict[str, Any]) -> dict[str, Any]:
    """An edges[] item: what the edge reported, or the last known values when it did not answer."""
    if report is None:
        return {
            "edgeId": previous.get("edgeId") or target.pod or target.endpoint,
            "pod": target.pod,
            "endpoint": target.endpoint,
            "state": previous.get("state") or "Deploying",
            "lastHeartbeat": previous.get("lastHeartbeat"),
            "orders": previous.get("orders", 0),
            "fills": previous.get("fills", 0),
            "rejects": previous.get("rejects", 0),
            "position": previous.get("position"),
            "pnl": previous.get("pnl"),
            "lastError": previous.get("lastError"),
            "bundleSha256": previous.get("bundleSha256"),
            "configHash": previous.get("configHash"),
        }
    position = report.get("position")
    pnl_parts = [report.get("realized_pnl"), report.get("unrealized_pnl")]
    last_error = report.get("last_error")
    if isinstance(last_error, dict):
        last_error = f"{last_error.get('reason', 'Error')}: {last_error.get('message', '')}"
    return {
        "edgeId": str(report.get("edge_id") or previous.get("edgeId") or target.pod or target.endpoint),
        "pod": target.pod,
        "endpoint": target.endpoint,
        "state": str(report.get("state") or "Unknown"),
        "lastHeartbeat": report.get("last_heartbeat"),
        "orders": int(report.get("orders") or 0),
        "fills": int(report.get("fills") or 0),
        "rejects": int(report.get("rejects") or 0),
        # Net position over the deployment's symbols (one symbol: exactly that symbol's position).
        "position": float(sum(position.values())) if isinstance(position, dict) else None,
        "pnl": float(sum(p for p in pnl_parts if isinstance(p, (int, float))))
        if any(isinstance(p, (int, float)) for p in pnl_parts)
        else None,
        "lastError": bounded(str(last_error)) if last_error else None,
        "bundleSha256": report.get("bundle_sha256"),
        "configHash": previous.get("configHash"),
    }


def verdict(work: Pass, outcomes: list[EdgeOutcome]) -> Verdict:
    """Lifecycle state and conditions from what the edges reported in this pass."""
    desired = work.spec.state
    sha = work.spec.bundle.sha256
    total = len(outcomes)
    good = [
        o
        for o in outcomes
        if o.entry.get("bundleSha256") == sha and _in_desired_state(o.entry["state"], desired)
    ]
    problems = [o.problem for o in outcomes if o.problem]
    detail = "; ".join(m for _, m in problems[:4])
    what = {"Running": "running", "Paused": "paused as requested"}.get(desired, "stopped as requested")
    running_it = any(o.entry.get("bundleSha256") == sha for o in outcomes)
    if work.bundle_error is not None and not running_it:  # nothing to fall back on
        err = work.bundle_error
        return Verdict(
            "Failed",
            Cond(False, err.reason, err.message),
            Cond(False, "Blocked", err.message),
            Cond(True, err.reason, err.message),
            error_info(err.reason, err.message),
        )
    if total == 0:
        note = "; ".join(work.notes) or f"no edges for venue {work.spec.venue}"
        return Verdict(
            "Pending",
            Cond(False, "NoEdges", note),
            Cond(True, "WaitingForEdges", note),
            Cond(False, "NoEdges", note),
        )
    if len(good) == total:
        message = ready_message(what, total, total)
        return Verdict(
            desired,
            Cond(True, desired, message),
            Cond(False, "Converged", message),
            Cond(False, "AsExpected", message),
        )
    if problems:
        reason = problems[0][0]
        edge = next(o.entry["edgeId"] for o in outcomes if o.problem)
        error = error_info(reason, detail, edge=edge)
        message = f"{ready_message(what, len(good), total)}; {detail}"
        if not good and all(o.entry["state"] == "Failed" for o in outcomes):
            return Verdict(
                "Failed",
                Cond(False, reason, message),
                Cond(False, "Blocked", message),
                Cond(True, reason, message),
                error,
            )
        return Verdict(
            "Degraded",
            Cond(False, reason, message),
            Cond(True, "WaitingForEdges", message),
            Cond(True, reason, message),
            error,
        )
    message = f"deploying: {ready_message(what, len(good), total)}"
    return Verdict(
        "Deploying",
        Cond(False, "Deploying", message),
        Cond(True, "Deploying", message),
        Cond(False, "AsExpected", message),
    )


def fields(work: Pass, outcomes: list[EdgeOutcome]) -> dict[str, Any]:
    """The AlgoDeployment-specific status fields (the Deployment shape the CLI shows)."""
    sha = work.spec.bundle.sha256
    pushed = sum(1 for o in outcomes if o.entry.get("bundleSha256") == sha)
    # A restart waits for an edge to answer; once one did, the nonce counts as applied.
    restart_done = not work.restart or any(o.entry["state"] != "Unreachable" for o in outcomes)
    size = work.size or work.spec.bundle.size_bytes or work.status.get("sizeBytes")
    return {
        "deploymentId": work.id,
        "sizeBytes": size,
        "bundleSha256": sha,
        "pushedTo": pushed,
        "capableEdges": len(outcomes),
        "edgesSummary": f"{pushed}/{len(outcomes)}",
        "edges": [o.entry for o in outcomes][:64],
        "restartNonce": work.spec.restart_nonce if restart_done else work.status.get("restartNonce"),
    }


def post_events(
    body: kopf.Body,
    old_status: dict[str, Any],
    outcomes: list[EdgeOutcome],
    transition: Verdict | None = None,
) -> None:
    """The actions taken, and a Warning per edge whose trouble changed; not for a problem that
    TRANSITION (this pass's move into Degraded or Failed, posted as its own Warning) already names:
    one Event per problem, not two (a thousand new objects on a down edge are a thousand Events)."""
    before = {e.get("endpoint"): e for e in old_status.get("edges") or []}
    said = transition.ready.message if transition is not None else ""
    for outcome in outcomes:
        for reason, message in outcome.actions:
            note(body, reason=reason, message=message)
        if outcome.problem and outcome.problem[1] not in said:
            old = before.get(outcome.entry["endpoint"], {})
            # Warn once per change of trouble, not on every poll.
            if (
                old.get("state") != outcome.entry["state"]
                or old.get("lastError") != outcome.entry["lastError"]
            ):
                note(body, outcome.problem[0], outcome.problem[1], warning=True)
