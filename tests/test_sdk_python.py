"""The Python SDK (`import sequence`, `sequence.aio`) against a real `sequence up` session: the
deployment-keyed calls, the symbol-keyed legacy calls, and the session's `GET /v1/algos`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import sequence
import sequence.aio

from .conftest import EXAMPLES
from .mesh_support import wait_until
from .test_up import UpSession, session  # noqa: F401 (the fixture)

MARKET_MAKER = EXAMPLES / "market-maker"
WASM = (MARKET_MAKER / "market_maker.wasm").read_bytes()
RISK = {
    "max_order_qty": 0.05,
    "max_notional": 10000,
    "max_position": 0.2,
    "max_open_orders": 4,
    "max_orders_per_sec": 50,
    "price_band_bps": 100,
    "max_loss": 1000,
}
PARAMS = {"spread_bps": 4, "qty": 0.01, "max_position": 0.05, "requote_ms": 50}


@pytest.fixture
def run(session: Callable[..., UpSession], monkeypatch: pytest.MonkeyPatch) -> UpSession:  # noqa: F811
    started = session(str(MARKET_MAKER))
    # connect() finds the session where `sequence up` wrote it, and never falls back to a cluster
    monkeypatch.setenv("SEQUENCE_STATE_DIR", started.env["SEQUENCE_STATE_DIR"])
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    return started


def session_get(run: UpSession, path: str, token: str | None = "session") -> httpx.Response:
    headers = {"Authorization": f"Bearer {run.token() if token == 'session' else token}"} if token else {}
    return httpx.get(run.state()["api_url"] + path, headers=headers, timeout=10.0)


def assert_deployment_shape(dep: Any, name: str) -> None:
    assert isinstance(dep, sequence.Deployment), dep
    assert (dep.deployment_id, dep.name) == (f"market-maker-{name}", name)
    assert dep.symbols == ["BTC-USD"] and dep.size_bytes == len(WASM), dep
    assert dep.status in ("Loaded", "Stopped"), dep  # deployments start stopped
    assert dep.pushed_to == dep.capable_edges and len(dep.pushed_to) == 1, dep
    [edge] = dep.edges
    assert isinstance(edge, sequence.DeploymentEdge)
    assert edge.pushed and edge.venue == "kraken" and edge.edge_id == dep.pushed_to[0], edge


@pytest.mark.slow
def test_the_lifecycle_and_the_legacy_calls_against_a_session(run: UpSession) -> None:
    seq = sequence.connect(project=MARKET_MAKER)
    assert seq.target == "local"
    dep = seq.deploy_algo("py-mm", WASM, ["BTC-USD"], venue="kraken", risk=RISK, params=PARAMS)
    assert_deployment_shape(dep, "py-mm")
    assert "py-mm" in run.state()["deployments"]  # the CLI verbs see it too

    assert seq.algo_start("py-mm")["state"] == "Running"
    metrics = wait_until(lambda: (m := seq.algo_metrics("py-mm"))["fills"] > 0 and m, 120, "fills")
    assert metrics["orders"] >= metrics["fills"] > 0 and metrics["state"] == "Running", metrics
    assert set(metrics) >= {"orders", "fills", "latency_ns", "realized_pnl", "unrealized_pnl", "position"}
    assert metrics["latency_ns"]["p50"] is not None, metrics
    assert any("market maker started" in line["message"] for line in seq.algo_logs("py-mm", 50))
    assert len(seq.algo_logs("py-mm", 1)) == 1

    mesh = seq.algo_mesh("mm")  # the deploy block's deployment is in the project's mesh group
    assert mesh["deployment_id"] == "market-maker-mm" and mesh["mesh_group"] == "market-maker", mesh
    assert [i["label"] for i in mesh["instances"]] == ["mm"] and "links" in mesh, mesh

    # GET /v1/algos: one row per symbol per deployment; the SDK returns the endpoint's rows
    rows = seq.algos()
    assert {(r["symbol"], r["name"]) for r in rows} == {("BTC-USD", "mm"), ("BTC-USD", "py-mm")}, rows
    assert _same_rows(session_get(run, "/v1/algos").json(), rows)
    per_edge = seq.algos_per_edge()
    assert [r["edge_id"] for r in per_edge] == [dep.pushed_to[0]] * 2, per_edge
    assert _same_rows(session_get(run, "/v1/algos?detail=edge").json(), per_edge)

    # two deployments trade BTC-USD: the symbol-keyed calls refuse to guess
    with pytest.raises(sequence.SequenceError, match="several deployments trade 'BTC-USD'"):
        seq.algo("BTC-USD")
    seq.algo_undeploy("mm")
    assert seq.algo("BTC-USD")["name"] == "py-mm"
    stats = seq.algo_stats("BTC-USD")
    assert stats["symbol"] == "BTC-USD" and stats["fills"] >= metrics["fills"], stats
    assert seq.algo_stop_by_symbol("BTC-USD")["state"] == "Stopped"
    assert seq.algo("BTC-USD")["state"] == "Stopped"
    assert seq.algo_start_by_symbol("BTC-USD")["state"] == "Running"
    assert seq.algo_logs_by_symbol("BTC-USD", 5)
    with pytest.raises(sequence.SequenceError, match="no algorithm trades 'ETH-USD'"):
        seq.algo("ETH-USD")

    final = seq.algo_undeploy("py-mm")
    assert final["status"]["removed"] is True and final["status"]["fills"] >= metrics["fills"], final
    with pytest.raises(sequence.SequenceError, match="no deployment 'py-mm' in market-maker"):
        seq.algo_status("py-mm")
    assert seq.algos() == [] and "py-mm" not in run.state()["deployments"]


def _same_rows(served: list[dict[str, Any]], returned: list[dict[str, Any]]) -> bool:
    """The same rows, counters aside (the algorithm trades between the two reads)."""
    moving = {
        "orders",
        "open_orders",
        "fills",
        "rejects",
        "position",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
    }
    return [{k: v for k, v in r.items() if k not in moving} for r in served] == [
        {k: v for k, v in r.items() if k not in moving} for r in returned
    ] and all(set(a) == set(b) for a, b in zip(served, returned, strict=True))


@pytest.mark.slow
def test_bad_input_is_a_clear_error_and_changes_nothing(run: UpSession) -> None:
    seq = sequence.connect(project=MARKET_MAKER)
    with pytest.raises(sequence.SequenceError, match="the kraken edge refused bad-mm"):
        seq.deploy_algo("bad-mm", b"not wasm", ["BTC-USD"], venue="kraken", risk=RISK)
    with pytest.raises(sequence.SequenceError, match="no edge serves venue 'binance'"):
        seq.deploy_algo("mm2", WASM, ["BTC-USD"], venue="binance")
    assert set(run.state()["deployments"]) == {"mm"}
    assert {r["name"] for r in seq.algos()} == {"mm"}


@pytest.mark.slow
def test_the_session_api_wants_the_token_and_names_its_one_route(run: UpSession) -> None:
    assert session_get(run, "/v1/algos", token=None).status_code == 401
    assert session_get(run, "/v1/algos", token="x" * 43).status_code == 401
    missing = session_get(run, "/v1/deployments")
    assert missing.status_code == 404 and "GET /v1/algos" in missing.json()["error"]["message"]
    assert session_get(run, "/v1/algos?detail=symbol").status_code == 400
    [row] = session_get(run, "/v1/algos").json()
    assert (row["symbol"], row["name"], row["deployment_id"]) == ("BTC-USD", "mm", "market-maker-mm"), row
    assert row["state"] in ("Loaded", "Stopped") and row["edges"] == [row["edges"][0]], row

    # one edge by URL: the same rows, built by the SDK from the edge's statuses (ids for names)
    edge = sequence.connect(url=run.edge("kraken"), token=run.token())
    assert edge.target == "local" and edge.session is None and set(edge.edges) == {"kraken"}
    [direct] = edge.algos()
    assert {**direct, "name": "mm"} == row, (direct, row)
    assert direct["name"] == "market-maker-mm"


@pytest.mark.slow
def test_the_async_twin_has_the_same_calls_and_shapes(run: UpSession) -> None:
    async def main() -> dict[str, Any]:
        seq = await sequence.aio.connect(project=MARKET_MAKER)
        assert isinstance(seq, sequence.aio.Sequence) and seq.target == "local"
        dep = await seq.deploy_algo("aio-mm", WASM, ["BTC-USD"], venue="kraken", risk=RISK, params=PARAMS)
        assert_deployment_shape(dep, "aio-mm")
        assert (await seq.algo_start("aio-mm"))["state"] == "Running"
        while (metrics := await seq.algo_metrics("aio-mm"))["fills"] == 0:
            await asyncio.sleep(0.05)
        # the calls run concurrently: one event loop, several edges' answers in flight
        status, logs, rows, mesh = await asyncio.gather(
            seq.algo_status("aio-mm"), seq.algo_logs("aio-mm", 20), seq.algos(), seq.algo_mesh("mm")
        )
        assert status["deployment_id"] == "market-maker-aio-mm" and logs, (status, logs)
        assert {r["name"] for r in rows} == {"mm", "aio-mm"} and mesh["mesh_group"] == "market-maker"
        with pytest.raises(sequence.SequenceError, match="several deployments trade"):
            await seq.algo_stats("BTC-USD")
        await seq.algo_undeploy("mm")
        assert (await seq.algo("BTC-USD"))["name"] == "aio-mm"
        assert (await seq.algo_stop_by_symbol("BTC-USD"))["state"] == "Stopped"
        final = await seq.algo_undeploy("aio-mm")
        assert final["status"]["removed"] is True
        return metrics

    metrics = asyncio.run(asyncio.wait_for(main(), 180))
    assert metrics["fills"] > 0 and metrics["orders"] > 0, metrics
    assert run.state()["deployments"] == {}


def test_connect_without_a_session_or_a_cluster_says_how_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUENCE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(
        sequence.SequenceError, match="project 'market-maker' is not running locally; cluster:"
    ):
        sequence.connect(project=MARKET_MAKER)
    with pytest.raises(sequence.SequenceError, match="start it with `sequence up`"):
        sequence.connect(project=MARKET_MAKER, target="local")
    with pytest.raises(sequence.SequenceError, match="target must be auto, local or cluster"):
        sequence.connect(target="remote")


def _edge_status(edge_id: str, dep_id: str, symbols: list[str], state: str, **counters: Any) -> Any:
    from sequence_wire.edge_api import DeploymentStatus

    return DeploymentStatus.model_validate(
        {
            "deployment_id": dep_id,
            "edge_id": edge_id,
            "venue": "kraken",
            "symbols": symbols,
            "state": state,
            "bundle_sha256": "0" * 64,
            "size_bytes": 1,
            "capabilities": [],
            **counters,
        }
    )


def test_the_algos_rows_sum_edges_and_split_symbols() -> None:
    from sequence_wire.algos import AlgoEdgeRow, algo_rows

    statuses = [
        _edge_status("e1", "mm", ["BTC-USD"], "Running", orders=3, fills=1, position={"BTC-USD": 0.5}),
        _edge_status("e2", "mm", ["BTC-USD"], "Stopped", orders=4, fills=2, position={"BTC-USD": -0.2}),
        _edge_status("e1", "pair", ["ETH-USD", "BTC-USD"], "Running", orders=7, position={"ETH-USD": 2.0}),
    ]
    rows = [r.to_json() for r in algo_rows(statuses, {"mm": "maker"})]
    assert [(r["symbol"], r["deployment_id"], r["name"]) for r in rows] == [
        ("BTC-USD", "mm", "maker"),
        ("BTC-USD", "pair", "pair"),  # no name known: the id
        ("ETH-USD", "pair", "pair"),
    ]
    mm = rows[0]
    assert (mm["orders"], mm["fills"], mm["edges"], mm["state"]) == (7, 3, ["e1", "e2"], "Running, Stopped")
    assert mm["position"] == pytest.approx(0.3)
    assert rows[1]["position"] == 0.0 and rows[2]["position"] == 2.0  # each row: its own symbol
    per_edge = algo_rows(statuses, {"mm": "maker"}, per_edge=True)
    assert all(isinstance(r, AlgoEdgeRow) for r in per_edge)
    assert [(r.symbol, r.deployment_id, r.edge_id, r.orders) for r in per_edge][:2] == [
        ("BTC-USD", "mm", "e1", 3),
        ("BTC-USD", "mm", "e2", 4),
    ]
