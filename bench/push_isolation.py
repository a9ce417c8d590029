"""Does a big push stall the edge? A canary's callbacks and /healthz, idle vs during a 6 MB push.

Workload: a real `sequence edge` (sim feed, BTC-USD) running a canary algo written in WAT that
logs one line every EVERY `algo_on_book` callbacks; the log lines carry the edge's CLOCK_REALTIME
at the callback, so the canary's callback rate is measured on the edge's own clock (polling a
counter over HTTP would hide a stall: the feed catches up afterwards). Then a module of about
6 MB made of 300,000 small functions (raw_algo plus functions nobody calls) is pushed; the edge
compiles it in its capped worker process (sequence_edge/algo/compile_worker.py), deserializes the
result and loads it.

Measured in the same run, over an idle window and over the push (request to response):
  canary callbacks/s in 250 ms windows (median, and the worst window), the longest gap between
  two canary log lines; /healthz latency polled every 20 ms (median, p99, max); the edge's RSS
  (peak and after deleting the big deployment) and the compile worker's peak RSS.
Target: the canary's median rate and /healthz median latency during the push within 2x of idle.

    python bench/push_isolation.py [--functions 300000] [--idle 8] [--updates-per-sec 1000]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import wasmtime

REPO = Path(__file__).resolve().parents[1]
RAW_WAT = REPO / "examples/abi-raw/raw_algo.wat"
EVERY = 10  # canary callbacks per log line
CANARY_WAT = f"""
(module
  (import "seq" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "tick")
  (global $n (mut i32) (i32.const 0))
  (func (export "algo_abi_version") (result i32) (i32.const 1))
  (func (export "algo_io") (result i32) (i32.const 1024))
  (func (export "algo_on_book") (param $symbol_idx i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.eqz (i32.rem_u (global.get $n) (i32.const {EVERY})))
      (then (call $log (i32.const 1) (i32.const 256) (i32.const 4)))))
  (func (export "algo_on_fill"))
  (func (export "algo_on_reject")))
"""
WINDOW_S = 0.25


def many_functions(n: int) -> bytes:
    base = RAW_WAT.read_text().rstrip()
    extra = "".join(
        f"(func (param i32) (result i32) local.get 0 i32.const {i} i32.add i32.const 7 i32.mul "
        f"i32.const {i} i32.xor i32.const 3 i32.shl)\n"
        for i in range(n)
    )
    return wasmtime.wat2wasm(base[:-1] + extra + ")")


def body(wasm: bytes, state: str = "Running") -> dict[str, object]:
    return {
        "bundle": base64.b64encode(wasm).decode(),
        "sha256": hashlib.sha256(wasm).hexdigest(),
        "symbols": ["BTC-USD"],
        "state": state,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Probe:
    """Background threads: the canary's log stream and a /healthz poller."""

    def __init__(self, base: str, edge_pid: int) -> None:
        self.base, self.edge_pid = base, edge_pid
        self.ticks: list[float] = []  # canary log timestamps (edge clock, s)
        self.health: list[tuple[float, float]] = []  # (sent at, latency s)
        self.worker_peak_kib = 0
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=f, daemon=True) for f in (self._logs, self._healthz, self._workers)
        ]
        for t in self.threads:
            t.start()

    def _logs(self) -> None:
        with httpx.stream(
            "GET", f"{self.base}/v1/deployments/canary/logs?follow=1&tail=0", timeout=None
        ) as r:
            for line in r.iter_lines():
                entry = json.loads(line)
                if entry["message"] == "tick":
                    self.ticks.append(entry["ts_ns"] / 1e9)
                if self.stop.is_set():
                    return

    def _healthz(self) -> None:
        with httpx.Client(base_url=self.base, timeout=120) as client:
            while not self.stop.is_set():
                sent = time.time()
                client.get("/healthz")
                self.health.append((sent, time.time() - sent))
                time.sleep(0.02)

    def _workers(self) -> None:
        """The compile worker is the edge's child: track its peak RSS while it lives."""
        while not self.stop.is_set():
            for children in Path(f"/proc/{self.edge_pid}/task").glob("*/children"):
                for pid in children.read_text().split():
                    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                        self.worker_peak_kib = max(self.worker_peak_kib, status_kib(int(pid), "VmHWM"))
            time.sleep(0.05)


