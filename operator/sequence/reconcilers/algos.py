"""AlgoDeployment: the bundle on every capable edge of its venue, in the desired state.

Level-triggered: every pass (create, update, resume, and the poll timer) reads what each edge
reports for `<namespace>.<name>` and does only what differs from the spec:

  absent, or another bundle sha256, or another configuration  -> PUT (push / hot swap, no restart)
  spec.restartNonce changed                                    -> stop + start (push if Failed)
  desired Running, edge Loaded/Stopped                         -> start
  desired Stopped, edge Running                                -> stop

then writes the status from what the edges report. A push an edge refused (or an instance that
failed) is not retried with the same configuration: a new bundle, spec or restartNonce retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import kopf

from ..models import API_VERSION, AlgoDeploymentSpec, AlgoDeploymentStatus
from . import api, bundles, metrics
from .context import Runtime
from .edge_client import EdgeError, EdgeRejected, EdgeUnreachable
from .status import (
    Cond,
    Verdict,
    bounded,
    error_info,
    new_status,
    note,
    post_transition,
    ready_message,
)

KIND = "AlgoDeployment"
PLURAL = "algodeployments"
SANDBOX_LABEL = "sequence.dev/default-sandbox"
logger = logging.getLogger(__name__)


def deployment_id(namespace: str, name: str) -> str:
    """The edge's key for this AlgoDeployment. Namespaces have no dots, so the split is unambiguous."""
    return f"{namespace}.{name}"


def push_body(spec: AlgoDeploymentSpec) -> dict[str, Any]:
    """The PUT /v1/deployments/{id} body without the bundle bytes (docs/edge-api.md)."""
    return {
        "sha256": spec.bundle.sha256,
        "runtime": spec.runtime,
        "symbols": list(spec.symbols),
        "label": spec.label,
        "mesh_group": spec.mesh_group,
        "peers": list(spec.peers),
        "params": dict(spec.params),
        "risk": spec.risk.model_dump(exclude_none=True),
        "wasm": spec.wasm.model_dump(),
        "state": spec.state,
    }


def config_hash(body: dict[str, Any]) -> str:
    """Everything that needs a re-push when it changes (the desired state does not: start/stop do)."""
    rest = {k: v for k, v in body.items() if k != "state"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]


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
    return state == "Running" if desired == "Running" else state in ("Stopped", "Loaded")


def _entry(target: Target, report: dict[str, Any] | None, previous: dict[str, Any]) -> dict[str, Any]:
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


