"""The data plane's processes and the file commands never load the operator's dependencies.

The edge and the coordinator run in their own image, which should not need kopf or the
kubernetes client (~126 MB, more to patch, more to attack); `sequence render` runs inside
Argo CD's repo server. Each check runs in a fresh interpreter and reads what it imported:
`sys.modules` after importing the modules, or `python -X importtime` of the real process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest

from .conftest import REPO
from .mesh_support import free_port, wait_until

OPERATOR_ONLY = ("kopf", "kubernetes")
# the control plane's runtime: the data plane's processes must not load any of it
CONTROL_PLANE = (
    "sequence.cli",
    "sequence.local",
    "sequence.reconcilers",
    "sequence.cluster",
    "sequence.render",
)

EDGE_MODULES = [
    "sequence_edge.cli",
    "sequence_edge.api.control",
    "sequence_edge.api.metrics",
    "sequence_edge.edge",
    "sequence_edge.mesh.bridge",
    "sequence_edge.mesh.client",
]
COORDINATOR_MODULES = ["sequence_coordinator.cli", "sequence_coordinator.api", "sequence_coordinator.router"]
CLI_MODULES = [
    "sequence.cli.main",
    "sequence.cli.project_cmds",
    "sequence.render.render",
    "sequence.render.crdgen",
    "sequence.render.argocd",
]


def loaded_after_import(modules: list[str]) -> set[str]:
    """Every module a fresh interpreter holds after importing MODULES."""
    code = (
        f"import json, sys\nfor m in {modules!r}:\n    __import__(m)\nprint(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def imported_by(stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    } - {"imported package"}


def offenders(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def test_the_checks_see_kopf_when_it_is_loaded() -> None:
    """The operator does load kopf: both ways of looking could fail."""
    assert "kopf" in loaded_after_import(["sequence.reconcilers"])
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sequence.reconcilers"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert offenders(imported_by(out.stderr), OPERATOR_ONLY)[:1] == ["kopf"]


@pytest.mark.parametrize("modules", [EDGE_MODULES, COORDINATOR_MODULES], ids=["edge", "coordinator"])
def test_data_plane_modules_load_neither_kopf_nor_kubernetes_nor_the_control_plane(
    modules: list[str],
) -> None:
    loaded = loaded_after_import(modules)
    assert offenders(loaded, OPERATOR_ONLY) == []
    assert offenders(loaded, CONTROL_PLANE) == []


def test_cli_and_render_load_neither_kopf_nor_kubernetes() -> None:
    loaded = loaded_after_import(CLI_MODULES)
    assert offenders(loaded, OPERATOR_ONLY) == []
    # the table of contents names the data plane's commands without importing them
    assert offenders(loaded, ("sequence_edge", "sequence_coordinator")) == []


def run_until_healthy(args: list[str], health_url: str) -> set[str]:
    """Start `python -X importtime ARGS`, wait until it serves HEALTH_URL, stop it; its imports."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{args} exited with {proc.returncode}")
            try:
                return httpx.get(health_url, timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 60, f"{' '.join(args)} to serve {health_url}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
    return imported_by(stderr)


@pytest.mark.parametrize(
    "entry", [["-m", "sequence_edge"], ["-m", "sequence", "edge"]], ids=["module", "cli"]
)
def test_a_running_edge_loads_neither_kopf_nor_kubernetes(entry: list[str]) -> None:
    port = free_port()
    loaded = run_until_healthy(
        [*entry, "--venue", "kraken", "--bind", "127.0.0.1", "--port", str(port), "--symbols", "BTC-USD"],
        f"http://127.0.0.1:{port}/healthz",
    )
    assert "sequence_edge.api.control" in loaded  # the server really ran
    assert offenders(loaded, OPERATOR_ONLY) == []
    assert offenders(loaded, ("sequence.local", "sequence.reconcilers", "sequence.cluster")) == []


@pytest.mark.parametrize(
    "entry", [["-m", "sequence_coordinator"], ["-m", "sequence", "coordinator"]], ids=["module", "cli"]
)
def test_a_running_coordinator_loads_neither_kopf_nor_kubernetes(entry: list[str]) -> None:
    port, mesh_port = free_port(), free_port()
    loaded = run_until_healthy(
        [*entry, "--bind", "127.0.0.1", "--port", str(port), "--mesh-port", str(mesh_port)],
        f"http://127.0.0.1:{port}/healthz",
    )
    assert "sequence_coordinator.api" in loaded
    assert offenders(loaded, OPERATOR_ONLY) == []
    assert offenders(loaded, ("sequence.local", "sequence.reconcilers", "sequence.cluster")) == []


@pytest.mark.parametrize("args", [["render", "examples/mesh-arb"], ["--help"], ["crds"]])
def test_file_commands_load_neither_kopf_nor_kubernetes(args: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sequence", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout  # it did its work
    assert offenders(imported_by(out.stderr), OPERATOR_ONLY) == []


def test_python_dash_m_runs_the_same_commands_as_sequence() -> None:
    for module, verb in (("sequence_edge", "edge"), ("sequence_coordinator", "coordinator")):
        direct = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        via_cli = subprocess.run(
            [sys.executable, "-m", "sequence", verb, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert direct.returncode == via_cli.returncode == 0
        # the same options, only the program name differs
        assert direct.stdout.split("\n", 1)[1] == via_cli.stdout.split("\n", 1)[1]
