"""The operator reads the Helm chart's settings, and builds valid Kubernetes objects from them."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from sequence.reconcilers import kube as children
from sequence.reconcilers.settings import SettingsError, load_settings

from ..test_helm_chart import CHART_DIR, CUSTOM_VALUES, FULLNAME, KUBE_VERSIONS, render
from .conftest import sequence_cmd

VENUE_EDGE = {
    "apiVersion": "sequence.dev/v1alpha1",
    "kind": "VenueEdge",
    "metadata": {"name": "kraken", "namespace": "trading", "uid": "0d0e6a52-5a4c-4c55-9d43-1d4d6b0f3e11"},
    "spec": {
        "venue": "kraken",
        "mode": "live",
        "credentialsSecret": "kraken-keys",
        "replicas": 2,
        "feed": {"kind": "replay", "replay": {"file": "data/btc-usd.csv.gz", "speed": 2.0}},
        "replayConfigMap": "mm-replay-0123456789ab",
    },
}
MESH_GROUP = {
    "apiVersion": "sequence.dev/v1alpha1",
    "kind": "MeshGroup",
    "metadata": {"name": "arb", "namespace": "trading", "uid": "7f1c1c55-08a4-4f7d-a7c5-57f3c7f7a0b2"},
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def chart_settings(chart: helm.Chart, values: dict[str, Any] | None, tmp_path: Path) -> Path:
    configmap = render(chart, values).one("ConfigMap", f"{FULLNAME}-settings")
    path = tmp_path / "settings.yaml"
    path.write_text(configmap["data"]["settings.yaml"])
    return path


def test_default_chart_settings_load(chart: helm.Chart, tmp_path: Path) -> None:
    settings = load_settings(chart_settings(chart, None, tmp_path))
    assert (settings.health_port, settings.metrics_port) == (8080, 9090)
    assert settings.edge_defaults.control_port == 7070 and settings.coordinator_defaults.port == 7171
    assert settings.edge_defaults.create_sandbox_edges is True
    assert settings.edge_defaults.image.startswith("ghcr.io/sequence-k8s/sequence-edge:")


def test_custom_chart_values_reach_the_edge_pods(chart: helm.Chart, tmp_path: Path) -> None:
    settings = load_settings(chart_settings(chart, copy.deepcopy(CUSTOM_VALUES), tmp_path))
    edge = CUSTOM_VALUES["edgeDefaults"]
    assert settings.edge_defaults.create_sandbox_edges is False

    pod = children.edge_deployment(VENUE_EDGE, settings)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/seq/edge:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == edge["resources"]
    assert pod["nodeSelector"] == edge["nodeSelector"]
    assert pod["tolerations"] == edge["tolerations"]
    assert pod["priorityClassName"] == "trading-critical"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    # Live venue: its credentials are the named Secret's files, readable by the edge's user and
    # group only, never environment variables; the replay file comes from its ConfigMap.
    assert "envFrom" not in container or not container["envFrom"]
    (secret,) = [v for v in pod["volumes"] if v["name"] == "venue-credentials"]
    assert secret["secret"]["secretName"] == "kraken-keys" and secret["secret"]["defaultMode"] == 0o440
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "venue-credentials"]
    assert (
        mount["readOnly"]
        and container["args"][container["args"].index("--credentials-dir") + 1] == mount["mountPath"]
    )
    (replay,) = [v for v in pod["volumes"] if v["name"] == "replay"]
    assert replay["configMap"]["name"] == "mm-replay-0123456789ab"
    # Mounted under its own name: the edge tells gzip from CSV by the suffix.
    (item,) = replay["configMap"]["items"]
    assert item["path"] == "btc-usd.csv.gz"
    args = container["args"]
    assert args[args.index("--replay-file") + 1] == "/etc/sequence/replay/btc-usd.csv.gz"
    assert args[args.index("--replay-speed") + 1] == "2"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", [None, CUSTOM_VALUES], ids=["default", "custom"])
def test_children_are_valid_kubernetes(
    chart: helm.Chart, tmp_path: Path, values: dict[str, Any] | None, kube_version: str
) -> None:
    settings = load_settings(chart_settings(chart, copy.deepcopy(values), tmp_path))
    objects = [
        children.edge_deployment(VENUE_EDGE, settings),
        children.edge_service(VENUE_EDGE, settings),
        *children.coordinator_objects([MESH_GROUP], "trading", settings),
    ]
    for obj in objects:
        kubernetes_validate.validate(children.without_nones(obj), kube_version, strict=True)


def test_bad_settings_are_refused_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"edgeDefaults": {"imag": "x"}}))
    with pytest.raises(SettingsError, match=r"edgeDefaults\.imag"):
        load_settings(path)
    path.write_text(yaml.safe_dump({"pollInterval": "soon"}))
    with pytest.raises(SettingsError, match=r"pollInterval"):
        load_settings(path)
    with pytest.raises(SettingsError, match=r"cannot read"):
        load_settings(tmp_path / "missing.yaml")


def test_operator_command_refuses_bad_invocations(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("metricsPort: [1]\n")
    bad = subprocess.run(
        [*sequence_cmd(), "operator", "-n", "x", "--settings", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "metricsPort" in bad.stderr
    neither = subprocess.run([*sequence_cmd(), "operator"], capture_output=True, text=True, timeout=60)
    assert neither.returncode == 2 and "--all-namespaces" in neither.stderr
