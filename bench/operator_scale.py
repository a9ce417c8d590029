"""How the operator copes with many AlgoDeployments: time until all carry status, and its peak RSS.

Runs `sequence operator` (a subprocess, production poll interval) against KMock over HTTP, creates
N AlgoDeployments (default 1,000) on one external VenueEdge and waits until every one has a status
with conditions. The edge is by default an endpoint nothing listens on (connection refused at
once), so the numbers are the operator's own cost: watch, reconcile, status write, Events. With
--real-edge it is one shared `sequence edge` process instead, and every algorithm is pushed to it
(use a smaller N: the edge then hosts N wasm instances).

Then the idle write rate: with nothing changing (stopped algorithms, the edge as it was), how many
objects' resourceVersions move over three poll intervals, i.e. status writes reaching etcd.

Reports against the targets (30 s to status for 1,000, 250 MB peak RSS, no idle writes) and against
the operator's own idle RSS measured in the same run (before the first object).

With --kubeconfig PATH it runs against that cluster instead of KMock (a real API server and etcd):
a fresh namespace, the CRDs from crds/ applied first, the namespace deleted at the end while the
operator still runs (it releases the finalizers).

    python bench/operator_scale.py [--count 1000] [--real-edge] [--concurrency 16] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.operator.conftest import _apply_crds  # noqa: E402
from tests.operator.kmock_cluster import KMockThread  # noqa: E402
from tests.operator.kube import Kube, kubeconfig_for  # noqa: E402

TARGET_SECONDS = 30.0
TARGET_RSS_MB = 250.0
NAMESPACE = "bench"
BUNDLE = (REPO / "examples" / "market-maker" / "market_maker.wasm").read_bytes()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sequence_cmd() -> list[str]:
    exe = shutil.which("sequence")
    return [exe] if exe else [sys.executable, "-m", "sequence.cli.main"]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout}s")


class RssSampler:
    """Peak resident set size of a process: VmHWM from /proc (the kernel's own high-water mark)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def read_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.pid}/status")

    def rss_mb(self) -> float:
        return self.read_kb("VmRSS") / 1024

    def peak_mb(self) -> float:
        return self.read_kb("VmHWM") / 1024


def versions(kube: Kube) -> dict[str, str]:
    """resourceVersion of every AlgoDeployment and VenueEdge: a status write moves it."""
    return {
        f"{kind}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for kind in ("AlgoDeployment", "VenueEdge")
        for o in kube.list(kind)
    }


def server_counts(kubeconfig: Path | None) -> collections.Counter[str]:
    """The API server's own request counters (its /metrics): requests by verb and resource, and the
    writes it sent to etcd. Empty on KMock, which has no such metrics."""
    counts: collections.Counter[str] = collections.Counter()
    if kubeconfig is None or not shutil.which("kubectl"):
        return counts
    text = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", "/metrics"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "apiserver_request_total" and labels.get("verb") not in (
                "WATCH",
                "GET",
                "LIST",
            ):
                what = labels.get("resource", "") + (
                    f"/{labels['subresource']}" if labels.get("subresource") else ""
                )
                counts[f"{labels.get('verb')} {what}"] += int(sample.value)
            elif sample.name == "etcd_requests_total" and labels.get("operation") in ETCD_WRITES:
                counts["etcd writes"] += int(sample.value)
    return counts


ETCD_WRITES = ("create", "update", "delete", "guaranteedUpdate")


def print_counts(
    title: str, before: collections.Counter[str], after: collections.Counter[str], per: int
) -> None:
    diff = {key: after[key] - before[key] for key in after if after[key] - before[key] > 0}
    if not diff:
        return
    print(f"  {title}")
    for key, value in sorted(diff.items(), key=lambda kv: -kv[1]):
        print(f"    {key:40s} {value:8d}  ({value / per:.2f} per AlgoDeployment)")


def cleanup(kube: Kube, namespace: str, timeout: float = 600.0) -> None:
    """Delete the AlgoDeployments (one collection DELETE) while the operator runs and the namespace is
    still active, so their teardown can post its Events; then the namespace."""
    kube.call("DELETE", f"/apis/sequence.dev/v1alpha1/namespaces/{namespace}/algodeployments")
    deadline = time.monotonic() + timeout
    while kube.list("AlgoDeployment") and time.monotonic() < deadline:
        time.sleep(2)
    for leftover in kube.list("AlgoDeployment"):  # should not happen: say so and unstick it
        print(f"  finalizer still on {leftover['metadata']['name']}: removing it")
        kube.patch("AlgoDeployment", leftover["metadata"]["name"], {"metadata": {"finalizers": None}})
    kube.call("DELETE", f"/api/v1/namespaces/{namespace}")


