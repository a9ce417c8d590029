"""Native algorithms on a real `sequence edge` process: opt-in with --allow-native, pushed over
HTTP like WASM bundles, trading next to WASM ones (the seed's MyStrategy, a panicking strategy,
the C probe for subscriptions), pause/resume in both runtimes, and every refusal."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.native_support import CARGO, RUSTC, build_native_examples, build_probe, needs_gcc
from tests.test_edge_process import MM, MM_RISK, EdgeProcess, push_body, wait_for

pytestmark = pytest.mark.skipif(
    not (CARGO.exists() and RUSTC.exists()), reason="Debian's cargo/rustc 1.63 are not installed"
)

RISK = {**MM_RISK, "max_open_orders": 8}


def native_body(so: Path, **fields: Any) -> dict[str, Any]:
    data = so.read_bytes()
    body = {
        "bundle": base64.b64encode(data).decode(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "runtime": "native",
        "symbols": ["BTC-USD"],
        "state": "Running",
        "risk": RISK,
    }
    body.update(fields)
    return body


@pytest.fixture(scope="module")
def libs() -> dict[str, Path]:
    return build_native_examples()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    proc = EdgeProcess(
        tmp_path_factory.mktemp("native-edge"),
        "--venue",
        "kraken",
        "--seed",
        "5",
        "--symbols",
        "BTC-USD,ETH-USD",
        "--allow-native",
    )
    yield proc
    proc.stop()


def error(resp: Any) -> tuple[int, str, str]:
    err = resp.json()["error"]
    return resp.status_code, err["reason"], err["message"]


def test_the_seed_strategy_trades_on_the_edge(edge: EdgeProcess, libs: dict[str, Path]) -> None:
    resp = edge.http.put("/v1/deployments/mine", json=native_body(libs["my_strategy"]))
    assert resp.status_code == 201, resp.text
    status = resp.json()
    assert status["runtime"] == "native" and status["state"] == "Running"
    wait_for(lambda: edge.status("mine")["fills"] >= 1, timeout=120, what="MyStrategy to get a fill")
    status = edge.status("mine")
    assert status["orders"] >= 1 and status["state"] == "Running", status
    assert status["last_error"] is None


def test_a_panicking_native_strategy_fails_while_a_wasm_sibling_trades(
    edge: EdgeProcess, libs: dict[str, Path]
) -> None:
    assert edge.push("mm", MM, risk=MM_RISK).status_code == 201
    resp = edge.http.put("/v1/deployments/trap", json=native_body(libs["trap"]))
    assert resp.status_code == 201, resp.text
    failed = wait_for(
        lambda: (s := edge.status("trap"))["state"] == "Failed" and s, what="the native trap to fail"
    )
    assert failed["last_error"]["reason"] == "Panic"
    message = failed["last_error"]["message"]
    assert "panic in on_book" in message and "trap: book 4 is one too many" in message
    orders = edge.status("mm")["orders"]
    wait_for(lambda: edge.status("mm")["orders"] > orders + 2, what="the WASM market maker to keep quoting")
    assert edge.status("mm")["state"] == "Running"
    assert edge.http.get("/healthz").status_code == 200  # the edge process is fine


@needs_gcc
def test_native_refusals_name_the_problem_and_change_nothing(
    edge: EdgeProcess, libs: dict[str, Path], tmp_path: Path
) -> None:
    v2 = build_probe(tmp_path / "libv2.so", "PROBE_ABI=2")
    novt = build_probe(tmp_path / "libnovt.so", "PROBE_NO_VTABLE")
    cases = [
        (native_body(v2), "AbiMismatch", "AbiMismatch { got: 2, expected: 1 }"),
        (native_body(novt), "MissingSymbol", "does not export sequence_algo_vtable_v1"),
        (native_body(MM), "NotElf", "not an ELF file"),
        ({**native_body(libs["my_strategy"]), "sha256": "ab" * 32}, "Sha256Mismatch", "push says"),
    ]
    for body, reason, text in cases:
        code, got_reason, message = error(edge.http.put("/v1/deployments/bad", json=body))
        assert 400 <= code < 500 and got_reason == reason, message
        assert text in message
    assert edge.http.get("/v1/deployments/bad").status_code == 404


@needs_gcc
def test_subscribe_adds_a_carried_symbol_on_the_edge(edge: EdgeProcess, tmp_path: Path) -> None:
    probe = build_probe(tmp_path / "libprobe.so")
    body = native_body(probe, params={"subscribe": "ETH-USD"}, max_symbols=2)
    assert edge.http.put("/v1/deployments/probe", json=body).status_code == 201
    wait_for(
        lambda: edge.status("probe")["symbols"] == ["BTC-USD", "ETH-USD"],
        what="the probe's subscription to ETH-USD to take effect",
    )
    logs = edge.http.get("/v1/deployments/probe/logs?tail=50").text
    assert "subscribed: symbols now BTC-USD, ETH-USD" in logs
    refused = native_body(probe, params={"subscribe": "DOGE-USD"}, max_symbols=17)
    assert error(edge.http.put("/v1/deployments/probe2", json=refused))[1] == "InvalidPush"


@pytest.mark.parametrize("runtime", ["native", "wasm"])
def test_pause_stops_callbacks_and_resume_restarts_them(
    edge: EdgeProcess, libs: dict[str, Path], runtime: str
) -> None:
    dep = f"paused-{runtime}"
    body = native_body(libs["market_maker"]) if runtime == "native" else push_body(MM, risk=MM_RISK)
    assert edge.http.put(f"/v1/deployments/{dep}", json=body).status_code == 201
    wait_for(lambda: edge.status(dep)["callbacks"] > 5, what="books to reach the algo")
    resp = edge.http.post(f"/v1/deployments/{dep}/pause")
    assert resp.status_code == 200 and resp.json()["state"] == "Paused", resp.text

    def books_seen() -> int:  # callbacks other than fills and rejects (which a paused algo still gets)
        status = edge.status(dep)
        return int(status["callbacks"] - status["fills"] - status["rejects"])

    frozen = books_seen()
    records = edge.http.get("/v1/edge").json()["engine"]["records"]
    wait_for(
        lambda: edge.http.get("/v1/edge").json()["engine"]["records"] > records + 200,
        what="the feed to move on while paused",
    )
    assert books_seen() == frozen  # no books, heartbeats or NBBO while paused
    assert error(edge.http.post(f"/v1/deployments/{dep}/start"))[:2] == (409, "Paused")
    resp = edge.http.post(f"/v1/deployments/{dep}/resume")
    assert resp.status_code == 200 and resp.json()["state"] == "Running"
    wait_for(lambda: books_seen() > frozen + 5, what="books after resume")
    assert edge.http.delete(f"/v1/deployments/{dep}").status_code == 200


def test_an_edge_without_allow_native_refuses_a_native_push(libs: dict[str, Path], tmp_path: Path) -> None:
    proc = EdgeProcess(tmp_path, "--venue", "kraken", "--symbols", "BTC-USD")
    try:
        code, reason, message = error(
            proc.http.put("/v1/deployments/mine", json=native_body(libs["my_strategy"]))
        )
        assert (code, reason) == (403, "NativeNotAllowed")
        assert "--allow-native" in message
        assert proc.http.get("/v1/deployments").json() == []
    finally:
        proc.stop()
