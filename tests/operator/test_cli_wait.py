"""`sequence deploy --wait` against the operator, with the cluster options after the subcommand
(as `kubectl sequence deploy --wait -n NS` passes them): back once the AlgoDeployment is Ready,
or a clear message at the timeout. Also `orders` and `logs -f` of every deployment through the
cluster target."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EXAMPLES, Cluster, Edge, closed_port_endpoint, sequence_cmd, unique
from .kube import Kube

pytestmark = pytest.mark.usefixtures("operator")


def env_without_kubeconfig() -> dict[str, str]:
    # No $KUBECONFIG and no $SEQUENCE_TOKEN: --kubeconfig after the subcommand must be what is used,
    # and the CLI finds the namespace's token in its Secret through it.
    drop = ("KUBECONFIG", "SEQUENCE_TOKEN", "SEQUENCE_NAMESPACE", "SEQUENCE_CONTEXT")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "SEQUENCE_TARGET": "cluster"}


def cli_after(cluster: Cluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`sequence ARGS -n NS --kubeconfig FILE`: the cluster options after the subcommand."""
    return subprocess.run(
        [*sequence_cmd(), *args, "-n", cluster.namespace, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        env={**env_without_kubeconfig(), "COLUMNS": "250"},
        timeout=timeout,
    )


def project(
    tmp_path: Path, name: str, endpoint: str, deploys: tuple[str, ...] = ("mm",), venue: str = "kraken"
) -> Path:
    shutil.copy(EXAMPLES / "market-maker" / "market_maker.wasm", tmp_path / "mm.wasm")
    text = f'[project]\nname = "{name}"\n\n[venue.{venue}]\nexternal = ["{endpoint}"]\n'
    for deploy in deploys:
        text += (
            f'\n[deploy.{deploy}]\nvenue = "{venue}"\nsymbols = ["BTC-USD"]\nbundle = "mm.wasm"\n'
            "risk = { max_order_qty = 0.05, max_position = 0.2, max_open_orders = 4, price_band_bps = 100 }\n"
            "params = { spread_bps = 4, qty = 0.01 }\n"
        )
    (tmp_path / "Sequence.toml").write_text(text)
    return tmp_path


def test_deploy_wait_returns_when_ready_then_orders_and_logs_of_every_deployment(
    cluster: Cluster, kube: Kube, edges: Callable[..., Edge], tmp_path: Path
) -> None:
    edge = edges("kraken")
    name = unique("wait")
    path = project(tmp_path, name, edge.endpoint, ("mm", "mm2"))
    deployed = cli_after(cluster, "deploy", str(path), "--wait", "--timeout", "90")
    assert deployed.returncode == 0, deployed.stderr
    assert f"every deployment of {name} is ready" in deployed.stdout
    for algo in (f"{name}-mm", f"{name}-mm2"):
        assert f"wait: {algo} ready: Stopped (1/1 edges)" in deployed.stderr, deployed.stderr
        ready = next(
            c for c in kube.get("AlgoDeployment", algo)["status"]["conditions"] if c["type"] == "Ready"
        )
        assert ready["status"] == "True"  # what --wait waited for, as the API server has it

    status = cli_after(cluster, "status", "--project", str(path), "-o", "json")
    assert status.returncode == 0, status.stderr
    assert {row["name"] for row in json.loads(status.stdout)} == {f"{name}-mm", f"{name}-mm2"}

    assert cli_after(cluster, "start", "--project", str(path)).returncode == 0
    dep_id = f"{cluster.namespace}.{name}-mm"
    kube.wait("orders on the edge", lambda: (edge.deployment(dep_id) or {}).get("orders", 0) > 0, 60)
    orders = cli_after(cluster, "orders", "mm", "--project", str(path), "-o", "json")
    assert orders.returncode == 0, orders.stderr
    rows = json.loads(orders.stdout)
    assert rows and {row["deployment_id"] for row in rows} == {dep_id}, rows

    follow = subprocess.Popen(
        [*sequence_cmd(), "logs", "-f", "--project", str(path), "--kubeconfig", str(cluster.kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env_without_kubeconfig(), "SEQUENCE_NAMESPACE": cluster.namespace},
    )
    streamed: list[str] = []
    threading.Thread(target=lambda: streamed.extend(follow.stdout or []), daemon=True).start()
    try:
        kube.wait(
            "log lines of both deployments in one follow",
            lambda: all(any(f" {name}-{d}@kraken" in line for line in streamed) for d in ("mm", "mm2")),
            60,
        )
    finally:
        follow.terminate()
        follow.wait(10)
        print("logs -f stderr:", follow.stderr.read() if follow.stderr else "")


def test_deploy_wait_times_out_with_what_is_not_ready(cluster: Cluster, tmp_path: Path) -> None:
    name = unique("nowait")
    # its own venue: a VenueEdge belongs to one project (the API server refuses a second one's)
    path = project(tmp_path, name, closed_port_endpoint(), venue="coinbase")
    waited = cli_after(cluster, "deploy", str(path), "--wait", "--timeout", "3")
    assert waited.returncode == 1, waited.stderr
    assert "timed out after 3 s waiting for the deployments to be ready" in waited.stderr, waited.stderr
    assert f"{name}-mm is " in waited.stderr and "Traceback" not in waited.stderr
