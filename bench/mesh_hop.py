"""One-way mesh latency: send in one edge process -> coordinator process -> on_message in another.

Measures the kept transport end to end -- two real MeshClient processes and a
real `sequence coordinator` on 127.0.0.1 -- and, in the same run, a plain TCP
socket relay between the same kind of processes (blocking sockets, the relay
only cuts length-prefixed frames; see bench/mesh_transport_choice.py) as the
baseline. Latency is send timestamp (CLOCK_REALTIME in the sender, as the edge
takes it when the algo calls seq.send) to the moment on_message is invoked in
the receiver. Sends are paced (one per --interval) so the number is latency,
not queueing. Targets: p50 <= 100 us, p99 <= 500 us.

    python bench/mesh_hop.py [--messages 5000] [--rate 1000] [--runs 3]
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


def kept_transport(messages: int, interval: float) -> dict:
    with Coordinator() as cc:
        rx = spawn(__file__, "--role", "rx", "--mesh-port", str(cc.mesh_port), "--count", str(messages))
        wait_line(rx, "READY")
        tx = spawn(
            __file__,
            "--role",
            "tx",
            "--mesh-port",
            str(cc.mesh_port),
            "--count",
            str(messages),
            "--interval",
            str(interval),
        )
        out, _ = rx.communicate(timeout=600)
        tx.wait(timeout=60)
        result = json.loads(out.strip().splitlines()[-1])
        link = cc.get("/v1/mesh/bench")["links"]
        result["coordinator_link"] = link[0] if link else None
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["rx", "tx"])
    ap.add_argument("--mesh-port", type=int)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--interval", type=float, default=0.001)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=1000, help="paced sends per second (libuv timers: 1 ms)")
    ap.add_argument("--runs", type=int, default=3, help="alternating runs of each; medians are reported")
    args = ap.parse_args()
    if args.role == "rx":
        print(json.dumps(run_loop(receiver(args.mesh_port, "rx", args.count))), flush=True)
        return
    if args.role == "tx":
        run_loop(sender(args.mesh_port, "tx", "rx", args.count, args.interval, 1))
        return

    interval = 1 / args.rate
    kept, base = [], []
    for _ in range(args.runs):
        base.append(relay.run_case("tcp", 1, args.messages, interval))
        kept.append(kept_transport(args.messages, interval))
        time.sleep(0.5)

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    k50, k99, b50, b99 = med(kept, "p50_us"), med(kept, "p99_us"), med(base, "p50_us"), med(base, "p99_us")
    print(f"one-way latency, {args.messages} paced msgs x {args.runs} runs (median of runs), 64-byte payload")
    print(
        f"  asyncio mesh (MeshClient -> sequence coordinator -> MeshClient)  p50 {k50:7.1f} us  p99 {k99:7.1f} us"
    )
    print(
        f"  plain TCP relay baseline (blocking sockets, same hop)            p50 {b50:7.1f} us  p99 {b99:7.1f} us"
    )
    print(
        f"  ratio mesh / baseline                                            p50 {k50 / b50:6.2f}x    p99 "
        f"{k99 / b99:6.2f}x"
    )
    print(f"  received {[r['received'] for r in kept]} of {args.messages} per run")
    link = kept[-1].get("coordinator_link")
    if link:
        print(f"  coordinator's view of the last run's link: {link}")
    print(
        f"  targets: p50 <= 100 us {'met' if k50 <= 100 else 'MISSED'}, p99 <= 500 us {'met' if k99 <= 500 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
