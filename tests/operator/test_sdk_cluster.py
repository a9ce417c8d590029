"""The Python SDK against a cluster: with no local session, `sequence.connect()` takes the
kubeconfig context, and deploy_algo and the algo_* calls go through the AlgoDeployment resources
and the operator, as `sequence deploy` and the lifecycle verbs do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EXAMPLES, Cluster, Edge, unique, venue_edge
from .kube import Kube

pytestmark = pytest.mark.usefixtures("operator")

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import sequence

    project, namespace = sys.argv[1], sys.argv[2]
    out = {}
    seq = sequence.connect(project=project, namespace=namespace)  # no session here: the cluster
    out["target"] = seq.target
    wasm = Path(project, "mm.wasm").read_bytes()
    risk = {"max_order_qty": 0.05, "max_position": 0.2, "max_open_orders": 4, "price_band_bps": 100}
    try:
        seq.deploy_algo("bad", wasm, ["BTC-USD"], risk={"max_order_qty": -1})
    except sequence.SequenceError as exc:
        out["bad"] = str(exc)
    dep = seq.deploy_algo("sdk", wasm, ["BTC-USD"], risk=risk, params={"spread_bps": 4, "qty": 0.01})
    out["deployment"] = {k: v for k, v in vars(dep).items() if k != "edges"}
    out["edges"] = [vars(e) for e in dep.edges]
    out["started"] = seq.algo_start("sdk")["state"]
    deadline = time.monotonic() + 120
    while (metrics := seq.algo_metrics("sdk"))["fills"] == 0:
        assert time.monotonic() < deadline, metrics
        time.sleep(0.2)
    out["metrics"] = metrics
    out["status"] = seq.algo_status("sdk")
    out["logs"] = seq.algo_logs("sdk", 20)
    out["mesh"] = seq.algo_mesh("sdk")
    out["algos"] = seq.algos()
    out["per_edge"] = seq.algos_per_edge()
    out["stats"] = seq.algo_stats("BTC-USD")
    out["stopped"] = seq.algo_stop_by_symbol("BTC-USD")["state"]
    out["undeployed"] = seq.algo_undeploy("sdk")["name"]
    try:
        seq.algo_status("sdk")
    except sequence.SequenceError as exc:
        out["gone"] = str(exc)
    print(json.dumps(out))
    """
)


def test_a_script_deploys_runs_and_undeploys_through_the_custom_resources(
    cluster: Cluster, kube: Kube, edges: Callable[..., Edge], tmp_path: Path
) -> None:
    edge = edges("kraken")
    name = unique("sdk")
    shutil.copy(EXAMPLES / "market-maker" / "market_maker.wasm", tmp_path / "mm.wasm")
    (tmp_path / "Sequence.toml").write_text(
        f'[project]\nname = "{name}"\n\n[venue.kraken]\nexternal = ["{edge.endpoint}"]\n'
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "SEQUENCE_TOKEN"},  # the token is the Secret's
        "KUBECONFIG": str(cluster.kubeconfig),
        "SEQUENCE_STATE_DIR": str(tmp_path / "no-sessions"),
    }
    # the project's edges, as `sequence deploy` makes them (a VenueEdge labelled with the project)
    venue = venue_edge("kraken", "kraken", external=[edge.endpoint])
    venue["metadata"]["labels"] = {"sequence.dev/project": name}
    kube.create(venue)

    script = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), cluster.namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert script.returncode == 0, script.stderr
    out = json.loads(script.stdout)
    assert out["target"] == "cluster"
    assert "max_order_qty" in out["bad"] and kube.get("AlgoDeployment", f"{name}-bad") is None

    algo = f"{name}-sdk"
    dep = out["deployment"]
    assert dep["deployment_id"] == f"{cluster.namespace}.{algo}" and dep["name"] == "sdk", dep
    assert dep["symbols"] == ["BTC-USD"] and dep["size_bytes"] == (tmp_path / "mm.wasm").stat().st_size
    assert dep["status"] == "Stopped", dep  # deployments start stopped
    assert dep["pushed_to"] == dep["capable_edges"] and len(dep["pushed_to"]) == 1, dep
    [pushed] = out["edges"]
    assert pushed["pushed"] and pushed["url"] == edge.endpoint and pushed["venue"] == "kraken", pushed

    assert out["started"] == "Running"
    metrics = out["metrics"]
    assert metrics["fills"] > 0 and metrics["orders"] >= metrics["fills"], metrics
    assert metrics["latency_ns"]["p50"] is not None and "BTC-USD" in metrics["position"], metrics
    assert out["status"]["name"] == algo and out["status"]["symbols"] == ["BTC-USD"], out["status"]
    assert any(line["edge"] for line in out["logs"]) and out["logs"][0]["message"], out["logs"]
    assert out["mesh"]["deployment_id"] == dep["deployment_id"] and out["mesh"]["instances"] == []
    [row] = out["algos"]
    assert (row["symbol"], row["name"], row["deployment_id"]) == ("BTC-USD", "sdk", dep["deployment_id"])
    assert [r["edge_id"] for r in out["per_edge"]] == dep["pushed_to"], out["per_edge"]
    assert out["stats"]["symbol"] == "BTC-USD" and out["stats"]["fills"] >= metrics["fills"], out["stats"]
    assert out["stopped"] == "Stopped"

    assert out["undeployed"] == algo
    assert f"no AlgoDeployment 'sdk' in namespace {cluster.namespace}" in out["gone"], out["gone"]
    assert kube.get("AlgoDeployment", algo) is None
    assert edge.deployment(dep["deployment_id"]) is None  # the finalizer removed it from the edge
    kube.delete("VenueEdge", "kraken")  # the next test's venue has its own edge only
    kube.wait_gone("VenueEdge", "kraken")


