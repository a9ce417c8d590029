"""MeshGroup: the namespace's coordinator, the group's routing table in it, topology in status.

The coordinator (Deployment + Service `sequence-coordinator`, one per namespace) is created when
the first MeshGroup appears and carries an owner reference to every MeshGroup of the namespace.
When the last MeshGroup is deleted the operator deletes it (and the garbage collector would too).
No finalizer: removal needs no call to an edge, so a MeshGroup never waits on the operator. Instead
a tombstone (Runtime.bury): a poll pass that read the group before its deletion creates nothing and
sends no table once the deletion is seen, and takes back a table it sent while the deletion landed.
With an external coordinator (coordinatorDefaults.endpoint) the table is removed from it even when
the last group goes: that coordinator outlives the namespace.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..client import ApiError, NotFound, Rejected
from ..models import API_VERSION, MeshGroupSpec, MeshGroupStatus
from . import api, kube, metrics, netpol
from .algos import deployment_id
from .context import Runtime
from .status import Cond, Verdict, error_info, new_status, note, post_transition

KIND = "MeshGroup"
PLURAL = "meshgroups"
logger = logging.getLogger(__name__)


def coordinator_endpoint(rt: Runtime, namespace: str) -> str:
    defaults = rt.settings.coordinator_defaults
    return defaults.endpoint or f"{kube.COORDINATOR_NAME}.{namespace}.svc:{defaults.port}"


def routing_table(namespace: str, spec: MeshGroupSpec) -> dict[str, Any]:
    """PUT /v1/mesh/{group}: who is in the group (by the edges' deployment id), labels, allowed peers."""
    return {
        "members": [
            {
                "deployment": deployment_id(namespace, m.deployment),
                "label": m.label,
                "venue": m.venue,
                "peers": list(m.peers),
            }
            for m in spec.members
        ]
    }


def _instances(topology: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in topology.get("instances") or []:
        out.append(
            {
                "meshId": str(item.get("mesh_id") or item.get("meshId") or ""),
                "edgeId": str(item.get("edge_id") or item.get("edgeId") or ""),
                "label": str(item.get("label") or ""),
                "venue": str(item.get("venue") or ""),
                "deployment": item.get("deployment") or item.get("deployment_id"),
            }
        )
    return [i for i in out if i["label"]][:256]


def _links(topology: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for link in topology.get("links") or []:
        out.append(
            {
                "from": str(link.get("from") or link.get("from_") or ""),
                "to": str(link.get("to") or ""),
                "messages": int(link.get("messages") or 0),
                "drops": int(link.get("drops") or 0),
                "p50Us": link.get("p50_us", link.get("p50Us")),
                "p99Us": link.get("p99_us", link.get("p99Us")),
            }
        )
    return out[:1024]


async def _live_groups(rt: Runtime, namespace: str) -> list[dict[str, Any]]:
    groups = await rt.kube.list(api.path(API_VERSION, "meshgroups", namespace))
    return [g for g in groups if not g["metadata"].get("deletionTimestamp")]


async def reconcile(rt: Runtime, body: kopf.Body, full: bool = False) -> None:
    if rt.is_gone(body):
        return
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    spec = MeshGroupSpec.model_validate(dict(body.spec))
    with metrics.reconcile_timer(KIND):
        async with rt.lock(PLURAL, namespace, name):
            owners = await _live_groups(rt, namespace)
            if not any(o["metadata"]["uid"] == body.metadata.get("uid") for o in owners):
                owners.append(dict(body))
            if not rt.is_gone(body):  # the pod mounts the namespace's Secret: make it first
                await rt.tokens.token(namespace)
            coordinator = kube.coordinator_objects(owners, namespace, rt.settings)
            for child in netpol.coordinator_children(coordinator, namespace, rt.settings):
                outcome = await kube.ensure(rt.kube, child, may_create=lambda: not rt.is_gone(body))
                if outcome == "skipped":
                    return
                if outcome == "created":
                    note(
                        body,
                        reason="Created",
                        message=f"created {child['kind']} {child['metadata']['name']} for the namespace",
                    )
            endpoint = coordinator_endpoint(rt, namespace)
            client = await rt.coordinator(namespace, endpoint)
            fields: dict[str, Any] = {
                "coordinator": endpoint,
                "instanceCount": 0,
                "instances": [],
                "links": [],
                "droppedUnknownLabel": 0,
            }
            previous = rt.previous_status(body)
            try:
                if rt.is_gone(body):
                    return
                table = routing_table(namespace, spec)
                answer = await client.set_routes(name, table["members"])
                if rt.is_gone(body):  # deleted while the table was on its way: take it back
                    await _drop_routes(rt, namespace, name)
                    return
                topology = answer.as_dict()
            except Rejected as exc:
                metrics.ERRORS.labels(KIND, "RoutingTableRejected").inc()
                message = f"coordinator {endpoint} refused the routing table: {exc.message}"
                verdict = Verdict(
                    "Failed",
                    Cond(False, "RoutingTableRejected", message),
                    Cond(False, "Blocked", message),
                    Cond(True, "RoutingTableRejected", message),
                    error_info("RoutingTableRejected", message),
                )
            except ApiError as exc:
                metrics.ERRORS.labels(KIND, "CoordinatorUnavailable").inc()
                message = f"coordinator {endpoint} unreachable: {exc.message}"
                seen = previous.get("lifecycleState") in ("Ready", "Degraded")
                verdict = Verdict(
                    "Degraded" if seen else "Pending",
                    Cond(False, "CoordinatorUnavailable", message),
                    Cond(True, "WaitingForCoordinator", message),
                    Cond(seen, "CoordinatorUnavailable", message if seen else "coordinator starting"),
                    error_info("CoordinatorUnavailable", message) if seen else None,
                )
                fields.update(
                    {k: previous[k] for k in ("instances", "links", "instanceCount") if k in previous}
                )
            else:
                instances = _instances(topology)
                fields.update(
                    instances=instances,
                    links=_links(topology),
                    instanceCount=len(instances),
                    droppedUnknownLabel=int(topology.get("dropped_unknown_label") or 0),
                )
                expected = len(spec.members)
                message = (
                    f"routing table of {expected} member(s) loaded; {len(instances)} instance(s) connected"
                )
                verdict = Verdict(
                    "Ready",
                    Cond(True, "RoutingTableLoaded", message),
                    Cond(False, "Converged", message),
                    Cond(False, "AsExpected", message),
                )
            post_transition(body, previous.get("lifecycleState"), verdict)
            await rt.write_status(
                PLURAL, body, previous, new_status(MeshGroupStatus, body, previous, verdict, fields)
            )


async def _drop_routes(rt: Runtime, namespace: str, name: str) -> None:
    try:
        client = await rt.coordinator(namespace, coordinator_endpoint(rt, namespace))
        await client.delete_routes(name)
    except NotFound:
        pass  # no table: nothing to forget
    except ApiError as exc:
        logger.warning("coordinator did not drop mesh group %s/%s: %s", namespace, name, exc)


async def on_deleted(rt: Runtime, namespace: str, name: str, uid: str | None = None) -> None:
    """A MeshGroup is gone: drop its table, and the whole coordinator if it was the last group."""
    rt.bury(uid)  # a pass in flight for this group takes back what it sends from now on
    live = await _live_groups(rt, namespace)
    # The in-cluster coordinator of the last group is deleted below, tables and all; an external one
    # stays, so it must forget this group's table.
    if live or rt.settings.coordinator_defaults.endpoint:
        await _drop_routes(rt, namespace, name)
    if live:
        return
    coordinator = kube.coordinator_objects([], namespace, rt.settings)
    for child in [*coordinator, netpol.coordinator_policy(coordinator, namespace, rt.settings)]:
        if await rt.kube.delete(kube.object_path(child)):
            logger.info(
                "deleted %s %s/%s: no MeshGroup left", child["kind"], namespace, kube.COORDINATOR_NAME
            )
