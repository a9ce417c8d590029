"""`sequence preflight` against a cluster (KMock, or a real one with $SEQUENCE_TEST_KUBECONFIG):
the VenueEdge's readiness and owner, AlgoDeployment name conflicts and a live venue's Secret."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .conftest import EXAMPLES, Cluster, sequence_cmd, unique
from .kube import Kube


def write_project(path: Path, name: str, live: bool = False) -> Path:
    shutil.copy(EXAMPLES / "market-maker" / "market_maker.wasm", path / "mm.wasm")
    venue = 'mode = "live"\ncredentials = "kraken-keys"\nfeed = { kind = "live" }\n' if live else ""
    (path / "Sequence.toml").write_text(
        f'[project]\nname = "{name}"\n\n[venue.kraken]\n{venue}\n'
        '[deploy.mm]\nvenue = "kraken"\nsymbols = ["BTC-USD"]\nbundle = "mm.wasm"\n'
        "risk = { max_order_qty = 0.05, max_notional = 10000, max_position = 0.2, max_loss = 1000 }\n"
    )
    return path


def preflight(cluster: Cluster, path: Path) -> tuple[int, dict[str, tuple[str, str]]]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "SEQUENCE_TOKEN"},
        "KUBECONFIG": str(cluster.kubeconfig),
        "SEQUENCE_STATE_DIR": str(path / "state"),
    }
    done = subprocess.run(
        [*sequence_cmd(), "-n", cluster.namespace, "preflight", "-o", "json"],
        cwd=path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    body = json.loads(done.stdout)
    return done.returncode, {c["name"]: (c["status"], c["reason"]) for c in body["checks"]}


def labelled(kind: str, name: str, project: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "sequence.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "labels": {"sequence.dev/project": project}},
        "spec": spec,
    }


def test_preflight_reads_the_cluster(cluster: Cluster, kube: Kube, tmp_path: Path) -> None:
    name = unique("pf")
    path = write_project(tmp_path, name)
    code, checks = preflight(cluster, path)
    assert checks["target"] == ("pass", f"the cluster, namespace {cluster.namespace}")
    assert checks["edge kraken"][0] == "skip" and "`sequence deploy` creates it" in checks["edge kraken"][1]
    assert checks["name mm"] == ("pass", f"AlgoDeployment {cluster.namespace}/{name}-mm is free")
    assert code == 0

    # another project's AlgoDeployment with this block's name
    kube.create(
        labelled(
            "AlgoDeployment",
            f"{name}-mm",
            "someone-else",
            {
                "venue": "kraken",
                "label": "mm",
                "symbols": ["BTC-USD"],
                "bundle": {"url": "https://bundles.example/mm.wasm", "sha256": "ab" * 32},
            },
        )
    )
    code, checks = preflight(cluster, path)
    assert code == 1 and "belongs to project someone-else" in checks["name mm"][1]
    kube.delete("AlgoDeployment", f"{name}-mm")

    # the VenueEdge exists but its edges have no healthy feed
    kube.create(labelled("VenueEdge", "kraken", name, {"venue": "kraken"}))
    status = {"status": {"lifecycleState": "Degraded", "readyEdges": 0, "desiredEdges": 1}}
    kube.ok(
        "PATCH",
        kube.path("VenueEdge", "kraken", subresource="status"),
        status,
        content_type="application/merge-patch+json",
    )
    code, checks = preflight(cluster, path)
    assert code == 1 and "is Degraded (0/1 edges with a healthy feed)" in checks["edge kraken"][1]
    kube.delete("VenueEdge", "kraken")

    # a live venue: its Secret must exist and hold both keys
    write_project(path, name, live=True)
    code, checks = preflight(cluster, path)
    assert (
        code == 1 and checks["credentials kraken"][1] == f"Secret {cluster.namespace}/kraken-keys not found"
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "kraken-keys"},
        "data": {"api_key": base64.b64encode(b"key").decode()},
    }
    kube.create(secret)
    code, checks = preflight(cluster, path)
    assert code == 1 and checks["credentials kraken"][1].endswith("has no api_secret")
    kube.delete("Secret", "kraken-keys")