ASYNC_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    import sequence.aio

    async def main():
        project, namespace = sys.argv[1], sys.argv[2]
        seq = await sequence.aio.connect(project=project, namespace=namespace, target="cluster")
        wasm = Path(project, "mm.wasm").read_bytes()
        dep = await seq.deploy_algo("aio", wasm, ["BTC-USD"], risk={"max_order_qty": 0.05})
        status, rows = await asyncio.gather(seq.algo_status("aio"), seq.algos())
        started = await seq.algo_start("aio")
        undeployed = await seq.algo_undeploy("aio")
        return {"deployment": {k: v for k, v in vars(dep).items() if k != "edges"}, "status": status,
                "rows": rows, "started": started["state"], "undeployed": undeployed["name"]}

    print(json.dumps(asyncio.run(main())))
    """
)


def test_the_async_twin_against_the_cluster(
    cluster: Cluster, kube: Kube, edges: Callable[..., Edge], tmp_path: Path
) -> None:
    edge = edges("kraken")
    name = unique("aio")
    shutil.copy(EXAMPLES / "market-maker" / "market_maker.wasm", tmp_path / "mm.wasm")
    (tmp_path / "Sequence.toml").write_text(f'[project]\nname = "{name}"\n')
    venue = venue_edge(f"kraken-{name}", "kraken", external=[edge.endpoint])
    venue["metadata"]["labels"] = {"sequence.dev/project": name}
    kube.create(venue)
    env = {
        **{k: v for k, v in os.environ.items() if k != "SEQUENCE_TOKEN"},
        "KUBECONFIG": str(cluster.kubeconfig),
        "SEQUENCE_STATE_DIR": str(tmp_path / "no-sessions"),
    }
    script = subprocess.run(
        [sys.executable, "-c", ASYNC_SCRIPT, str(tmp_path), cluster.namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert script.returncode == 0, script.stderr
    out = json.loads(script.stdout)
    dep = out["deployment"]
    assert dep["deployment_id"] == f"{cluster.namespace}.{name}-aio" and dep["status"] == "Stopped", dep
    assert dep["pushed_to"] == dep["capable_edges"] and len(dep["pushed_to"]) == 1, dep
    assert out["status"]["state"] == "Stopped" and out["status"]["pushed_to"] == 1, out["status"]
    assert [(r["symbol"], r["name"]) for r in out["rows"]] == [("BTC-USD", "aio")], out["rows"]
    assert out["started"] == "Running" and out["undeployed"] == f"{name}-aio"
    assert kube.get("AlgoDeployment", f"{name}-aio") is None
