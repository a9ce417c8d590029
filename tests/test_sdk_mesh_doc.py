"""The mesh doc's Sequence.toml, verbatim: no [project] and no [venue.*] tables. The project is
named after its directory (and renders without a namespace, so it lands in the target's); the
file validates, renders, and runs under `sequence up`, where `sequence.connect()` finds it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import sequence

from .conftest import EXAMPLES, run_cli
from .mesh_support import wait_until
from .test_up import UpSession, session  # noqa: F401 (the fixture)

MESH_DOC_TOML = """\
[deploy.maker]
venue = "kraken"
label = "maker"
symbols = ["BTC-USD"]
bundle = "target/wasm32-unknown-unknown/release/my_strategy.wasm"
[deploy.hedger]
venue = "coinbase"
label = "hedger"
symbols = ["BTC-USD"]
bundle = "target/wasm32-unknown-unknown/release/my_strategy.wasm"
"""


def mesh_doc_project(tmp_path: Path) -> Path:
    project = tmp_path / "Mesh_Demo"
    release = project / "target" / "wasm32-unknown-unknown" / "release"
    release.mkdir(parents=True)
    (release / "my_strategy.wasm").write_bytes((EXAMPLES / "market-maker" / "market_maker.wasm").read_bytes())
    (project / "Sequence.toml").write_text(MESH_DOC_TOML)
    return project


def test_the_mesh_doc_file_validates_and_renders_as_written(tmp_path: Path) -> None:
    project = mesh_doc_project(tmp_path)
    validated = run_cli("validate", str(project))
    assert validated.returncode == 0, validated.stderr
    rendered = run_cli("render", str(project))
    assert rendered.returncode == 0, rendered.stderr
    objects = list(yaml.safe_load_all(rendered.stdout))
    algos = {o["metadata"]["name"]: o for o in objects if o["kind"] == "AlgoDeployment"}
    assert set(algos) == {"mesh-demo-maker", "mesh-demo-hedger"}  # named after the directory
    assert all("namespace" not in o["metadata"] for o in objects)  # the target's namespace
    [group] = [o for o in objects if o["kind"] == "MeshGroup"]
    assert {m["label"] for m in group["spec"]["members"]} == {"maker", "hedger"}
    assert algos["mesh-demo-maker"]["spec"]["venue"] == "kraken"


@pytest.mark.slow
def test_the_mesh_doc_file_runs_as_written(
    tmp_path: Path,
    session: Callable[..., UpSession],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = mesh_doc_project(tmp_path)
    run = session(str(project), "--start")
    monkeypatch.setenv("SEQUENCE_STATE_DIR", run.env["SEQUENCE_STATE_DIR"])
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    seq = sequence.connect(project=project)
    assert seq.session is not None and seq.session.project == "mesh-demo"
    assert set(seq.edges) == {"kraken", "coinbase"}  # one edge per venue the deploy blocks name
    for name in ("maker", "hedger"):
        wait_until(lambda name=name: seq.algo_metrics(name)["fills"] > 0, 120, f"{name} fills")
    mesh = seq.algo_mesh("maker")
    assert mesh["mesh_group"] == "mesh-demo"
    assert {(i["label"], i["venue"]) for i in mesh["instances"]} == {
        ("maker", "kraken"),
        ("hedger", "coinbase"),
    }
