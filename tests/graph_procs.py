"""Real processes for the execution-graph data-plane tests: a `sequence coordinator` with a state
dir and `sequence edge` processes on sim feeds joined to it, driven over their HTTP APIs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx

from .conftest import AUTH, sequence_cli
from .mesh_support import free_port, wait_until

SCALE = 100_000_000


class Proc:
    """A subprocess with its log in a file and an HTTP client on its API port."""

    def __init__(self, tmp: Path, name: str, args: list[str], port: int) -> None:
        self.tmp, self.name, self.args, self.port = tmp, name, args, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0, headers=AUTH)
        self.start()

    def start(self) -> None:
        log = open(self.tmp / f"{self.name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen([*sequence_cli(), *self.args], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._healthy, 60, f"{self.name} to answer /healthz")

    def log_text(self) -> str:
        return (self.tmp / f"{self.name}.log").read_text(errors="replace")[-4000:]

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()}")
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        return resp.json()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        self.stop()
        self.http.close()


class Coordinator(Proc):
    def __init__(self, tmp: Path, state_dir: Path | None = None) -> None:
        self.mesh_port = free_port()
        port = free_port()
        args = ["coordinator", "--port", str(port), "--mesh-port", str(self.mesh_port)]
        args += ["--heartbeat", "0.5", "--peer-timeout", "5"]  # a killed edge closes its socket at once
        if state_dir is not None:
            args += ["--state-dir", str(state_dir)]
        super().__init__(tmp, "coordinator", args, port)

    def submit(self, graph: dict[str, Any]) -> httpx.Response:
        return self.http.post("/v1/graphs", json=graph)

    def graph(self, graph_id: str) -> dict[str, Any]:
        return self.get(f"/v1/graphs/{graph_id}")  # type: ignore[no-any-return]

    def venues_up(self, *venues: str) -> bool:
        up = self.get("/v1/graphs-engine")["venues"]
        return all(v in up for v in venues)


class Edge(Proc):
    def __init__(self, tmp: Path, coordinator: Coordinator, venue: str, *extra: str, seed: int = 1) -> None:
        self.venue = venue
        port = free_port()
        args = ["edge", "--bind", "127.0.0.1", "--port", str(port), "--venue", venue]
        args += ["--edge-id", f"{venue}-0", "--coordinator", f"127.0.0.1:{coordinator.mesh_port}"]
        args += ["--symbols", "BTC-USD,ETH-USD", "--seed", str(seed), "--updates-per-sec", "500"]
        # a calm market (the touch holds still): orders at the far touch fill when they arrive
        args += ["--volatility-bps", "0", "--dislocation-bps", "0", "--depth", "10"]
        args += ["--start-price", "BTC-USD=50000", "--start-price", "ETH-USD=2500", *extra]
        super().__init__(tmp, f"edge-{venue}", args, port)

    def graph_orders(self) -> list[dict[str, Any]]:
        return self.get("/v1/graph-orders")["orders"]  # type: ignore[no-any-return]

    def graph_status(self) -> dict[str, Any]:
        return self.get("/v1/edge")["graph_orders"]  # type: ignore[no-any-return]

    def position(self, symbol: str) -> int:
        return int(self.graph_status()["positions_1e8"].get(symbol, 0))


def node(side: str, symbol: str, qty: float = 0.0, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"side": side, "symbol": symbol, **kw}
    if qty:
        out["qty"] = qty
    else:
        out["derived"] = True
    return out


def edge(src: str, dst: str, trigger: Any, **kw: Any) -> dict[str, Any]:
    return {"from": src, "to": dst, "trigger": trigger, **kw}