class Pass:
    """One reconcile pass of one AlgoDeployment."""

    def __init__(self, rt: Runtime, body: kopf.Body) -> None:
        self.rt = rt
        self.body = body
        self.index = rt.venue_edges or {}
        self.namespace = body.metadata["namespace"]
        self.name = body.metadata["name"]
        self.spec = AlgoDeploymentSpec.model_validate(dict(body.spec))
        self.status = rt.previous_status(body)
        self.id = deployment_id(self.namespace, self.name)
        self.push = push_body(self.spec)
        self.config = config_hash(self.push)
        self.previous = {e.get("endpoint"): e for e in self.status.get("edges") or []}
        self.restart = (
            bool(self.spec.restart_nonce)
            and self.spec.restart_nonce != self.status.get("restartNonce")
            and any(e.get("configHash") for e in self.previous.values())
        )
        self._bundle: asyncio.Task[bytes] | None = None
        self.bundle_error: bundles.BundleError | None = None
        self.size: int | None = None
        self.notes: list[str] = []

    # ------------------------------------------------------------------ edges

    async def targets(self) -> list[Target]:
        entries = list(self.index.get((self.namespace, self.spec.venue), []))
        if not entries:
            await self._no_venue_edge()
            return []
        found = []
        for venue_edge in sorted(entries, key=lambda e: e["name"]):
            if not venue_edge["endpoints"]:
                self.notes.append(f"VenueEdge {venue_edge['name']} has no edge endpoints yet")
            for ep in venue_edge["endpoints"]:
                found.append(Target(ep["endpoint"], ep.get("pod"), venue_edge["name"]))
        return found

    async def _no_venue_edge(self) -> None:
        venue = self.spec.venue
        if not self.rt.settings.edge_defaults.create_sandbox_edges:
            self.notes.append(
                f"no VenueEdge for venue {venue} in namespace {self.namespace} (createSandboxEdges is off)"
            )
            return
        # Shared by every AlgoDeployment of the venue, so owned by none of them: deleting one algorithm
        # must not take the edge away from the others. It stays until someone deletes it.
        edge = {
            "apiVersion": API_VERSION,
            "kind": "VenueEdge",
            "metadata": {
                "name": venue,
                "namespace": self.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "sequence-operator",
                    SANDBOX_LABEL: "true",
                    "sequence.dev/venue": venue,
                },
            },
            "spec": {"venue": venue, "mode": "sandbox", "feed": {"kind": "sim"}},
        }
        try:
            await self.rt.kube.create(api.path(API_VERSION, "venueedges", self.namespace), edge)
        except api.KubeError as exc:
            if exc.status != 409:
                raise
            self.notes.append(
                f"no VenueEdge for venue {venue}, and the name {venue} is taken by a VenueEdge "
                "of another venue: create one for this venue"
            )
            return
        note(
            self.body,
            reason="SandboxEdgeCreated",
            message=f"created sandbox VenueEdge {venue} (simulated feed, paper fills) for venue {venue}",
        )
        self.notes.append(f"created sandbox VenueEdge {venue}; waiting for its edges")

    async def verify_bundle(self) -> None:
        """Fetch and check the bundle up front (cached by sha256), so a bad one shows even with no edge."""
        try:
            await self.bundle()
        except bundles.BundleError as exc:
            self.bundle_error = exc

    async def bundle(self) -> bytes:
        """The verified bytes, fetched at most once per pass and only when some edge needs a push."""
        if self._bundle is None:
            self._bundle = asyncio.ensure_future(
                bundles.fetch(
                    self.rt.kube,
                    self.rt.http,
                    self.rt.bundles,
                    self.namespace,
                    self.spec.bundle.model_dump(by_alias=True, exclude_none=True),
                    self.rt.settings.max_bundle_bytes,
                    self.rt.settings.push_timeout,
                )
            )
        data = await asyncio.shield(self._bundle)
        self.size = len(data)
        return data

    async def sync(self, target: Target) -> EdgeOutcome:
        previous = self.previous.get(target.endpoint, {})
        client = self.rt.edge(target.endpoint)
        try:
            report = (await self.rt.snapshots.get(client)).get(self.id)
        except EdgeError as exc:
            return self._unreachable(target, previous, exc)
        outcome = EdgeOutcome(_entry(target, report, previous))
        try:
            acted = await self._act(client, target, report, previous, outcome)
            if acted:
                report = await client.deployment(self.id)
                self.rt.snapshots.update(target.endpoint, self.id, report)
                entry = _entry(target, report, previous)
                entry["configHash"] = outcome.entry["configHash"]
                outcome.entry = entry
        except bundles.BundleError as exc:
            self.bundle_error = exc
            outcome.problem = (exc.reason, exc.message)
            outcome.entry["lastError"] = bounded(f"{exc.reason}: {exc.message}")
        except EdgeRejected as exc:
            metrics.ERRORS.labels(KIND, "PushRejected").inc()
            outcome.problem = ("PushRejected", f"{outcome.entry['edgeId']}: {exc.message}")
            outcome.entry.update(
                state="Failed", lastError=bounded(f"{exc.reason}: {exc.detail}"), configHash=self.config
            )
        except EdgeUnreachable as exc:
            self.rt.snapshots.forget(target.endpoint)
            return self._unreachable(target, previous, exc)
        if outcome.problem is None and outcome.entry["state"] == "Failed":
            # No instance on the edge but Failed: the edge refused this configuration earlier.
            reason = "PushRejected" if report is None else "InstanceFailed"
            outcome.problem = (reason, f"{outcome.entry['edgeId']}: {outcome.entry['lastError']}")
        return outcome

    def _unreachable(self, target: Target, previous: dict[str, Any], exc: EdgeError) -> EdgeOutcome:
        metrics.ERRORS.labels(KIND, "EdgeUnreachable").inc()
        entry = _entry(target, None, previous)
        entry.update(state="Unreachable", lastError=bounded(f"unreachable: {exc.message}"))
        where = (
            entry["edgeId"]
            if entry["edgeId"] == target.endpoint
            else f"{entry['edgeId']} ({target.endpoint})"
        )
        return EdgeOutcome(entry, problem=("EdgeUnreachable", f"{where} unreachable: {exc.message}"))

    async def _act(
        self,
        client: Any,
        target: Target,
        report: dict[str, Any] | None,
        previous: dict[str, Any],
        outcome: EdgeOutcome,
    ) -> bool:
        edge = outcome.entry["edgeId"]
        desired = self.spec.state
        state = (report or {}).get("state")
        tried = previous.get("configHash") == self.config
        refused_before = tried and previous.get("state") == "Failed" and not self.restart
        stale = report is None or report.get("bundle_sha256") != self.spec.bundle.sha256 or not tried
        if stale and not (refused_before and (report is None or state == "Failed")):
            data = await self.bundle()
            swap = report is not None
            await client.push(self.id, self.push, data, timeout=self.rt.settings.push_timeout)
            outcome.entry["configHash"] = self.config
            sha = self.spec.bundle.sha256[:12]
            outcome.actions.append(
                ("HotSwapped", f"re-pushed bundle {sha} ({len(data)} bytes) to edge {edge}, {desired}")
                if swap
                else ("Pushed", f"pushed bundle {sha} ({len(data)} bytes) to edge {edge}, {desired}")
            )
            return True
        if self.restart and desired == "Running" and state is not None:
            if state == "Failed":
                await client.push(
                    self.id, self.push, await self.bundle(), timeout=self.rt.settings.push_timeout
                )
            else:
                await client.stop(self.id)
                await client.start(self.id)
            outcome.actions.append(
                ("Restarted", f"restarted on edge {edge} (restartNonce {self.spec.restart_nonce})")
            )
            return True
        if desired == "Running" and state in ("Loaded", "Stopped"):
            await client.start(self.id)
            outcome.actions.append(("StartedOnEdge", f"started on edge {edge}"))
            return True
        if desired == "Stopped" and state == "Running":
            await client.stop(self.id)
            outcome.actions.append(("StoppedOnEdge", f"stopped on edge {edge} (resting orders kept)"))
            return True
        return False

    # ------------------------------------------------------------------ verdict

    def verdict(self, outcomes: list[EdgeOutcome]) -> Verdict:
        desired = self.spec.state
        sha = self.spec.bundle.sha256
        total = len(outcomes)
        good = [
            o
            for o in outcomes
            if o.entry.get("bundleSha256") == sha and _in_desired_state(o.entry["state"], desired)
        ]
        problems = [o.problem for o in outcomes if o.problem]
        detail = "; ".join(m for _, m in problems[:4])
        what = "running" if desired == "Running" else "stopped as requested"
        running_it = any(o.entry.get("bundleSha256") == sha for o in outcomes)
        if self.bundle_error is not None and not running_it:  # nothing to fall back on
            err = self.bundle_error
            return Verdict(
                "Failed",
                Cond(False, err.reason, err.message),
                Cond(False, "Blocked", err.message),
                Cond(True, err.reason, err.message),
                error_info(err.reason, err.message),
            )
        if total == 0:
            note = "; ".join(self.notes) or f"no edges for venue {self.spec.venue}"
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

    def fields(self, outcomes: list[EdgeOutcome]) -> dict[str, Any]:
        sha = self.spec.bundle.sha256
        pushed = sum(1 for o in outcomes if o.entry.get("bundleSha256") == sha)
        # A restart waits for an edge to answer; once one did, the nonce counts as applied.
        restart_done = not self.restart or any(o.entry["state"] != "Unreachable" for o in outcomes)
        size = self.size or self.spec.bundle.size_bytes or self.status.get("sizeBytes")
        return {
            "deploymentId": self.id,
            "sizeBytes": size,
            "bundleSha256": sha,
            "pushedTo": pushed,
            "capableEdges": len(outcomes),
            "edgesSummary": f"{pushed}/{len(outcomes)}",
            "edges": [o.entry for o in outcomes][:64],
            "restartNonce": self.spec.restart_nonce if restart_done else self.status.get("restartNonce"),
        }


