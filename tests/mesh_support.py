"""Real processes for the mesh tests: a `sequence coordinator` and stand-in edges (tests/mesh_peer.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .conftest import AUTH, sequence_cli

PEER = Path(__file__).with_name("mesh_peer.py")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; the timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(0.02)


class CoordinatorProcess:
    """`sequence coordinator` on fixed free ports; can be SIGKILLed and restarted on the same ports."""

    def __init__(
        self,
        heartbeat: float = 0.2,
        peer_timeout: float = 1.0,
        mesh_port: int | None = None,
        start: bool = True,
        args: tuple[str, ...] = (),
    ) -> None:
        self.port, self.mesh_port = free_port(), mesh_port or free_port()
        self.args = args
        self.heartbeat, self.peer_timeout = heartbeat, peer_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        if start:
            self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *sequence_cli(),
                "coordinator",
                "--port",
                str(self.port),
                "--mesh-port",
                str(self.mesh_port),
                "--heartbeat",
                str(self.heartbeat),
                "--peer-timeout",
                str(self.peer_timeout),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until(self._healthy, 60, "the coordinator to answer /healthz")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"coordinator exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            return self.get("/healthz")["ok"]
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """With the control token unless `headers` says otherwise ({} sends none)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers=AUTH if headers is None else headers,
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(
                    raw
                ) if r.headers.get_content_type() == "application/json" else raw.decode()
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, (status, body)
        return body

    def group(self, name: str) -> dict[str, Any]:
        status, body = self.request("GET", f"/v1/mesh/{name}")
        return body if status == 200 else {}

    def metrics(self) -> str:
        return self.request("GET", "/metrics")[1]


class Peer:
    """One stand-in edge process; collects its JSON-line events in a background thread."""

    def __init__(
        self, coordinator: CoordinatorProcess, edge_id: str, venue: str, nbbo_interval_ms: float = 5.0
    ):
        self.edge_id = edge_id
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(PEER),
                "--mesh-port",
                str(coordinator.mesh_port),
                "--edge-id",
                edge_id,
                "--venue",
                venue,
                "--nbbo-interval-ms",
                str(nbbo_interval_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(lambda: self.of("ready"), 30, f"{edge_id} to start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.events.append(json.loads(line))

    def command(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()

    def register(self, *instances: dict[str, Any]) -> None:
        self.command("register", instances=list(instances))

    def of(self, event: str, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e for e in self.events if e["event"] == event and all(e.get(k) == v for k, v in match.items())
            ]

    def messages(self, deployment: str) -> list[dict[str, Any]]:
        return self.of("message", deployment=deployment)

    def stats(self) -> dict[str, Any]:
        before = len(self.of("stats"))
        self.command("stats")
        return wait_until(lambda: self.of("stats")[before:], 15, f"stats from {self.edge_id}")[0]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def instance(deployment: str, group: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"deployment_id": deployment, "mesh_group": group, "label": label, "on_message": True, **extra}


def labels_in(topology: dict[str, Any]) -> set[str]:
    return {i["mesh_id"] for i in topology.get("instances", [])}
