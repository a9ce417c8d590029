"""AlgoDeployment: the bundle on every capable edge of its venue, in the desired state.

Level-triggered: every pass (create, update, resume, and the poller) reads what each edge
reports for `<namespace>.<name>` and does only what differs from the spec:

  absent, or another bundle sha256, or another configuration  -> PUT (push / hot swap, no restart)
  spec.restartNonce changed                                    -> stop + start (push if Failed)
  desired Running, edge Loaded/Stopped                         -> start
  desired Stopped, edge Running                                -> stop

then writes the status from what the edges report (algo_status.py). Edges that stopped being
capable (the venue changed, an endpoint was dropped) get it removed (teardown.py). A push an edge refused (or an instance that
failed) is not retried with the same configuration: a new bundle, spec or restartNonce retries it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import kopf

from ..client import ApiError, AsyncEdgeClient, Rejected, Unreachable
from ..models import API_VERSION, AlgoDeploymentSpec, AlgoDeploymentStatus
from ..render.edge_spec import push_body
from . import algo_status, api, bundles, metrics, teardown
from .algo_status import EdgeOutcome, Target, edge_entry
from .context import Runtime, report_of
from .status import (
    bounded,
    new_status,
    note,
    post_transition,
)

KIND = "AlgoDeployment"
PLURAL = "algodeployments"
SANDBOX_LABEL = "sequence.dev/default-sandbox"
logger = logging.getLogger(__name__)


def deployment_id(namespace: str, name: str) -> str:
    """The edge's key for this AlgoDeployment. Namespaces have no dots, so the split is unambiguous."""
    return f"{namespace}.{name}"


def config_hash(body: dict[str, Any]) -> str:
    """Everything that needs a re-push when it changes (the desired state does not: start/stop do)."""
    rest = {k: v for k, v in body.items() if k != "state"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]