def _post_events(body: kopf.Body, old_status: dict[str, Any], outcomes: list[EdgeOutcome]) -> None:
    before = {e.get("endpoint"): e for e in old_status.get("edges") or []}
    for outcome in outcomes:
        for reason, message in outcome.actions:
            note(body, reason=reason, message=message)
        if outcome.problem:
            old = before.get(outcome.entry["endpoint"], {})
            # Warn once per change of trouble, not on every poll.
            if (
                old.get("state") != outcome.entry["state"]
                or old.get("lastError") != outcome.entry["lastError"]
            ):
                note(body, outcome.problem[0], outcome.problem[1], warning=True)


async def reconcile(rt: Runtime, body: kopf.Body, full: bool = False) -> None:
    if body.metadata.get("deletionTimestamp"):
        return
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    with metrics.reconcile_timer(KIND):
        async with rt.lock(PLURAL, namespace, name):
            work = Pass(rt, body)
            await work.verify_bundle()
            targets = await work.targets()
            outcomes = list(await asyncio.gather(*(work.sync(t) for t in targets)))
            verdict = work.verdict(outcomes)
            if (
                work.bundle_error is not None
                and (work.status.get("error") or {}).get("reason") != work.bundle_error.reason
            ):
                note(body, work.bundle_error.reason, work.bundle_error.message, warning=True)
            _post_events(body, work.status, outcomes)
            post_transition(body, work.status.get("lifecycleState"), verdict)
            status = new_status(AlgoDeploymentStatus, body, work.status, verdict, work.fields(outcomes))
            await rt.write_status(PLURAL, body, work.status, status)


