"""ExecutionGraph: submitted to the namespace's coordinator, followed in status, cancelled on deletion.

A pass without a graph id submits the spec with client id `<namespace>/<name>` and the object's uid in
the graph's metadata (`sequence.dev/uid`). Before submitting it looks for a graph of this object
already in the engine (a submit whose status write was lost), so an operator restart or a retried
pass never starts the graph twice. A graph the coordinator refuses is submitted again on the next
passes (admission depends on what is connected: the edges of a freshly applied project may not be
up yet); nothing is placed while it is refused.

Once submitted the graph is immutable, except the nodes' execution parameters (urgency,
maxSlippageBps, horizonMs): a change to those is sent as an amend, any other spec change is refused
with the SpecChangeRefused condition and an Event. Status is rewritten only when something a user
sees changed (Runtime.write_status); a finished graph costs no call at all.

Deletion goes through the finalizer: it cancels the graph (open orders cancelled at the venues, the
graph ends aborted) and never submits anything. A coordinator that does not answer is retried
until settings.deleteTimeout, then the finalizer is released with a Warning Event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Any

import kopf
from pydantic import ValidationError

from sequence_wire.graphs import TERMINAL_NODE_STATES, GraphStatusResponse

from ..client import ApiError, AsyncCoordinatorClient, NotFound, Rejected
from ..models import API_VERSION, GROUP, VERSION, ExecutionGraphSpec, ExecutionGraphStatus
from . import api, metrics
from .context import Runtime
from .credentials import CredentialError
from .mesh import coordinator_endpoint
from .status import Cond, Verdict, bounded, error_info, new_status, note

KIND = "ExecutionGraph"
PLURAL = "executiongraphs"
UID_KEY = "sequence.dev/uid"  # in the graph's metadata: which object (not just which name) it belongs to
EXECUTION_PARAMS = ("urgency", "max_slippage_bps", "horizon_ms")
FINISHED = ("Completed", "Aborted", "Expired")
LIFECYCLE = {
    "pending": "Pending",
    "active": "Active",
    "partial_fill": "PartialFill",
    "paused": "Paused",
    "completed": "Completed",
    "aborted": "Aborted",
    "expired": "Expired",
}
SCALE = 100_000_000
MAX_CLIENT_ID = 128
_VERDICT_KEYS = ("observedGeneration", "lifecycleState", "conditions", "error")
logger = logging.getLogger(__name__)
# A refused graph is submitted again at most this often (a spec change retries at once): the
# refusal's message may quote live prices, and status is not rewritten for every quote.
RESUBMIT_SECONDS = 30.0
# Amends the coordinator refused, by (uid, node, change): not sent again on every poll.
_refused_amends: set[tuple[str, str, str]] = set()
# When each refused graph (by uid) may be submitted again (loop time).
_resubmit_at: dict[str, float] = {}


def client_id(namespace: str, name: str) -> str:
    """`<namespace>/<name>`; a name too long for the engine's 128 characters ends in a hash instead."""
    full = f"{namespace}/{name}"
    if len(full) <= MAX_CLIENT_ID:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{full[: MAX_CLIENT_ID - 17]}-{digest}"


def spec_hash(spec: ExecutionGraphSpec) -> str:
    """sha256 of everything a submitted graph cannot change (all but the nodes' execution parameters)."""
    data = spec.model_dump(mode="json")
    for node in data["nodes"].values():
        for key in EXECUTION_PARAMS:
            node.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def submit_body(spec: ExecutionGraphSpec, uid: str) -> dict[str, Any]:
    body = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["metadata"] = {**spec.metadata, UID_KEY: uid}
    return body


