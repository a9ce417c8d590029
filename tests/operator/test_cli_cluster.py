"""The CLI against a cluster: `sequence deploy` (server-side apply) and the lifecycle verbs act
through the custom resources and the operator, with logs and traces read from the edges."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import AUTH
from .conftest import EXAMPLES, Cluster, Edge, sequence_cmd, unique
from .kube import Kube

pytestmark = pytest.mark.usefixtures("operator")


def cli(cluster: Cluster, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # No $SEQUENCE_TOKEN: the CLI finds the namespace's token in its Secret through the kubeconfig.
    env = {
        **{k: v for k, v in os.environ.items() if k != "SEQUENCE_TOKEN"},
        "KUBECONFIG": str(cluster.kubeconfig),
        "SEQUENCE_TARGET": "cluster",
        "COLUMNS": "250",
    }
    return subprocess.run(
        [*sequence_cmd(), "-n", cluster.namespace, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def project(tmp_path: Path, name: str, edge: Edge) -> Path:
    shutil.copy(EXAMPLES / "market-maker" / "market_maker.wasm", tmp_path / "mm.wasm")
    (tmp_path / "Sequence.toml").write_text(
        f'[project]\nname = "{name}"\n\n'
        f'[venue.kraken]\nexternal = ["{edge.endpoint}"]\n\n'
        '[deploy.mm]\nvenue = "kraken"\nsymbols = ["BTC-USD"]\nbundle = "mm.wasm"\n'
        "risk = { max_order_qty = 0.05, max_position = 0.2, max_open_orders = 4, price_band_bps = 100 }\n"
        "params = { spread_bps = 4, qty = 0.01 }\n"
    )
    return tmp_path


def test_deploy_and_verbs_against_the_cluster(
    cluster: Cluster, kube: Kube, edges: Callable[..., Edge], tmp_path: Path
) -> None:
    edge = edges("kraken")
    name = unique("cli")
    path = project(tmp_path, name, edge)
    algo = f"{name}-mm"

    deployed = cli(cluster, "deploy", str(path))
    assert deployed.returncode == 0, deployed.stderr
    assert f"applied AlgoDeployment/{algo}" in deployed.stdout
    again = cli(cluster, "deploy", str(path))  # applying twice changes nothing and still succeeds
    assert again.returncode == 0, again.stderr
    assert kube.get("AlgoDeployment", algo)["spec"]["state"] == "Stopped"  # deployments start stopped

    # `start` patches spec.state; the operator runs it on the edge; status reports fills.
    started = cli(cluster, "start", "mm", "--project", str(path))
    assert started.returncode == 0, started.stderr
    assert kube.get("AlgoDeployment", algo)["spec"]["state"] == "Running"
    kube.wait_status(
        "AlgoDeployment",
        algo,
        lambda s: any(e.get("fills", 0) > 0 for e in s.get("edges") or []),
        "fills on the edge",
        timeout=60,
    )
    status = cli(cluster, "status", "--project", str(path))
    assert status.returncode == 0, status.stderr
    assert algo in status.stdout and "Running" in status.stdout

    logs = cli(cluster, "logs", "mm", "--project", str(path))
    assert logs.returncode == 0, logs.stderr
    assert re.search(r"INFO\s+" + re.escape(algo), logs.stdout), logs.stdout

    dep_id = f"{cluster.namespace}.{algo}"
    request = urllib.request.Request(f"http://{edge.endpoint}/v1/deployments/{dep_id}/orders", headers=AUTH)
    with urllib.request.urlopen(request, timeout=5) as r:
        orders = json.loads(r.read())
    order_ref = orders[0]["order_ref"]
    traced = cli(cluster, "trace", order_ref, "--project", str(path))
    assert traced.returncode == 0, traced.stderr
    assert order_ref in traced.stdout and "submit" in traced.stdout and " ns " in traced.stdout

    stopped = cli(cluster, "stop", "mm", "--project", str(path))
    assert stopped.returncode == 0, stopped.stderr
    kube.wait(
        f"{algo} stopped on the edge", lambda: (edge.deployment(dep_id) or {}).get("state") == "Stopped"
    )

    removed = cli(cluster, "undeploy", "mm", "--project", str(path))
    assert removed.returncode == 0, removed.stderr
    kube.wait_gone("AlgoDeployment", algo)
    kube.wait(f"{dep_id} removed from the edge", lambda: edge.deployment(dep_id) is None)


def test_unknown_deployment_is_a_clear_error(cluster: Cluster) -> None:
    result = cli(cluster, "status", "no-such-algo")
    assert result.returncode == 1
    assert "no AlgoDeployment 'no-such-algo'" in result.stderr


def test_cli_reaches_a_managed_edge_through_the_pod_proxy_with_the_namespace_token(
    cluster: Cluster, edges: Callable[..., Edge], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API server keeps `Authorization` to itself (the emulator too): the edge must get the
    # namespace's token in X-Sequence-Token, read by the CLI from the Secret (no $SEQUENCE_TOKEN here).
    if cluster.real:
        pytest.skip(
            "the edges of these tests are loopback processes, not pods a real API server can proxy to"
        )
    from kubernetes.config import kube_config

    from sequence.cluster import ClusterTarget

    edge = edges("kraken")
    port = edge.endpoint.rsplit(":", 1)[1]
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))
    monkeypatch.delenv("SEQUENCE_TOKEN")
    target = ClusterTarget(None, cluster.namespace)
    response = target._edge_get({"pod": "edge-kraken-0", "endpoint": f"10.0.0.9:{port}"}, "/v1/edge")
    assert response.status == 200, response.data
    assert json.loads(response.data)["venue"] == "kraken"
