"""ExecutionGraph objects over the real coordinator and a real edge: the operator submits them once,
writes the engine's progress into status, amends execution parameters, refuses other spec changes
and cancels the graph (its orders at the edge) when the object is deleted."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..mesh_support import wait_until
from .conftest import (
    REAL_KUBECONFIG,
    REPO,
    Cluster,
    Coordinator,
    Edge,
    Operator,
    Process,
    free_port,
    has_command,
    http_json,
    sequence_cmd,
    unique,
    wait_http,
)
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")
BTC, ETH = "BTC-USD", "ETH-USD"
BID_PRICE = 48_000.0  # under the calm sim market (BTC 50,000): a bid that rests and never fills


def start_edge(log_dir: Path, coordinator: Coordinator) -> tuple[str, Edge]:
    """A sim edge on a venue of its own, joined to the coordinator; a calm market around fixed prices."""
    name = f"xg{uuid.uuid4().hex[:6]}"
    port = free_port()
    log = log_dir / f"edge-{name}.log"
    args = [*sequence_cmd(), "edge", "--bind", "127.0.0.1", "--port", str(port), "--venue", name]
    args += ["--edge-id", f"{name}-0", "--coordinator", coordinator.mesh, "--symbols", f"{BTC},{ETH}"]
    args += ["--updates-per-sec", "500", "--volatility-bps", "0", "--dislocation-bps", "0", "--depth", "10"]
    args += ["--start-price", f"{BTC}=50000", "--start-price", f"{ETH}=2500"]
    process = Process(args, log)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, process.proc, log)
        engine = f"http://{coordinator.endpoint}/v1/graphs-engine"
        wait_until(
            lambda: name in http_json(engine)[1].get("venues", {}), 60, f"venue {name} in the graph engine"
        )
    except BaseException:
        process.stop()
        raise
    return name, Edge(name, f"127.0.0.1:{port}", process)


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory, coordinator: Coordinator) -> Iterator[tuple[str, Edge]]:
    if not has_command("edge"):
        pytest.skip("`sequence edge` is not in this checkout")
    name, edge = start_edge(tmp_path_factory.mktemp("edge"), coordinator)
    try:
        yield name, edge
    finally:
        edge.process.stop()


def graph(name: str, nodes: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sequence.dev/v1alpha1",
        "kind": "ExecutionGraph",
        "metadata": {"name": name},
        "spec": {"nodes": nodes, "edges": [], **spec},
    }


def engine_graph(coordinator: Coordinator, graph_id: str) -> dict[str, Any]:
    code, data = http_json(f"http://{coordinator.endpoint}/v1/graphs/{graph_id}")
    assert code == 200, data
    return data  # type: ignore[no-any-return]


def graphs_with_client_id(coordinator: Coordinator, client_id: str) -> list[dict[str, Any]]:
    code, data = http_json(f"http://{coordinator.endpoint}/v1/graphs")
    assert code == 200, data
    return [g for g in data["graphs"] if g["client_id"] == client_id]


def edge_orders(edge: Edge) -> list[dict[str, Any]]:
    code, data = http_json(edge.url("/v1/graph-orders"))
    assert code == 200, data
    return data["orders"]  # type: ignore[no-any-return]


def reasons(kube: Kube, name: str) -> list[str]:
    return [e.get("reason", "") for e in kube.events(name)]


def kubectl_get(cluster: Cluster, name: str) -> str:
    result = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "-n",
            cluster.namespace,
            "get",
            "xg",
            *([name] if name else []),
            "-o",
            "wide",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_applied_graph_gets_status_at_once_and_progresses_to_completed(
    kube: Kube, cluster: Cluster, coordinator: Coordinator, operator: Operator, venue: tuple[str, Edge]
) -> None:
    venue_name, edge = venue
    name = unique("twap")
    twap = {"side": "buy", "symbol": ETH, "qty": 0.04, "venue": venue_name, "urgency": "urgent"}
    twap["twap"] = {"slices": 4, "intervalMs": 300}
    kube.create(graph(name, {"twap": twap}, metadata={"desk": "test"}))

    # The first pass writes the graph id and the engine's state; the TWAP then completes.
    first = kube.wait_status("ExecutionGraph", name, lambda s: bool(s.get("graphId")), "status.graphId")[
        "status"
    ]
    assert first["lifecycleState"] in ("Pending", "Active", "PartialFill", "Completed")
    assert first["clientId"] == f"{kube.namespace}/{name}" and first["nodeCount"] == 1
    done = kube.wait_status(
        "ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Completed", "Completed", timeout=60
    )
    status = done["status"]
    node = status["nodes"]["twap"]
    assert status["status"] == "completed" and status["nodesSummary"] == "1/1"
    assert node["status"] == "completed" and node["filledQty"] == pytest.approx(0.04)
    assert node["slices"] == 4 and node["orders"] >= 4
    assert (
        condition(status, "Ready")["status"] == "True" and condition(status, "Ready")["reason"] == "Completed"
    )
    assert status["observedGeneration"] == done["metadata"]["generation"]
    # The edge traded it: its graph orders carry the graph's client order ids.
    engine = engine_graph(coordinator, status["graphId"])
    ids = {o["client_order_id"] for o in engine["nodes"]["twap"]["orders"]}
    filled = sum(o["filled"] for o in edge_orders(edge) if o["client_order_id"] in ids)
    assert filled == pytest.approx(0.04)
    assert engine["metadata"]["desk"] == "test"  # the user's metadata travels with the graph
    kube.wait_event(name, "Submitted")
    kube.wait_event(name, "GraphCompleted")
    if REAL_KUBECONFIG and shutil.which("kubectl"):
        table = kubectl_get(cluster, name)
        print(table)
        assert "Completed" in table and "1/1" in table and status["graphId"] in table

    # Nothing moves any more: further passes write nothing, and an operator restart submits nothing
    # (kopf itself annotates the object on resume, so the restart is judged by status).
    before = kube.get("ExecutionGraph", name)
    assert before is not None
    operator.wait_passes("ExecutionGraph", 3)
    after = kube.get("ExecutionGraph", name)
    assert after is not None and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    operator.restart()
    operator.wait_passes("ExecutionGraph", 3)
    assert (kube.get("ExecutionGraph", name) or {}).get("status") == before["status"]
    assert len(graphs_with_client_id(coordinator, f"{kube.namespace}/{name}")) == 1


def test_a_lost_status_write_never_submits_the_graph_twice(
    kube: Kube, cluster: Cluster, coordinator: Coordinator, operator: Operator, venue: tuple[str, Edge]
) -> None:
    """The operator stops after submitting but before the graph id is in status (simulated by wiping it):
    the next operator finds the graph in the engine by client id and uid instead of submitting again."""
    venue_name, _ = venue
    name = unique("bid")
    bid = {"side": "buy", "symbol": BTC, "qty": 0.01, "venue": venue_name, "limitPrice": BID_PRICE}
    kube.create(graph(name, {"bid": bid}))
    status = kube.wait_status("ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Active", "Active")
    graph_id = status["status"]["graphId"]
    operator.process.stop()
    wipe = {"status": {"graphId": None, "lifecycleState": None, "submittedSpecHash": None}}
    kube.ok(
        "PATCH",
        kube.path("ExecutionGraph", name, subresource="status"),
        wipe,
        content_type="application/merge-patch+json",
    )
    operator.process = Process(operator.process.args, operator.process.log, operator.process.env, append=True)
    wait_http(
        f"http://127.0.0.1:{operator.settings['healthPort']}/healthz",
        60,
        operator.process.proc,
        operator.process.log,
    )
    again = kube.wait_status("ExecutionGraph", name, lambda s: bool(s.get("graphId")), "graphId again")[
        "status"
    ]
    assert again["graphId"] == graph_id and again["lifecycleState"] == "Active"
    assert [g["graph_id"] for g in graphs_with_client_id(coordinator, f"{kube.namespace}/{name}")] == [
        graph_id
    ]
    kube.delete("ExecutionGraph", name)
    kube.wait_gone("ExecutionGraph", name, timeout=60)


def test_deleting_a_running_graph_cancels_its_orders_at_the_edge(
    kube: Kube, coordinator: Coordinator, venue: tuple[str, Edge]
) -> None:
    venue_name, edge = venue
    name = unique("bid")
    bid = {"side": "buy", "symbol": BTC, "qty": 0.01, "venue": venue_name, "limitPrice": BID_PRICE}
    kube.create(graph(name, {"bid": bid}))
    status = kube.wait_status(
        "ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Active", "the bid working"
    )["status"]
    graph_id = status["graphId"]
    ids = {o["client_order_id"] for o in engine_graph(coordinator, graph_id)["nodes"]["bid"]["orders"]}

    def resting() -> list[dict[str, Any]]:
        return [o for o in edge_orders(edge) if o["client_order_id"] in ids and o["state"] == "open"]

    kube.wait("the bid resting at the edge", resting)
    kube.delete("ExecutionGraph", name)
    kube.wait_gone("ExecutionGraph", name, timeout=60)
    assert engine_graph(coordinator, graph_id)["status"] == "aborted"
    kube.wait("the bid cancelled at the edge", lambda: not resting())
    # deletion submitted nothing new
    assert [g["graph_id"] for g in graphs_with_client_id(coordinator, f"{kube.namespace}/{name}")] == [
        graph_id
    ]


def test_execution_parameters_are_amended_and_other_changes_refused(
    kube: Kube, coordinator: Coordinator, venue: tuple[str, Edge]
) -> None:
    venue_name, _ = venue
    name = unique("amend")
    bid = {"side": "buy", "symbol": BTC, "qty": 0.01, "venue": venue_name, "limitPrice": BID_PRICE}
    kube.create(graph(name, {"bid": {**bid, "urgency": "low", "policy": "passive"}}))
    graph_id = kube.wait_status(
        "ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Active", "Active"
    )["status"]["graphId"]

    kube.patch("ExecutionGraph", name, {"spec": {"nodes": {"bid": {"urgency": "high", "horizonMs": 600000}}}})
    status = kube.wait_status(
        "ExecutionGraph",
        name,
        lambda s: (s.get("nodes") or {}).get("bid", {}).get("urgency") == "high",
        "the amended urgency in status",
    )["status"]
    assert status["nodes"]["bid"]["horizonMs"] == 600000 and status["graphId"] == graph_id
    in_engine = engine_graph(coordinator, graph_id)["nodes"]["bid"]
    assert in_engine["urgency"] == "high" and in_engine["horizon_ms"] == 600000
    kube.wait_event(name, "Amended")

    # The quantity is not an execution parameter: refused, the engine's graph unchanged.
    kube.patch("ExecutionGraph", name, {"spec": {"nodes": {"bid": {"qty": 0.02}}}})
    status = kube.wait_status(
        "ExecutionGraph",
        name,
        lambda s: condition(s, "Degraded").get("reason") == "SpecChangeRefused",
        "SpecChangeRefused",
    )["status"]
    assert "cannot change" in condition(status, "Degraded")["message"]
    event = kube.wait_event(name, "SpecChangeRefused")
    assert event["type"] == "Warning"
    assert engine_graph(coordinator, graph_id)["nodes"]["bid"]["target_qty_1e8"] == 1_000_000
    assert status["graphId"] == graph_id and status["lifecycleState"] == "Active"
    kube.delete("ExecutionGraph", name)
    kube.wait_gone("ExecutionGraph", name, timeout=60)


def test_a_refused_graph_shows_the_reason_places_nothing_and_runs_once_its_spec_is_fixed(
    kube: Kube, coordinator: Coordinator, venue: tuple[str, Edge]
) -> None:
    venue_name, edge = venue
    before = len(edge_orders(edge))
    name = unique("big")
    big = {"side": "buy", "symbol": BTC, "qty": 0.01, "venue": venue_name}
    kube.create(graph(name, {"big": big}, risk={"admission": {"maxNotionalUsd": 10.0}}))
    status = kube.wait_status(
        "ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Refused", "Refused"
    )["status"]
    assert "max_notional_usd" in status["reason"] and status.get("graphId") is None
    assert condition(status, "Ready")["reason"] == "GraphRefused"
    assert "max_notional_usd" in condition(status, "Ready")["message"]
    assert status["error"]["reason"] == "GraphRefused"
    event = kube.wait_event(name, "GraphRefused")
    assert event["type"] == "Warning" and "max_notional_usd" in event["message"]
    assert graphs_with_client_id(coordinator, f"{kube.namespace}/{name}") == []
    assert len(edge_orders(edge)) == before

    # A spec change is submitted at once; admitted, the graph runs to completion.
    kube.patch("ExecutionGraph", name, {"spec": {"risk": {"admission": {"maxNotionalUsd": 100000.0}}}})
    status = kube.wait_status(
        "ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Completed", "Completed", timeout=60
    )["status"]
    assert status.get("reason") is None and status.get("error") is None and status["graphId"]
    assert status["nodes"]["big"]["filledQty"] == pytest.approx(0.01)
    kube.delete("ExecutionGraph", name)
    kube.wait_gone("ExecutionGraph", name, timeout=60)


def test_a_graph_paused_by_its_failure_action_reads_paused_until_deleted(
    kube: Kube, coordinator: Coordinator, tmp_path: Path
) -> None:
    """The edge under a working node dies; the graph's on_disconnect action pauses it."""
    venue_name, edge = start_edge(tmp_path, coordinator)
    name = unique("pause")
    try:
        bid = {"side": "buy", "symbol": BTC, "qty": 0.01, "venue": venue_name, "limitPrice": BID_PRICE}
        kube.create(graph(name, {"bid": bid}, risk={"failure": {"onDisconnect": "pause_graph"}}))
        kube.wait_status("ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Active", "Active")
        edge.process.proc.kill()
        status = kube.wait_status(
            "ExecutionGraph", name, lambda s: s.get("lifecycleState") == "Paused", "Paused", timeout=60
        )["status"]
        assert status["status"] == "paused" and venue_name in status["reason"]
        assert any(venue_name in b for b in status["breaches"])
        degraded = condition(status, "Degraded")
        assert degraded["status"] == "True" and degraded["reason"] == "GraphPaused"
        assert "sequence graph resume" in condition(status, "Ready")["message"]
        assert kube.wait_event(name, "GraphPaused")["type"] == "Warning"
    finally:
        edge.process.stop()
    graph_id = status["graphId"]
    kube.delete("ExecutionGraph", name)
    kube.wait_gone("ExecutionGraph", name, timeout=60)
    assert engine_graph(coordinator, graph_id)["status"] == "aborted"


