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


async def _pod_endpoints(rt: Runtime, namespace: str, name: str) -> list[tuple[str | None, str]]:
    pods = await rt.kube.list(api.path("v1", "pods", namespace), labels=kube.edge_selector(name))
    port = rt.settings.edge_defaults.control_port
    found = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        ip = (pod.get("status") or {}).get("podIP")
        if ip and not pod["metadata"].get("deletionTimestamp"):
            found.append((pod["metadata"]["name"], f"{ip}:{port}"))
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
        deployments=sorted(info.deployments),
    )
    return entry


def _verdict(entries: list[dict[str, Any]], desired: int, managed: bool) -> Verdict:
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
    """One pass. FULL (create/update/resume, not the poller) also removes children no longer wanted."""
    if body.metadata.get("deletionTimestamp"):
        return
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    spec = VenueEdgeSpec.model_validate(dict(body.spec))
    managed = not spec.external
    with metrics.reconcile_timer(KIND):
        async with rt.lock(PLURAL, namespace, name):
            if spec.mode == "live":
                await _refuse_live(rt, body)
                return
            if managed:
                venues = sorted({venue for ns, venue in (rt.venue_edges or {}) if ns == namespace and venue})
                deployment = kube.edge_deployment(body, rt.settings, venues)
                await rt.tokens.token(namespace)  # the pods mount the namespace's Secret: make it first
                policies = netpol.edge_children(body, rt.settings)
                for child in (deployment, kube.edge_service(body, rt.settings), *policies):
                    if await kube.ensure(rt.kube, child) == "created":
                        note(
                            body,
                            reason="Created",
                            message=f"created {child['kind']} {child['metadata']['name']}",
                        )
                located = await _pod_endpoints(rt, namespace, name)
                desired = spec.replicas
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
            verdict = _verdict(list(entries), desired, managed)
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


async def _refuse_live(rt: Runtime, body: kopf.Body) -> None:
    """`sequence edge` runs sandbox only (paper fills): start no pods that would only crash-loop."""
    old = rt.previous_status(body)
    message = (
        "mode: live is not supported by this release's edges (sandbox only: simulated fills, no real "
        "orders); no edge pods were started"
    )
    verdict = Verdict(
        "Failed",
        Cond(False, "LiveModeUnsupported", message),
        Cond(False, "Blocked", message),
        Cond(True, "LiveModeUnsupported", message),
        error_info("LiveModeUnsupported", message),
    )
    fields = {
        "managed": not body.spec.get("external"),
        "readyEdges": 0,
        "desiredEdges": 0,
        "edgesSummary": "0/0",
        "endpoints": [],
    }
    post_transition(body, old.get("lifecycleState"), verdict)
    await rt.write_status(PLURAL, body, old, new_status(VenueEdgeStatus, body, old, verdict, fields))


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
