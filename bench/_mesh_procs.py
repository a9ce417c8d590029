"""Process plumbing shared by bench/mesh_hop.py and bench/coordinator_throughput.py.

A real `sequence coordinator` process, and sender/receiver processes that each
run a real MeshClient on their own (uv)loop, exactly as an edge does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sequence_edge.mesh.client import MeshClient, MeshInstance
from sequence_wire.auth import TOKEN_ENV, bearer_header, generate_token

GROUP = "bench"
# One token for the run: the coordinator and every child process inherit it (docs/security.md).
TOKEN = os.environ.setdefault(TOKEN_ENV, generate_token())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


class Coordinator:
    """`sequence coordinator` on free ports, for the duration of a `with` block."""

    def __init__(self) -> None:
        self.port, self.mesh_port = free_port(), free_port()
        exe = shutil.which("sequence")
        cmd = [exe] if exe else [sys.executable, "-m", "sequence.cli.main"]
        self.proc = subprocess.Popen(
            [
                *cmd,
                "coordinator",
                "--port",
                str(self.port),
                "--mesh-port",
                str(self.mesh_port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("coordinator did not start") from None
                time.sleep(0.05)

    def get(self, path: str) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=bearer_header(TOKEN))
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def cpu_seconds(self) -> float:
        """utime + stime of the coordinator process (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        import os

        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, text=True)


def wait_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != expected:
        raise RuntimeError(f"child said {line!r}, expected {expected!r}")


async def receiver(mesh_port: int, label: str, expected: int, idle_s: float = 5.0) -> dict[str, Any]:
    """Register `label`, collect `expected` messages (or stop after idle_s of silence)."""
    latencies: list[int] = []
    stamps: list[int] = []
    done = asyncio.Event()

    def on_message(_dep: str, _src: str, _payload: bytes, send_ts: int, _seq: int) -> None:
        now = time.time_ns()
        latencies.append(now - send_ts)
        stamps.append(now)
        if len(latencies) >= expected:
            done.set()

    client = MeshClient(
        "127.0.0.1",
        mesh_port,
        edge_id=f"edge-{label}",
        venue=f"rx-{label}",
        on_message=on_message,
        token=TOKEN,
    )
    await client.start()
    client.register([MeshInstance(f"{GROUP}-{label}", GROUP, label, on_message=True)])
    await client.wait_connected(10)
    while not client.registered:
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    last = -1
    while not done.is_set() and len(latencies) != last:
        last = len(latencies)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), idle_s)
    await asyncio.sleep(0.5)  # let the last stats report reach the coordinator
    await client.close()
    ordered = sorted(latencies)
    out: dict[str, Any] = {"received": len(ordered)}
    if ordered:
        out["p50_us"] = ordered[len(ordered) // 2] / 1000
        out["p99_us"] = ordered[int(0.99 * (len(ordered) - 1))] / 1000
        span = (stamps[-1] - stamps[0]) / 1e9
        out["msgs_per_s"] = (len(stamps) - 1) / span if span > 0 else 0.0
        out["first_ns"], out["last_ns"] = stamps[0], stamps[-1]
    return out


async def sender(
    mesh_port: int, label: str, to: str, count: int, interval: float, batch: int
) -> dict[str, Any]:
    """Send `count` 64-byte messages to `to`: paced one per `interval`, or in batches as fast as possible."""
    # One venue per sender: the coordinator binds a venue to one connection (docs/security.md).
    client = MeshClient("127.0.0.1", mesh_port, edge_id=f"edge-{label}", venue=f"tx-{label}", token=TOKEN)
    await client.start()
    deployment = f"{GROUP}-{label}"
    client.register([MeshInstance(deployment, GROUP, label)])
    await client.wait_connected(10)
    while not client.registered:
        await asyncio.sleep(0.01)
    payload = bytes(64)
    sent = 0
    if interval > 0:
        for _ in range(count):
            client.send(deployment, to, payload, time.time_ns())
            client.flush()  # what the edge does after draining a batch's outboxes
            await asyncio.sleep(interval)
    else:
        while sent < count:
            if client.backpressured:
                await asyncio.sleep(0.001)
                continue
            for _ in range(min(batch, count - sent)):  # one edge batch: outboxes drained together
                client.send(deployment, to, payload, time.time_ns())
            client.flush()
            sent += batch
            await asyncio.sleep(0)
    await asyncio.sleep(0.3)
    stats = client.stats()
    await client.close()
    return stats
