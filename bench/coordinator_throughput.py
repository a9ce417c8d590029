"""Coordinator throughput: routed messages per second with N sender edges -> one receiver edge.

Real processes on 127.0.0.1: a `sequence coordinator`, N sender processes each
running a MeshClient that sends in batches of 16 (one edge batch: outboxes
drained together) as fast as the coordinator takes them, and one receiving
MeshClient. In the same run, the same traffic goes through a plain TCP socket
relay (blocking sockets, the relay only cuts length-prefixed frames and
forwards them, no routing; bench/mesh_transport_choice.py) as the baseline.

Printed: messages/s delivered end to end, the coordinator's routed count and
drops, the coordinator's CPU seconds (so "routed per CPU-second" = what one
core of the coordinator sustains, independent of the other processes sharing
this machine), and the ratio against the relay. Target: >= 50,000 routed/s.

    python bench/coordinator_throughput.py [--senders 2] [--messages 100000] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mesh_transport_choice as relay
from _mesh_procs import Coordinator, receiver, run_loop, sender, spawn, wait_line

BATCH = 16


def kept_transport(senders: int, messages: int) -> dict:
    with Coordinator() as cc:
        total = senders * messages
        rx = spawn(__file__, "--role", "rx", "--mesh-port", str(cc.mesh_port), "--count", str(total))
        wait_line(rx, "READY")
        cpu0 = cc.cpu_seconds()
        txs = [
            spawn(
                __file__,
                "--role",
                "tx",
                "--mesh-port",
                str(cc.mesh_port),
                "--count",
                str(messages),
                "--label",
                f"tx{i}",
            )
            for i in range(senders)
        ]
        out, _ = rx.communicate(timeout=600)
        for tx in txs:
            tx.wait(timeout=60)
        cpu = cc.cpu_seconds() - cpu0
        result = json.loads(out.strip().splitlines()[-1])
        topo = cc.get("/v1/mesh/bench")
        result["routed"] = topo["routed"]
        result["dropped"] = topo["dropped"]
        result["cc_cpu_s"] = cpu
        span = (result["last_ns"] - result["first_ns"]) / 1e9
        result["routed_per_cpu_s"] = topo["routed"] / cpu if cpu > 0 else float("nan")
        result["cc_cpu_share"] = cpu / span if span > 0 else float("nan")
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["rx", "tx"])
    ap.add_argument("--mesh-port", type=int)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--label", default="tx0")
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--messages", type=int, default=100_000, help="per sender")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    if args.role == "rx":
        print(json.dumps(run_loop(receiver(args.mesh_port, "rx", args.count, idle_s=3.0))), flush=True)
        return
    if args.role == "tx":
        run_loop(sender(args.mesh_port, args.label, "rx", args.count, 0.0, BATCH))
        return

    kept, base = [], []
    for _ in range(args.runs):
        base.append(relay.run_case("tcp", args.senders, args.messages, 0.0))
        kept.append(kept_transport(args.senders, args.messages))
        time.sleep(0.5)
    k = statistics.median(r["msgs_per_s"] for r in kept)
    b = statistics.median(r["msgs_per_s"] for r in base)
    per_cpu = statistics.median(r["routed_per_cpu_s"] for r in kept)
    total = args.senders * args.messages
    print(
        f"throughput, {args.senders} senders x {args.messages} msgs, 64-byte payload, median of {args.runs} runs"
    )
    print(
        f"  asyncio mesh: delivered {k:10.0f} msgs/s end to end   (received {[r['received'] for r in kept]} / {total})"
    )
    print(
        f"  plain TCP relay baseline: {b:10.0f} msgs/s end to end   (received {[r['received'] for r in base]})"
    )
    print(f"  ratio mesh / baseline: {k / b:5.2f}x")
    print(f"  coordinator: routed {[r['routed'] for r in kept]}, drops {[r['dropped'] for r in kept]}")
    print(
        f"  coordinator CPU: {per_cpu:10.0f} routed msgs per CPU-second (one core), busy "
        f"{statistics.median(r['cc_cpu_share'] for r in kept):.0%} of the wall time"
    )
    print(
        f"  target >= 50,000 routed/s on one core: {'met' if per_cpu >= 50_000 else 'MISSED'} (per CPU-second), "
        f"{'met' if k >= 50_000 else 'missed'} end to end on this shared machine"
    )


if __name__ == "__main__":
    main()
