"""The NetworkPolicies the operator creates next to edge and coordinator pods: who may connect to what."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import unique, venue_edge
from .kube import Kube

pytestmark = pytest.mark.usefixtures("operator")

OPERATOR_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "sequence-system"}},
    "podSelector": {
        "matchLabels": {
            "app.kubernetes.io/name": "sequence-operator",
            "app.kubernetes.io/component": "operator",
        }
    },
}
METRICS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def selects(policy: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"]["matchLabels"]
    return all(pod_labels.get(k) == v for k, v in wanted.items())


def test_edge_control_port_is_open_to_the_operator_and_metrics_namespace_only(kube: Kube) -> None:
    name = unique("kraken")
    edge = kube.create(venue_edge(name, "kraken", feed={"kind": "sim", "sim": {"seed": 3}}))
    policy = kube.wait("edge NetworkPolicy", lambda: kube.get("NetworkPolicy", f"edge-{name}"))
    deployment = kube.wait("edge Deployment", lambda: kube.get("Deployment", f"edge-{name}"))

    assert selects(policy, deployment["spec"]["template"]["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress (venue feeds, the mesh) is untouched
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 7070}]
    assert rule["from"] == [OPERATOR_PEER, METRICS_PEER]
    refs = policy["metadata"]["ownerReferences"]
    assert [(r["kind"], r["uid"]) for r in refs] == [("VenueEdge", edge["metadata"]["uid"])]

    # switched to external endpoints: the pods go, and their policy with them
    kube.patch("VenueEdge", name, {"spec": {"external": ["127.0.0.1:1"]}})
    kube.wait("edge NetworkPolicy removed", lambda: kube.get("NetworkPolicy", f"edge-{name}") is None)


def test_coordinator_mesh_port_is_open_to_edge_pods_and_http_to_the_operator(kube: Kube) -> None:
    kube.create(
        {
            "apiVersion": "sequence.dev/v1alpha1",
            "kind": "MeshGroup",
            "metadata": {"name": unique("mesh")},
            "spec": {"members": [{"deployment": "d", "label": "solo", "venue": "kraken"}]},
        }
    )
    policy = kube.wait("coordinator NetworkPolicy", lambda: kube.get("NetworkPolicy", "sequence-coordinator"))
    deployment = kube.wait("coordinator", lambda: kube.get("Deployment", "sequence-coordinator"))
    assert selects(policy, deployment["spec"]["template"]["metadata"]["labels"])
    mesh, http = policy["spec"]["ingress"]
    assert mesh["ports"] == [{"protocol": "TCP", "port": 7172}]
    # edge pods of this namespace only (no namespaceSelector: the policy's own namespace)
    assert mesh["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "venue-edge"}}}]
    assert http["ports"] == [{"protocol": "TCP", "port": 7171}]
    assert http["from"] == [OPERATOR_PEER, METRICS_PEER]
    assert policy["metadata"]["ownerReferences"] == deployment["metadata"]["ownerReferences"]
