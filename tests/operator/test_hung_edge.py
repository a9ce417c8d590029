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
