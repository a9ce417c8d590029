"""Fixtures that run the real operator (`sequence operator`, a subprocess) against a Kubernetes API.

By default the API is KMock (tests/operator/kmock_cluster.py) over HTTP on loopback. With
SEQUENCE_TEST_KUBECONFIG=/path/to/kubeconfig the same tests run against that cluster instead: a
fresh namespace per test module, the CRDs from crds/ applied first. Edges and the coordinator are
real processes on loopback either way (external VenueEdges, settings.coordinatorDefaults.endpoint),
so the operator must run where it can reach them: on this machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import AUTH, TEST_TOKEN
from .kmock_cluster import KMockThread
from .kube import Kube, kubeconfig_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
REAL_KUBECONFIG = os.environ.get("SEQUENCE_TEST_KUBECONFIG")
POLL = 0.5  # operator poll interval in these tests
DELETE_TIMEOUT = 2.0  # per-edge teardown budget in these tests


def sequence_cmd() -> list[str]:
    exe = shutil.which("sequence")
    return [exe] if exe else [sys.executable, "-m", "sequence.cli.main"]


def has_command(name: str) -> bool:
    result = subprocess.run([*sequence_cmd(), name, "--help"], capture_output=True, text=True, timeout=60)
    return result.returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, method: str = "GET", timeout: float = 5) -> tuple[int, Any]:
    import urllib.error

    request = urllib.request.Request(url, method=method, headers=AUTH)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_http(
    url: str, timeout: float, process: subprocess.Popen[Any] | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = log.read_text()[-4000:] if log else ""
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    output = log.read_text()[-4000:] if log else ""
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s\n{output}")


class Process:
    """A subprocess with its output in a file, stopped with SIGTERM (then SIGKILL) at the end."""

    def __init__(
        self, args: list[str], log: Path, env: dict[str, str] | None = None, append: bool = False
    ) -> None:
        self.args = args
        self.log = log
        self.env = env
        self._out = log.open("a" if append else "w")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------------- cluster


@dataclass
class Cluster:
    kube: Kube
    kubeconfig: Path
    real: bool
    namespace: str


def _apply_crds(kube: Kube) -> None:
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        name = crd["metadata"]["name"]
        url = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        status, current = kube.call("GET", url)
        if status == 404:
            kube.ok("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        else:
            crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            kube.ok("PUT", url, crd)
        kube.wait(
            f"CRD {name} established",
            lambda url=url: any(
                c.get("type") == "Established" and c.get("status") == "True"
                for c in (kube.call("GET", url)[1].get("status") or {}).get("conditions") or []
            ),
            timeout=60,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    namespace = f"seq-test-{uuid.uuid4().hex[:8]}"
    if REAL_KUBECONFIG:
        kubeconfig = Path(REAL_KUBECONFIG)
        kube = Kube(kubeconfig, namespace)
        _apply_crds(kube)
        kube.ok(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
        try:
            yield Cluster(kube, kubeconfig, True, namespace)
        finally:
            kube.call("DELETE", f"/api/v1/namespaces/{namespace}")
        return
    with KMockThread() as kmock:
        kubeconfig = kubeconfig_for(kmock.url, tmp_path_factory.mktemp("kube") / "kubeconfig")
        yield Cluster(Kube(kubeconfig, namespace), kubeconfig, False, namespace)


@pytest.fixture
def kube(cluster: Cluster) -> Kube:
    return cluster.kube


# ---------------------------------------------------------------------- processes


@dataclass
class Coordinator:
    endpoint: str  # control API (the operator's routing tables)
    mesh: str  # where edges connect (`sequence edge --coordinator`)
    process: Process

    def group(self, name: str) -> tuple[int, Any]:
        return http_json(f"http://{self.endpoint}/v1/mesh/{name}")


@pytest.fixture(scope="session")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    """A real `sequence coordinator` on loopback: the operator pushes routing tables to it."""
    if not has_command("coordinator"):
        pytest.skip("`sequence coordinator` is not in this checkout")
    port, mesh_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("coordinator") / "coordinator.log"
    process = Process(
        [*sequence_cmd(), "coordinator", "--port", str(port), "--mesh-port", str(mesh_port)], log
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, process.proc, log)
        yield Coordinator(f"127.0.0.1:{port}", f"127.0.0.1:{mesh_port}", process)
    finally:
        process.stop()


@dataclass
class Operator:
    process: Process
    settings: dict[str, Any]
    metrics_url: str

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return response.read().decode()

    def passes(self, kind: str) -> float:
        """Reconcile passes of KIND so far (sequence_operator_reconciles_total, any result)."""
        from prometheus_client.parser import text_string_to_metric_families

        return sum(
            sample.value
            for family in text_string_to_metric_families(self.metrics())
            for sample in family.samples
            if sample.name == "sequence_operator_reconciles_total" and sample.labels.get("kind") == kind
        )

    def wait_passes(self, kind: str, count: int = 3, timeout: float = 60) -> None:
        """Wait until COUNT more passes of KIND ran: what "several polls later" means, without a sleep."""
        start = self.passes(kind)
        deadline = time.monotonic() + timeout
        while self.passes(kind) < start + count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} {kind} passes within {timeout}s")
            time.sleep(0.1)

    def restart(self) -> None:
        """Stop the operator (SIGTERM) and start it again with the same settings, log appended."""
        self.process.stop()
        self.process = Process(self.process.args, self.process.log, self.process.env, append=True)
        health = self.settings["healthPort"]
        wait_http(f"http://127.0.0.1:{health}/healthz", 60, self.process.proc, self.process.log)


OPERATOR_SETTINGS: dict[str, Any] = {
    "pollInterval": POLL,
    "edgeTimeout": 1.0,
    "pushTimeout": 10.0,
    "deleteTimeout": DELETE_TIMEOUT,
    "edgeDefaults": {
        "image": "registry.example.com/sequence-edge:test",
        "nodeSelector": {"sequence.dev/colocated": "true"},
        "tolerations": [{"key": "sequence.dev/colocated", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "trading-critical",
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    },
    "networkPolicies": {"operatorNamespace": "sequence-system", "metricsNamespace": "monitoring"},
}


@pytest.fixture(scope="module")
def namespace_token() -> str | None:
    """The token put in the namespace's `sequence-token` Secret before the operator starts.

    The loopback edges and coordinator of these tests run with the session's $SEQUENCE_TOKEN, so
    the Secret carries that token (as a user does for external edges). A module that overrides
    this with None leaves the Secret to the operator.
    """
    return TEST_TOKEN


def put_namespace_token(kube: Kube, token: str, metrics_token: str) -> None:
    """Both keys: the pods mount both, and the operator refuses a Secret without either."""
    pairs = (("token", token), ("metrics-token", metrics_token))
    data = {key: base64.b64encode(value.encode()).decode() for key, value in pairs}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sequence-token"}, "data": data}
    kube.ok("POST", f"/api/v1/namespaces/{kube.namespace}/secrets", secret)


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster,
    coordinator: Coordinator,
    tmp_path_factory: pytest.TempPathFactory,
    namespace_token: str | None,
) -> Iterator[Operator]:
    """`sequence operator --namespace <test namespace>`, short poll and teardown timeouts."""
    if namespace_token is not None:
        put_namespace_token(cluster.kube, namespace_token, "metrics-" + uuid.uuid4().hex)
    workdir = tmp_path_factory.mktemp("operator")
    health, metrics = free_port(), free_port()
    settings = {
        **OPERATOR_SETTINGS,
        "healthPort": health,
        "metricsPort": metrics,
        "coordinatorDefaults": {"endpoint": coordinator.endpoint},
    }
    (workdir / "settings.yaml").write_text(yaml.safe_dump(settings))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    process = Process(
        [
            *sequence_cmd(),
            "operator",
            "--namespace",
            cluster.namespace,
            "--settings",
            str(workdir / "settings.yaml"),
        ],
        workdir / "operator.log",
        env,
    )
    running = Operator(process, settings, f"http://127.0.0.1:{metrics}/metrics")
    try:
        wait_http(f"http://127.0.0.1:{health}/healthz", 60, process.proc, process.log)
        yield running
        # Delete the test's objects while the operator still runs: it releases the AlgoDeployments'
        # finalizers, so a real cluster's namespace does not stay Terminating.
        _delete_ours(cluster.kube)
    finally:
        running.process.stop()
        print(f"--- operator log (last lines) ---\n{running.process.tail(120)}")


def _delete_ours(kube: Kube, timeout: float = 120) -> None:
    kinds = ("AlgoDeployment", "MeshGroup", "ExecutionGraph", "VenueEdge")
    for kind in kinds:
        for obj in kube.list(kind):
            kube.delete(kind, obj["metadata"]["name"])
    kube.wait("the test's objects deleted", lambda: not any(kube.list(k) for k in kinds), timeout)


@dataclass
class Edge:
    venue: str
    endpoint: str
    process: Process

    def url(self, path: str) -> str:
        return f"http://{self.endpoint}{path}"

    def deployment(self, deployment_id: str) -> dict[str, Any] | None:
        status, data = http_json(self.url(f"/v1/deployments/{deployment_id}"))
        return None if status == 404 else data

    def logs(self, deployment_id: str) -> list[dict[str, Any]]:
        """The instance's log lines (NDJSON) as the edge keeps them."""
        request = urllib.request.Request(
            self.url(f"/v1/deployments/{deployment_id}/logs?tail=1000"), headers=AUTH
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]

    def deployment_ids(self) -> list[str]:
        _, data = http_json(self.url("/v1/edge"))
        return list(data.get("deployments") or [])


