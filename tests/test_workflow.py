"""The author's workflow: `sequence init`, `sequence build`, a Sequence.toml without [project],
and the Python SDK (`import sequence`) against a real `sequence up` session."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sequence.cli import wasm_check
from sequence_edge.algo import abi

from .conftest import AUTH, EXAMPLES, run_cli, sequence_cli
from .mesh_support import wait_until
from .test_up import UpSession, session  # noqa: F401 (the fixture)

MARKET_MAKER = EXAMPLES / "market-maker"


def test_init_without_a_stored_login_says_how_to_add_one(tmp_path: Path) -> None:
    env = {**os.environ, "SEQUENCE_CONFIG_DIR": str(tmp_path / "config")}
    run = [*sequence_cli(), "init"]
    first = subprocess.run([*run, "a"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (
        first.returncode == 0 and "no login stored: `sequence login`" in first.stderr
    )  # no prompt off a TTY
    stored = subprocess.run(
        [*sequence_cli(), "login", "--sandbox", "--token-stdin"],
        input="seq_test_" + "k" * 32 + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stored.returncode == 0, stored.stderr
    second = subprocess.run([*run, "b"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "login" not in second.stderr


def test_init_refuses_a_bad_name_and_creates_nothing(tmp_path: Path) -> None:
    result = run_cli("init", "my mm!", cwd=tmp_path)
    assert result.returncode != 0
    assert "invalid project name 'my mm!'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = run_cli("init", "taken", cwd=tmp_path)
    assert result.returncode != 0 and "already exists" in result.stderr


@pytest.mark.slow
def test_init_then_build_makes_a_valid_abi_v1_bundle_offline(tmp_path: Path) -> None:
    created = run_cli("init", "my_mm", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "my_mm"
    for rel in ("Cargo.toml", "src/lib.rs", ".cargo/config.toml", "Sequence.toml"):
        assert (project / rel).is_file(), rel
    built = run_cli("build", cwd=project, timeout=300)
    assert built.returncode == 0, built.stderr
    wasm = project / "target/wasm32-unknown-unknown/release/my_mm.wasm"
    assert f"built {wasm}" in built.stdout and "algo_abi_version = 1" in built.stdout
    assert wasm_check.abi_problems(wasm.read_bytes()) == []
    assert wasm.stat().st_size < 50 * 1024 and "warning" not in built.stderr
    # the starter Sequence.toml points at what was built, and validates as written
    valid = run_cli("validate", cwd=project)
    assert valid.returncode == 0, valid.stderr


def test_build_without_a_crate_says_how_to_start(tmp_path: Path) -> None:
    result = run_cli("build", cwd=tmp_path)
    assert result.returncode != 0 and "sequence init NAME" in result.stderr


def test_the_abi_check_matches_the_edge_and_rejects_another_version() -> None:
    assert wasm_check.ABI_VERSION == abi.ABI_VERSION
    assert wasm_check.REQUIRED_EXPORTS == abi.REQUIRED_EXPORTS
    assert wasm_check.abi_problems((MARKET_MAKER / "market_maker.wasm").read_bytes()) == []
    wrong = wasm_check.abi_problems((EXAMPLES / "bad-algos/wrong_abi.wasm").read_bytes())
    assert wrong == ["algo_abi_version returns 2; this platform runs ABI 1"]
    assert wasm_check.abi_problems(b"not wasm") == ["not a WebAssembly module (bad magic or version)"]


def test_a_sequence_toml_without_project_is_named_after_its_directory(tmp_path: Path) -> None:
    project = tmp_path / "Mesh_Demo"
    project.mkdir()
    text = (MARKET_MAKER / "Sequence.toml").read_text().replace('[project]\nname = "market-maker"\n', "")
    assert "[project]" not in text
    (project / "Sequence.toml").write_text(text)
    (project / "market_maker.wasm").write_bytes((MARKET_MAKER / "market_maker.wasm").read_bytes())
    assert run_cli("validate", str(project)).returncode == 0
    rendered = run_cli("render", str(project))
    assert rendered.returncode == 0, rendered.stderr
    assert "name: mesh-demo-mm" in rendered.stdout


SDK_SCRIPT = textwrap.dedent(
    """
    import time
    from pathlib import Path
    import sequence

    seq = sequence.connect()
    wasm = Path("market_maker.wasm").read_bytes()
    dep = seq.deploy_algo(
        "sdk-mm", wasm, ["BTC-USD"], venue="kraken",
        risk={"max_order_qty": 0.05, "max_notional": 10000, "max_position": 0.2, "max_open_orders": 4,
              "max_orders_per_sec": 50, "price_band_bps": 100, "max_loss": 1000},
        params={"spread_bps": 4, "qty": 0.01, "max_position": 0.05, "requote_ms": 50},
    )
    assert isinstance(dep, sequence.Deployment), dep
    assert dep.deployment_id == "market-maker-sdk-mm" and dep.status in ("Loaded", "Stopped"), dep
    assert dep.pushed_to == dep.capable_edges and len(dep.pushed_to) == 1, dep
    assert dep.size_bytes == len(wasm) and dep.symbols == ["BTC-USD"], dep
    assert {a["name"] for a in seq.algos()} == {"mm", "sdk-mm"}, seq.algos()
    assert seq.algo_start("sdk-mm")["state"] == "Running"
    deadline = time.monotonic() + 120
    while (metrics := seq.algo_metrics("sdk-mm"))["fills"] == 0:
        assert time.monotonic() < deadline, metrics
        time.sleep(0.2)
    assert metrics["orders"] > 0 and metrics["state"] == "Running", metrics
    assert any("market maker started" in line["message"] for line in seq.algo_logs("sdk-mm", 50))
    final = seq.algo_undeploy("sdk-mm")
    assert final["status"]["removed"] is True and final["status"]["fills"] >= metrics["fills"], final
    try:
        seq.algo_status("sdk-mm")
    except sequence.SequenceError as exc:
        print("gone:", exc)
    print("fills", metrics["fills"])
    """
)


@pytest.mark.slow
def test_a_script_using_only_import_sequence_deploys_trades_and_undeploys(
    session: Callable[..., UpSession],  # noqa: F811
) -> None:
    run = session(str(MARKET_MAKER))
    script = subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT],
        cwd=MARKET_MAKER,
        env={**run.env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert script.returncode == 0, script.stderr
    assert "gone: no deployment 'sdk-mm' in market-maker" in script.stdout
    assert "sdk-mm" not in run.state()["deployments"]  # the CLI verbs see it gone too
    assert "mm" in run.state()["deployments"]  # the project's own deployment is untouched


@pytest.mark.slow
def test_deploy_undeploy_and_deploy_again_in_a_running_session(
    tmp_path: Path,
    session: Callable[..., UpSession],  # noqa: F811
) -> None:
    project = tmp_path / "mm-project"
    project.mkdir()
    text = (MARKET_MAKER / "Sequence.toml").read_text()
    (project / "Sequence.toml").write_text(text)
    (project / "market_maker.wasm").write_bytes((MARKET_MAKER / "market_maker.wasm").read_bytes())
    run = session(str(project))
    assert run.cli("undeploy", "mm", "-p", str(project)).returncode == 0
    assert "mm" not in run.state()["deployments"]

    again = run.cli("deploy", str(project))
    assert again.returncode == 0, again.stderr
    assert "created mm" in again.stdout
    started = run.cli("start", "mm", "-p", str(project))
    assert started.returncode == 0, started.stderr
    assert run.status("mm")["state"] == "Running"

    # a changed deploy block is hot-swapped and keeps running
    (project / "Sequence.toml").write_text(text.replace("spread_bps = 4\n", "spread_bps = 6\n"))
    changed = run.cli("deploy", str(project))
    assert changed.returncode == 0, changed.stderr
    assert "updated mm (Running)" in changed.stdout
    status = run.status("mm")
    assert status["state"] == "Running"


@pytest.mark.slow
def test_up_detach_runs_in_the_background_until_down(tmp_path: Path) -> None:
    env = {**os.environ, "SEQUENCE_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sequence_cli(), *args],
            cwd=MARKET_MAKER,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    up = cli("up", "--detach")
    assert up.returncode == 0, up.stderr
    assert "market-maker is running in the background" in up.stdout
    state = json.loads((tmp_path / "state/market-maker.json").read_text())
    pid = state["supervisor_pid"]
    try:
        assert cli("up", "--detach").returncode != 0  # one session per project
        assert cli("start", "mm").returncode == 0

        edge = state["edges"]["kraken"]

        def filled() -> bool:
            answer = httpx.get(f"{edge}/v1/deployments/market-maker-mm", headers=AUTH, timeout=5.0)
            return answer.status_code == 200 and answer.json()["fills"] > 0

        wait_until(filled, 120, "fills in the background session")
        down = cli("down")
        assert down.returncode == 0, down.stderr
        assert "market-maker stopped" in down.stdout
        assert not (tmp_path / "state/market-maker.json").exists()
        assert "not running" in cli("down").stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@pytest.mark.slow
def test_the_full_workflow_in_a_fresh_directory_with_no_cluster_and_no_session(tmp_path: Path) -> None:
    if (Path.home() / ".kube" / "config").is_file():
        pytest.skip("a kubeconfig here would make `sequence deploy` pick the cluster")
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["SEQUENCE_STATE_DIR"] = str(tmp_path / "state")
    project = tmp_path / "my-mm"

    def sequence(*args: str, cwd: Path = project) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*sequence_cli(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"sequence {' '.join(args)}: {done.stderr}"
        return done

    # the CLI doc's Full Workflow, verb for verb
    sequence("init", "my-mm", cwd=tmp_path)
    try:
        sequence("build")
        checks = sequence("preflight").stdout
        assert "✓ bundle mm" in checks and "✗" not in checks
        deployed = sequence("deploy")
        assert "started a local session of my-mm" in deployed.stdout and "deployed mm" in deployed.stdout
        sequence("start")
        edge = json.loads((tmp_path / "state/my-mm.json").read_text())["edges"]["kraken"]

        def fills() -> int:
            answer = httpx.get(f"{edge}/v1/deployments/my-mm-mm", headers=AUTH, timeout=5.0)
            return int(answer.json()["fills"]) if answer.status_code == 200 else 0

        wait_until(fills, 120, "the scaffolded market maker's first fill")  # it really trades
        assert "filled" in sequence("logs").stdout
        tca = json.loads(sequence("tca", "-o", "json").stdout)
        assert tca["deployments"] == ["my-mm-mm"] and tca["total"]["fills"] >= 1
        sequence("stop")
        assert "removed" in sequence("undeploy").stdout
        assert "created mm" in sequence("deploy", "--skip-build").stdout  # and deploys again
    finally:
        subprocess.run([*sequence_cli(), "down"], cwd=project, env=env, capture_output=True, timeout=120)
    assert not (tmp_path / "state/my-mm.json").exists()


@pytest.mark.slow
def test_init_native_scaffolds_a_cdylib_that_builds_and_validates(tmp_path: Path) -> None:
    assert run_cli("init", "nat", "--native", cwd=tmp_path).returncode == 0
    project = tmp_path / "nat"
    toml = (project / "Sequence.toml").read_text()
    assert 'runtime = "native"' in toml and "allow_native = true" in toml
    built = run_cli("build", "--native", cwd=project, timeout=300)
    assert built.returncode == 0, built.stderr
    assert (project / "target/native/libnat.so").is_file()
    valid = run_cli("validate", cwd=project)
    assert valid.returncode == 0, valid.stderr


def _live_project(tmp_path: Path) -> Path:
    project = tmp_path / "live-mm"
    project.mkdir()
    text = (MARKET_MAKER / "Sequence.toml").read_text()
    text = text.replace('mode = "sandbox"', 'mode = "live"\ncredentials = "kraken-keys"', 1)
    text = text.replace('kind = "sim"\nsim = {', 'kind = "live"\n# sim = {', 1)
    (project / "Sequence.toml").write_text(text)
    (project / "market_maker.wasm").write_bytes((MARKET_MAKER / "market_maker.wasm").read_bytes())
    return project


def test_up_sandbox_refuses_a_live_venue_and_starts_nothing(tmp_path: Path) -> None:
    project = _live_project(tmp_path)
    env = {**os.environ, "SEQUENCE_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [*sequence_cli(), "--sandbox", "up", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "--sandbox refuses live venues: kraken" in result.stderr
    assert not (tmp_path / "state").exists()


def test_up_refuses_a_live_venue_without_local_credentials(tmp_path: Path) -> None:
    project = _live_project(tmp_path)
    env = {**os.environ, "SEQUENCE_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [*sequence_cli(), "up", str(project), "--duration", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "venue.kraken.credentials_dir: a live venue run by `sequence up` needs" in result.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.slow
def test_paper_trading_as_the_cli_doc_writes_it(tmp_path: Path) -> None:
    """`sequence login --sandbox`, then `--sandbox deploy`, `--sandbox start`, `--sandbox logs -f`:
    the scaffolded (sandbox) project trades on paper, with a paper-only login stored."""
    if (Path.home() / ".kube" / "config").is_file():
        pytest.skip("a kubeconfig here would make `sequence deploy` pick the cluster")
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["SEQUENCE_STATE_DIR"] = str(tmp_path / "state")
    env["SEQUENCE_CONFIG_DIR"] = str(tmp_path / "config")
    project = tmp_path / "my-mm"

    def sequence(*args: str, cwd: Path = project, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*sequence_cli(), *args],
            cwd=cwd,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"sequence {' '.join(args)}: {done.stderr}"
        return done.stdout

    sequence("init", "my-mm", cwd=tmp_path)
    assert "sandbox" in sequence("login", "--sandbox", stdin="seq_test_" + "k" * 32 + "\n")
    try:
        assert "deployed mm" in sequence("--sandbox", "deploy")
        sequence("--sandbox", "start")
        follow = subprocess.Popen(
            [*sequence_cli(), "--sandbox", "logs", "-f"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []

        def read() -> None:
            for line in follow.stdout or ():
                lines.append(line)

        threading.Thread(target=read, daemon=True).start()
        try:
            wait_until(
                lambda: any("filled" in line for line in lines), 120, "a paper fill in the followed log"
            )
        finally:
            follow.terminate()
            follow.wait(timeout=30)
    finally:
        subprocess.run([*sequence_cli(), "down"], cwd=project, env=env, capture_output=True, timeout=120)
