"""An ExecutionGraph whose coordinator never answers: status says why from the first pass, nothing is
submitted, and deletion is released after deleteTimeout instead of hanging on the finalizer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import DELETE_TIMEOUT, Coordinator, Process, closed_port_endpoint, unique
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    """The operator's coordinatorDefaults.endpoint: a port nothing listens on."""
    endpoint = closed_port_endpoint()
    log = tmp_path_factory.mktemp("nothing") / "true.log"
    yield Coordinator(endpoint, endpoint, Process(["true"], log))


def test_graph_waits_for_its_coordinator_and_deletion_is_not_blocked(kube: Kube) -> None:
    name = unique("orphan")
    node = {"side": "buy", "symbol": "BTC-USD", "qty": 0.01}
    kube.create(
        {
            "apiVersion": "sequence.dev/v1alpha1",
            "kind": "ExecutionGraph",
            "metadata": {"name": name},
            "spec": {"nodes": {"n": node}},
        }
    )
    status = kube.wait_status(
        "ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Pending", "Pending"
    )["status"]
    ready = condition(status, "Ready")
    assert ready["reason"] == "CoordinatorUnavailable" and "unreachable" in ready["message"]
    assert status.get("graphId") is None
    kube.delete("ExecutionGraph", name)
    kube.wait_gone("ExecutionGraph", name, timeout=DELETE_TIMEOUT + 60)
    event = kube.wait_event(name, "CancelTimedOut")
    assert event["type"] == "Warning" and "sequence graph cancel" in event["message"]