@pytest.fixture
def edges(tmp_path: Path) -> Iterator[Callable[..., Edge]]:
    """Start real `sequence edge` processes on loopback: edges("kraken") -> Edge."""
    if not has_command("edge"):
        pytest.skip("`sequence edge` is not in this checkout yet")
    started: list[Edge] = []

    def start(venue: str = "kraken", *extra: str) -> Edge:
        port = free_port()
        log = tmp_path / f"edge-{venue}-{port}.log"
        process = Process([*sequence_cmd(), "edge", "--venue", venue, "--port", str(port), *extra], log)
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, process.proc, log)
        edge = Edge(venue, f"127.0.0.1:{port}", process)
        started.append(edge)
        return edge

    yield start
    for edge in started:
        edge.process.stop()


# ---------------------------------------------------------------------- objects


@dataclass
class Bundle:
    data: bytes
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


MARKET_MAKER = Bundle((EXAMPLES / "market-maker" / "market_maker.wasm").read_bytes())
MAKER = Bundle((EXAMPLES / "mesh-arb" / "maker.wasm").read_bytes())
HEDGER = Bundle((EXAMPLES / "mesh-arb" / "hedger.wasm").read_bytes())


def bundle_configmap(kube: Kube, bundle: Bundle) -> str:
    """A ConfigMap holding BUNDLE (as `sequence render` makes it); returns its name."""
    name = f"bundle-{bundle.sha256[:12]}"
    if kube.get("ConfigMap", name) is None:
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name},
                "binaryData": {"bundle.wasm": base64.b64encode(bundle.data).decode()},
            }
        )
    return name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def venue_edge(name: str, venue: str, external: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"venue": venue, **spec}
    if external is not None:
        body["external"] = external
    return {
        "apiVersion": "sequence.dev/v1alpha1",
        "kind": "VenueEdge",
        "metadata": {"name": name},
        "spec": body,
    }


def algo(
    name: str, venue: str, bundle_ref: dict[str, Any], state: str = "Stopped", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "sequence.dev/v1alpha1",
        "kind": "AlgoDeployment",
        "metadata": {"name": name},
        "spec": {
            "venue": venue,
            "label": "mm",
            "symbols": ["BTC-USD"],
            "bundle": bundle_ref,
            "state": state,
            "risk": {
                "maxOrderQty": 0.05,
                "maxNotional": 10000,
                "maxPosition": 0.2,
                "maxOpenOrders": 4,
                "maxOrdersPerSec": 50,
                "priceBandBps": 100,
                "maxLoss": 1000,
            },
            "params": {"spread_bps": "4", "qty": "0.01", "max_position": "0.05"},
            **spec,
        },
    }


def closed_port_endpoint() -> str:
    """An endpoint nothing listens on: connections are refused at once."""
    return f"127.0.0.1:{free_port()}"
