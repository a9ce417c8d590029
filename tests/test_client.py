"""`sequence.client` against real `sequence edge` and `sequence coordinator` processes: the same
calls sync and async, wire models back, one error hierarchy, the call-outcome hook; plus the
control-API fixes the client relies on (error shape on unknown routes and methods, uppercase
sha256, re-push Stopped, stop of a Loaded deployment, orders and mesh blocks as documented)."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sequence.client import (
    ApiError,
    AsyncCoordinatorClient,
    AsyncEdgeClient,
    CoordinatorClient,
    DeploymentStatus,
    EdgeClient,
    NotFound,
    Rejected,
    Unreachable,
)
from tests.conftest import AUTH
from tests.mesh_support import CoordinatorProcess, free_port, wait_until
from tests.test_edge_process import RAW, STATIC_REPLAY, EdgeProcess

WASM = RAW.read_bytes()
SHA = hashlib.sha256(WASM).hexdigest()


@pytest.fixture(scope="module")
def edge_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    tmp = tmp_path_factory.mktemp("client")
    replay = tmp / "static.csv"
    replay.write_text(STATIC_REPLAY)
    proc = EdgeProcess(
        tmp, "--venue", "kraken", "--edge-id", "client-0", "--feed", "replay", "--replay-file", str(replay)
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def coordinator() -> Iterator[CoordinatorProcess]:
    cc = CoordinatorProcess()
    yield cc
    cc.stop()


@pytest.fixture
def edge(edge_proc: EdgeProcess) -> Iterator[EdgeClient]:
    with EdgeClient(f"127.0.0.1:{edge_proc.port}", timeout=10.0) as client:
        yield client


def test_push_status_orders_trace_logs_and_remove_return_wire_models(edge: EdgeClient) -> None:
    status = edge.push("sync", WASM, symbols=["BTC-USD"], state="Running")  # sha256 computed
    assert isinstance(status, DeploymentStatus) and status.state == "Running"
    assert status.bundle_sha256 == SHA and status.edge_id == "client-0"
    wait_until(lambda: edge.status("sync").open_orders == 1, 30, "raw_algo's resting bid")
    [order] = edge.orders("sync", open_only=True)
    assert (order.deployment_id, order.side, order.px, order.qty) == ("sync", "buy", 100.0, 0.01)
    assert order.queue_ahead is not None
    assert [o.order_ref for o in edge.orders("sync")] == [order.order_ref]
    trace = edge.trace(order.order_ref)
    assert trace.deployment_id == "sync" and [e.event for e in trace.events][:2] == ["tick", "submit"]
    assert any("pushed bundle" in line.message for line in edge.logs("sync", tail=50))
    assert "sync" in [d.deployment_id for d in edge.deployments()]
    assert edge.info().deployments == ["sync"]
    result = edge.remove("sync")
    assert (result.cancelled, result.cancelled_by_edge, result.status.removed) == (1, 1, True)
    assert result.status.state == "Running" and result.status.open_orders == 0


def test_refusals_raise_rejected_with_the_servers_reason(edge: EdgeClient) -> None:
    with pytest.raises(Rejected) as refused:
        edge.push("bad", WASM, sha256="00" * 32, symbols=["BTC-USD"])
    assert (refused.value.status, refused.value.reason) == (400, "Sha256Mismatch")
    with pytest.raises(Rejected) as refused:
        edge.push("bad", WASM, symbols=["BTC-USD"], colour="blue")
    assert refused.value.reason == "UnknownField" and "colour" in refused.value.message
    with pytest.raises(NotFound) as missing:
        edge.status("bad")
    assert (missing.value.status, missing.value.reason) == (404, "NotFound")
    with pytest.raises(Rejected) as refused:
        edge.trace("P-zzzzzzzz")
    assert refused.value.reason == "BadOrderRef"


def test_a_closed_port_is_unreachable_and_every_call_is_counted() -> None:
    outcomes: list[str] = []
    with (
        EdgeClient(f"127.0.0.1:{free_port()}", timeout=2.0, on_call=outcomes.append) as dead,
        pytest.raises(Unreachable) as gone,
    ):
        dead.info()
    assert isinstance(gone.value, ApiError) and gone.value.reason == "Unreachable"
    assert outcomes == ["unreachable"]


def test_the_call_hook_counts_ok_rejected_and_404_as_ok(edge_proc: EdgeProcess) -> None:
    outcomes: list[str] = []
    with EdgeClient(f"http://127.0.0.1:{edge_proc.port}", on_call=outcomes.append) as edge:
        edge.info()
        with pytest.raises(NotFound):
            edge.status("nobody")
        with pytest.raises(Rejected):
            edge.push("x", WASM, symbols=["btc/usd"])
    assert outcomes == ["ok", "ok", "rejected"]


def test_uppercase_sha256_is_accepted_and_reported_lowercase(edge: EdgeClient) -> None:
    status = edge.push("upper", WASM, sha256=SHA.upper(), symbols=["BTC-USD"])
    assert status.bundle_sha256 == SHA and status.state == "Loaded"
    edge.remove("upper")


def test_stop_on_a_loaded_deployment_changes_nothing(edge: EdgeClient) -> None:
    assert edge.push("loaded", WASM, symbols=["BTC-USD"]).state == "Loaded"
    assert edge.stop("loaded").state == "Loaded"
    assert edge.start("loaded").state == "Running"
    edge.remove("loaded")


def test_a_re_push_saying_stopped_stops_a_running_deployment(edge: EdgeClient) -> None:
    assert edge.push("swap", WASM, symbols=["BTC-USD"], state="Running").state == "Running"
    wait_until(lambda: edge.status("swap").open_orders == 1, 30, "raw_algo's resting bid")
    status = edge.push("swap", WASM, symbols=["BTC-USD"], state="Stopped")
    assert status.state == "Stopped" and status.open_orders == 1  # resting orders kept
    lines = [line.message for line in edge.logs("swap", tail=20)]
    assert lines[-2:] == [
        "[edge] replaced bundle sha256=" + SHA[:12] + f" ({len(WASM)} bytes), symbols BTC-USD, state running",
        "[edge] stopped; 1 resting order(s) kept",
    ]
    edge.remove("swap")


def test_edge_mesh_block_has_every_key_without_a_coordinator(edge: EdgeClient) -> None:
    mesh = edge.info().mesh
    assert (mesh.coordinator, mesh.connected, mesh.registered) == (None, False, False)
    assert (mesh.rejected, mesh.coordinator_venues, mesh.client) == ({}, [], {})
    raw = httpx.get(f"{edge.base_url}/v1/edge", headers=AUTH).json()["mesh"]
    assert set(raw) == {
        "coordinator",
        "connected",
        "registered",
        "rejected",
        "coordinator_venues",
        "client",
        "dropped",
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/v1/nothing-here", 404, "UnknownRoute"),
        ("DELETE", "/metrics", 405, "MethodNotAllowed"),
        ("POST", "/healthz", 405, "MethodNotAllowed"),
    ],
)
def test_unknown_routes_and_methods_answer_the_error_shape_on_both_servers(
    edge_proc: EdgeProcess, coordinator: CoordinatorProcess, method: str, path: str, status: int, reason: str
) -> None:
    for port in (edge_proc.port, coordinator.port):
        resp = httpx.request(method, f"http://127.0.0.1:{port}{path}", headers=AUTH)
        assert resp.status_code == status
        assert resp.json()["error"]["reason"] == reason and resp.json()["error"]["message"]


def test_bad_json_has_one_reason_on_both_servers(
    edge_proc: EdgeProcess, coordinator: CoordinatorProcess
) -> None:
    for url in (
        f"http://127.0.0.1:{edge_proc.port}/v1/deployments/x",
        f"http://127.0.0.1:{coordinator.port}/v1/mesh/arb",
    ):
        resp = httpx.put(url, content=b"{not json", headers=AUTH)
        assert resp.status_code == 400 and resp.json()["error"]["reason"] == "BadJson"


def test_coordinator_client_routes_and_topology(coordinator: CoordinatorProcess) -> None:
    with CoordinatorClient(f"127.0.0.1:{coordinator.port}") as cc:
        assert cc.health().ok
        members = [
            {"deployment": "p-maker", "label": "maker", "venue": "kraken", "peers": ["hedger"]},
            {"deployment": "p-hedger", "label": "hedger", "venue": "coinbase", "peers": []},
        ]
        topology = cc.set_routes("client-arb", members)
        assert topology.routing_table and sorted(topology.missing_labels or []) == ["hedger", "maker"]
        assert cc.topology("client-arb").mesh_group == "client-arb"
        assert "client-arb" in [g.mesh_group for g in cc.groups().groups]
        with pytest.raises(Rejected) as refused:
            cc.set_routes("client-arb", [{**members[0], "weight": 3}])
        assert refused.value.reason == "InvalidRoutingTable" and "unknown field" in refused.value.message
        with pytest.raises(Rejected) as refused:
            cc.set_routes("bad group!", members)
        assert refused.value.reason == "BadGroupName"
        assert cc.delete_routes("client-arb").deleted == "client-arb"
        with pytest.raises(NotFound):
            cc.topology("client-arb")
        assert cc.edges().edges == []


def test_async_clients_make_the_same_calls(edge_proc: EdgeProcess, coordinator: CoordinatorProcess) -> None:
    async def scenario() -> None:
        outcomes: list[str] = []
        shared = httpx.AsyncClient()
        edge = AsyncEdgeClient(f"127.0.0.1:{edge_proc.port}", http=shared, on_call=outcomes.append)
        status = await edge.push("async", WASM, {"symbols": ["BTC-USD"], "state": "Stopped"})
        assert status.state == "Loaded"
        seen: list[str] = []

        async def follow() -> None:
            async for line in edge.logs("async", tail=0, follow=True):
                seen.append(line.message)
                if line.message == "[edge] started":
                    return

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0)  # the follower subscribes before the start
        while not follower.done():
            await edge.start("async")
            await asyncio.wait({follower}, timeout=1.0)
        assert "[edge] started" in seen
        with pytest.raises(NotFound):
            await edge.status("nobody")
        assert (await edge.remove("async")).status.removed
        async with AsyncCoordinatorClient(f"127.0.0.1:{coordinator.port}", on_call=outcomes.append) as cc:
            assert (await cc.health()).ok
            with pytest.raises(Rejected):
                await cc.set_routes("x", [{"deployment": "d", "label": "bad label", "venue": "v"}])
        await shared.aclose()
        assert outcomes[:2] == ["ok", "ok"] and outcomes[-1] == "rejected"

    asyncio.run(scenario())


def test_the_token_travels_as_a_bearer_header(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = json.dumps({"ok": True, "edges": 0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with CoordinatorClient(f"127.0.0.1:{server.server_port}", token="s3cret") as cc:
            assert cc.health().ok
        monkeypatch.setenv("SEQUENCE_TOKEN", "from-env")  # what `sequence up` exports to its processes
        with CoordinatorClient(f"127.0.0.1:{server.server_port}") as cc:
            assert cc.health().edges == 0
        monkeypatch.delenv("SEQUENCE_TOKEN")
        with CoordinatorClient(f"127.0.0.1:{server.server_port}") as cc:
            assert cc.health().ok
    finally:
        server.shutdown()
    assert seen == ["Bearer s3cret", "Bearer from-env", None]


def test_namespaced_ids_are_url_encoded_by_the_client(edge: EdgeClient) -> None:
    assert edge.push("team-a/mm", WASM, symbols=["BTC-USD"]).deployment_id == "team-a/mm"
    assert edge.status("team-a/mm").state == "Loaded"
    assert edge.remove("team-a/mm").status.removed


def test_a_wrong_method_on_a_deployment_names_the_allowed_ones(edge_proc: EdgeProcess) -> None:
    resp = httpx.patch(f"http://127.0.0.1:{edge_proc.port}/v1/deployments/x", headers=AUTH)
    assert resp.status_code == 405 and resp.json()["error"]["reason"] == "MethodNotAllowed"
    assert {"GET", "PUT", "DELETE"} <= {m.strip() for m in resp.headers["Allow"].split(",")}


def test_http_bundle_urls_only_on_an_edge_that_allows_them(
    edge: EdgeClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    site = tmp_path_factory.mktemp("site")
    (site / "raw.wasm").write_bytes(WASM)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/raw.wasm"
    allowing = EdgeProcess(
        site,
        *("--venue", "kraken", "--symbols", "BTC-USD", "--allow-http-bundles"),
        *("--allow-bundle-network", "127.0.0.0/8"),  # the test server is on loopback
    )
    try:
        with pytest.raises(Rejected) as refused:  # the default edge: https:// only
            edge.push_url("plain", url, SHA, symbols=["BTC-USD"])
        assert refused.value.reason == "BundleUrlRefused" and "--allow-http-bundles" in refused.value.message
        with EdgeClient(f"127.0.0.1:{allowing.port}") as client:
            status = client.push_url("plain", url, SHA, symbols=["BTC-USD"])
            assert (status.state, status.bundle_sha256) == ("Loaded", SHA)
    finally:
        allowing.stop()
        server.shutdown()
