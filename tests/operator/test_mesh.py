"""A MeshGroup over real edges and the real coordinator: routing table in, topology and latency out."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import HEDGER, MAKER, Coordinator, Edge, Operator, algo, bundle_configmap, unique, venue_edge
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")


def test_mesh_group_reports_instances_and_link_latency(
    kube: Kube, edges: Callable[..., Edge], coordinator: Coordinator
) -> None:
    group = unique("arb")
    venues = "kraken,coinbase"
    kraken = edges("kraken", "--coordinator", coordinator.mesh, "--venues", venues)
    coinbase = edges("coinbase", "--coordinator", coordinator.mesh, "--venues", venues)
    kube.create(venue_edge(unique("kraken"), "kraken", external=[kraken.endpoint]))
    kube.create(venue_edge(unique("coinbase"), "coinbase", external=[coinbase.endpoint]))
    maker, hedger = f"{group}-maker", f"{group}-hedger"
    kube.create(
        {
            "apiVersion": "sequence.dev/v1alpha1",
            "kind": "MeshGroup",
            "metadata": {"name": group},
            "spec": {
                "members": [
                    {"deployment": maker, "label": "maker", "venue": "kraken", "peers": ["hedger"]},
                    {"deployment": hedger, "label": "hedger", "venue": "coinbase"},
                ]
            },
        }
    )
    for name, venue, label, bundle, peers in (
        (maker, "kraken", "maker", MAKER, ["hedger"]),
        (hedger, "coinbase", "hedger", HEDGER, []),
    ):
        body = algo(
            name,
            venue,
            {"configMap": {"name": bundle_configmap(kube, bundle)}, "sha256": bundle.sha256},
            state="Running",
            meshGroup=group,
            peers=peers,
        )
        body["spec"]["label"] = label
        body["spec"]["params"] = {"spread_bps": "3", "qty": "0.01"}
        kube.create(body)

    # Both instances registered with the coordinator; the maker's fills reach the hedger.
    status = kube.wait_status(
        "MeshGroup",
        group,
        lambda s: (
            s.get("instanceCount") == 2
            and any(
                link["from"] == "maker" and link["to"] == "hedger" and link["messages"] > 0
                for link in s.get("links") or []
            )
        ),
        "two instances and maker -> hedger traffic",
        timeout=60,
    )["status"]
    assert (
        status["lifecycleState"] == "Ready" and condition(status, "Ready")["reason"] == "RoutingTableLoaded"
    )
    instances = {(i["label"], i["venue"], i["deployment"]) for i in status["instances"]}
    assert instances == {
        ("maker", "kraken", f"{kube.namespace}.{maker}"),
        ("hedger", "coinbase", f"{kube.namespace}.{hedger}"),
    }
    (link,) = [link for link in status["links"] if link["from"] == "maker"]
    assert link["p50Us"] is not None and link["p99Us"] >= link["p50Us"] > 0
    code, topology = coordinator.group(group)
    assert code == 200 and topology["routing_table"] is True and topology["missing_labels"] == []


def _mesh_group(name: str) -> dict:
    return {
        "apiVersion": "sequence.dev/v1alpha1",
        "kind": "MeshGroup",
        "metadata": {"name": name},
        "spec": {"members": [{"deployment": f"{name}-a", "label": "a", "venue": "kraken"}]},
    }


def test_deleted_mesh_groups_leave_no_routing_table(
    kube: Kube, coordinator: Coordinator, operator: Operator
) -> None:
    """Create/delete loops while the poller runs: a pass that read a group before its deletion must
    not put its table back. The coordinator here is external (coordinatorDefaults.endpoint), so it
    also forgets the table of the last group deleted, which it outlives."""
    keeper = unique("keep")
    kube.create(_mesh_group(keeper))
    kube.wait("keeper's table", lambda: coordinator.group(keeper)[0] == 200, timeout=60)
    deleted = []
    for _ in range(6):
        group = unique("churn")
        kube.create(_mesh_group(group))
        kube.wait(f"{group}'s table", lambda g=group: coordinator.group(g)[0] == 200, timeout=60)
        kube.delete("MeshGroup", group)
        kube.wait(f"{group}'s table removed", lambda g=group: coordinator.group(g)[0] == 404, timeout=60)
        deleted.append(group)
    # Several more poll passes over the keeper: none of them brings a deleted table back.
    operator.wait_passes("MeshGroup", 3)
    assert [g for g in deleted if coordinator.group(g)[0] != 404] == []
    # The last group: the external coordinator stays, so its table must go.
    kube.delete("MeshGroup", keeper)
    kube.wait("the last group's table removed", lambda: coordinator.group(keeper)[0] == 404, timeout=60)