async def find_graph(
    client: AsyncCoordinatorClient, cid: str, uid: str, cancel_strays: bool = False
) -> GraphStatusResponse | None:
    """This object's graph in the engine (same client id and uid, the newest); None if there is none.

    CANCEL_STRAYS: running graphs with this client id but another uid were left by a deleted object of
    the same name whose deletion could not reach the coordinator. They must not be taken for this
    object's graph (the engine would hand one back for the client id), nor keep trading: cancelled.
    """
    mine = []
    for g in (await client.graph_list(include_finished=True)).graphs:
        if g.client_id != cid:
            continue
        if g.metadata.get(UID_KEY) == uid:
            mine.append(g)
        elif cancel_strays and g.status not in ("completed", "aborted", "expired"):
            with contextlib.suppress(Rejected):  # finished meanwhile
                await client.graph_cancel(
                    g.graph_id, reason=f"the ExecutionGraph {cid} it belonged to was deleted"
                )
            logger.warning("cancelled graph %s left by a deleted ExecutionGraph %s", g.graph_id, cid)
    return max(mine, key=lambda g: g.created_ms) if mine else None


def _node_fields(st: GraphStatusResponse) -> dict[str, Any]:
    nodes = {
        nid: {
            "status": n.status,
            "filledQty": n.filled_qty_1e8 / SCALE,
            "targetQty": n.target_qty_1e8 / SCALE,
            "avgPrice": n.avg_price,
            "orders": len(n.orders),
            "slices": len(n.slices),
            "urgency": n.urgency,
            "maxSlippageBps": n.max_slippage_bps,
            "horizonMs": n.horizon_ms,
            "reason": bounded(n.reason) if n.reason else None,
        }
        for nid, n in st.nodes.items()
    }
    done = sum(1 for n in st.nodes.values() if n.status in TERMINAL_NODE_STATES)
    return {
        "status": st.status,
        "graphId": st.graph_id,
        "reason": bounded(st.reason) if st.reason else None,
        "nodeCount": len(nodes),
        "nodesDone": done,
        "nodesSummary": f"{done}/{len(nodes)}",
        "nodes": nodes,
        "edgesFired": {eid: e.fire_count for eid, e in st.edges.items()},
        "pnl": round(st.pnl_usd, 2),
        "breaches": [bounded(b, 256) for b in st.breaches[-64:]],
    }


def engine_verdict(st: GraphStatusResponse) -> Verdict:
    state = LIFECYCLE[st.status]
    nodes = st.nodes.values()
    done = sum(1 for n in nodes if n.status in TERMINAL_NODE_STATES)
    progress = f"{done}/{len(st.nodes)} nodes done"
    reason = st.reason or "no reason given"
    if state == "Completed":
        return Verdict(
            state,
            Cond(True, "Completed", f"completed: {progress}"),
            Cond(False, "Done"),
            Cond(False, "AsExpected"),
        )
    if state in ("Aborted", "Expired"):
        message = f"{state.lower()}: {reason} ({progress})"
        return Verdict(
            state,
            Cond(False, f"Graph{state}", message),
            Cond(False, "Done", message),
            Cond(True, f"Graph{state}", message),
            error_info(f"Graph{state}", message),
        )
    if state == "Paused":
        message = f"paused: {reason}; `sequence graph resume {st.graph_id}` continues it"
        return Verdict(
            state,
            Cond(False, "GraphPaused", message),
            Cond(False, "Paused", message),
            Cond(True, "GraphPaused", message),
            error_info("GraphPaused", message),
        )
    if state == "Pending":
        message = f"submitted as {st.graph_id}; no node working yet"
        return Verdict(
            state,
            Cond(False, "Submitted", message),
            Cond(True, "Working", message),
            Cond(False, "AsExpected"),
        )
    message = f"working: {progress}"
    return Verdict(
        state, Cond(True, "Working", message), Cond(True, "Working", message), Cond(False, "AsExpected")
    )


