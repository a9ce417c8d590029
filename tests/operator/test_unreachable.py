"""An AlgoDeployment whose edge does not answer: honest status, and deletion that cannot hang."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .conftest import (
    DELETE_TIMEOUT,
    MARKET_MAKER,
    Bundle,
    Operator,
    algo,
    bundle_configmap,
    closed_port_endpoint,
    unique,
    venue_edge,
)
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")


def test_unreachable_edge_is_reported_from_the_first_reconcile(kube: Kube) -> None:
    venue, endpoint = unique("venue"), closed_port_endpoint()
    kube.create(venue_edge(unique("edge"), venue, external=[endpoint]))
    name = unique("mm")
    created = kube.create(
        algo(
            name,
            venue,
            {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256},
        )
    )

    status = kube.wait_status("AlgoDeployment", name, lambda s: bool(s.get("conditions")), "first status")[
        "status"
    ]
    assert status["lifecycleState"] == "Degraded"
    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert status["deploymentId"] == f"{kube.namespace}.{name}"
    assert (status["pushedTo"], status["capableEdges"], status["edgesSummary"]) == (0, 1, "0/1")
    assert [(e["endpoint"], e["state"]) for e in status["edges"]] == [(endpoint, "Unreachable")]
    ready, degraded, reconciling = (condition(status, k) for k in ("Ready", "Degraded", "Reconciling"))
    assert (ready["status"], ready["reason"]) == ("False", "EdgeUnreachable")
    assert endpoint in ready["message"]
    assert (degraded["status"], degraded["reason"]) == ("True", "EdgeUnreachable")
    assert reconciling["status"] == "True"
    assert status["error"]["reason"] == "EdgeUnreachable" and len(status["error"]["message"]) <= 1024
    # The status is only ours (nothing under status.kopf), and kopf records no handler progress or
    # last-handled spec on the object: observedGeneration says which spec was reconciled.
    obj = kube.get("AlgoDeployment", name)
    assert "kopf" not in obj["status"]
    assert not [k for k in obj["metadata"].get("annotations") or {} if k.startswith("sequence.dev/")]
    # One Warning for the move into Degraded, naming the edge and why (not a second per-edge one).
    degraded_event = kube.wait_event(name, "Degraded")
    assert degraded_event["type"] == "Warning"
    assert endpoint in degraded_event["message"] and "unreachable" in degraded_event["message"]
    assert not [e for e in kube.events(name) if e["reason"] == "EdgeUnreachable"]


def test_deletion_with_an_unreachable_edge_times_out_and_releases_the_finalizer(kube: Kube) -> None:
    venue, endpoint = unique("venue"), closed_port_endpoint()
    kube.create(venue_edge(unique("edge"), venue, external=[endpoint]))
    name = unique("mm")
    kube.create(
        algo(
            name,
            venue,
            {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256},
        )
    )
    kube.wait_status("AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Degraded", "Degraded")
    assert "sequence.dev/finalizer" in kube.get("AlgoDeployment", name)["metadata"]["finalizers"]

    started = time.monotonic()
    kube.delete("AlgoDeployment", name)
    kube.wait_gone("AlgoDeployment", name, timeout=DELETE_TIMEOUT + 20)
    # It waited for the edge (bounded), then let go.
    assert time.monotonic() - started >= DELETE_TIMEOUT * 0.9
    warning = kube.wait_event(name, "TeardownTimedOut")
    assert warning["type"] == "Warning" and endpoint in warning["message"]
    assert "0/1 edges" in kube.wait_event(name, "Undeployed")["message"]


def test_a_bundle_that_does_not_match_its_sha256_fails_without_any_edge(kube: Kube) -> None:
    name = unique("bad")
    # The ConfigMap holds the market maker, the spec claims other bytes (e.g. a stale render).
    claimed = Bundle(MARKET_MAKER.data + b"\0")
    configmap = bundle_configmap(kube, MARKET_MAKER)
    kube.create(venue_edge(unique("edge"), venue := unique("venue"), external=[closed_port_endpoint()]))
    kube.create(algo(name, venue, {"configMap": {"name": configmap}, "sha256": claimed.sha256}))

    status = kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Failed", "Failed"
    )["status"]
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "BundleSha256Mismatch")
    assert MARKET_MAKER.sha256[:16] in ready["message"] and claimed.sha256[:16] in ready["message"]
    assert status["error"]["reason"] == "BundleSha256Mismatch"
    assert kube.wait_event(name, "BundleSha256Mismatch")["type"] == "Warning"

    kube.delete("AlgoDeployment", name)
    kube.wait_gone("AlgoDeployment", name, timeout=DELETE_TIMEOUT + 20)


def test_missing_bundle_configmap_is_named_in_the_status(kube: Kube) -> None:
    name = unique("nocm")
    kube.create(venue_edge(unique("edge"), venue := unique("venue"), external=[closed_port_endpoint()]))
    kube.create(
        algo(name, venue, {"configMap": {"name": "no-such-bundle"}, "sha256": Bundle(b"never built").sha256})
    )
    status = kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Failed", "Failed"
    )["status"]
    assert condition(status, "Ready")["reason"] == "BundleNotFound"
    assert "no-such-bundle" in condition(status, "Ready")["message"]


def test_metrics_count_reconciles_and_reachable_edges(kube: Kube, operator: Operator) -> None:
    name = unique("edge")
    kube.create(venue_edge(name, unique("venue"), external=[closed_port_endpoint(), closed_port_endpoint()]))
    kube.wait_status("VenueEdge", name, lambda s: s.get("desiredEdges") == 2, "status")

    def scraped() -> str | None:
        text = operator.metrics()
        wanted = (
            'sequence_operator_reconciles_total{kind="VenueEdge",result="ok"}',
            'sequence_operator_reconciles_total{kind="AlgoDeployment",result="ok"}',
            f'sequence_operator_edges_desired{{namespace="{kube.namespace}",venue_edge="{name}"}} 2.0',
            f'sequence_operator_edges_reachable{{namespace="{kube.namespace}",venue_edge="{name}"}} 0.0',
            'sequence_operator_reconcile_duration_seconds_count{kind="VenueEdge"}',
            'sequence_operator_errors_total{kind="AlgoDeployment",reason="EdgeUnreachable"}',
            'sequence_operator_edge_requests_total{outcome="unreachable"}',
        )
        return text if all(w in text for w in wanted) else None

    kube.wait("operator metrics", scraped)


def test_operator_logs_are_one_json_object_per_line(kube: Kube, operator: Operator) -> None:
    name = unique("edge")
    kube.create(venue_edge(name, unique("venue"), external=[closed_port_endpoint()]))
    kube.wait_status("VenueEdge", name, lambda s: bool(s.get("conditions")), "status")

    def transition_logged() -> list[dict[str, Any]] | None:
        lines = [line for line in operator.process.log.read_text().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]  # every line, not just ours
        ours = [
            r for r in records if r.get("object", {}).get("name") == name and r.get("reason") == "Pending"
        ]
        return records if ours else None

    records = kube.wait("the VenueEdge transition in the log", transition_logged)
    assert all({"message", "timestamp", "severity"} <= set(r) for r in records)
    (ours,) = [r for r in records if r.get("object", {}).get("name") == name]
    assert ours["object"] == {"kind": "VenueEdge", "namespace": kube.namespace, "name": name}
