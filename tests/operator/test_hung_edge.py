"""A hung edge (alive, but not answering: SIGSTOP) is reported by the operator as unreachable,
and comes back as soon as it answers again. In a cluster its pod's liveness probe restarts it
(tests/operator/test_edge_state.py checks the probe); here the edge is a real external process."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from .conftest import Edge, unique, venue_edge
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")


def test_a_stopped_edge_is_reported_unreachable_then_ready_again(
    kube: Kube, edges: Callable[..., Edge]
) -> None:
    venue = unique("venue")
    edge = edges(venue, "--bind", "127.0.0.1")
    name = unique("edge")
    kube.create(venue_edge(name, venue, external=[edge.endpoint]))
    kube.wait_status("VenueEdge", name, lambda s: s.get("lifecycleState") == "Ready", "Ready", timeout=60)

    edge.process.proc.send_signal(signal.SIGSTOP)
    try:
        status = kube.wait_status(
            "VenueEdge",
            name,
            lambda s: s.get("lifecycleState") == "Degraded" and not s["endpoints"][0]["reachable"],
            "the hung edge reported",
            timeout=60,
        )["status"]
        degraded = condition(status, "Degraded")
        assert degraded["reason"] == "EdgesUnavailable"
        assert "not answering" in degraded["message"] and "hung" in degraded["message"]
        assert status["readyEdges"] == 0
    finally:
        edge.process.proc.send_signal(signal.SIGCONT)
    kube.wait_status(
        "VenueEdge",
        name,
        lambda s: s.get("lifecycleState") == "Ready",
        "Ready again after SIGCONT",
        timeout=60,
    )


def test_an_engaged_kill_switch_shows_in_the_venue_edges_status(
    kube: Kube, edges: Callable[..., Edge]
) -> None:
    from sequence.client import EdgeClient

    venue = unique("venue")
    edge = edges(venue, "--bind", "127.0.0.1")
    name = unique("edge")
    kube.create(venue_edge(name, venue, external=[edge.endpoint]))
    status = kube.wait_status(
        "VenueEdge", name, lambda s: s.get("lifecycleState") == "Ready", "Ready", timeout=60
    )
    assert status["status"]["endpoints"][0]["killSwitch"] is False
    assert status["status"]["endpoints"][0].get("canTrade") is None  # a sandbox edge has no order gateway

    with EdgeClient(edge.endpoint) as client:
        client.kill_switch(True, "drill")
    kube.wait_status(
        "VenueEdge", name, lambda s: s["endpoints"][0].get("killSwitch") is True, "the kill switch in status"
    )
    with EdgeClient(edge.endpoint) as client:
        client.kill_switch(False)
    kube.wait_status(
        "VenueEdge", name, lambda s: s["endpoints"][0].get("killSwitch") is False, "the release in status"
    )
