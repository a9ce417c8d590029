"""NetworkPolicies next to the operator's children: who may open a connection to edges and the coordinator.

- edge pods: the control port only from the operator's pods (and the metrics namespace, for /metrics);
- the coordinator: its mesh port only from the namespace's edge pods, its HTTP port only from the
  operator (and the metrics namespace).

Each policy selects only the pods it protects and restricts ingress only: egress (edges to venues,
edges to the mesh) is unchanged. Kubelet probes come from the node and are not subject to these
policies on common network plugins. The token (credentials.py) is still required on every
connection these policies let through.
"""

from __future__ import annotations

from typing import Any, cast

import kopf

from . import kube
from .settings import OperatorSettings

EDGE_POLICY_PREFIX = "edge"
COORDINATOR_POLICY_NAME = kube.COORDINATOR_NAME


def _operator_peer(settings: OperatorSettings) -> dict[str, Any]:
    policy = settings.network_policies
    peer: dict[str, Any] = {"podSelector": {"matchLabels": dict(policy.operator_pod_labels)}}
    if policy.operator_namespace:
        peer["namespaceSelector"] = {
            "matchLabels": {"kubernetes.io/metadata.name": policy.operator_namespace}
        }
    else:
        peer["namespaceSelector"] = {}  # any namespace, but only the operator's pods
    return peer


def _metrics_peers(settings: OperatorSettings) -> list[dict[str, Any]]:
    namespace = settings.network_policies.metrics_namespace
    if not namespace:
        return []
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]


def _policy(
    name: str, labels: dict[str, str], selector: dict[str, str], ingress: list[Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def _labels(component: str, **extra: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "sequence",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": kube.MANAGED_BY,
        **extra,
    }


def edge_policy(body: kopf.Body | dict[str, Any], settings: OperatorSettings) -> dict[str, Any]:
    """Edge pods of one managed VenueEdge: the control port from the operator (and metrics) only."""
    name = body["metadata"]["name"]
    port = [{"protocol": "TCP", "port": settings.edge_defaults.control_port}]
    ingress = [{"from": [_operator_peer(settings), *_metrics_peers(settings)], "ports": port}]
    policy = _policy(
        kube.child_name(EDGE_POLICY_PREFIX, name),
        _labels(kube.EDGE_COMPONENT, **{"sequence.dev/venue-edge": name}),
        kube.edge_selector(name),
        ingress,
    )
    # owned like the Deployment (owner reference only, see kube._owned): it goes with the VenueEdge
    kopf.append_owner_reference(policy, owner=cast(kopf.Body, body))
    kopf.adjust_namespace(policy, namespace=body["metadata"]["namespace"])  # type: ignore[attr-defined]
    return policy


def coordinator_policy(
    owner_refs_from: list[dict[str, Any]], namespace: str, settings: OperatorSettings
) -> dict[str, Any]:
    """The namespace's coordinator: mesh from the namespace's edge pods, HTTP from the operator (and metrics).

    OWNER_REFS_FROM is the coordinator Deployment (kube.coordinator_objects): the policy has the same
    owners, so it goes with the coordinator.
    """
    defaults = settings.coordinator_defaults
    edges = {"podSelector": {"matchLabels": {"app.kubernetes.io/component": kube.EDGE_COMPONENT}}}
    ingress = [
        {"from": [edges], "ports": [{"protocol": "TCP", "port": defaults.mesh_port}]},
        {
            "from": [_operator_peer(settings), *_metrics_peers(settings)],
            "ports": [{"protocol": "TCP", "port": defaults.port}],
        },
    ]
    policy = _policy(
        COORDINATOR_POLICY_NAME, _labels(kube.COORDINATOR_COMPONENT), kube.coordinator_selector(), ingress
    )
    meta = policy["metadata"]
    meta["namespace"] = namespace
    refs = owner_refs_from[0]["metadata"].get("ownerReferences") if owner_refs_from else None
    meta["ownerReferences"] = refs or []
    return policy


def edge_children(body: kopf.Body | dict[str, Any], settings: OperatorSettings) -> list[dict[str, Any]]:
    return [edge_policy(body, settings)] if settings.network_policies.enabled else []


def coordinator_children(
    coordinator: list[dict[str, Any]], namespace: str, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """The coordinator's objects plus its policy (when enabled): what the MeshGroup reconciler ensures."""
    if not settings.network_policies.enabled:
        return coordinator
    return [*coordinator, coordinator_policy(coordinator, namespace, settings)]
