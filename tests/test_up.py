"""`sequence up` end to end: real coordinator and edge processes on loopback, real wasm, killed
with SIGKILL where a test says so, and the CLI verbs against the running session."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import AUTH, REPO, sequence_cli
from .mesh_support import wait_until

MESH_ARB = "examples/mesh-arb"
FILL_QTY = 0.01  # the maker's quote size (examples/mesh-arb/Sequence.toml)


class UpSession:
    """`sequence up` in the background with its own state directory (never ~/.sequence)."""

    def __init__(self, tmp: Path, project: str, *args: str, token_env: bool = True) -> None:
        self.env = {**os.environ, "SEQUENCE_STATE_DIR": str(tmp / "state")}
        if not token_env:  # `sequence up` generates the session's token; the verbs must find it
            self.env.pop("SEQUENCE_TOKEN", None)
        self.json_path = tmp / "summary.json"
        self.out_path = tmp / "up.out"
        self.out = open(self.out_path, "w")  # noqa: SIM115 (closed in finish())
        self.proc = subprocess.Popen(
            [*sequence_cli(), "up", project, "--json", str(self.json_path), *args],
            cwd=REPO,
            env=self.env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        self.state_file = wait_until(self._state_file, 60, "the session file of `sequence up`")

    def _state_file(self) -> Path | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"sequence up exited with {self.proc.returncode}:\n{self.output()}")
        files = list((Path(self.env["SEQUENCE_STATE_DIR"])).glob("*.json"))
        return files[0] if files else None

    def output(self) -> str:
        if not self.out.closed:
            self.out.flush()
        return self.out_path.read_text()

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def edge(self, venue: str) -> str:
        return str(self.state()["edges"][venue])

    def token(self) -> str:
        return Path(self.state()["token_file"]).read_text().strip()

    def get(self, url: str, path: str) -> Any:
        response = httpx.get(url + path, timeout=5.0, headers={"Authorization": f"Bearer {self.token()}"})
        assert response.status_code == 200, response.text
        return response.json()

    def status(self, name: str) -> dict[str, Any]:
        dep = self.state()["deployments"][name]
        return self.get(self.edge(dep["venue"]), f"/v1/deployments/{dep['deployment_id']}")

    def edge_info(self, venue: str) -> dict[str, Any]:
        return self.get(self.edge(venue), "/v1/edge")

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sequence_cli(), *args], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def finish(self, timeout: float = 90.0, terminate: bool = False) -> dict[str, Any]:
        if terminate:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            self.out.close()
        assert code == 0, f"sequence up exited with {code}:\n{self.out_path.read_text()}"
        return json.loads(self.json_path.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.out.close()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Callable[..., UpSession]]:
    started: list[UpSession] = []

    def start(project: str, *args: str, token_env: bool = True) -> UpSession:
        run = UpSession(tmp_path, project, *args, token_env=token_env)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()


def hedger_received(run: UpSession) -> int:
    return int(run.status("hedger")["mesh"]["received"])


# ---------------------------------------------------------------- (a) the mesh-arb run


@pytest.mark.slow
def test_mesh_arb_trades_and_hedges_every_fill_end_to_end(session: Callable[..., UpSession]) -> None:
    run = session(MESH_ARB, "--start", "--duration", "15")
    summary = run.finish()
    maker, hedger = summary["deployments"]["maker"], summary["deployments"]["hedger"]
    assert maker["fills"] > 0 and maker["state"] == "Running" and maker["last_error"] is None
    assert maker["mesh"]["sent"] == maker["fills"]  # on_fill tells the hedger about every fill
    drops = summary["mesh_drops"]
    assert hedger["mesh"]["received"] == maker["mesh"]["sent"] - drops["total"]
    assert hedger["orders"] + hedger["rejects"] == hedger["mesh"]["received"]  # one hedge per message
    [link] = summary["mesh"]["links"]
    assert (link["from"], link["to"], link["messages"]) == ("maker", "hedger", hedger["mesh"]["received"])
    assert link["p50_us"] > 0 and link["p99_us"] >= link["p50_us"]
    assert abs(summary["net_position"]["BTC-USD"]) <= FILL_QTY + 1e-9
    for dep in (maker, hedger):
        assert dep["latency_ns"]["p50"] > 0 and isinstance(dep["realized_pnl"], float)
    assert all(p["restarts"] == 0 for p in summary["processes"].values())
    assert all(e["book_updates"] > 1000 for e in summary["edges"].values())
    text = run.output()
    assert "net position: BTC-USD" in text and "mesh drops:" in text and "maker" in text


# ---------------------------------------------------------------- (b) coordinator killed


@pytest.mark.slow
def test_coordinator_sigkill_edges_keep_trading_and_the_mesh_comes_back(
    session: Callable[..., UpSession],
) -> None:
    run = session(MESH_ARB, "--start", "--duration", "18")
    wait_until(lambda: hedger_received(run) > 0, what="the first hedged fill")
    old_pid = run.state()["processes"]["coordinator"]
    os.kill(old_pid, signal.SIGKILL)
    wait_until(
        lambda: not any(run.edge_info(v)["mesh"]["connected"] for v in ("kraken", "coinbase")),
        10,
        "both edges to notice the coordinator is gone",
    )
    books = {v: run.edge_info(v)["feed"]["updates"] for v in ("kraken", "coinbase")}
    orders = run.status("maker")["orders"]
    # each edge keeps processing its own feed, and the maker keeps quoting
    for venue, before in books.items():
        wait_until(lambda v=venue, b=before: run.edge_info(v)["feed"]["updates"] > b, 10, f"{venue} books")
    wait_until(lambda: run.status("maker")["orders"] > orders, 10, "the maker's next orders")

    wait_until(lambda: run.state()["processes"]["coordinator"] != old_pid, 20, "the coordinator restart")
    wait_until(
        lambda: all(run.edge_info(v)["mesh"]["registered"] for v in ("kraken", "coinbase")),
        10,
        "both edges to re-register",
    )
    received = hedger_received(run)
    wait_until(lambda: hedger_received(run) > received, 15, "messages to flow again")
    metrics = httpx.get(run.edge("kraken") + "/metrics", timeout=5.0, headers=AUTH).text  # the maker's edge
    assert re.search(r"^sequence_edge_mesh_connected\{[^}]*\} 1\.0$", metrics, re.MULTILINE), metrics
    assert re.search(r"^sequence_edge_mesh_reconnects_total\{[^}]*\} 1\.0$", metrics, re.MULTILINE), metrics
    assert re.search(
        r'^sequence_edge_mesh_dropped_total\{[^}]*reason="no_coordinator"[^}]*\} [1-9]', metrics, re.MULTILINE
    )

    summary = run.finish()
    assert summary["processes"]["coordinator"]["restarts"] == 1
    assert any("exited with -9" in e for e in summary["processes"]["coordinator"]["events"])
    maker, hedger = summary["deployments"]["maker"], summary["deployments"]["hedger"]
    drops = summary["mesh_drops"]
    assert drops["edges"].get("no_coordinator", 0) > 0  # fills during the outage: dropped, counted
    for edge in summary["edges"].values():
        assert edge["mesh"]["client"]["dropped_duplicate"] == 0  # never replayed
    lost = maker["mesh"]["sent"] - hedger["mesh"]["received"]
    # Every loss is counted, except what sat in the killed coordinator's socket buffers at the
    # instant of SIGKILL (nobody is left to count it): at most a couple of messages.
    assert 0 <= lost - drops["total"] <= 2, (lost, drops)


# ---------------------------------------------------------------- (c) edge killed


@pytest.mark.slow
def test_killed_edge_is_restarted_and_its_deployments_pushed_again_in_their_last_state(
    session: Callable[..., UpSession],
) -> None:
    run = session(MESH_ARB, "--start", "--duration", "35")
    wait_until(lambda: hedger_received(run) > 0, what="the first hedged fill")
    stopped = run.cli("stop", "hedger")
    assert stopped.returncode == 0 and "Stopped" in stopped.stdout, stopped.stderr
    # `sequence up` notes the new desired state on its next refresh: a restart brings it back Stopped
    wait_until(
        lambda: run.state()["desired"].get("hedger") == "Stopped", 15, "the supervisor to see the stop"
    )
    hedger_orders = run.status("hedger")["orders"]  # stopped: no new orders
    old_pid = run.state()["processes"]["edge/coinbase"]
    os.kill(old_pid, signal.SIGKILL)
    orders = run.status("maker")["orders"]
    wait_until(lambda: run.state()["processes"]["edge/coinbase"] != old_pid, 20, "the coinbase edge restart")
    assert run.status("maker")["orders"] > orders  # the other edge traded on meanwhile
    hedger = wait_until(lambda: _status_or_none(run, "hedger"), 10, "the hedger pushed again")
    # pushed in its last state, not running ("Loaded": not started in this edge process yet), and
    # with its paper account restored from the edge's journal
    assert hedger["state"] == "Loaded" and hedger["orders"] == hedger_orders > 0
    assert hedger["restored"]["orders"] == hedger_orders
    assert run.cli("start", "hedger").returncode == 0
    wait_until(lambda: hedger_received(run) > 0, 15, "the restarted hedger to receive fills again")

    summary = run.finish()
    events = summary["processes"]["edge/coinbase"]["events"]
    assert summary["processes"]["edge/coinbase"]["restarts"] == 1
    assert any("exited with -9; restarting in 0.5s" in e for e in events), events
    assert summary["processes"]["edge/kraken"]["restarts"] == 0
    assert summary["deployments"]["hedger"]["state"] == "Running"


def _status_or_none(run: UpSession, name: str) -> dict[str, Any] | None:
    try:
        return run.status(name)
    except (AssertionError, httpx.HTTPError):
        return None


# ---------------------------------------------------------------- (d) a trapping sibling


@pytest.mark.slow
def test_a_trapping_instance_fails_alone_and_its_sibling_keeps_trading(
    session: Callable[..., UpSession],
) -> None:
    run = session("tests/configs/trap-sibling", "--duration", "8")  # both blocks say state = "running"
    trap = wait_until(
        lambda: (s := run.status("trap"))["state"] == "Failed" and s, 20, "the trap instance to fail"
    )
    assert trap["last_error"]["reason"] == "Trap" and "one too many" in trap["last_error"]["message"]
    before = run.status("mm")
    after = wait_until(
        lambda: (s := run.status("mm"))["callbacks"] > before["callbacks"] and s, 10, "mm's next callbacks"
    )
    assert after["state"] == "Running"

    summary = run.finish()
    mm, trapped = summary["deployments"]["mm"], summary["deployments"]["trap"]
    assert (trapped["state"], trapped["last_error"]["reason"]) == ("Failed", "Trap")
    assert mm["state"] == "Running" and mm["last_error"] is None and mm["orders"] > 0
    assert summary["processes"]["edge/kraken"]["restarts"] == 0  # the edge process never died


# ---------------------------------------------------------------- (e) the CLI verbs


@pytest.mark.slow
def test_cli_verbs_against_a_running_session(session: Callable[..., UpSession]) -> None:
    run = session(MESH_ARB, "--start", "--duration", "300", token_env=False)
    wait_until(lambda: hedger_received(run) > 0, what="the first hedged fill")
    token_file = Path(run.state()["token_file"])
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and run.token() != AUTH["Authorization"][7:]
    anonymous = httpx.get(run.edge("kraken") + "/v1/deployments", timeout=5.0)
    assert anonymous.status_code == 401  # the session's edges need its token

    status = run.cli("status")
    assert status.returncode == 0, status.stderr
    assert re.search(r"maker .*Running", status.stdout) and re.search(r"hedger .*Running", status.stdout)
    sandbox = run.cli("--sandbox", "status", "-p", MESH_ARB)
    assert sandbox.returncode == 0 and "maker" in sandbox.stdout, sandbox.stderr

    assert re.search(r"maker\s+Stopped", run.cli("stop", "maker").stdout)
    assert re.search(r"maker .*Stopped", run.cli("status", "maker").stdout)
    assert re.search(r"maker\s+Running", run.cli("start", "maker").stdout)

    logs = run.cli("logs", "maker")
    assert logs.returncode == 0 and re.search(r"INFO\s+maker: .*maker started", logs.stdout), logs.stdout

    follow = subprocess.Popen(
        [*sequence_cli(), "logs", "maker", "-f", "--tail", "0"],
        cwd=REPO,
        env=run.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    streamed: list[str] = []
    reader = threading.Thread(target=lambda: streamed.extend(follow.stdout or []), daemon=True)
    reader.start()
    try:  # --tail 0: only lines logged from now on, so they were streamed
        wait_until(lambda: len(streamed) >= 3, 20, "three streamed log lines")
        assert all("maker:" in line for line in streamed[:3]), streamed
    finally:
        follow.terminate()
        follow.wait(10)

    mesh = run.cli("mesh")
    assert mesh.returncode == 0, mesh.stderr
    assert "maker@kraken-0" in mesh.stdout and "hedger@coinbase-0" in mesh.stdout
    bar = r"\s+[│|]\s+"  # the links table: from, to, messages, drops, p50, p99 (µs)
    assert re.search(rf"maker{bar}hedger{bar}\d+{bar}\d+{bar}[\d.]+{bar}[\d.]+", mesh.stdout), mesh.stdout

    maker_id = run.state()["deployments"]["maker"]["deployment_id"]
    orders = run.get(run.edge("kraken"), f"/v1/deployments/{maker_id}/orders")
    filled = next(o for o in orders if o["state"] == "filled")
    trace = run.cli("trace", filled["order_ref"])
    assert trace.returncode == 0, trace.stderr
    for event in ("submit", "risk_checked", "ack", "fill"):
        assert re.search(rf"\+\s*[\d,]+ ns\s+{event}\b", trace.stdout), trace.stdout

    undeploy = run.cli("undeploy", "maker")
    assert undeploy.returncode == 0 and re.search(r"\(\d+ resting orders cancelled\)", undeploy.stdout)
    after = run.cli("status")
    # the Deployment column (a wide table wraps some cells onto a second line: those start blank)
    rows = re.findall(r"^[│|]\s+(\w[\w.-]*)\s+[│|]", after.stdout, re.MULTILINE)
    assert rows == ["hedger"], after.stdout

    summary = run.finish(terminate=True)  # SIGTERM: a clean undeploy and a summary, like Ctrl-C
    assert summary["interrupted"] is True
    assert summary["deployments"]["maker"]["state"] == "Undeployed"
    assert summary["deployments"]["hedger"]["state"] == "Running"
    assert not token_file.exists()  # the session's token goes with the session