# ---------------------------------------------------------------------- deletion


async def _teardown(rt: Runtime, endpoint: str, dep_id: str, deadline: float) -> tuple[str, str | None]:
    """Stop, then DELETE (on_shutdown, cancel leftovers, remove) until done or out of time."""
    loop = asyncio.get_running_loop()
    delay = 0.2
    last = "not tried"
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return endpoint, last
        client = rt.edge(endpoint, timeout=min(rt.settings.edge_timeout, remaining))
        try:
            with contextlib.suppress(EdgeRejected):  # unknown (404) or not running: DELETE decides
                await client.stop(dep_id)
            await client.remove(dep_id)
            rt.snapshots.update(endpoint, dep_id, None)
            return endpoint, None
        except EdgeError as exc:
            last = exc.message
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 2.0)


async def delete(rt: Runtime, body: kopf.Body) -> None:
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    dep_id = deployment_id(namespace, name)
    timeout = rt.settings.delete_timeout
    status_path = api.path(API_VERSION, PLURAL, namespace, name, "status")
    try:
        await rt.kube.patch(status_path, {"status": {"lifecycleState": "Deleting"}})
    except api.KubeError as exc:
        logger.warning("could not mark %s/%s Deleting: %s", namespace, name, exc)
    async with rt.lock(PLURAL, namespace, name):
        work = Pass(rt, body)
        endpoints = {t.endpoint for t in await _known_targets(work)}
        endpoints |= {e["endpoint"] for e in work.status.get("edges") or [] if e.get("endpoint")}
        deadline = asyncio.get_running_loop().time() + timeout
        results = await asyncio.gather(*(_teardown(rt, ep, dep_id, deadline) for ep in sorted(endpoints)))
    failed = [(ep, err) for ep, err in results if err is not None]
    for endpoint, err in failed:
        metrics.ERRORS.labels(KIND, "TeardownTimedOut").inc()
        note(
            body,
            reason="TeardownTimedOut",
            message=bounded(
                f"edge {endpoint} did not confirm removal of {dep_id} within {timeout:g}s ({err}); the finalizer is "
                "released anyway, so the instance may still exist on that edge until it restarts"
            ),
            warning=True,
        )
    note(
        body,
        reason="Undeployed",
        message=f"removed {dep_id} from {len(results) - len(failed)}/{len(results)} edges",
    )


async def _known_targets(work: Pass) -> list[Target]:
    entries = list(work.index.get((work.namespace, work.spec.venue), []))
    return [Target(ep["endpoint"], ep.get("pod"), e["name"]) for e in entries for ep in e["endpoints"]]
