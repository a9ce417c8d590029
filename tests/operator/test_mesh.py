"""A MeshGroup over real edges and the real coordinator: routing table in, topology and latency out."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import HEDGER, MAKER, Coordinator, Edge, algo, bundle_configmap, unique, venue_edge
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
