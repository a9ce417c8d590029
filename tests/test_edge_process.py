"""`sequence edge` as a real process: bundles pushed over HTTP on loopback, real wasm from examples/."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import AUTH
from .mesh_support import wait_until

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MM = EXAMPLES / "market-maker/market_maker.wasm"
TRAP = EXAMPLES / "bad-algos/trap.wasm"
RAW = EXAMPLES / "abi-raw/raw_algo.wasm"
MM_RISK = {
    "max_order_qty": 0.05,
    "max_notional": 10000,
    "max_position": 0.2,
    "max_open_orders": 4,
    "max_orders_per_sec": 50,
    "price_band_bps": 100,
    "max_loss": 1000,
}

# A book that never trades: the snapshot, one deep ask change, again and again (loop).
STATIC_REPLAY = """ts_ns,symbol,side,px,qty,seq
0,BTC-USD,snapshot_begin,,,
0,BTC-USD,bid,100,1,
0,BTC-USD,bid,99,1,
0,BTC-USD,ask,101,1,
0,BTC-USD,ask,120,1,
0,BTC-USD,snapshot_end,,,1
100000000,BTC-USD,ask,120,2,2
"""


def sequence_cli() -> list[str]:
    exe = shutil.which("sequence")
    return [exe] if exe else [sys.executable, "-m", "sequence"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EdgeProcess:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.log_path = tmp / f"edge-{self.port}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop())
        cmd = [*sequence_cli(), "edge", "--bind", "127.0.0.1", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10.0, headers=AUTH)
        wait_for(self._healthy, timeout=60, what=f"edge on port {self.port} to become healthy")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"edge exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def status(self, dep_id: str) -> dict[str, Any]:
        resp = self.http.get(f"/v1/deployments/{dep_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def push(self, dep_id: str, wasm: Path, **fields: Any) -> httpx.Response:
        return self.http.put(f"/v1/deployments/{dep_id}", json=push_body(wasm, **fields))

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        text = self.http.get("/metrics").text
        total = 0.0
        for line in text.splitlines():
            m = re.match(r"^([a-z_]+)\{(.*)\} (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
        return total

    def stop(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def push_body(wasm: Path, **fields: Any) -> dict[str, Any]:
    data = wasm.read_bytes()
    body = {
        "bundle": base64.b64encode(data).decode(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "runtime": "wasm",
        "symbols": ["BTC-USD"],
        "state": "Running",
    }
    body.update(fields)
    return body


# The one condition wait (mesh_support.wait_until), under the name other test modules import.
wait_for = wait_until


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    proc = EdgeProcess(
        tmp_path_factory.mktemp("edge"), "--venue", "kraken", "--seed", "7", "--symbols", "BTC-USD"
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def static_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    tmp = tmp_path_factory.mktemp("static")
    replay = tmp / "static.csv"
    replay.write_text(STATIC_REPLAY)
    proc = EdgeProcess(
        tmp, "--venue", "kraken", "--edge-id", "static-0", "--feed", "replay", "--replay-file", str(replay)
    )
    yield proc
    proc.stop()


def more_books(edge: EdgeProcess, count: int = 20) -> None:
    """Wait until the edge has processed COUNT more book updates (several loops of a short replay)."""
    before = edge.http.get("/v1/edge").json()["feed"]["updates"]
    wait_until(
        lambda: edge.http.get("/v1/edge").json()["feed"]["updates"] >= before + count, 30, "more books"
    )


def summary(edge: EdgeProcess) -> list[tuple[str, str, str]]:
    return sorted(
        (d["deployment_id"], d["state"], d["bundle_sha256"]) for d in edge.http.get("/v1/deployments").json()
    )


# ---------------------------------------------------------------- trading


def test_market_maker_places_orders_and_gets_filled(edge: EdgeProcess) -> None:
    resp = edge.push(
        "mm", MM, label="mm", params={"spread_bps": 4, "qty": 0.01, "max_position": 0.05}, risk=MM_RISK
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "Running"
    status = wait_for(
        lambda: (s := edge.status("mm"))["orders"] > 0 and s["fills"] > 0 and s,
        what="the market maker's first fills",
    )
    assert status["callbacks"] > 0
    wait_for(lambda: edge.status("mm")["last_heartbeat"], what="a heartbeat (1 Hz)")
    assert status["latency_ns"]["p50"] > 0
    assert status["fees"] > 0
    assert edge.metric("sequence_algo_fills_total", deployment="mm") > 0
    assert edge.metric("sequence_algo_orders_total", deployment="mm") > 0
    assert edge.metric("sequence_algo_callback_latency_seconds_count", deployment="mm") > 0
    assert edge.metric("sequence_edge_book_updates_total", venue="kraken") > 0
    info = edge.http.get("/v1/edge").json()
    assert info["feed"]["kind"] == "sim" and info["feed"]["healthy"] and "mm" in info["deployments"]


def test_order_traces_have_nanosecond_lifecycles(edge: EdgeProcess) -> None:
    wait_for(lambda: edge.status("mm")["orders"] > 0, what="market maker orders")
    orders = edge.http.get("/v1/deployments/mm/orders").json()
    assert orders and all(o["order_ref"].startswith("P-") for o in orders)
    trace = edge.http.get(f"/v1/orders/{orders[-1]['order_ref']}/trace").json()
    names = [e["event"] for e in trace["events"]]
    assert names[:4] in (["tick", "submit", "risk_checked", "ack"], ["tick", "submit", "reject"])
    assert trace["deployment_id"] == "mm" and trace["symbol"] == "BTC-USD"
    assert edge.http.get("/v1/orders/P-zzzzzzzz/trace").json()["error"]["reason"] == "BadOrderRef"
    assert edge.http.get("/v1/orders/xyz/trace").status_code == 400


def test_a_trapping_algo_fails_alone_while_the_market_maker_keeps_trading(edge: EdgeProcess) -> None:
    wait_for(lambda: edge.status("mm")["fills"] > 0, what="market maker fills")
    assert edge.push("trap", TRAP).status_code == 201
    trap = wait_for(lambda: (s := edge.status("trap"))["state"] == "Failed" and s, what="the trap to fail")
    assert trap["last_error"]["reason"] == "Trap"
    assert "unreachable" in trap["last_error"]["message"] and "one too many" in trap["last_error"]["message"]
    assert trap["traps"] == 1
    fills_then = edge.status("mm")["fills"]
    wait_for(lambda: edge.status("mm")["fills"] > fills_then, what="more market maker fills after the trap")
    assert edge.status("mm")["state"] == "Running"
    resp = edge.http.post("/v1/deployments/trap/start")
    assert resp.status_code == 409 and resp.json()["error"]["reason"] == "Failed"
    assert edge.metric("sequence_algo_traps_total", deployment="trap") == 1
    assert edge.metric("sequence_algo_state", deployment="trap", state="failed") == 1
    logs = edge.http.get("/v1/deployments/trap/logs?tail=20").text.splitlines()
    assert any("instance failed" in json.loads(line)["message"] for line in logs)


# ---------------------------------------------------------------- refusals change nothing


def test_a_push_whose_bytes_do_not_match_its_sha256_is_refused(edge: EdgeProcess) -> None:
    before = summary(edge)
    body = push_body(MM, sha256=hashlib.sha256(b"other bytes").hexdigest())
    for dep_id in ("new-one", "mm"):  # a new id, and over a running deployment
        resp = edge.http.put(f"/v1/deployments/{dep_id}", json=body)
        assert resp.status_code == 400
        assert resp.json()["error"]["reason"] == "Sha256Mismatch"
    assert summary(edge) == before
    assert edge.http.get("/v1/deployments/new-one").status_code == 404


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b"{not json", "BadJson"),
        (lambda b: {**b, "bundle": "***not base64***"}, "BadBase64"),
        (lambda b: {**b, "colour": "blue"}, "UnknownField"),
        (lambda b: {**b, "risk": {"max_lots": 1}}, "UnknownField"),
        (lambda b: {**b, "symbols": ["btc/usd"]}, "InvalidPush"),
        (lambda b: {**b, "symbols": []}, "InvalidPush"),
        (lambda b: {**b, "state": "Sleeping"}, "InvalidPush"),
        (lambda b: {k: v for k, v in b.items() if k != "sha256"}, "InvalidPush"),
        (lambda b: {**b, "bundle_url": "http://127.0.0.1:9/x.wasm"}, "InvalidPush"),
        (lambda b: {**b, "risk": {"max_position": 1e-9}}, "InvalidPush"),
        (lambda b: {**b, "risk": {"max_notional": 1e11}}, "InvalidPush"),
        (lambda b: json.dumps({**b, "risk": {"max_loss": float("inf")}}).encode(), "InvalidPush"),
        (lambda b: {**b, "runtime": "native"}, "NativeNotAllowed"),
        (lambda b: push_body(EXAMPLES / "bad-algos/wrong_abi.wasm"), "AbiMismatch"),
        (lambda b: push_body(EXAMPLES / "abi-raw/raw_algo.wat"), "NotWasm"),
        (lambda b: [1, 2], "InvalidPush"),
    ],
)
def test_malformed_pushes_get_a_4xx_with_a_reason_and_change_nothing(
    edge: EdgeProcess, mutate: Callable[[dict[str, Any]], Any], reason: str
) -> None:
    wait_for(lambda: edge.status("mm")["state"] == "Running", what="the market maker")
    before = summary(edge)
    body = mutate(push_body(MM))
    for dep_id in ("fresh", "mm"):
        if isinstance(body, bytes):
            resp = edge.http.put(f"/v1/deployments/{dep_id}", content=body)
        else:
            resp = edge.http.put(f"/v1/deployments/{dep_id}", json=body)
        assert 400 <= resp.status_code < 500, resp.text
        assert resp.json()["error"]["reason"] == reason
        assert resp.json()["error"]["message"]
    assert summary(edge) == before


def test_unknown_deployments_and_bad_queries(edge: EdgeProcess) -> None:
    assert edge.http.get("/v1/deployments/nope").status_code == 404
    assert edge.http.delete("/v1/deployments/nope").status_code == 404
    assert edge.http.post("/v1/deployments/nope/start").status_code == 404
    resp = edge.http.get("/v1/deployments/mm/logs?tail=lots")
    assert resp.status_code == 400 and resp.json()["error"]["reason"] == "BadQuery"
    resp = edge.http.put("/v1/deployments/bad%20id", json=push_body(MM))
    assert resp.status_code == 400 and resp.json()["error"]["reason"] == "BadDeploymentId"


def test_namespaced_ids_travel_url_encoded(edge: EdgeProcess) -> None:
    resp = edge.push("team-a%2Fmm", MM, state="Stopped")
    assert resp.status_code == 201 and resp.json()["deployment_id"] == "team-a/mm"
    assert resp.json()["state"] == "Loaded"
    assert edge.push("team-a%2Fmm", MM, state="Stopped").status_code == 200  # a re-push replaces
    assert edge.http.delete("/v1/deployments/team-a%2Fmm").json()["cancelled"] == 0


def test_deleting_the_market_maker_leaves_nothing_resting(edge: EdgeProcess) -> None:
    wait_for(lambda: edge.status("mm")["open_orders"] > 0, what="a resting quote")
    refs = [o["order_ref"] for o in edge.http.get("/v1/deployments/mm/orders?open=1").json()]
    result = edge.http.delete("/v1/deployments/mm").json()
    assert result["cancelled"] == result["cancelled_by_algo"] + result["cancelled_by_edge"]
    assert edge.http.get("/v1/deployments/mm").status_code == 404
    for ref in refs:  # cancelled by on_shutdown, or filled just before
        assert edge.http.get(f"/v1/orders/{ref}/trace").json()["state"] in ("cancelled", "filled")


# ---------------------------------------------------------------- stop / delete on a quiet book


def test_stop_keeps_resting_orders_and_delete_cancels_the_leftovers(static_edge: EdgeProcess) -> None:
    assert static_edge.push("raw", RAW).status_code == 201
    wait_for(lambda: static_edge.status("raw")["open_orders"] == 1, what="raw_algo's resting bid")
    [order] = static_edge.http.get("/v1/deployments/raw/orders?open=1").json()
    assert (order["side"], order["px"], order["qty"]) == ("buy", 100.0, 0.01)
    assert static_edge.http.post("/v1/deployments/raw/stop").json()["state"] == "Stopped"
    callbacks = static_edge.status("raw")["callbacks"]
    more_books(static_edge)  # several replay loops: books keep coming, the stopped algo sees none
    status = static_edge.status("raw")
    assert status["state"] == "Stopped" and status["open_orders"] == 1
    assert status["callbacks"] == callbacks
    assert static_edge.http.get(f"/v1/orders/{order['order_ref']}/trace").json()["state"] == "open"
    result = static_edge.http.delete("/v1/deployments/raw").json()
    final = result.pop("status")  # the deployment's last status, after the cancels
    assert result == {"cancelled": 1, "cancelled_by_algo": 0, "cancelled_by_edge": 1}
    assert (final["state"], final["removed"], final["open_orders"]) == ("Stopped", True, 0)
    trace = static_edge.http.get(f"/v1/orders/{order['order_ref']}/trace").json()
    assert trace["state"] == "cancelled" and trace["events"][-1]["event"] == "cancel"
    assert static_edge.http.get("/v1/deployments").json() == []


def test_a_re_push_hot_swaps_and_keeps_resting_orders(static_edge: EdgeProcess) -> None:
    assert static_edge.push("swap", RAW).status_code == 201
    wait_for(lambda: static_edge.status("swap")["open_orders"] == 1, what="raw_algo's resting bid")
    [order] = static_edge.http.get("/v1/deployments/swap/orders?open=1").json()
    resp = static_edge.push("swap", RAW, risk={"max_open_orders": 3})
    assert resp.status_code == 200 and resp.json()["state"] == "Running"
    more_books(static_edge)  # the new instance sees the inherited order and places nothing
    status = static_edge.status("swap")
    assert status["open_orders"] == 1 and status["orders"] == 1
    assert (
        static_edge.http.get("/v1/deployments/swap/orders?open=1").json()[0]["order_ref"]
        == order["order_ref"]
    )
    assert static_edge.http.delete("/v1/deployments/swap").json()["cancelled_by_edge"] == 1


def test_logs_follow_streams_new_lines(static_edge: EdgeProcess) -> None:
    assert static_edge.push("follow", RAW, state="Stopped").status_code == 201
    lines = static_edge.http.get("/v1/deployments/follow/logs?tail=10").text.splitlines()
    assert "pushed bundle" in json.loads(lines[-1])["message"]
    seen: list[str] = []
    with httpx.stream(
        "GET",
        f"{static_edge.http.base_url}/v1/deployments/follow/logs?tail=0&follow=1",
        timeout=20.0,
        headers=AUTH,
    ) as resp:
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        static_edge.http.post("/v1/deployments/follow/start")
        for line in resp.iter_lines():
            seen.append(json.loads(line)["message"])
            if any("first book seen" in s for s in seen):
                break
    assert "[edge] started" in seen
    static_edge.http.delete("/v1/deployments/follow")


def test_replay_edges_only_trade_their_files_symbols(static_edge: EdgeProcess) -> None:
    info = static_edge.http.get("/v1/edge").json()
    assert info["feed"]["kind"] == "replay" and info["symbols"] == ["BTC-USD"]
    resp = static_edge.push("eth", RAW, symbols=["ETH-USD"])
    assert resp.status_code == 400 and resp.json()["error"]["reason"] == "UnknownSymbol"


def test_edge_refuses_bad_flags_and_bad_replay_files(tmp_path: Path) -> None:
    run = subprocess.run(
        [*sequence_cli(), "edge", "--venue", "kraken", "--feed", "replay"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "--replay-file" in run.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("ts_ns,symbol,side,px,qty,seq\n1,BTC-USD,bid,1,1,\n")
    run = subprocess.run(
        [
            *sequence_cli(),
            "edge",
            "--venue",
            "kraken",
            "--feed",
            "replay",
            "--replay-file",
            str(bad),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        run.returncode != 0 and f"{bad}:2: the first row of BTC-USD must be its snapshot_begin" in run.stderr
    )


# ---------------------------------------------------------------- mesh hooks (in-process Edge)


def test_mesh_hooks_carry_sends_top_of_book_messages_and_nbbo() -> None:
    import asyncio

    from sequence_edge.edge import Edge, EdgeConfig
    from sequence_edge.push import parse_push

    sent: list[Any] = []
    quotes: list[tuple[Any, ...]] = []
    edge = Edge(
        EdgeConfig(venue="kraken", seed=11, symbols=["BTC-USD"], venue_names=["kraken", "coinbase"]),
        mesh_sink=sent.extend,
        top_of_book_sink=lambda *quote: quotes.append(quote),
    )
    loop = asyncio.new_event_loop()  # log followers are asyncio queues
    try:
        maker = EXAMPLES / "mesh-arb/maker.wasm"
        hedger = EXAMPLES / "mesh-arb/hedger.wasm"
        edge.push(
            "maker",
            parse_push(push_body(maker, label="maker", mesh_group="arb", peers=["hedger"])),
            maker.read_bytes(),
        )
        edge.push(
            "hedger", parse_push(push_body(hedger, label="hedger", mesh_group="arb")), hedger.read_bytes()
        )

        def step() -> list[Any]:
            edge.step()
            time.sleep(0.001)
            return sent

        wait_for(step, what="the maker to report a fill over the mesh")
        msg = sent[0]
        assert (msg.deployment_id, msg.mesh_group, msg.from_label, msg.to_label) == (
            "maker",
            "arb",
            "maker",
            "hedger",
        )
        assert len(msg.payload) == 48 and msg.send_ts_ns > 0  # the raw Fill
        symbol, bid_px, bid_qty, ask_px, ask_qty = quotes[-1]
        assert symbol == "BTC-USD" and 0 < bid_px < ask_px and bid_qty > 0 and ask_qty > 0

        assert edge.deliver_message("hedger", "maker", msg.payload) is True
        hedger_status = edge.status("hedger")
        assert hedger_status.orders + hedger_status.rejects == 1  # its IOC hedge went through the OMS
        assert hedger_status.mesh.received == 1
        edge.stop("hedger")
        assert edge.deliver_message("hedger", "maker", msg.payload) is False  # stopped: not delivered
        edge.start("hedger")

        nbbo = {"bid_px_1e8": bid_px, "bid_qty_1e8": bid_qty, "ask_px_1e8": ask_px, "ask_qty_1e8": ask_qty}
        assert (
            edge.deliver_nbbo("BTC-USD", **nbbo, bid_venue="coinbase", ask_venue="kraken") == 1
        )  # hedger only
        assert edge.deliver_nbbo("BTC-USD", **nbbo, deployments=["maker"]) == 0
        assert edge.deliver_nbbo("ETH-USD", **nbbo) == 0
    finally:
        edge.close()
        loop.close()


def test_without_a_coordinator_mesh_sends_are_counted_as_dropped() -> None:
    from sequence_edge.edge import Edge, EdgeConfig
    from sequence_edge.push import parse_push

    edge = Edge(EdgeConfig(venue="kraken", seed=11, symbols=["BTC-USD"]))
    try:
        maker = EXAMPLES / "mesh-arb/maker.wasm"
        edge.push("maker", parse_push(push_body(maker, label="maker", mesh_group="arb")), maker.read_bytes())

        def dropped() -> int:
            edge.step()
            time.sleep(0.001)
            return edge.mesh_dropped.get("no_coordinator", 0)

        n = wait_for(dropped, what="a mesh send with no coordinator")
        assert edge.status("maker").mesh.sent == n
    finally:
        edge.close()


def test_edge_refuses_live_mode_without_credentials() -> None:
    run = subprocess.run(
        [*sequence_cli(), "edge", "--venue", "kraken", "--mode", "live"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "mode live needs the venue account's credentials" in run.stderr
