"""VenueEdge: the edge processes of one venue.

Managed (no spec.external): a Deployment of edge pods and a headless Service, endpoints are the
running pods. External: nothing is created, the endpoints are spec.external. Either way every
endpoint is probed with GET /v1/edge each pass and the status says which answered, their feed
health and what they host.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from sequence_wire.edge_api import GatewayInfo

from ..client import ApiError
from ..models import VenueEdgeSpec, VenueEdgeStatus
from . import api, kube, metrics, netpol
from .context import Runtime
from .status import Cond, Verdict, error_info, new_status, note, now, post_transition

KIND = "VenueEdge"
PLURAL = "venueedges"


def index_entry(name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """What AlgoDeployments need to know about a VenueEdge (kept in a kopf index)."""
    external = list(spec.get("external") or [])
    if external:
        endpoints = [{"endpoint": e, "pod": None} for e in external]
    else:
        endpoints = [{"endpoint": e["endpoint"], "pod": e.get("pod")} for e in status.get("endpoints") or []]
    return {"name": name, "managed": not external, "endpoints": endpoints}


# What the kopf indexes keep of each edge pod and each operator-made Deployment: what a pass reads,
# not whole objects (a pod with its managedFields is several kilobytes).
POD_STATUS_KEYS = ("podIP", "conditions", "containerStatuses")


def pod_index(
    namespace: str, name: str, labels: kopf.Labels, meta: kopf.Meta, status: kopf.Status, **_: Any
) -> Any:
    """kopf index "edge_pods": (namespace, VenueEdge name) -> the edge pods, as passes read them."""
    venue_edge = labels.get("sequence.dev/venue-edge")
    if not venue_edge:
        return None
    return {
        (namespace, venue_edge): {
            "metadata": {"name": name, "deletionTimestamp": meta.get("deletionTimestamp")},
            "status": {key: status.get(key) for key in POD_STATUS_KEYS},
        }
    }


def deployment_index(namespace: str, name: str, status: kopf.Status, **_: Any) -> Any:
    """kopf index "child_deployments": (namespace, Deployment name) -> its status conditions."""
    return {(namespace, name): list(status.get("conditions") or [])}


async def _edge_pods(rt: Runtime, namespace: str, name: str) -> list[dict[str, Any]]:
    """The edge pods of VenueEdge NAME, from the pod index the watch keeps (no API call); listed
    from the API only where no index runs (reconcile called outside the operator)."""
    if rt.edge_pods is not None:
        pods = [dict(p) for p in rt.edge_pods.get((namespace, name), [])]
    else:
        pods = await rt.kube.list(api.path("v1", "pods", namespace), labels=kube.edge_selector(name))
    return sorted(pods, key=lambda p: p["metadata"]["name"])


def _pod_endpoints(rt: Runtime, pods: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    port = rt.settings.edge_defaults.control_port
    found: list[tuple[str | None, str]] = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if ip and not pod["metadata"].get("deletionTimestamp"):
            found.append((pod["metadata"]["name"], f"{ip}:{port}"))
    return found


def pod_problems(pods: list[dict[str, Any]]) -> list[str]:
    """Why edge pods are not running, as Kubernetes reports it on the pods: unschedulable, image pull
    errors, crash loops (with the last exit)."""
    found = []
    for pod in pods:
        name, status = pod["metadata"]["name"], pod.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                found.append(
                    f"pod {name}: {cond.get('reason') or 'Unschedulable'}: {cond.get('message', '')}"
                )
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if not reason or reason == "ContainerCreating":
                continue
            text = f"pod {name}: {reason}"
            if waiting.get("message"):
                text += f": {waiting['message']}"
            last = (container.get("lastState") or {}).get("terminated") or {}
            if last:
                text += (
                    f" (restarted {container.get('restartCount', 0)} times; last exit code "
                    f"{last.get('exitCode')}, {last.get('reason') or 'terminated'})"
                )
            found.append(text)
    return found


async def deployment_problems(rt: Runtime, deployment: dict[str, Any]) -> list[str]:
    """Why the edge Deployment cannot make its pods (its ReplicaSet's FailedCreate, e.g. a missing
    PriorityClass or an exceeded quota), from the Deployment's conditions (the Deployment index)."""
    meta = deployment["metadata"]
    if rt.child_deployments is not None:
        conditions = [
            c for found in rt.child_deployments.get((meta["namespace"], meta["name"]), []) for c in found
        ]
    else:
        current = await rt.kube.get(kube.object_path(deployment))
        conditions = ((current or {}).get("status") or {}).get("conditions") or []
    found = []
    for cond in conditions:
        failing = (cond.get("type") == "ReplicaFailure" and cond.get("status") == "True") or (
            cond.get("type") == "Progressing" and cond.get("status") == "False"
        )
        if failing:
            found.append(
                f"Deployment {deployment['metadata']['name']}: {cond.get('reason')}: {cond.get('message', '')}"
            )
    return found


