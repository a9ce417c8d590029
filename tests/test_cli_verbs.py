"""The small things of the CLI a user trips over, against real local sessions: `watch` when piped,
`orders` (refs for `trace`), `logs -f` of every deployment, `-o json|yaml|wide`, the cluster
options after the subcommand, `up` progress on stderr, and `deploy --wait`."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from sequence_wire.coordinator_api import Topology
from sequence_wire.edge_api import DeploymentStatus, Order, OrderTrace

from .conftest import EXAMPLES, REPO, sequence_cli
from .mesh_support import wait_until
from .test_up import MESH_ARB, UpSession, session  # noqa: F401 (the fixture)


def logfmt(line: str) -> dict[str, str]:
    """`key=value key="a b"` -> dict (what a script reading `sequence watch | ...` does)."""
    return dict(token.split("=", 1) for token in shlex.split(line))


@pytest.mark.slow
def test_verbs_for_scripts_against_a_running_mesh_session(
    session: Callable[..., UpSession],  # noqa: F811
    tmp_path: Path,
) -> None:
    run = session(MESH_ARB, "--start")
    # `sequence up` said what it was doing while it launched (plain lines: its output is a file)
    launched = run.output()
    for step in (
        "up: coordinator healthy on http://127.0.0.1:",
        "up: edge kraken healthy",
        "up: edge coinbase healthy",
        "up: pushed maker to the kraken edge (Running)",
        "up: pushed hedger to the coinbase edge (Running)",
        "up: mesh-arb is up: 2 deployment(s) on 2 edge(s)",
    ):
        assert step in launched, launched
    assert "\x1b[" not in launched.split("up: mesh-arb is up")[0]  # no terminal codes in a file

    def fills() -> bool:
        return run.status("maker")["fills"] > 0

    wait_until(fills, 120, "the maker's first fill")

    # watch, piped: a logfmt line per deployment per refresh, then exit after --count refreshes
    watched = run.cli("watch", "--count", "2", "--interval", "0.2")
    assert watched.returncode == 0, watched.stderr
    lines = [logfmt(line) for line in watched.stdout.splitlines()]
    assert [line["name"] for line in lines] == ["maker", "hedger", "maker", "hedger"], watched.stdout
    assert lines[0]["ts"] < lines[2]["ts"] and lines[0]["state"] == "Running"
    assert int(lines[2]["fills"]) >= int(lines[0]["fills"]) > 0 and "pos.BTC-USD" in lines[0]

    # status / mesh as json and yaml: the edge's and coordinator's own shapes
    rows = json.loads(run.cli("status", "-o", "json").stdout)
    assert {row["name"] for row in rows} == {"maker", "hedger"}
    for row in rows:
        DeploymentStatus.model_validate(row)
    as_yaml = yaml.safe_load(run.cli("status", "maker", "-o", "yaml").stdout)
    assert [row["deployment_id"] for row in as_yaml] == ["mesh-arb-maker"]
    topology = Topology.model_validate(json.loads(run.cli("mesh", "-o", "json").stdout))
    assert {i.label for i in topology.instances} == {"maker", "hedger"}
    wide = run.cli("status", "-o", "wide").stdout
    assert "Cancels" in wide and "mesh-arb-maker" in wide and "kraken-0" in wide, wide
    assert "Dropped %" in run.cli("mesh", "-o", "wide").stdout
    assert run.cli("status", "-o", "xml").returncode == 2  # a usage error, nothing half-printed

    # orders lists the refs trace takes
    orders = json.loads(run.cli("orders", "maker", "-o", "json", "--limit", "0").stdout)
    assert orders and all(o["name"] == "maker" for o in orders)
    for order in orders:
        Order.model_validate(order)
    filled = next(o for o in orders if o["filled"] > 0)
    table = run.cli("orders", "maker", "--limit", "5")
    assert table.returncode == 0 and re.search(r"P-[0-9a-f]{8}", table.stdout), table.stdout
    resting = json.loads(run.cli("orders", "--open", "-o", "json").stdout)
    assert all(o["filled"] < o["qty"] and o["queue_ahead"] is not None for o in resting), resting
    traced = OrderTrace.model_validate(json.loads(run.cli("trace", filled["order_ref"], "-o", "json").stdout))
    assert traced.order_ref == filled["order_ref"] and "fill" in [e.event for e in traced.events]
    wide_trace = run.cli("trace", filled["order_ref"], "-o", "wide").stdout
    first_ts = traced.events[0].ts_ns
    assert str(first_ts) in wide_trace and f"order_id={filled['order_id']}" in wide_trace, wide_trace
    yaml_trace = yaml.safe_load(run.cli("trace", filled["order_ref"], "-o", "yaml").stdout)
    assert yaml_trace["order_ref"] == filled["order_ref"]

    # logs -f with no name: both deployments' lines, interleaved, each naming its deployment
    follow = subprocess.Popen(
        [*sequence_cli(), "logs", "-f", "--tail", "5"],
        cwd=REPO,
        env=run.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    streamed: list[str] = []
    reader = threading.Thread(target=lambda: streamed.extend(follow.stdout or []), daemon=True)
    reader.start()
    try:

        def both() -> bool:
            names = {m.group(1) for line in streamed if (m := re.search(r"\s(maker|hedger): ", line))}
            return names == {"maker", "hedger"}

        wait_until(both, 30, "log lines of both deployments in one follow")
    finally:
        follow.terminate()
        follow.wait(10)
    assert "needs one deployment" not in (follow.stderr.read() if follow.stderr else "")

    # the cluster options after the subcommand, as `kubectl sequence status -n prod` passes them
    after = run.cli("status", "-n", "prod", "--context", "nowhere")
    assert after.returncode == 0 and "maker" in after.stdout, after.stderr
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: here, context: {cluster: c}}]\ncurrent-context: here\nusers: []\n"
    )
    forced = run.cli("--target", "cluster", "status", "--kubeconfig", str(kubeconfig), "--context=nowhere")
    assert forced.returncode == 1 and "Traceback" not in forced.stderr, forced.stderr
    assert f"kubeconfig {kubeconfig}" in forced.stderr and "nowhere" in forced.stderr, forced.stderr

    # deploy --wait to the running session: back once both are Ready, and says so
    waited = run.cli("deploy", MESH_ARB, "--skip-build", "--wait", "--timeout", "60", timeout=120)
    assert waited.returncode == 0, waited.stderr
    assert "every deployment of mesh-arb is ready" in waited.stdout
    assert "wait: maker ready: Running" in waited.stderr and "wait: hedger ready: Running" in waited.stderr


@pytest.mark.slow
def test_up_progress_goes_to_stderr_and_json_stdout_stays_clean(tmp_path: Path) -> None:
    env = {**os.environ, "SEQUENCE_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [*sequence_cli(), "up", str(EXAMPLES / "market-maker"), "--duration", "2", "--json", "-"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # nothing but the summary on stdout
    assert summary["project"] == "market-maker"
    steps = [line for line in done.stderr.splitlines() if line.startswith("up: ")]
    assert [s.split(" ")[1] for s in steps[:3]] == ["starting", "coordinator", "edge"], done.stderr
    assert "up: edge kraken healthy" in steps and "up: pushed mm to the kraken edge (Loaded)" in steps


@pytest.mark.slow
def test_deploy_wait_starts_a_background_session_and_returns_when_ready(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["SEQUENCE_STATE_DIR"] = str(tmp_path / "state")
    env["HOME"] = str(tmp_path)  # no ~/.kube/config: the deploy goes to a new local session
    project = tmp_path / "mm"
    project.mkdir()
    shutil.copy(EXAMPLES / "market-maker" / "Sequence.toml", project)
    shutil.copy(EXAMPLES / "market-maker" / "market_maker.wasm", project)

    def sequence(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sequence_cli(), *args], cwd=project, env=env, capture_output=True, text=True, timeout=240
        )

    try:
        deployed = sequence("deploy", "--skip-build", "--wait", "--timeout", "120")
        assert deployed.returncode == 0, deployed.stderr
        assert "started a local session of market-maker in the background" in deployed.stdout
        assert "every deployment of market-maker is ready" in deployed.stdout
        assert "up: edge kraken healthy" in deployed.stderr  # the background launch's progress
        assert "wait: mm ready: Loaded" in deployed.stderr  # deployments start stopped
        again = sequence("deploy", "--skip-build", "--wait", "--timeout", "0")
        assert again.returncode == 0 and "updated mm (Loaded)" in again.stdout, again.stderr
    finally:
        down = sequence("down")
    assert down.returncode == 0, down.stderr


@pytest.mark.parametrize(
    "spelling",
    [
        ("-n", "prod-ns"),
        ("-nprod-ns",),
        ("--namespace=prod-ns",),
        ("--namespace", "prod-ns"),
    ],
)
def test_cluster_options_after_the_subcommand_reach_the_api_server(
    tmp_path: Path, spelling: tuple[str, ...]
) -> None:
    """`kubectl sequence status -n prod` passes the options after the subcommand: they must pick the
    kubeconfig, context and namespace asked for (here an API server that is down, so the one-line
    error shows which namespace was asked for), never a traceback."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: down, context: {cluster: c, namespace: down-ns}}, {name: home, context: {cluster: c}}]\n"
        "current-context: home\nusers: []\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "SEQUENCE_NAMESPACE")}
    done = subprocess.run(
        [*sequence_cli(), "status", *spelling, "--context", "down", "--kubeconfig", str(kubeconfig)],
        cwd=tmp_path,
        env={**env, "SEQUENCE_TARGET": "cluster"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "/namespaces/prod-ns/algodeployments" in done.stderr, done.stderr
    assert "127.0.0.1" in done.stderr and done.stdout == ""


def test_the_context_after_the_subcommand_gives_its_namespace(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: down, context: {cluster: c, namespace: down-ns}}, {name: home, context: {cluster: c}}]\n"
        "current-context: home\nusers: []\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "SEQUENCE_NAMESPACE")}
    done = subprocess.run(
        [*sequence_cli(), "status", "--context=down", "--kubeconfig", str(kubeconfig)],
        cwd=tmp_path,
        env={**env, "SEQUENCE_TARGET": "cluster"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "/namespaces/down-ns/algodeployments" in done.stderr, done.stderr