def algo(i: int, venue: str, configmap: str, sha: str, state: str) -> dict:
    return {
        "apiVersion": "sequence.dev/v1alpha1",
        "kind": "AlgoDeployment",
        "metadata": {"name": f"algo-{i:05d}"},
        "spec": {
            "venue": venue,
            "label": f"a{i}",
            "symbols": ["BTC-USD"],
            "bundle": {"configMap": {"name": configmap}, "sha256": sha},
            "state": state,
            "risk": {"maxOrderQty": 0.01, "maxOpenOrders": 2, "maxOrdersPerSec": 5},
            "params": {"spread_bps": "20", "qty": "0.001"},
        },
    }


def report(
    args: argparse.Namespace,
    created: float,
    with_status: int,
    all_status: float,
    idle_mb: float,
    peak_mb: float,
    steady_mb: float,
    samples: list[float],
    idle_writes: int,
    idle_seconds: float,
    workdir: Path,
) -> None:
    edge_kind = "one shared real edge" if args.real_edge else "an unreachable external edge"
    server = f"real API server ({args.kubeconfig})" if args.kubeconfig else "KMock"
    print(
        f"operator scale: {args.count} AlgoDeployments on {edge_kind}, poll {args.poll_interval:g}s, {server}"
    )
    print(f"  machine load average  {os.getloadavg()[0]:8.1f}     ({os.cpu_count()} CPUs)")
    print(
        f"  created in            {created:8.1f} s   ({args.count / created:.0f}/s, {args.concurrency} clients)"
    )
    if with_status < args.count:
        print(f"  WITH STATUS           {with_status}/{args.count} after {args.timeout:g} s (timed out)")
    print(
        f"  all carry status at   {all_status:8.1f} s   target {TARGET_SECONDS:g} s  "
        f"-> {all_status / TARGET_SECONDS:.2f}x of target ({args.count / all_status:.0f} objects/s)"
    )
    print(
        f"  status trails creates {all_status - created:8.1f} s   (from the last create to the last status: "
        "the operator's share when the API server's create rate is the bottleneck)"
    )
    print(f"  RSS idle              {idle_mb:8.1f} MB  (same operator before the first object)")
    print(
        f"  RSS peak (VmHWM)      {peak_mb:8.1f} MB  target {TARGET_RSS_MB:g} MB -> "
        f"{peak_mb / TARGET_RSS_MB:.2f}x of target; {peak_mb / idle_mb:.2f}x idle, "
        f"{(peak_mb - idle_mb) * 1024 / args.count:.0f} KB per object"
    )
    print(
        f"  RSS after 2 polls     {steady_mb:8.1f} MB  (median sample {sorted(samples)[len(samples) // 2]:.1f} MB)"
    )
    print(
        f"  idle status writes    {idle_writes:8d}     objects rewritten in {idle_seconds:.1f} s "
        f"({idle_writes / idle_seconds:.2f}/s; target 0, every pass would be "
        f"{(args.count + 1) / args.poll_interval:.0f}/s)"
    )
    print(f"  operator log: {workdir / 'operator.log'}")
    ok = (
        with_status >= args.count
        and all_status <= TARGET_SECONDS
        and peak_mb <= TARGET_RSS_MB
        and idle_writes == 0
    )
    print("  within targets" if ok else "  OUTSIDE TARGETS")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16, help="parallel create requests")
    parser.add_argument("--real-edge", action="store_true", help="one shared real edge instead of none")
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--kubeconfig", type=Path, help="a real cluster instead of KMock")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="operator-scale-"))
    edge_proc = None
    namespace = f"bench-{os.getpid()}" if args.kubeconfig else NAMESPACE
    with contextlib.ExitStack() as stack:
        if args.kubeconfig:
            kubeconfig = args.kubeconfig
            kube = Kube(kubeconfig, namespace)
            _apply_crds(kube)
            kube.ok(
                "POST",
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            )
        else:
            kmock = stack.enter_context(KMockThread())
            kubeconfig = kubeconfig_for(kmock.url, workdir / "kubeconfig")
            kube = Kube(kubeconfig, namespace)
        # The namespace's token, as a user sets it up for an external edge (docs/security.md): the
        # operator finds the Secret and sends its token; the edge is started with the same token.
        token = secrets.token_urlsafe(32)
        (workdir / "token").write_text(token)
        kube.ok(
            "POST",
            f"/api/v1/namespaces/{namespace}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "sequence-token"},
                "data": {
                    "token": base64.b64encode(token.encode()).decode(),
                    "metrics-token": base64.b64encode(secrets.token_urlsafe(32).encode()).decode(),
                },
            },
        )
        if args.real_edge:
            port = free_port()
            edge_proc = subprocess.Popen(
                [
                    *sequence_cmd(),
                    "edge",
                    "--venue",
                    "kraken",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--token-file",
                    str(workdir / "token"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(workdir / "edge.log").open("w"),
            )
            wait_http(f"http://127.0.0.1:{port}/healthz", 60)
            endpoint = f"127.0.0.1:{port}"
        else:
            endpoint = f"127.0.0.1:{free_port()}"  # nothing listens: refused at once

        health, metrics = free_port(), free_port()
        settings = {
            "healthPort": health,
            "metricsPort": metrics,
            "pollInterval": args.poll_interval,
            "edgeTimeout": 2.0,
            "deleteTimeout": 1.0,
        }
        (workdir / "settings.yaml").write_text(yaml.safe_dump(settings))
        log = (workdir / "operator.log").open("w")
        operator = subprocess.Popen(
            [
                *sequence_cmd(),
                "operator",
                "-n",
                namespace,
                "--settings",
                str(workdir / "settings.yaml"),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"http://127.0.0.1:{health}/healthz", 60)
            rss = RssSampler(operator.pid)
            time.sleep(1.0)
            idle_mb = rss.rss_mb()

            sha = hashlib.sha256(BUNDLE).hexdigest()
            configmap = f"bench-bundle-{sha[:12]}"
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": configmap},
                    "binaryData": {"bundle.wasm": base64.b64encode(BUNDLE).decode()},
                }
            )
            kube.create(
                {
                    "apiVersion": "sequence.dev/v1alpha1",
                    "kind": "VenueEdge",
                    "metadata": {"name": "kraken"},
                    "spec": {"venue": "kraken", "external": [endpoint]},
                }
            )

            samples: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    samples.append(rss.rss_mb())
                    stop.wait(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()

            state = "Stopped"
            counts_before = server_counts(args.kubeconfig)
            started = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                # One client per worker thread: the kubernetes ApiClient is not shared across threads.
                local = threading.local()

                def create(i: int) -> None:
                    if not hasattr(local, "kube"):
                        local.kube = Kube(kubeconfig, namespace)
                    local.kube.create(algo(i, "kraken", configmap, sha, state))

                list(pool.map(create, range(args.count)))
            created = time.monotonic() - started

            with_status = 0
            while time.monotonic() - started < args.timeout:
                items = kube.list("AlgoDeployment")
                with_status = sum(1 for o in items if (o.get("status") or {}).get("conditions"))
                if with_status >= args.count:
                    break
                time.sleep(0.5)
            all_status = time.monotonic() - started
            counts_status = server_counts(args.kubeconfig)
            # Let the first writes settle (Pending -> Degraded), then count writes while idle.
            time.sleep(2 * args.poll_interval)
            before = versions(kube)
            counts_idle = server_counts(args.kubeconfig)
            idle_started = time.monotonic()
            time.sleep(3 * args.poll_interval)
            after = versions(kube)
            idle_seconds = time.monotonic() - idle_started
            counts_idle_end = server_counts(args.kubeconfig)
            idle_writes = sum(1 for key, rv in after.items() if before.get(key) != rv)
            stop.set()
            sampler.join()
            peak_mb = rss.peak_mb()
            steady_mb = rss.rss_mb()
            # The numbers first: deleting 1,000 objects through their finalizers takes a while.
            report(
                args,
                created,
                with_status,
                all_status,
                idle_mb,
                peak_mb,
                steady_mb,
                samples,
                idle_writes,
                idle_seconds,
                workdir,
            )
            print_counts(
                "API server writes, first create to all with status (all clients; etcd: whole server)",
                counts_before,
                counts_status,
                args.count,
            )
            print_counts(
                f"API server writes while idle, {idle_seconds:.1f} s (whole server: other users' traffic, "
                "controllers' leases included)",
                counts_idle,
                counts_idle_end,
                args.count,
            )
            if args.kubeconfig:
                cleanup(kube, namespace)
        finally:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()
            if edge_proc is not None:
                edge_proc.terminate()
                edge_proc.wait(10)


if __name__ == "__main__":
    main()
