"""An AlgoDeployment on a real edge process: push, start/stop, hot swap, restart, deletion.

The edge is `sequence edge` on loopback, named by an external VenueEdge; every assertion about
the edge side asks the edge's own control API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import MAKER, MARKET_MAKER, Edge, Operator, algo, bundle_configmap, unique, venue_edge
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")


def deploy(kube: Kube, edge: Edge, state: str = "Stopped", **spec: Any) -> tuple[str, str]:
    """A VenueEdge for EDGE and an AlgoDeployment on it; returns (name, deployment id)."""
    venue = unique("venue")
    kube.create(venue_edge(unique("edge"), venue, external=[edge.endpoint]))
    name = unique("mm")
    ref = {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256}
    kube.create(algo(name, venue, ref, state=state, **spec))
    return name, f"{kube.namespace}.{name}"


def on_edge(edge: Edge, dep_id: str, check: Callable[[dict[str, Any]], bool]) -> Callable[[], Any]:
    def probe() -> dict[str, Any] | None:
        report = edge.deployment(dep_id)
        return report if report and check(report) else None

    return probe


def test_stopped_algo_is_ready_from_the_first_reconcile(kube: Kube, edges: Callable[..., Edge]) -> None:
    edge = edges("kraken")
    name, dep_id = deploy(kube, edge, state="Stopped")

    status = kube.wait_status("AlgoDeployment", name, lambda s: bool(s.get("conditions")), "first status")[
        "status"
    ]
    # Argo CD keys health off these: a stopped algo that is where it should be is Ready, not Progressing.
    assert status["lifecycleState"] == "Stopped"
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True",
        "Stopped",
        "stopped as requested on 1/1 edges",
    )
    assert condition(status, "Reconciling")["status"] == "False"
    assert condition(status, "Degraded")["status"] == "False"
    assert (status["pushedTo"], status["capableEdges"], status["edgesSummary"]) == (1, 1, "1/1")
    assert status["deploymentId"] == dep_id
    assert status["bundleSha256"] == MARKET_MAKER.sha256 and status["sizeBytes"] == len(MARKET_MAKER.data)
    (entry,) = status["edges"]
    assert entry["endpoint"] == edge.endpoint and entry["state"] in ("Loaded", "Stopped")

    report = edge.deployment(dep_id)
    assert report["state"] in ("Loaded", "Stopped") and report["bundle_sha256"] == MARKET_MAKER.sha256
    assert report["symbols"] == ["BTC-USD"]
    assert "pushed bundle" in kube.wait_event(name, "Pushed")["message"]


def test_start_and_stop_reach_the_edge(kube: Kube, edges: Callable[..., Edge]) -> None:
    edge = edges("kraken")
    name, dep_id = deploy(kube, edge, state="Stopped")
    kube.wait_status("AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Stopped", "Stopped")

    kube.patch("AlgoDeployment", name, {"spec": {"state": "Running"}})
    kube.wait("edge reports Running", on_edge(edge, dep_id, lambda r: r["state"] == "Running"))
    status = kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Running", "Running"
    )
    ready = condition(status["status"], "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "Running", "running on 1/1 edges")
    assert status["status"]["observedGeneration"] == status["metadata"]["generation"]
    kube.wait_event(name, "StartedOnEdge")

    kube.patch("AlgoDeployment", name, {"spec": {"state": "Stopped"}})
    kube.wait("edge reports Stopped", on_edge(edge, dep_id, lambda r: r["state"] == "Stopped"))
    kube.wait_status("AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Stopped", "Stopped again")
    kube.wait_event(name, "StoppedOnEdge")


def test_new_bundle_is_hot_swapped_onto_the_running_edge(kube: Kube, edges: Callable[..., Edge]) -> None:
    edge = edges("kraken")
    name, dep_id = deploy(kube, edge, state="Running")
    kube.wait("running old bundle", on_edge(edge, dep_id, lambda r: r["state"] == "Running"))
    edge_pid = edge.process.proc.pid

    new_ref = {"configMap": {"name": bundle_configmap(kube, MAKER)}, "sha256": MAKER.sha256}
    kube.patch("AlgoDeployment", name, {"spec": {"bundle": new_ref}})

    report = kube.wait(
        "edge reports the new sha256", on_edge(edge, dep_id, lambda r: r["bundle_sha256"] == MAKER.sha256)
    )
    assert report["state"] == "Running"  # swapped in place, still running
    assert edge.process.proc.poll() is None and edge.process.proc.pid == edge_pid  # same edge process
    status = kube.wait_status(
        "AlgoDeployment",
        name,
        lambda s: s.get("bundleSha256") == MAKER.sha256 and s.get("lifecycleState") == "Running",
        "new sha",
    )["status"]
    assert status["edges"][0]["bundleSha256"] == MAKER.sha256 and status["sizeBytes"] == len(MAKER.data)
    assert MAKER.sha256[:12] in kube.wait_event(name, "HotSwapped")["message"]


def test_restart_nonce_restarts_on_every_edge(kube: Kube, edges: Callable[..., Edge]) -> None:
    first, second = edges("kraken"), edges("kraken")
    venue = unique("venue")
    kube.create(venue_edge(unique("edge"), venue, external=[first.endpoint, second.endpoint]))
    name = unique("mm")
    ref = {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256}
    kube.create(algo(name, venue, ref, state="Running"))
    dep_id = f"{kube.namespace}.{name}"
    kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Running", "Running on both"
    )

    kube.patch("AlgoDeployment", name, {"spec": {"restartNonce": "2026-11-21T10:00"}})
    status = kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("restartNonce") == "2026-11-21T10:00", "restart applied"
    )["status"]
    assert status["lifecycleState"] == "Running"
    restarted = kube.wait(
        "a Restarted event per edge",
        lambda: (
            [e for e in kube.events(name) if e["reason"] == "Restarted"]
            if len([e for e in kube.events(name) if e["reason"] == "Restarted"]) >= 2
            else None
        ),
    )
    assert {e["message"].split("edge ")[1].split(" ")[0] for e in restarted} == {
        entry["edgeId"] for entry in status["edges"]
    }
    for edge in (first, second):
        assert edge.deployment(dep_id)["state"] == "Running"
        # The edge's own log of the instance: started, stopped by the restart, started again.
        messages = [line["message"].removeprefix("[edge] ") for line in edge.logs(dep_id)]
        started = [i for i, m in enumerate(messages) if m == "started"]
        stopped = [i for i, m in enumerate(messages) if m.startswith("stopped")]
        assert len(started) >= 2 and stopped and started[0] < stopped[-1] < started[-1], messages


def test_deletion_stops_and_removes_the_deployment_from_the_edge(
    kube: Kube, edges: Callable[..., Edge]
) -> None:
    edge = edges("kraken")
    name, dep_id = deploy(kube, edge, state="Running")
    kube.wait("running", on_edge(edge, dep_id, lambda r: r["state"] == "Running"))

    kube.delete("AlgoDeployment", name)
    kube.wait_gone("AlgoDeployment", name)
    assert edge.deployment(dep_id) is None
    assert dep_id not in edge.deployment_ids()
    assert "1/1 edges" in kube.wait_event(name, "Undeployed")["message"]


def test_changing_the_venue_moves_it_to_the_new_edges(kube: Kube, edges: Callable[..., Edge]) -> None:
    old_edge, new_edge = edges("kraken"), edges("coinbase")
    old_venue, new_venue = unique("venue"), unique("venue")
    kube.create(venue_edge(unique("edge"), old_venue, external=[old_edge.endpoint]))
    kube.create(venue_edge(unique("edge"), new_venue, external=[new_edge.endpoint]))
    name = unique("mm")
    ref = {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256}
    kube.create(algo(name, old_venue, ref, state="Running"))
    dep_id = f"{kube.namespace}.{name}"
    kube.wait("running on the old edge", on_edge(old_edge, dep_id, lambda r: r["state"] == "Running"))

    kube.patch("AlgoDeployment", name, {"spec": {"venue": new_venue}})
    kube.wait("running on the new edge", on_edge(new_edge, dep_id, lambda r: r["state"] == "Running"))
    kube.wait("gone from the old edge", lambda: old_edge.deployment(dep_id) is None)
    status = kube.wait_status(
        "AlgoDeployment",
        name,
        lambda s: (
            [e["endpoint"] for e in s.get("edges") or []] == [new_edge.endpoint]
            and s.get("lifecycleState") == "Running"
        ),
        "moved",
    )["status"]
    assert status["edgesSummary"] == "1/1"
    assert old_edge.endpoint in kube.wait_event(name, "RemovedFromEdge")["message"]


def test_operator_restart_changes_nothing_on_the_edge(
    kube: Kube, edges: Callable[..., Edge], operator: Operator
) -> None:
    edge = edges("kraken")
    name, dep_id = deploy(kube, edge, state="Running")
    kube.wait_status("AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Running", "Running")

    def pushes() -> int:
        return sum(1 for line in edge.logs(dep_id) if line["message"].startswith("[edge] pushed bundle"))

    assert pushes() == 1
    operator.restart()
    # The new operator has resumed it and polled the edge several times ...
    operator.wait_passes("AlgoDeployment", 3)
    # ... and found everything as it should be: no second push, no restart of the instance.
    assert pushes() == 1
    messages = [line["message"].removeprefix("[edge] ") for line in edge.logs(dep_id)]
    assert messages.count("started") == 1 and not any(m.startswith("stopped") for m in messages)
    assert edge.deployment(dep_id)["state"] == "Running"


def test_pause_and_resume_reach_the_edge(kube: Kube, edges: Callable[..., Edge]) -> None:
    edge = edges("kraken")
    name, dep_id = deploy(kube, edge, state="Paused")  # straight from the push to Paused
    kube.wait("edge reports Paused", on_edge(edge, dep_id, lambda r: r["state"] == "Paused"))
    status = kube.wait_status("AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Paused", "Paused")
    ready = condition(status["status"], "Ready")
    assert (ready["status"], ready["message"]) == ("True", "paused as requested on 1/1 edges")

    kube.patch("AlgoDeployment", name, {"spec": {"state": "Running"}})
    kube.wait("edge reports Running", on_edge(edge, dep_id, lambda r: r["state"] == "Running"))
    kube.wait_event(name, "ResumedOnEdge")
    kube.patch("AlgoDeployment", name, {"spec": {"state": "Paused"}})
    kube.wait("edge reports Paused", on_edge(edge, dep_id, lambda r: r["state"] == "Paused"))
    kube.wait_event(name, "PausedOnEdge")
    kube.patch("AlgoDeployment", name, {"spec": {"state": "Stopped"}})
    kube.wait("edge reports Stopped", on_edge(edge, dep_id, lambda r: r["state"] == "Stopped"))


def test_idle_namespace_with_stopped_algos_writes_no_status(
    kube: Kube, edges: Callable[..., Edge], operator: Operator
) -> None:
    """Polls keep reading the edge, but heartbeats and last-seen times alone are not a change a user
    acts on: the objects' resourceVersions stay put between polls (no status write reaches etcd)."""
    edge = edges("kraken")
    names = [deploy(kube, edge, state="Stopped")[0] for _ in range(2)]
    for name in names:
        kube.wait_status("AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Stopped", "Stopped")
    operator.wait_passes("AlgoDeployment", 4)  # first writes settle (the edge's state moves Loaded->Stopped)

    def versions() -> dict[str, str]:
        return {
            f"{kind}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for kind in ("AlgoDeployment", "VenueEdge")
            for o in kube.list(kind)
            if kind == "VenueEdge" or o["metadata"]["name"] in names
        }

    before = versions()
    operator.wait_passes("AlgoDeployment", 6)
    operator.wait_passes("VenueEdge", 3)
    assert versions() == before
