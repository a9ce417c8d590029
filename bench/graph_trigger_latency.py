"""Execution graphs on real processes: trigger latency across edges, admission throughput, and the
coordinator's cost of 1,000 running graphs.

One `sequence coordinator` (with --state-dir: the journal is on, as in production) and two
`sequence edge` processes (kraken, coinbase; sim feeds) joined to it. Three measurements:

1. Trigger latency: graphs "parent on kraken -on_first_fill-> child on coinbase", one at a time.
   From the parent's first fill in kraken's OMS to the child's ack in coinbase's OMS, both taken
   from the edges' own order traces (nanosecond CLOCK_REALTIME, GET /v1/orders/{ref}/trace). The
   path: kraken OMS -> ORDER_EVENTS -> coordinator (engine, trigger, journal commit) -> ORDER ->
   coinbase risk + OMS. Baseline in the same run: a mesh hop between the same two edges
   (examples/mesh-ping on both, its sends every 1 ms), as the coordinator's per-link stats report
   it (algo seq.send on kraken -> on_message on coinbase).
2. Admission throughput: --graphs small graphs (a 2-slice TWAP with a 1 h interval: the first
   slice trades at once, the graph then stays running) POSTed over HTTP by 16 concurrent clients;
   also the coordinator's CPU time per admitted graph (HTTP, validation, admission risk, journal
   commit, the first order out and its events back), which does not depend on the box's load.
3. The same graphs all running: the coordinator's CPU (% of one core over --idle-s seconds, the
   markets moving) and RSS, against the coordinator before any graph in the same run.

    python bench/graph_trigger_latency.py [--triggers 200] [--graphs 1000] [--idle-s 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _mesh_procs import TOKEN, free_port  # noqa: E402  (the run's token, inherited by the children)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WASM = HERE.parent / "examples/mesh-ping/mesh_ping.wasm"
BTC = "BTC-USD"
# the sim markets centre on 50,000 (--start-price); limits 2% through it fill at once and stay
# inside the edges' default 5% price band
START = "BTC-USD=50000"
TAKE_BUY, TAKE_SELL = {"limit_price": 51_000.0}, {"limit_price": 49_000.0}
# the graph orders' limits on the bench edges: wide, so that 1,000 graphs admitted in a burst are
# not refused by the edge's default rate and position limits
GRAPH_RISK = json.dumps(
    {
        "max_orders_per_sec": 1e6,
        "max_position": 1e6,
        "max_order_qty": 1e6,
        "max_notional": 1e9,
        "max_loss": 1e9,
    }
)


def cli() -> list[str]:
    exe = shutil.which("sequence")
    return [exe] if exe else [sys.executable, "-m", "sequence.cli.main"]


def wait(check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Proc:
    def __init__(self, args: list[str], port: int, log: Path) -> None:
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([*cli(), *args], stdout=out, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0, headers=AUTH)
        try:
            wait(lambda: self.http.get("/healthz").status_code == 200, what=f"{args[0]} on {port}")
        except RuntimeError:
            raise RuntimeError(f"{args[0]} did not start: {log.read_text()[-2000:]}") from None

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


def trace_ts(edge: Proc, client_order_id: str, event: str) -> int | None:
    rows = edge.http.get("/v1/graph-orders").json()["orders"]
    ref = next((r["order_ref"] for r in rows if r["client_order_id"] == client_order_id), None)
    if ref is None:
        return None
    events = edge.http.get(f"/v1/orders/{ref}/trace").json()["events"]
    return next((e["ts_ns"] for e in events if e["event"] == event), None)


def trigger_latencies(cc: Proc, kraken: Proc, coinbase: Proc, n: int) -> list[float]:
    graph = {
        "nodes": {
            "parent": {"side": "buy", "symbol": BTC, "qty": 0.001, "venue": "kraken", **TAKE_BUY},
            "child": {
                "side": "sell",
                "symbol": BTC,
                "derived": True,
                "venue": "coinbase",
                **TAKE_SELL,
            },
        },
        "edges": [{"from": "parent", "to": "child", "trigger": "on_first_fill"}],
    }
    out = []
    for _ in range(n):
        resp = cc.http.post("/v1/graphs", json=graph)
        if resp.status_code != 201:
            raise RuntimeError(f"submit answered {resp.status_code}: {resp.text}")
        graph_id = resp.json()["graph_id"]
        try:
            g = wait(
                lambda gid=graph_id: (
                    (s := cc.http.get(f"/v1/graphs/{gid}").json())["status"] == "completed" and s
                ),
                timeout=30,
                what="a trigger graph to complete",
            )
        except RuntimeError:
            raise RuntimeError(
                f"graph did not complete: {cc.http.get(f'/v1/graphs/{graph_id}').text}"
            ) from None
        parent = g["nodes"]["parent"]["orders"][0]["client_order_id"]
        child = g["nodes"]["child"]["orders"][0]["client_order_id"]
        fill, ack = trace_ts(kraken, parent, "fill"), trace_ts(coinbase, child, "ack")
        if fill and ack:
            out.append((ack - fill) / 1000)
    return out


async def admit(port: int, n: int, concurrency: int = 16) -> float:
    graph = {
        "nodes": {
            "twap": {
                "side": "buy",
                "symbol": BTC,
                "qty": 0.0002,
                "venue": "kraken",
                **TAKE_BUY,
                "urgency": "urgent",  # each slice crosses at once (normal starts passive and rests)
                "twap": {"slices": 2, "interval_ms": 3_600_000},
            }
        },
        "edges": [],
    }
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0, headers=AUTH) as client:

        async def one() -> None:
            async with sem:
                resp = await client.post("/v1/graphs", json=graph)
                if resp.status_code != 201:
                    raise RuntimeError(f"submit answered {resp.status_code}: {resp.text}")

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - t0)


def cpu_percent(proc: Proc, seconds: float) -> float:
    c0, t0 = proc.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100 * (proc.cpu_seconds() - c0) / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triggers", type=int, default=200, help="trigger graphs, one at a time")
    ap.add_argument("--graphs", type=int, default=1000, help="graphs admitted, then left running")
    ap.add_argument("--idle-s", type=float, default=10.0, help="seconds of CPU measurement")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="graph-bench-"))
    cc_port, mesh_port = free_port(), free_port()
    procs: list[Proc] = []
    try:
        cc = Proc(
            [
                "coordinator",
                "--port",
                str(cc_port),
                "--mesh-port",
                str(mesh_port),
                "--state-dir",
                str(tmp / "s"),
                "--log-level",
                "warning",
            ],
            cc_port,
            tmp / "cc.log",
        )
        procs.append(cc)
        edges = {}
        for venue, seed in (("kraken", 3), ("coinbase", 4)):
            port = free_port()
            edges[venue] = Proc(
                [
                    "edge",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--venue",
                    venue,
                    "--seed",
                    str(seed),
                    "--symbols",
                    BTC,
                    "--coordinator",
                    f"127.0.0.1:{mesh_port}",
                    "--log-level",
                    "warning",
                    "--graph-risk",
                    GRAPH_RISK,
                    "--start-price",
                    START,
                    "--volatility-bps",
                    "5",  # the sim wanders about 11x this around START: well inside the band
                ],
                port,
                tmp / f"{venue}.log",
            )
            procs.append(edges[venue])
        kraken, coinbase = edges["kraken"], edges["coinbase"]
        wait(lambda: len(cc.http.get("/v1/graphs-engine").json()["venues"]) == 2, what="both venues up")
        cpu_idle = cpu_percent(cc, args.idle_s / 2)
        rss_before = cc.rss_mib()

        wasm = WASM.read_bytes()
        for venue, role, params in (("coinbase", "pong", {}), ("kraken", "ping", {"to": "pong"})):
            body = {
                "bundle": base64.b64encode(wasm).decode(),
                "sha256": hashlib.sha256(wasm).hexdigest(),
                "symbols": [BTC],
                "label": role,
                "mesh_group": "bench",
                "params": params,
                "state": "Running",
            }
            resp = edges[venue].http.put(f"/v1/deployments/{role}", json=body)
            if resp.status_code >= 300:
                raise RuntimeError(f"push {role}: {resp.status_code} {resp.text}")
        trigger_latencies(cc, kraken, coinbase, 10)  # warm-up
        lat = trigger_latencies(cc, kraken, coinbase, args.triggers)
        link = wait(
            lambda: next(iter(cc.http.get("/v1/mesh/bench").json().get("links") or []), None),
            what="mesh link stats",
        )
        for venue, role in (("kraken", "ping"), ("coinbase", "pong")):
            edges[venue].http.delete(f"/v1/deployments/{role}")

        cpu0 = cc.cpu_seconds()
        rate = asyncio.run(admit(cc_port, args.graphs))
        cpu_per_graph_ms = 1000 * (cc.cpu_seconds() - cpu0) / args.graphs
        running = cc.http.get("/v1/graphs-engine").json()["running"]
        cpu_running = cpu_percent(cc, args.idle_s)
        rss_running = cc.rss_mib()
    finally:
        for proc in reversed(procs):
            proc.close()
        shutil.rmtree(tmp, ignore_errors=True)

    g50, g99 = statistics.median(lat), pct(lat, 0.99)
    m50, m99 = float(link["p50_us"]), float(link["p99_us"])
    print(f"trigger: parent fill in kraken's OMS -> child ack in coinbase's OMS ({len(lat)} graphs)")
    print(f"  {'':34} {'p50 us':>10} {'p99 us':>10}")
    print(f"  {'mesh hop kraken -> coinbase (base)':34} {m50:10.1f} {m99:10.1f}")
    print(f"  {'graph trigger kraken -> coinbase':34} {g50:10.1f} {g99:10.1f}")
    print(f"  {'ratio trigger / mesh hop':34} {g50 / m50:10.2f} {g99 / m99:10.2f}")
    print(f"admission: {rate:.0f} graphs/s over HTTP (16 concurrent clients, {args.graphs} graphs)")
    print(
        f"  coordinator CPU per admitted graph {cpu_per_graph_ms:.2f} ms "
        f"(at most {1000 / max(cpu_per_graph_ms, 1e-9):.0f} graphs/s per core, whatever the box's load)"
    )
    print(f"coordinator with {running} running graphs, markets moving, over {args.idle_s:.0f} s:")
    print(f"  CPU {cpu_running:.1f}% of a core (no graph: {cpu_idle:.1f}%)")
    print(f"  RSS {rss_running:.0f} MiB (no graph: {rss_before:.0f} MiB)")
    print(
        json.dumps(
            {
                "trigger": {"p50_us": g50, "p99_us": g99, "n": len(lat)},
                "mesh_hop": {"p50_us": m50, "p99_us": m99},
                "ratio_p50": g50 / m50,
                "ratio_p99": g99 / m99,
                "admission_graphs_per_s": rate,
                "admission_cpu_ms_per_graph": cpu_per_graph_ms,
                "running_graphs": running,
                "cpu_percent": {"running": cpu_running, "none": cpu_idle},
                "rss_mib": {"running": rss_running, "none": rss_before},
            }
        )
    )


if __name__ == "__main__":
    main()
