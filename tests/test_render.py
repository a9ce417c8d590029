"""`sequence render`: the objects Argo CD and kubectl apply."""

from __future__ import annotations

import base64
import hashlib

import jsonschema
import pytest
import yaml

from sequence.models import KIND_BY_NAME
from sequence.render.crdgen import crd

from .conftest import REPO, run_cli

GOOD = REPO / "tests" / "configs" / "good"


def _render(path) -> list[dict]:
    result = run_cli("render", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return list(yaml.safe_load_all(result.stdout))


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return _render(GOOD)


def _by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def test_render_is_byte_identical_across_runs() -> None:
    first = run_cli("render", str(GOOD))
    second = run_cli("render", str(GOOD / "Sequence.toml"))
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout.startswith("---\n")


def test_one_of_each_resource(objects: list[dict]) -> None:
    kinds = [o["kind"] for o in objects]
    assert kinds.count("AlgoDeployment") == 3
    assert kinds.count("MeshGroup") == 1
    assert kinds.count("VenueEdge") == 3
    assert kinds.count("ExecutionGraph") == 2
    # maker and hedger share one bundle file -> one bundle ConfigMap; plus the replay file
    assert kinds.count("ConfigMap") == 2
    assert all(o["metadata"]["namespace"] == "trading" for o in objects)
    for o in objects:
        labels = o["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "full"
        assert labels["app.kubernetes.io/managed-by"] == "sequence"


def test_bundle_configmap_is_pinned_by_sha(objects: list[dict]) -> None:
    data = (GOOD / "algo.wasm").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    (cm,) = [o for o in _by_kind(objects, "ConfigMap") if "bundle.wasm" in o.get("binaryData", {})]
    assert base64.b64decode(cm["binaryData"]["bundle.wasm"]) == data
    assert cm["metadata"]["annotations"]["sequence.dev/sha256"] == sha
    algos = {o["metadata"]["name"]: o["spec"] for o in _by_kind(objects, "AlgoDeployment")}
    maker = algos["full-maker"]
    assert maker["bundle"] == {
        "configMap": {"name": cm["metadata"]["name"], "key": "bundle.wasm"},
        "sha256": sha,
        "sizeBytes": len(data),
    }
    assert maker["state"] == "Running"
    assert algos["full-hedger"]["state"] == "Stopped"  # deployments start stopped
    assert algos["full-hedger"]["label"] == "hedger"  # label defaults to the block name
    assert algos["full-remote"]["bundle"] == {
        "url": "https://algos.example/remote-1.2.wasm",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    }
    assert maker["params"] == {"spread_bps": "3", "qty": "0.01", "mode": "aggressive", "hedge": "true"}
    assert maker["risk"]["maxOrderQty"] == 0.5 and maker["risk"]["priceBandBps"] == 50
    assert maker["wasm"] == {"deadlineMs": 0.5, "memoryMib": 32}


def test_mesh_group_lists_every_instance(objects: list[dict]) -> None:
    (mesh,) = _by_kind(objects, "MeshGroup")
    members = {m["label"]: m for m in mesh["spec"]["members"]}
    assert set(members) == {"maker", "hedger", "remote"}
    assert members["maker"]["peers"] == ["hedger"]
    assert members["maker"]["deployment"] == "full-maker"


def test_venue_edges(objects: list[dict]) -> None:
    edges = {o["metadata"]["name"]: o["spec"] for o in _by_kind(objects, "VenueEdge")}
    assert edges["binance"]["mode"] == "live"
    assert edges["binance"]["credentialsSecret"] == "binance-keys"
    assert edges["binance"]["external"] == ["10.1.2.3:7070", "edge-2.colo.example:7070"]
    assert edges["kraken"]["replicas"] == 2
    assert edges["kraken"]["feed"]["sim"]["startPrices"] == {"BTC-USD": 65000.0}
    assert edges["coinbase"]["feed"]["kind"] == "replay"
    assert edges["coinbase"]["replayConfigMap"].startswith("full-replay-")


def test_graph_keeps_wire_forms(objects: list[dict]) -> None:
    graphs = {o["metadata"]["name"]: o["spec"] for o in _by_kind(objects, "ExecutionGraph")}
    hedge = graphs["full-hedge"]
    triggers = [e["trigger"] for e in hedge["edges"] + graphs["full-bracket"]["edges"]]
    assert {
        "on_fill",
        "on_fill_ratio",
        "on_accepted",
        "on_first_fill",
        "on_cancel",
        "on_full_fill",
        "on_done",
    } <= {t for t in triggers if isinstance(t, str)}
    assert {"on_timeout": {"ms": 5000}} in triggers
    assert {"on_price": {"symbol": "BTC-USD", "direction": "below", "offset_pct": -5.0}} in triggers
    ratio = next(e for e in hedge["edges"] if e["trigger"] == "on_fill_ratio")
    assert ratio["condition"] == {"fill_ratio_gte": 0.5}
    sizings = [e.get("sizing") for e in hedge["edges"] + graphs["full-bracket"]["edges"]]
    for form in (
        "parent_filled_qty",
        "incremental_fill",
        "residual",
        {"linear_hedge": -1.0},
        {"scaled_notional": {"multiplier": 0.5, "cap_usd": 10000.0}},
        {"fixed": 0.25},
    ):
        assert form in sizings
    assert hedge["risk"]["failure"] == {"onRuntimeBreach": "cancel_pending", "onDisconnect": "do_nothing"}
    assert graphs["full-bracket"]["risk"]["failure"]["onDisconnect"] == "pause_graph"
    assert hedge["nodes"]["spot"]["twap"] == {"slices": 10, "intervalMs": 30000}
    assert hedge["nodes"]["perp"]["perp"] is True and hedge["nodes"]["perp"]["venue"] == "hyperliquid"


def test_every_custom_resource_matches_its_crd_schema(objects: list[dict]) -> None:
    for obj in objects:
        if obj["apiVersion"] == "v1":
            continue
        schema = crd(KIND_BY_NAME[obj["kind"]])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        jsonschema.Draft4Validator(schema).validate(obj)


def test_crd_schema_rejects_what_the_model_rejects(objects: list[dict]) -> None:
    algo = next(o for o in objects if o["kind"] == "AlgoDeployment")
    schema = crd(KIND_BY_NAME["AlgoDeployment"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    bad = yaml.safe_load(yaml.safe_dump(algo))
    bad["spec"]["symbols"] = ["btc"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(bad)
    bad = yaml.safe_load(yaml.safe_dump(algo))
    bad["spec"]["risk"]["maxOrderQty"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(bad)


@pytest.mark.parametrize("example", ["market-maker", "mesh-arb"])
def test_examples_render(example: str) -> None:
    objects = _render(REPO / "examples" / example)
    kinds = {o["kind"] for o in objects}
    assert {"AlgoDeployment", "MeshGroup", "VenueEdge", "ConfigMap"} <= kinds
    for obj in objects:
        if obj["apiVersion"] != "v1":
            schema = crd(KIND_BY_NAME[obj["kind"]])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            jsonschema.Draft4Validator(schema).validate(obj)


def test_a_project_with_only_graphs_gets_a_mesh_group_for_the_coordinator() -> None:
    """The graph engine runs in the namespace's coordinator, which the operator runs for a MeshGroup."""
    from sequence.project import load_project
    from sequence.render.render import render_objects

    objects = render_objects(load_project(REPO / "examples" / "graphs"))
    (mesh,) = [o for o in objects if o["kind"] == "MeshGroup"]
    assert mesh["metadata"]["name"] == "graphs" and mesh["spec"]["members"] == []
    assert sum(o["kind"] == "ExecutionGraph" for o in objects) == 4