async def _probe(
    rt: Runtime, namespace: str, pod: str | None, endpoint: str, previous: dict[str, Any]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "edgeId": previous.get("edgeId") or pod or endpoint,
        "endpoint": endpoint,
        "pod": pod,
        "reachable": False,
        "lastSeen": previous.get("lastSeen"),
        "feedHealthy": None,
        "feedLagMs": None,
        "deployments": previous.get("deployments") or [],
    }
    try:
        info = await (await rt.edge(namespace, endpoint)).info()
    except ApiError as exc:
        entry["error"] = exc.message
        if exc.message.startswith("timed out"):  # the process is there but does not answer: hung (or swamped)
            entry["error"] = (
                f"not answering: no reply within {rt.settings.edge_timeout:g}s (hung or overloaded)"
            )
        return entry
    entry.update(
        edgeId=info.edge_id or entry["edgeId"],
        reachable=True,
        lastSeen=now(),
        feedHealthy=info.feed.healthy,
        feedLagMs=float(info.feed.lag_ms),
        **_live_feed_health(info.feed.as_dict()),
        killSwitch=info.kill_switch.engaged,
        **_gateway(info.gateway),
        deployments=sorted(info.deployments),
    )
    return entry


def _gateway(gateway: GatewayInfo | None) -> dict[str, Any]:
    """A live edge's order gateway: the slow-moving facts (its counters belong to /metrics)."""
    if gateway is None:
        return {}
    return {
        "gatewayConnected": gateway.connected,
        "gatewayReconciled": gateway.reconciled,
        "gatewayDryRun": gateway.dry_run,
        "canTrade": gateway.can_trade,
        "canWithdraw": gateway.can_withdraw,
    }


def _live_feed_health(feed: dict[str, Any]) -> dict[str, Any]:
    """A live feed's connection and consistency counters (market/live.py), for the status."""
    if feed.get("kind") != "live":
        return {}
    age = feed.get("last_update_age_s")
    return {
        "feedConnected": bool(feed.get("connected")),
        "feedLastUpdateAgeS": float(age) if isinstance(age, (int, float)) else None,
        "feedGaps": int(feed.get("gaps") or 0) + int(feed.get("checksum_failures") or 0),
        "feedResyncs": int(feed.get("resyncs") or 0),
    }


def _verdict(
    entries: list[dict[str, Any]], desired: int, managed: bool, why: list[str] | None = None
) -> Verdict:
    ready = [e for e in entries if e["reachable"] and e["feedHealthy"] is not False]
    summary = f"{len(ready)}/{desired} edges ready"
    if desired == 0:
        return Verdict(
            "Ready",
            Cond(True, "ScaledToZero", "replicas is 0: no edges wanted"),
            Cond(False, "Converged", "nothing to run"),
            Cond(False, "AsExpected", ""),
        )
    if len(ready) >= desired and len(entries) == desired:
        return Verdict(
            "Ready",
            Cond(True, "EdgesReady", f"{summary}, feeds healthy"),
            Cond(False, "Converged", summary),
            Cond(False, "AsExpected", summary),
        )
    problems = [
        f"{e['edgeId']}: {e.get('error') or ('feed unhealthy' if e['reachable'] else 'unreachable')}"
        for e in entries
        if e not in ready
    ]
    if len(entries) < desired:
        problems.append(
            f"{desired - len(entries)} edge pod(s) not running yet"
            if managed
            else "fewer endpoints than desired"
        )
    problems += why or []
    detail = f"{summary}; " + "; ".join(problems)
    never_seen = not any(e.get("lastSeen") for e in entries)
    if never_seen:
        return Verdict(
            "Pending",
            Cond(False, "WaitingForEdges", detail),
            Cond(True, "WaitingForEdges", detail),
            Cond(False, "Starting", detail),
        )
    unreachable = any(not e["reachable"] for e in entries) or len(entries) < desired
    reason = "EdgesUnavailable" if unreachable else "FeedUnhealthy"
    first = next((e for e in entries if e not in ready), None)
    error = error_info(reason, detail, edge=first["edgeId"] if first else None)
    return Verdict(
        "Degraded",
        Cond(False, reason, detail),
        Cond(True, "WaitingForEdges", detail),
        Cond(True, reason, detail),
        error,
    )


