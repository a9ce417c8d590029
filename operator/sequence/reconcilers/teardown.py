"""Taking an AlgoDeployment off edges: on deletion (the finalizer) and off edges no longer capable.

Per edge: stop, then DELETE (the edge runs on_shutdown, cancels whatever the algorithm left
resting, and removes the instance). An edge that does not answer is retried until a deadline;
then the operator gives up on it with a Warning Event. Deletion therefore never waits longer
than settings.deleteTimeout, whatever the edges do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf

from ..client import ApiError, NotFound, Rejected
from ..models import API_VERSION
from . import api, metrics
from .context import Runtime
from .credentials import CredentialError
from .status import bounded, note

KIND = "AlgoDeployment"
PLURAL = "algodeployments"
logger = logging.getLogger(__name__)


async def remove_from_edge(rt: Runtime, endpoint: str, dep_id: str, deadline: float) -> str | None:
    """Stop + DELETE on one edge, retrying until DEADLINE (loop time). None when done, else why not."""
    loop = asyncio.get_running_loop()
    delay = 0.2
    last = "not tried"
    while (remaining := deadline - loop.time()) > 0:
        # a deployment id is "<namespace>.<name>" and a namespace has no dots: the token's namespace
        namespace = dep_id.split(".", 1)[0]
        try:
            # Never creates the namespace's Secret: when the whole namespace is being deleted, nothing
            # can be created in it, and a teardown that raised would hold the finalizer for minutes.
            client = await rt.edge(
                namespace, endpoint, timeout=min(rt.settings.edge_timeout, remaining), create_token=False
            )
            with contextlib.suppress(Rejected):  # unknown (404) or not running: DELETE decides
                await client.stop(dep_id)
            with contextlib.suppress(NotFound):  # already gone: done
                await client.remove(dep_id)
            rt.snapshots.update(endpoint, dep_id, None)
            return None
        except ApiError as exc:
            last = exc.message
        except (api.KubeError, CredentialError) as exc:
            last = str(exc)
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 2.0)
    return last


def _endpoints(rt: Runtime, body: kopf.Body, status: dict[str, Any]) -> set[str]:
    """Every edge that may host it: the venue's current edges and those the status lists."""
    venue = (body.get("spec") or {}).get("venue")
    index = rt.venue_edges or {}
    found = {
        ep["endpoint"] for e in index.get((body.metadata["namespace"], venue), []) for ep in e["endpoints"]
    }
    return found | {e["endpoint"] for e in status.get("edges") or [] if e.get("endpoint")}


async def delete(rt: Runtime, body: kopf.Body, dep_id: str) -> None:
    """The finalizer's work: off every edge within settings.deleteTimeout, then let go."""
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    timeout = rt.settings.delete_timeout
    status_path = api.path(API_VERSION, PLURAL, namespace, name, "status")
    try:
        await rt.kube.patch(status_path, {"status": {"lifecycleState": "Deleting"}})
    except api.KubeError as exc:
        logger.warning("could not mark %s/%s Deleting: %s", namespace, name, exc)
    async with rt.lock(PLURAL, namespace, name):
        endpoints = sorted(_endpoints(rt, body, rt.previous_status(body)))
        deadline = asyncio.get_running_loop().time() + timeout
        results = await asyncio.gather(*(remove_from_edge(rt, ep, dep_id, deadline) for ep in endpoints))
    failed = [(ep, why) for ep, why in zip(endpoints, results, strict=True) if why is not None]
    for endpoint, why in failed:
        metrics.ERRORS.labels(KIND, "TeardownTimedOut").inc()
        note(
            body,
            "TeardownTimedOut",
            f"edge {endpoint} did not confirm removal of {dep_id} within {timeout:g}s ({why}); the finalizer "
            "is released anyway, so the instance may still exist on that edge until it restarts",
            warning=True,
        )
    note(body, "Undeployed", f"removed {dep_id} from {len(endpoints) - len(failed)}/{len(endpoints)} edges")


async def retire(rt: Runtime, body: kopf.Body, dep_id: str, endpoints: list[str]) -> None:
    """Take it off edges that are no longer capable (venue changed, endpoint dropped): one try each."""
    deadline = asyncio.get_running_loop().time() + rt.settings.edge_timeout
    results = await asyncio.gather(*(remove_from_edge(rt, ep, dep_id, deadline) for ep in endpoints))
    for endpoint, why in zip(endpoints, results, strict=True):
        if why is None:
            note(body, "RemovedFromEdge", f"removed from edge {endpoint}: no longer one of the venue's edges")
        else:
            note(
                body,
                "RemoveFromEdgeFailed",
                bounded(
                    f"edge {endpoint} is no longer one of the venue's edges but did not confirm removal ({why}); "
                    "the instance may still exist there"
                ),
                warning=True,
            )
