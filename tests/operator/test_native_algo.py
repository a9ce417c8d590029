"""`runtime: native` through the operator: a .so in a ConfigMap, pinned by sha256, pushed to an edge
that allows native code (it trades), and refused with the edge's reason by one that does not.

The edges are real `sequence edge` processes named by external VenueEdges; the .so is the seed's
MyStrategy, built with the SDK by Debian's cargo.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from ..native_support import build_native_examples, needs_cargo
from .conftest import Bundle, Edge, algo, unique, venue_edge
from .kube import Kube, condition

pytestmark = [pytest.mark.usefixtures("operator"), needs_cargo]


@pytest.fixture(scope="module")
def strategy() -> Bundle:
    return Bundle(build_native_examples()["my_strategy"].read_bytes())


def native_configmap(kube: Kube, bundle: Bundle) -> str:
    """The ConfigMap `sequence render` makes for a native bundle (the bytes under bundle.wasm)."""
    name = f"native-{bundle.sha256[:12]}"
    if kube.get("ConfigMap", name) is None:
        body = {"bundle.wasm": base64.b64encode(bundle.data).decode()}
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "binaryData": body})
    return name


def deploy_native(kube: Kube, edge: Edge, bundle: Bundle, state: str) -> tuple[str, str]:
    venue = unique("venue")
    kube.create(venue_edge(unique("edge"), venue, external=[edge.endpoint]))
    name = unique("native")
    ref = {"configMap": {"name": native_configmap(kube, bundle)}, "sha256": bundle.sha256}
    kube.create(algo(name, venue, ref, state=state, runtime="native", params={}))
    return name, f"{kube.namespace}.{name}"


def test_a_native_algo_is_pushed_runs_and_trades(
    kube: Kube, edges: Callable[..., Edge], strategy: Bundle, tmp_path: Path
) -> None:
    edge = edges("kraken", "--allow-native", "--seed", "5")
    name, dep_id = deploy_native(kube, edge, strategy, state="Running")

    status = kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Running", "Running", timeout=90
    )
    assert condition(status["status"], "Ready")["status"] == "True"
    assert status["status"]["bundleSha256"] == strategy.sha256
    assert status["spec"]["runtime"] == "native"  # what `kubectl get algo` prints in RUNTIME

    report = kube.wait(
        "MyStrategy to trade on the edge",
        lambda: (r := edge.deployment(dep_id)) and r["fills"] >= 1 and r,
        timeout=120,
    )
    assert report["runtime"] == "native" and report["state"] == "Running"
    assert report["bundle_sha256"] == strategy.sha256 and report["last_error"] is None


def test_an_edge_without_allow_native_refuses_it_in_status_and_events(
    kube: Kube, edges: Callable[..., Edge], strategy: Bundle
) -> None:
    edge = edges("kraken")  # no --allow-native: the default
    name, dep_id = deploy_native(kube, edge, strategy, state="Running")

    status = kube.wait_status(
        "AlgoDeployment",
        name,
        lambda s: (s.get("error") or {}).get("reason") == "PushRejected",
        "the edge's refusal in status",
        timeout=90,
    )["status"]
    assert status["lifecycleState"] == "Failed"
    assert condition(status, "Ready")["status"] == "False"
    # the edge's own reason and advice, word for word
    assert "NativeNotAllowed" in status["error"]["message"] and "--allow-native" in status["error"]["message"]
    warning = kube.wait(
        "a Warning naming the refusal",
        lambda: next((e for e in kube.events(name) if "NativeNotAllowed" in e.get("message", "")), None),
    )
    assert warning["type"] == "Warning", warning
    assert edge.deployment(dep_id) is None  # a refused push changes nothing on the edge
