"""The edge pods the operator builds keep their trading journal on a volume, and a hung edge
(one that stops answering /healthz) is restarted by its liveness probe."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from sequence.reconcilers import kube as children
from sequence.reconcilers.settings import OperatorSettings

from ..test_cel_rules import all_hold
from ..test_helm_chart import KUBE_VERSIONS

EDGE: dict[str, Any] = {
    "apiVersion": "sequence.dev/v1alpha1",
    "kind": "VenueEdge",
    "metadata": {"name": "kraken", "namespace": "trading", "uid": "0d0e6a52-5a4c-4c55-9d43-1d4d6b0f3e11"},
    "spec": {"venue": "kraken", "feed": {"kind": "sim"}},
}


def pod_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def test_the_journal_is_on_an_empty_dir_by_default_and_survives_container_restarts() -> None:
    dep = children.edge_deployment(EDGE, OperatorSettings())
    pod = pod_of(dep)
    [container] = pod["containers"]
    args = container["args"]
    assert args[args.index("--state-dir") + 1] == children.STATE_MOUNT
    [state] = [v for v in pod["volumes"] if v["name"] == "state"]
    assert "emptyDir" in state
    assert {"name": "state", "mountPath": children.STATE_MOUNT} in container["volumeMounts"]
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_a_state_volume_mounts_the_claim_and_replaces_pods_one_at_a_time(kube_version: str) -> None:
    edge = copy.deepcopy(EDGE)
    edge["spec"]["stateVolume"] = "kraken-journal"
    dep = children.edge_deployment(edge, OperatorSettings())
    [state] = [v for v in pod_of(dep)["volumes"] if v["name"] == "state"]
    assert state == {"name": "state", "persistentVolumeClaim": {"claimName": "kraken-journal"}}
    assert dep["spec"]["strategy"] == {"type": "Recreate"}  # the old pod lets go of the journal first
    kubernetes_validate.validate(children.without_nones(dep), kube_version, strict=True)


def test_liveness_restarts_an_edge_that_stops_answering_within_seconds() -> None:
    [container] = pod_of(children.edge_deployment(EDGE, OperatorSettings()))["containers"]
    probe = container["livenessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"
    # a SIGSTOPped edge never answers: 3 probes x 5 s, each given up after 2 s
    assert probe["timeoutSeconds"] <= 2 and probe["failureThreshold"] <= 3
    assert probe["periodSeconds"] * probe["failureThreshold"] <= 15


@pytest.mark.parametrize("replicas, ok", [(1, True), (0, True), (2, False)])
def test_a_state_volume_needs_one_replica(replicas: int, ok: bool) -> None:
    spec = {
        "venue": "x",
        "mode": "sandbox",
        "feed": {"kind": "sim"},
        "stateVolume": "j",
        "replicas": replicas,
    }
    assert all_hold("VenueEdge", spec) is ok