def _waiting(message: str, previous: dict[str, Any]) -> Verdict:
    """The coordinator did not answer: keep what was known, say why nothing moves."""
    state = previous.get("lifecycleState") or "Pending"
    seen = previous.get("graphId") is not None
    return Verdict(
        state,
        Cond(None if seen else False, "CoordinatorUnavailable", message),
        Cond(True, "WaitingForCoordinator", message),
        Cond(seen, "CoordinatorUnavailable", message if seen else "coordinator not answering yet"),
        error_info("CoordinatorUnavailable", message) if seen else None,
    )


def _refused(message: str) -> Verdict:
    return Verdict(
        "Refused",
        Cond(False, "GraphRefused", message),
        Cond(True, "RetryingSubmit", message),
        Cond(True, "GraphRefused", message),
        error_info("GraphRefused", message),
    )


def _announce(body: kopf.Body, old: str | None, verdict: Verdict) -> None:
    """One Event per lifecycle change; Warning for the states that need a look."""
    if old == verdict.lifecycle or verdict.lifecycle == "Refused":  # refusals have their own Event
        return
    warning = verdict.lifecycle in ("Aborted", "Expired", "Paused", "Lost")
    reason = (
        verdict.lifecycle
        if verdict.lifecycle in ("Pending", "Active", "PartialFill")
        else f"Graph{verdict.lifecycle}"
    )
    note(body, reason, f"{old or 'New'} -> {verdict.lifecycle}: {verdict.ready.message}", warning=warning)


async def _amend(
    body: kopf.Body, client: AsyncCoordinatorClient, spec: ExecutionGraphSpec, st: GraphStatusResponse
) -> GraphStatusResponse:
    """Send the execution parameters that differ from the engine's, node by node."""
    uid = str(body.metadata.get("uid"))
    for nid, node in spec.nodes.items():
        current = st.nodes.get(nid)
        if current is None or current.status in TERMINAL_NODE_STATES:
            continue
        change: dict[str, Any] = {}
        if node.urgency != current.urgency:
            change["urgency"] = node.urgency
        if node.max_slippage_bps is not None and node.max_slippage_bps != current.max_slippage_bps:
            change["max_slippage_bps"] = node.max_slippage_bps
        if node.horizon_ms is not None and node.horizon_ms != current.horizon_ms:
            change["horizon_ms"] = node.horizon_ms
        key = (uid, nid, json.dumps(change, sort_keys=True))
        if not change or key in _refused_amends:
            continue
        described = ", ".join(f"{k} {v}" for k, v in change.items())
        try:
            st = await client.graph_amend(st.graph_id, nid, change)
        except Rejected as exc:
            if len(_refused_amends) > 10_000:
                _refused_amends.clear()
            _refused_amends.add(key)
            metrics.ERRORS.labels(KIND, "AmendRefused").inc()
            note(
                body,
                "AmendRefused",
                f"coordinator refused to amend node {nid} ({described}): {exc.message}",
                warning=True,
            )
            continue
        note(body, "Amended", f"node {nid} amended: {described}")
    return st