class Pass:
    """One reconcile pass of one AlgoDeployment."""

    def __init__(self, rt: Runtime, body: kopf.Body, full: bool = False) -> None:
        self.rt = rt
        self.body = body
        self.full = full
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
        if not await self._may_create_defaults():
            self.notes.append(f"no VenueEdge for venue {venue} in namespace {self.namespace}")
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

    async def _may_create_defaults(self) -> bool:
        """Deletion never creates: a sandbox VenueEdge only on a pass started by the AlgoDeployment's
        own create, resume or spec change (never by the poller, which would bring back an edge that
        `kubectl delete -f` removed just before the algorithms), and only while it still exists."""
        if not self.full or self.rt.is_gone(self.body):
            return False
        current = await self.rt.kube.get(api.path(API_VERSION, PLURAL, self.namespace, self.name))
        meta = (current or {}).get("metadata") or {}
        return (
            current is not None
            and not meta.get("deletionTimestamp")
            and meta.get("uid") == self.body.metadata.get("uid")
        )

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
        try:
            client = await self.rt.edge(self.namespace, target.endpoint)
            report = (await self.rt.snapshots.get(client)).get(self.id)
        except ApiError as exc:
            return self._unreachable(target, previous, exc)
        outcome = EdgeOutcome(edge_entry(target, report, previous))
        try:
            acted = await self._act(client, target, report, previous, outcome)
            if acted:
                report = await report_of(client, self.id)
                self.rt.snapshots.update(target.endpoint, self.id, report)
                entry = edge_entry(target, report, previous)
                entry["configHash"] = outcome.entry["configHash"]
                outcome.entry = entry
        except bundles.BundleError as exc:
            self.bundle_error = exc
            outcome.problem = (exc.reason, exc.message)
            outcome.entry["lastError"] = bounded(f"{exc.reason}: {exc.message}")
        except Rejected as exc:
            metrics.ERRORS.labels(KIND, "PushRejected").inc()
            outcome.problem = (
                "PushRejected",
                f"{outcome.entry['edgeId']}: {exc.status} {exc.reason}: {exc.message}",
            )
            outcome.entry.update(
                state="Failed", lastError=bounded(f"{exc.reason}: {exc.message}"), configHash=self.config
            )
        except Unreachable as exc:
            self.rt.snapshots.forget(target.endpoint)
            return self._unreachable(target, previous, exc)
        if outcome.problem is None and outcome.entry["state"] == "Failed":
            # No instance on the edge but Failed: the edge refused this configuration earlier.
            reason = "PushRejected" if report is None else "InstanceFailed"
            outcome.problem = (reason, f"{outcome.entry['edgeId']}: {outcome.entry['lastError']}")
        return outcome

    def _unreachable(self, target: Target, previous: dict[str, Any], exc: ApiError) -> EdgeOutcome:
        metrics.ERRORS.labels(KIND, "EdgeUnreachable").inc()
        entry = edge_entry(target, None, previous)
        entry.update(state="Unreachable", lastError=bounded(f"unreachable: {exc.message}"))
        where = (
            entry["edgeId"]
            if entry["edgeId"] == target.endpoint
            else f"{entry['edgeId']} ({target.endpoint})"
        )
        return EdgeOutcome(entry, problem=("EdgeUnreachable", f"{where} unreachable: {exc.message}"))

    async def _act(
        self,
        client: AsyncEdgeClient,
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
            await client.push(self.id, data, self.push, timeout=self.rt.settings.push_timeout)
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
                    self.id, await self.bundle(), self.push, timeout=self.rt.settings.push_timeout
                )
            else:
                await client.stop(self.id)
                await client.start(self.id)
            outcome.actions.append(
                ("Restarted", f"restarted on edge {edge} (restartNonce {self.spec.restart_nonce})")
            )
            return True
        if desired in ("Running", "Paused") and state in ("Loaded", "Stopped"):
            await client.start(self.id)
            outcome.actions.append(("StartedOnEdge", f"started on edge {edge}"))
            if desired == "Running":
                return True
            state = "Running"  # then paused below
        if desired == "Paused" and state == "Running":
            await client.pause(self.id)
            outcome.actions.append(("PausedOnEdge", f"paused on edge {edge} (subscriptions kept warm)"))
            return True
        if desired == "Running" and state == "Paused":
            await client.resume(self.id)
            outcome.actions.append(("ResumedOnEdge", f"resumed on edge {edge}"))
            return True
        if desired == "Stopped" and state in ("Running", "Paused"):
            await client.stop(self.id)
            outcome.actions.append(("StoppedOnEdge", f"stopped on edge {edge} (resting orders kept)"))
            return True
        return False


async def reconcile(rt: Runtime, body: kopf.Body, full: bool = False) -> None:
    if rt.is_gone(body):
        return
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    with metrics.reconcile_timer(KIND):
        async with rt.lock(PLURAL, namespace, name):
            work = Pass(rt, body, full)
            await work.verify_bundle()
            targets = await work.targets()
            outcomes = list(await asyncio.gather(*(work.sync(t) for t in targets)))
            current = {t.endpoint for t in targets}
            if gone := sorted(ep for ep in work.previous if ep and ep not in current):
                await teardown.retire(rt, body, work.id, gone)
            verdict = algo_status.verdict(work, outcomes)
            if (
                work.bundle_error is not None
                and (work.status.get("error") or {}).get("reason") != work.bundle_error.reason
            ):
                note(body, work.bundle_error.reason, work.bundle_error.message, warning=True)
            moved = work.status.get("lifecycleState") != verdict.lifecycle
            warned = verdict if moved and verdict.lifecycle in ("Degraded", "Failed") else None
            algo_status.post_events(body, work.status, outcomes, transition=warned)
            post_transition(body, work.status.get("lifecycleState"), verdict)
            status = new_status(
                AlgoDeploymentStatus, body, work.status, verdict, algo_status.fields(work, outcomes)
            )
            await rt.write_status(PLURAL, body, work.status, status)