def test_the_rendered_example_graphs_run_on_the_cluster(
    kube: Kube, cluster: Cluster, coordinator: Coordinator, tmp_path: Path
) -> None:
    """`sequence render examples/graphs` applied as is: every graph gets status, the TWAP's final
    state and fills match the engine's, and the bracket's take-profit works after the entry fills."""
    prices = [
        "--start-price",
        "BTC-USD=65000",
        "--start-price",
        "ETH-USD=3000",
        "--start-price",
        "ETH-USD-PERP=3001",
    ]
    risk = '{"max_notional": 10000000, "max_order_qty": 100000, "max_position": 100000}'
    edges = []
    for venue_name in ("kraken", "coinbase"):
        port = free_port()
        log = tmp_path / f"edge-{venue_name}.log"
        args = [*sequence_cmd(), "edge", "--bind", "127.0.0.1", "--port", str(port), "--venue", venue_name]
        args += ["--edge-id", f"{venue_name}-0", "--coordinator", coordinator.mesh, "--graph-risk", risk]
        args += ["--symbols", "BTC-USD,ETH-USD,ETH-USD-PERP", "--updates-per-sec", "500", "--depth", "10"]
        args += ["--volatility-bps", "0", "--dislocation-bps", "0", *prices]
        edges.append(Process(args, log))
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, edges[-1].proc, log)
    try:
        engine = f"http://{coordinator.endpoint}/v1/graphs-engine"
        wait_until(
            lambda: {"kraken", "coinbase"} <= set(http_json(engine)[1].get("venues", {})),
            60,
            "both venues up",
        )
        rendered = subprocess.run(
            [*sequence_cmd(), "render", "examples/graphs"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert rendered.returncode == 0, rendered.stderr
        graphs = [o for o in yaml.safe_load_all(rendered.stdout) if o and o["kind"] == "ExecutionGraph"]
        assert {g["metadata"]["name"] for g in graphs} == {
            "graphs-bracket",
            "graphs-twap",
            "graphs-hedge",
            "graphs-breakout",
        }
        for obj in graphs:
            kube.create(obj)
        for obj in graphs:
            kube.wait_status(
                "ExecutionGraph", obj["metadata"]["name"], lambda s: bool(s.get("graphId")), "submitted"
            )
        # The TWAP runs 10 slices over 30 s to a final state; status then says what the engine says.
        twap = kube.wait_status(
            "ExecutionGraph",
            "graphs-twap",
            lambda s: s.get("lifecycleState") in ("Completed", "Expired", "Aborted"),
            "the TWAP finished",
            120,
        )["status"]
        in_engine = engine_graph(coordinator, twap["graphId"])
        print("example TWAP:", in_engine["status"], in_engine["nodes"]["twap"]["filled_qty_1e8"] / 1e8, "BTC")
        assert twap["status"] == in_engine["status"] and twap["nodes"]["twap"]["slices"] == 10
        assert twap["nodes"]["twap"]["filledQty"] == in_engine["nodes"]["twap"]["filled_qty_1e8"] / 1e8
        assert twap["nodes"]["twap"]["orders"] == len(in_engine["nodes"]["twap"]["orders"])
        bracket = kube.wait_status(
            "ExecutionGraph",
            "graphs-bracket",
            lambda s: (
                (s.get("nodes") or {}).get("entry", {}).get("status") == "completed"
                and s["nodes"]["tp"]["status"] in ("active", "partial_fill", "completed")
            ),
            "the bracket's take-profit working after the entry filled",
        )["status"]
        assert bracket["edgesFired"]["entry->tp"] == 1
        if REAL_KUBECONFIG and shutil.which("kubectl"):
            print(kubectl_get(cluster, ""))
    finally:
        for obj in kube.list("ExecutionGraph"):
            kube.delete("ExecutionGraph", obj["metadata"]["name"])
        kube.wait("graphs deleted", lambda: not kube.list("ExecutionGraph"), 60)
        for process in edges:
            process.stop()
