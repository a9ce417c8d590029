"""Mesh hop between two REAL algorithms on two real edges, against a plain TCP relay.

Two edge processes each run the real Edge (sim feed, Cython engine, wasmtime host) on their own
event loop, with examples/mesh-ping/mesh_ping.wasm loaded: on the "ping" edge it sends an 8-byte
sequence number to the label "pong" from on_book about every --interval-us; on the "pong" edge
on_message receives it. Latency = the time the ping algorithm called seq.send (taken by the host
import) -> the moment the pong edge calls the algorithm's on_message.

Two transports carry the same messages between the same two processes, alternating in phases:

  mesh      EdgeMesh + MeshClient -> real `sequence coordinator` process -> MeshClient (what
            `sequence up` runs)
  baseline  the edge's mesh_sink writes length-prefixed frames to a plain blocking-socket TCP
            relay process (bench/mesh_transport_choice.py's), whose frames the pong edge reads
            with a raw socket on its loop and hands to deliver_message

and prints p50/p99 of each (median over the phases) and the ratio mesh / baseline.

    python bench/mesh_algo_hop.py [--phase-s 3] [--runs 3] [--interval-us 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mesh_transport_choice as relay  # noqa: E402
from _mesh_procs import TOKEN, Coordinator, free_port, run_loop  # noqa: E402

WASM = HERE.parent / "examples/mesh-ping/mesh_ping.wasm"
GROUP = "bench"


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * (len(sorted_ns) - 1)))] / 1000


# ------------------------------------------------------------------ one edge process


async def edge_main(role: str, mesh_port: int, relay_port: int, interval_us: int) -> None:
    from sequence_edge.edge import Edge, EdgeConfig
    from sequence_edge.mesh.bridge import EdgeMesh
    from sequence_edge.push import parse_push

    venue = "kraken" if role == "ping" else "coinbase"
    edge = Edge(EdgeConfig(venue=venue, seed=3, symbols=["BTC-USD"], venue_names=["coinbase", "kraken"]))
    mesh = EdgeMesh(edge, "127.0.0.1", mesh_port, token=TOKEN)
    await mesh.start()
    await mesh.client.wait_connected(10)
    wasm = WASM.read_bytes()
    params: dict[str, Any] = {"to": "pong", "interval_us": interval_us} if role == "ping" else {}
    body = {
        "bundle": base64.b64encode(wasm).decode(),
        "sha256": hashlib.sha256(wasm).hexdigest(),
        "symbols": ["BTC-USD"],
        "label": role,
        "mesh_group": GROUP,
        "params": params,
        "state": "Running",
    }
    edge.push(role, parse_push(body), wasm)
    loop = asyncio.get_running_loop()
    latencies: dict[str, list[int]] = {"mesh": [], "baseline": []}
    mesh_sink = edge.mesh_sink

    if role == "ping":
        sock = relay.connect_blocking(relay_port, b"ping")

        def baseline_sink(messages: list[Any]) -> None:
            frames = [
                relay.frame(relay.SEND, b"\x04pong" + relay.MSG.pack(i, m.send_ts_ns) + m.payload)
                for i, m in enumerate(messages)
            ]
            sock.sendall(b"".join(frames))

        sinks = {"mesh": mesh_sink, "baseline": baseline_sink, "off": lambda _messages: None}
    else:
        sock = relay.connect_blocking(relay_port, b"rx")
        sock.setblocking(False)
        buf = bytearray()

        def on_readable() -> None:  # the baseline's receive path, on the edge's loop
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                return
            buf.extend(data)
            for _t, frame_body in relay.cut(buf):
                n = frame_body[0]
                _seq, ts = relay.MSG.unpack_from(frame_body, 1 + n)
                latencies["baseline"].append(time.time_ns() - ts)
                edge.deliver_message("pong", "ping", frame_body[1 + n + relay.MSG.size :])

        loop.add_reader(sock.fileno(), on_readable)
        on_message = mesh.client.on_message
        assert on_message is not None

        def timed(deployment: str, from_label: str, payload: bytes, send_ts: int, seq: int) -> None:
            latencies["mesh"].append(time.time_ns() - send_ts)  # where MeshClient measures, too
            on_message(deployment, from_label, payload, send_ts, seq)

        mesh.client.on_message = timed

    runner = asyncio.create_task(edge.run())
    print("READY", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line in ("mesh", "baseline", "off") and role == "ping":  # which transport carries its sends
            edge.mesh_sink = sinks[line]
        elif line == "report":  # pong: latencies since the last report
            print(json.dumps(latencies), flush=True)
            latencies = {"mesh": [], "baseline": []}
        elif line == "quit":
            break
    edge.stop_loop()
    await runner
    await mesh.close()
    edge.close()


# ------------------------------------------------------------------ orchestration


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "READY":
        raise RuntimeError(f"child did not start (said {line!r})")


def command(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["ping", "pong"])
    ap.add_argument("--mesh-port", type=int, default=0)
    ap.add_argument("--relay-port", type=int, default=0)
    ap.add_argument("--interval-us", type=int, default=1000, help="ping period (sends happen from on_book)")
    ap.add_argument("--phase-s", type=float, default=3.0, help="seconds per transport phase")
    ap.add_argument("--runs", type=int, default=3, help="alternating phases of each transport")
    args = ap.parse_args()
    if args.role:
        run_loop(
            edge_main(args.role, args.mesh_port, args.relay_port, args.interval_us)
        )  # as `sequence edge`
        return

    relay_port = free_port()
    relay_proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "mesh_transport_choice.py"),
            "--role",
            "relay",
            "--mode",
            "tcp",
            "--port",
            str(relay_port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    children: list[subprocess.Popen[str]] = []
    try:
        wait_ready(relay_proc)  # type: ignore[arg-type]
        with Coordinator() as cc:
            common = ["--mesh-port", str(cc.mesh_port), "--relay-port", str(relay_port)]
            pong = spawn(__file__, "--role", "pong", *common)
            children.append(pong)
            wait_ready(pong)
            ping = spawn(__file__, "--role", "ping", *common, "--interval-us", str(args.interval_us))
            children.append(ping)
            wait_ready(ping)
            results: dict[str, list[tuple[float, float, int]]] = {"mesh": [], "baseline": []}
            assert pong.stdout is not None
            for _ in range(args.runs):
                for transport in ("baseline", "mesh"):
                    command(ping, transport)
                    time.sleep(0.3)  # warm-up; its samples are discarded with the report below
                    command(pong, "report")
                    pong.stdout.readline()
                    time.sleep(args.phase_s)
                    command(ping, "off")
                    time.sleep(0.2)  # in-flight messages arrive
                    command(pong, "report")
                    lat = sorted(json.loads(pong.stdout.readline())[transport])
                    if lat:
                        results[transport].append((percentile(lat, 0.5), percentile(lat, 0.99), len(lat)))
            link = (cc.get(f"/v1/mesh/{GROUP}").get("links") or [None])[0]
            for proc in (ping, pong):
                command(proc, "quit")
            for proc in (ping, pong):  # before the coordinator goes (its clients would log that)
                proc.wait(10)
    finally:
        for proc in children:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        relay_proc.kill()

    def med(transport: str, i: int) -> float:
        return statistics.median(r[i] for r in results[transport])

    m50, m99, b50, b99 = med("mesh", 0), med("mesh", 1), med("baseline", 0), med("baseline", 1)
    counts = {t: sum(r[2] for r in rows) for t, rows in results.items()}
    print(
        f"send in ping algo -> on_message in pong algo, two edges, {args.runs} phases of {args.phase_s}s each"
    )
    print(f"  messages: mesh {counts['mesh']}, baseline {counts['baseline']}")
    print(f"  {'':28} {'p50 us':>10} {'p99 us':>10}")
    print(f"  {'plain TCP relay (baseline)':28} {b50:10.1f} {b99:10.1f}")
    print(f"  {'mesh (coordinator)':28} {m50:10.1f} {m99:10.1f}")
    print(f"  {'ratio mesh / baseline':28} {m50 / b50:10.2f} {m99 / b99:10.2f}")
    if link:
        print(f"  coordinator's own link stats (last 4096): p50 {link['p50_us']} us, p99 {link['p99_us']} us")
    print(
        json.dumps(
            {
                "mesh": {"p50_us": m50, "p99_us": m99},
                "baseline": {"p50_us": b50, "p99_us": b99},
                "ratio_p50": m50 / b50,
                "ratio_p99": m99 / b99,
                "messages": counts,
            }
        )
    )


if __name__ == "__main__":
    main()