async def reconcile(rt: Runtime, body: kopf.Body, full: bool = False) -> None:
    """One pass. FULL (create/update/resume, not the poller) also removes children no longer wanted.

    Deletion never creates: a pass that read the VenueEdge before its deletion creates no child once
    the deletion is seen (Runtime.bury), and deletes a child it created while the deletion landed."""
    if rt.is_gone(body):
        return
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    spec = VenueEdgeSpec.model_validate(dict(body.spec))
    managed = not spec.external
    with metrics.reconcile_timer(KIND):
        async with rt.lock(PLURAL, namespace, name):
            why: list[str] = []
            if managed:
                venues = sorted({venue for ns, venue in (rt.venue_edges or {}) if ns == namespace and venue})
                deployment = kube.edge_deployment(body, rt.settings, venues)
                if not rt.is_gone(body):  # the pods mount the namespace's Secret: make it first
                    await rt.tokens.token(namespace)
                policies = netpol.edge_children(body, rt.settings)
                for child in (deployment, kube.edge_service(body, rt.settings), *policies):
                    outcome = await kube.ensure(rt.kube, child, may_create=lambda: not rt.is_gone(body))
                    if outcome == "created" and rt.is_gone(body):
                        await rt.kube.delete(kube.object_path(child))
                        return
                    if outcome == "skipped":
                        return
                    if outcome == "created":
                        note(
                            body,
                            reason="Created",
                            message=f"created {child['kind']} {child['metadata']['name']}",
                        )
                pods = await _edge_pods(rt, namespace, name)
                located = _pod_endpoints(rt, pods)
                desired = spec.replicas
                if len(located) < desired or pod_problems(pods):
                    why = pod_problems(pods) + await deployment_problems(rt, deployment)
            else:
                if full:
                    await _remove_children(rt, body)
                located = [(None, endpoint) for endpoint in spec.external]
                desired = len(spec.external)
            old = rt.previous_status(body)
            previous = {e.get("endpoint"): e for e in old.get("endpoints") or []}
            entries = await asyncio.gather(
                *(
                    _probe(rt, namespace, pod, endpoint, previous.get(endpoint, {}))
                    for pod, endpoint in located
                )
            )
            verdict = _verdict(list(entries), desired, managed, why)
            reachable = sum(1 for e in entries if e["reachable"])
            metrics.EDGES_REACHABLE.labels(namespace, name).set(reachable)
            metrics.EDGES_DESIRED.labels(namespace, name).set(desired)
            ready = sum(1 for e in entries if e["reachable"] and e["feedHealthy"] is not False)
            for e in entries:
                e.pop("error", None)
            status = new_status(
                VenueEdgeStatus,
                body,
                old,
                verdict,
                {
                    "managed": managed,
                    "readyEdges": ready,
                    "desiredEdges": desired,
                    "edgesSummary": f"{ready}/{desired}",
                    "endpoints": list(entries),
                },
            )
            post_transition(body, old.get("lifecycleState"), verdict)
            await rt.write_status(PLURAL, body, old, status)


async def _remove_children(rt: Runtime, body: kopf.Body) -> None:
    """A VenueEdge switched to external endpoints: its edge pods are no longer wanted."""
    uid = body.metadata.get("uid")
    for obj in (
        kube.edge_deployment(body, rt.settings),
        kube.edge_service(body, rt.settings),
        netpol.edge_policy(body, rt.settings),
    ):
        current = await rt.kube.get(kube.object_path(obj))
        owners = (current or {}).get("metadata", {}).get("ownerReferences") or []
        if current and any(ref.get("uid") == uid for ref in owners):
            await rt.kube.delete(kube.object_path(obj))
            note(
                body,
                reason="Deleted",
                message=f"deleted {obj['kind']} {obj['metadata']['name']}: the edges are external now",
            )


def index(namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any) -> Any:
    """kopf index "venue_edges": (namespace, venue) -> index_entry, read by the AlgoDeployments."""
    return {(namespace, spec.get("venue")): index_entry(name, dict(spec), dict(status))}
