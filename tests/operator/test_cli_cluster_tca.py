"""`sequence tca` and `sequence intel` against a cluster: the AlgoDeployment's status names its edges,
the CLI reads their orders, traces, fees, mids and books, as `logs` and `trace` do."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Cluster, Edge, unique
from .kube import Kube
from .test_cli_cluster import cli, project

pytestmark = pytest.mark.usefixtures("operator")


def test_tca_and_intel_against_the_cluster(
    cluster: Cluster, kube: Kube, edges: Callable[..., Edge], tmp_path: Path
) -> None:
    edge = edges("kraken")
    name = unique("tca")
    path = project(tmp_path, name, edge)
    algo = f"{name}-mm"
    for _ in range(2):  # as test_cli_cluster does: applying twice changes nothing
        deployed = cli(cluster, "deploy", str(path))
        assert deployed.returncode == 0, deployed.stderr
    started = cli(cluster, "start", "mm", "--project", str(path))
    assert started.returncode == 0, started.stderr
    kube.wait_status(
        "AlgoDeployment",
        algo,
        lambda s: any(e.get("fills", 0) > 0 for e in s.get("edges") or []),
        "fills on the edge",
        timeout=60,
    )

    result = cli(
        cluster, "tca", "mm", "-o", "json", "--html", str(tmp_path / "r.html"), "--project", str(path)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["deployments"] == [f"{cluster.namespace}.{algo}"] and list(report["venues"]) == ["kraken"]
    assert report["total"]["fills"] > 0 and report["total"]["fees"] > 0
    assert all(f["arrival_mid"] > 0 for f in report["fills"])
    html = (tmp_path / "r.html").read_text()
    assert not re.search(r"https?://", html) and html.count("<svg") == 2

    intel = cli(cluster, "intel", "BTC-USD", "-o", "json", "--project", str(path))
    assert intel.returncode == 0, intel.stderr
    found = json.loads(intel.stdout)
    [row] = found["coverage"]
    assert row["venue"] == "kraken" and row["carries"] and row["feed_healthy"]
    assert {c["side"] for c in found["curves"]} == {"buy", "sell"}
    assert found["routing_error"], "no routing preference without a coordinator to ask"

    removed = cli(cluster, "undeploy", "mm", "--project", str(path))
    assert removed.returncode == 0, removed.stderr
    kube.wait_gone("AlgoDeployment", algo)