async def reconcile(rt: Runtime, body: kopf.Body, full: bool = False) -> None:
    if rt.is_gone(body):
        return
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    uid = str(body.metadata.get("uid"))
    with metrics.reconcile_timer(KIND):
        async with rt.lock(PLURAL, namespace, name):
            previous = rt.previous_status(body)
            state = previous.get("lifecycleState")
            if state in FINISHED and previous.get("graphId") and not full:
                return  # finished: nothing moves any more, and a spec change comes as a full pass
            if (
                state == "Refused"
                and not full
                and asyncio.get_running_loop().time() < _resubmit_at.get(uid, 0)
            ):
                return
            endpoint = coordinator_endpoint(rt, namespace)
            cid = client_id(namespace, name)
            # a spec the operator has not acted on yet: its refusals are announced (once per generation)
            new_spec = previous.get("observedGeneration") != body.metadata.get("generation")
            # what the last pass knew stays unless this pass learns better (new_status sets the rest)
            fields = {k: v for k, v in previous.items() if k not in _VERDICT_KEYS}
            fields.update(coordinator=endpoint, clientId=cid)
            try:
                spec = ExecutionGraphSpec.model_validate(dict(body.spec))
            except ValidationError as exc:
                message = "invalid graph: " + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors()
                )
                await _finish(rt, body, previous, _refused(message), fields, announce_refusal=new_spec)
                return
            verdict = await _follow(rt, body, spec, endpoint, cid, uid, previous, fields)
            if verdict is None:
                return  # deleted while the pass ran
            changed = previous.get("submittedSpecHash") not in (None, spec_hash(spec))
            if changed and fields.get("graphId"):
                message = (
                    "a submitted graph cannot change except its nodes' urgency, maxSlippageBps and horizonMs; "
                    "this spec change was not applied (delete and re-create the object to run another graph)"
                )
                if new_spec:
                    note(body, "SpecChangeRefused", message, warning=True)
                verdict = Verdict(
                    verdict.lifecycle,
                    verdict.ready,
                    verdict.reconciling,
                    Cond(True, "SpecChangeRefused", message),
                    verdict.error,
                )
            await _finish(rt, body, previous, verdict, fields, announce_refusal=new_spec)


async def _follow(
    rt: Runtime,
    body: kopf.Body,
    spec: ExecutionGraphSpec,
    endpoint: str,
    cid: str,
    uid: str,
    previous: dict[str, Any],
    fields: dict[str, Any],
) -> Verdict | None:
    """Submit (or find) the graph, amend it, read its status into FIELDS; None if the object went away."""
    graph_id = previous.get("graphId")
    try:
        client = await rt.coordinator(body.metadata["namespace"], endpoint)
        if graph_id is None:
            found = await find_graph(client, cid, uid, cancel_strays=True)
            if found is None:
                if rt.is_gone(body):
                    return None
                try:
                    answer = await client.graph_submit(submit_body(spec, uid), cid)
                except Rejected as exc:
                    metrics.ERRORS.labels(KIND, "GraphRefused").inc()
                    if len(_resubmit_at) > 10_000:
                        _resubmit_at.clear()
                    _resubmit_at[uid] = asyncio.get_running_loop().time() + RESUBMIT_SECONDS
                    fields.update(reason=bounded(exc.message), submittedSpecHash=None)
                    return _refused(f"coordinator {endpoint} refused the graph: {exc.message}")
                if rt.is_gone(body):  # deleted while the submit was on its way: take it back
                    await client.graph_cancel(answer.graph_id, reason=f"ExecutionGraph {cid} deleted")
                    return None
                note(
                    body,
                    "Submitted",
                    f"submitted to coordinator {endpoint} as {answer.graph_id} (client id {cid})",
                )
                for warning in answer.warnings:
                    note(body, "GraphWarning", warning, warning=True)
                fields["warnings"] = [bounded(w, 256) for w in answer.warnings[:64]]
                graph_id = answer.graph_id
            else:
                graph_id = found.graph_id
                logger.info("%s: found its graph %s in the engine", cid, graph_id)
            fields["submittedSpecHash"] = spec_hash(spec)
        try:
            st = await client.graph_status(graph_id)
        except NotFound:
            if previous.get("lifecycleState") in FINISHED:
                return None  # the engine forgot a finished graph (after 24 h): status stays as it was
            message = f"coordinator {endpoint} no longer knows graph {graph_id} (its graph journal was lost?)"
            fields.update(graphId=graph_id, status=None, reason=message)
            return Verdict(
                "Lost",
                Cond(False, "GraphLost", message),
                Cond(False, "Lost", message),
                Cond(True, "GraphLost", message),
                error_info("GraphLost", message),
            )
        if st.status not in ("completed", "aborted", "expired") and previous.get("submittedSpecHash") in (
            None,
            spec_hash(spec),
        ):
            st = await _amend(body, client, spec, st)
    except ApiError as exc:
        metrics.ERRORS.labels(KIND, "CoordinatorUnavailable").inc()
        if graph_id is not None:
            fields["graphId"] = graph_id
        return _waiting(await _why_unreachable(rt, body.metadata["namespace"], endpoint, exc), previous)
    fields.update(_node_fields(st))
    return engine_verdict(st)