def window_stats(probe: Probe, start: float, end: float) -> dict[str, float]:
    ticks = [t for t in probe.ticks if start <= t < end]
    n_windows = max(1, int((end - start) / WINDOW_S))
    counts = [0] * n_windows
    for t in ticks:
        i = int((t - start) / WINDOW_S)
        if i < n_windows:
            counts[i] += 1
    rates = [c * EVERY / WINDOW_S for c in counts]
    gaps = [b - a for a, b in zip([start, *ticks], [*ticks, end], strict=True)]
    lat = sorted(lat for sent, lat in probe.health if start <= sent < end)
    return {
        "rate_median": statistics.median(rates),
        "rate_worst": min(rates),
        "max_gap_ms": max(gaps) * 1000,
        "healthz_median_ms": statistics.median(lat) * 1000 if lat else float("nan"),
        "healthz_p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1000 if lat else float("nan"),
        "healthz_max_ms": lat[-1] * 1000 if lat else float("nan"),
        "healthz_samples": len(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=300_000)
    ap.add_argument("--idle", type=float, default=8.0, help="seconds of idle measurement")
    ap.add_argument("--updates-per-sec", type=float, default=1000.0)
    ap.add_argument("--compile-memory-mib", type=int, default=4096)
    args = ap.parse_args()

    t0 = time.time()
    big = many_functions(args.functions)
    print(
        f"module: {len(big) / 1e6:.2f} MB, {args.functions} extra functions (generated in {time.time() - t0:.1f} s)"
    )
    port = free_port()
    exe = shutil.which("sequence")
    cmd = [
        *([exe] if exe else [sys.executable, "-m", "sequence"]),
        "edge",
        "--venue",
        "kraken",
        "--bind",
        "127.0.0.1",
    ]
    cmd += ["--port", str(port), "--symbols", "BTC-USD", "--updates-per-sec", str(args.updates_per_sec)]
    cmd += ["--max-functions", str(args.functions + 100), "--max-bundle-bytes", str(32 << 20)]
    cmd += ["--compile-memory-mib", str(args.compile_memory_mib), "--compile-timeout", "1800"]
    edge = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, timeout=1800)
    try:
        for _ in range(600):
            try:
                if http.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        resp = http.put("/v1/deployments/canary", json=body(wasmtime.wat2wasm(CANARY_WAT)))
        assert resp.status_code == 201, resp.text
        probe = Probe(base, edge.pid)
        time.sleep(1.0)  # the log stream and the poller settle in
        idle_start = time.time()
        time.sleep(args.idle)
        idle_end = push_start = time.time()
        rss_before = status_kib(edge.pid, "VmRSS")
        resp = http.put("/v1/deployments/big", json=body(big))
        push_end = time.time()
        time.sleep(0.5)  # the last canary lines of the push window reach the stream
        probe.stop.set()
        outcome = resp.json().get("state") or resp.json()["error"]["reason"]
        peak = status_kib(edge.pid, "VmHWM")
        rss_loaded = status_kib(edge.pid, "VmRSS")
        http.delete("/v1/deployments/big")
        rss_deleted = status_kib(edge.pid, "VmRSS")
        idle = window_stats(probe, idle_start, idle_end)
        push = window_stats(probe, push_start, push_end)
    finally:
        edge.terminate()
        edge.wait(timeout=30)

    print(f"push: HTTP {resp.status_code} ({outcome}) in {push_end - push_start:.1f} s")
    print(f"{'':28}{'idle':>12}{'during push':>14}{'push/idle':>11}")
    for key, label in [
        ("rate_median", "canary callbacks/s median"),
        ("rate_worst", "canary callbacks/s worst"),
        ("max_gap_ms", "longest canary gap (ms)"),
        ("healthz_median_ms", "/healthz median (ms)"),
        ("healthz_p99_ms", "/healthz p99 (ms)"),
        ("healthz_max_ms", "/healthz max (ms)"),
        ("healthz_samples", "/healthz samples"),
    ]:
        a, b = idle[key], push[key]
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{label:28}{a:12.1f}{b:14.1f}{ratio:>11}")
    print(
        f"edge RSS: {rss_before / 1024:.0f} MiB before the push, {rss_loaded / 1024:.0f} MiB with the module "
        f"loaded, {rss_deleted / 1024:.0f} MiB after delete; peak {peak / 1024:.0f} MiB "
        f"(compile cap {args.compile_memory_mib} MiB)"
    )
    print(f"compile worker peak RSS: {probe.worker_peak_kib / 1024:.0f} MiB")
    ok = (
        push["rate_median"] >= idle["rate_median"] / 2
        and push["healthz_median_ms"] <= 2 * idle["healthz_median_ms"]
    )
    print(f"within 2x of idle: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
