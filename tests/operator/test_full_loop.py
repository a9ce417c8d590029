"""The whole loop against real edges: apply -> pushed -> trading -> Ready -> Stopped -> deleted."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import MARKET_MAKER, Coordinator, Edge, Operator, algo, bundle_configmap, unique, venue_edge
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")


def test_external_venue_edge_full_loop(kube: Kube, edges: Callable[..., Edge]) -> None:
    kraken = [edges("kraken"), edges("kraken")]
    edge_name = unique("kraken")
    kube.create(venue_edge(edge_name, "kraken", external=[e.endpoint for e in kraken]))
    name = unique("mm")
    dep_id = f"{kube.namespace}.{name}"
    ref = {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256}

    # The VenueEdge sees both edges, their feeds and (soon) what they host.
    kube.wait_status("VenueEdge", edge_name, lambda s: s.get("lifecycleState") == "Ready", "edges Ready")

    kube.create(algo(name, "kraken", ref, state="Running"))

    # Pushed to both edges, running on both.
    for edge in kraken:
        kube.wait(
            f"running on {edge.endpoint}",
            lambda edge=edge: (
                (r := edge.deployment(dep_id))
                and r["state"] == "Running"
                and r["bundle_sha256"] == MARKET_MAKER.sha256
            ),
        )

    # Trading: fills show up per edge in the status, with heartbeats.
    status = kube.wait_status(
        "AlgoDeployment",
        name,
        lambda s: (
            len(s.get("edges") or []) == 2
            and all((e.get("fills") or 0) > 0 and e.get("lastHeartbeat") for e in s["edges"])
        ),
        "fills and heartbeats on both edges",
        timeout=60,
    )["status"]
    assert status["lifecycleState"] == "Running"
    ready = condition(status, "Ready")
    assert (ready["status"], ready["message"]) == ("True", "running on 2/2 edges")
    assert (status["pushedTo"], status["capableEdges"], status["edgesSummary"]) == (2, 2, "2/2")
    assert {e["endpoint"] for e in status["edges"]} == {e.endpoint for e in kraken}
    for entry in status["edges"]:
        assert entry["orders"] >= entry["fills"] > 0
        assert entry["state"] == "Running" and entry.get("lastError") is None
    edge_status = kube.wait_status(
        "VenueEdge",
        edge_name,
        lambda s: all(dep_id in e.get("deployments", []) for e in s.get("endpoints") or []),
        "hosted deployments",
    )["status"]
    assert edge_status["edgesSummary"] == "2/2" and all(e["feedHealthy"] for e in edge_status["endpoints"])

    # Stop: every edge reports Stopped, and the status says so.
    kube.patch("AlgoDeployment", name, {"spec": {"state": "Stopped"}})
    for edge in kraken:
        kube.wait(
            f"stopped on {edge.endpoint}",
            lambda edge=edge: (edge.deployment(dep_id) or {}).get("state") == "Stopped",
        )
    status = kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Stopped", "Stopped"
    )
    assert condition(status["status"], "Ready")["message"] == "stopped as requested on 2/2 edges"

    # Delete: the finalizer removes it from both edges before the object goes.
    kube.delete("AlgoDeployment", name)
    kube.wait_gone("AlgoDeployment", name)
    for edge in kraken:
        assert edge.deployment(dep_id) is None
        assert dep_id not in edge.deployment_ids()


@pytest.mark.parametrize("order", ["file", "reverse"])
def test_deleting_a_mesh_project_in_any_order_leaves_nothing_behind(
    kube: Kube, edges: Callable[..., Edge], coordinator: Coordinator, operator: Operator, order: str
) -> None:
    """A project's objects deleted in the rendered file's order (VenueEdge, MeshGroup, then the
    AlgoDeployment, as `kubectl delete -f` does) or the reverse: no VenueEdge, Deployment, Service,
    deployment on an edge or routing table outlives it."""
    venue = unique("kraken")  # no other test's algorithms run on this venue
    edge = edges("kraken", "--coordinator", coordinator.mesh)
    edge_name, group, name = unique("edge"), unique("grp"), unique("mm")
    dep_id = f"{kube.namespace}.{name}"
    ref = {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256}
    objects = [
        ("VenueEdge", venue_edge(edge_name, venue, external=[edge.endpoint])),
        (
            "MeshGroup",
            {
                "apiVersion": "sequence.dev/v1alpha1",
                "kind": "MeshGroup",
                "metadata": {"name": group},
                "spec": {"members": [{"deployment": name, "label": "mm", "venue": venue}]},
            },
        ),
        ("AlgoDeployment", algo(name, venue, ref, state="Running", meshGroup=group)),
    ]
    # Another project's VenueEdge stays: its passes count the poller's ticks after the deletion.
    kube.create(venue_edge(unique("keeper"), unique("other"), external=[edge.endpoint]))
    for _, body in objects:
        kube.create(body)
    kube.wait("running on the edge", lambda: (edge.deployment(dep_id) or {}).get("state") == "Running", 60)
    kube.wait("the group's table", lambda: coordinator.group(group)[0] == 200, 60)
    kube.patch("AlgoDeployment", name, {"spec": {"state": "Stopped"}})
    kube.wait("stopped on the edge", lambda: (edge.deployment(dep_id) or {}).get("state") == "Stopped", 60)

    for kind, body in objects if order == "file" else reversed(objects):
        kube.delete(kind, body["metadata"]["name"])
    for kind, body in objects:
        kube.wait_gone(kind, body["metadata"]["name"], timeout=60)
    operator.wait_passes("VenueEdge", 3)  # three poll ticks: each would have re-created anything
    assert kube.get("VenueEdge", venue) is None  # no sandbox edge created for the deleted venue
    assert kube.get("Deployment", f"edge-{venue}") is None and kube.get("Service", f"edge-{venue}") is None
    kube.wait("removed from the edge", lambda: edge.deployment(dep_id) is None, 30)
    kube.wait("the group's table removed", lambda: coordinator.group(group)[0] == 404, 30)