async def _why_unreachable(rt: Runtime, namespace: str, endpoint: str, exc: ApiError) -> str:
    message = f"coordinator {endpoint} unreachable: {exc.message}"
    if rt.settings.coordinator_defaults.endpoint:
        return message
    try:
        groups = await rt.kube.list(api.path(API_VERSION, "meshgroups", namespace))
    except api.KubeError:
        return message
    if not groups:
        # the in-cluster coordinator runs while the namespace has a MeshGroup (mesh.py)
        message += (
            f"; namespace {namespace} has no MeshGroup, and the operator runs the namespace's coordinator "
            "only for one: create a MeshGroup (`sequence render` makes one for a project with graphs)"
        )
    return message


async def _finish(
    rt: Runtime,
    body: kopf.Body,
    previous: dict[str, Any],
    verdict: Verdict,
    fields: dict[str, Any],
    announce_refusal: bool,
) -> None:
    # a refusal is announced when it starts and on each spec change, not on every retry
    if verdict.lifecycle == "Refused" and (announce_refusal or previous.get("lifecycleState") != "Refused"):
        note(body, "GraphRefused", verdict.ready.message, warning=True)
    _announce(body, previous.get("lifecycleState"), verdict)
    await rt.write_status(
        PLURAL, body, previous, new_status(ExecutionGraphStatus, body, previous, verdict, fields)
    )


async def delete(rt: Runtime, body: kopf.Body) -> None:
    """The finalizer's work: cancel the graph (never submit it), within settings.deleteTimeout."""
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    uid = str(body.metadata.get("uid"))
    rt.bury(uid)  # a pass in flight takes back a graph it submits from now on
    _resubmit_at.pop(uid, None)
    async with rt.lock(PLURAL, namespace, name):
        previous = rt.previous_status(body)
    graph_id, state = previous.get("graphId"), previous.get("lifecycleState")
    if graph_id and state in FINISHED:
        return  # nothing open any more
    endpoint = coordinator_endpoint(rt, namespace)
    cid = client_id(namespace, name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rt.settings.delete_timeout
    delay, last = 0.2, "not tried"
    while loop.time() < deadline:
        try:
            client = await rt.coordinator(namespace, endpoint)
            if graph_id is None:
                found = await find_graph(client, cid, uid)
                if found is None:
                    return  # never submitted: nothing to cancel
                graph_id = found.graph_id
            await client.graph_cancel(graph_id, reason=f"ExecutionGraph {cid} deleted")
        except NotFound:
            return  # the engine does not have it (any more)
        except Rejected as exc:
            if exc.status == 409:  # finished meanwhile: nothing open
                return
            last = exc.message
        except (ApiError, api.KubeError, CredentialError) as exc:
            last = str(exc)
        else:
            note(
                body,
                "GraphCancelled",
                f"graph {graph_id} cancelled at coordinator {endpoint}: open orders are being cancelled",
            )
            return
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 2.0)
    metrics.ERRORS.labels(KIND, "CancelTimedOut").inc()
    note(
        body,
        "CancelTimedOut",
        f"coordinator {endpoint} did not confirm cancelling graph {graph_id or cid} within "
        f"{rt.settings.delete_timeout:g}s ({last}); the finalizer is released anyway, so the graph may still "
        f"run there: cancel it with `sequence graph cancel`",
        warning=True,
    )


def register(registry: kopf.OperatorRegistry, rt: Runtime) -> None:
    """The deletion handler (kopf puts the finalizer on every ExecutionGraph for it)."""

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, id="cancel-graph")
    async def cancel_graph(**kwargs: Any) -> None:
        await delete(rt, kwargs["body"])
