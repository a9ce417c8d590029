"""`sequence up`: the whole Sequence.toml on one machine, no cluster.

One coordinator and one edge per venue run as local processes on loopback;
the bundles are pushed over the edges' control API; a live table shows every
deployment; Ctrl-C (or --duration) undeploys cleanly (on_shutdown, leftovers
cancelled) and prints a summary. Children that die are restarted with backoff
and their deployments pushed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from ..models import Feed
from ..project import Project
from ..reconcilers.kube import feed_args
from ..render import resource_name
from .api import CoordinatorClient, EdgeClient
from .processes import Supervised, free_port
from .state import LocalDeployment, LocalState
from .views import status_table


@dataclass
class UpOptions:
    start: bool = False
    duration: float | None = None
    refresh_s: float = 1.0
    live: bool = True


def push_config(project: Project, name: str, state: str) -> dict[str, Any]:
    """The edge push body (docs/edge-api.md) for one deploy block, minus the bundle."""
    block = project.config.deploy[name]
    return {
        "runtime": block.runtime,
        "symbols": block.symbols,
        "label": project.config.label_of(name),
        "mesh_group": project.name,
        "peers": block.peers,
        "params": block.params,
        "risk": block.risk.model_dump(exclude_none=True),
        "wasm": block.wasm.model_dump(),
        "state": state,
    }


class LocalRun:
    def __init__(self, project: Project, options: UpOptions, console: Console | None = None) -> None:
        self.project = project
        self.options = options
        self.console = console or Console(stderr=True)
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"sequence-{project.name}-"))
        self.coordinator: Supervised | None = None
        self.edges: dict[str, Supervised] = {}
        self.edge_urls: dict[str, str] = {}
        self.coordinator_url = ""
        self.desired: dict[str, str] = {}  # deploy name -> "Running"/"Stopped" as last seen
        self.snapshot: dict[str, dict[str, Any]] = {}
        self.mesh: dict[str, Any] | None = None
        self.started_at = time.time()
        self.state = LocalState(project.name, str(project.root), os.getpid(), log_dir=str(self.log_dir))

    # ------------------------------------------------------------------ lifecycle

    def venues(self) -> list[str]:
        used = {block.venue for block in self.project.config.deploy.values()}
        return sorted(used)

    def launch(self) -> None:
        mesh_port, api_port = free_port(), free_port()
        self.coordinator_url = f"http://127.0.0.1:{api_port}"
        self.coordinator = Supervised(
            "coordinator",
            ["coordinator", "--port", str(api_port), "--mesh-port", str(mesh_port), "--bind", "127.0.0.1"],
            f"{self.coordinator_url}/healthz",
            self.log_dir / "coordinator.log",
            on_restart=lambda _: self._set_routes(),
        )
        self.coordinator.start()
        if not self.coordinator.wait_healthy():
            raise RuntimeError(f"the coordinator did not start; see {self.coordinator.log_path}")
        self._set_routes()
        for venue in self.venues():
            port = free_port()
            feed = self.project.config.venue[venue].feed if venue in self.project.config.venue else Feed()
            symbols = sorted(
                {s for b in self.project.config.deploy.values() if b.venue == venue for s in b.symbols}
            )
            args = [
                "edge",
                "--venue",
                venue,
                "--port",
                str(port),
                "--edge-id",
                f"{venue}-0",
                "--bind",
                "127.0.0.1",
                "--coordinator",
                f"127.0.0.1:{mesh_port}",
                "--symbols",
                ",".join(symbols),
                *feed_args(feed, str(self.project.root / feed.replay.file) if feed.replay else None),
            ]
            url = f"http://127.0.0.1:{port}"
            sup = Supervised(
                f"edge/{venue}",
                args,
                f"{url}/healthz",
                self.log_dir / f"edge-{venue}.log",
                on_restart=lambda s, v=venue: self._push_venue(v),  # type: ignore[misc]
            )
            sup.start()
            self.edges[venue], self.edge_urls[venue] = sup, url
        for venue, sup in self.edges.items():
            if not sup.wait_healthy():
                raise RuntimeError(f"the {venue} edge did not start; see {sup.log_path}")
        for name, block in self.project.config.deploy.items():
            start = self.options.start or block.state == "running"
            self.desired[name] = "Running" if start else "Stopped"
            self.state.deployments[name] = LocalDeployment(
                name,
                resource_name(self.project.name, name),
                block.venue,
                self.project.config.label_of(name),
                block.symbols,
            )
        for venue in self.edges:
            self._push_venue(venue)
        self.state.coordinator_url = self.coordinator_url
        self.state.edges = dict(self.edge_urls)
        self.state.save()

    def _set_routes(self) -> None:
        members = [
            {
                "deployment": resource_name(self.project.name, n),
                "label": self.project.config.label_of(n),
                "venue": b.venue,
                "peers": b.peers,
            }
            for n, b in self.project.config.deploy.items()
        ]
        client = CoordinatorClient(self.coordinator_url)
        try:
            client.set_routes(self.project.name, members)
        finally:
            client.close()

    def _push_venue(self, venue: str) -> None:
        client = EdgeClient(self.edge_urls[venue], timeout=30.0)
        try:
            for name, block in self.project.config.deploy.items():
                if block.venue != venue:
                    continue
                bundle = self.project.bundles[name]
                client.push(
                    resource_name(self.project.name, name),
                    bundle.data,
                    bundle.sha256,
                    **push_config(self.project, name, self.desired[name]),
                )
        finally:
            client.close()

    def supervise(self) -> None:
        for sup in [self.coordinator, *self.edges.values()]:
            if sup is not None:
                sup.check()

    def collect(self) -> None:
        for name, dep in self.state.deployments.items():
            client = EdgeClient(self.edge_urls[dep.venue], timeout=2.0)
            try:
                status = client.status(dep.deployment_id)
                if status.get("state") in ("Running", "Stopped"):
                    self.desired[name] = status["state"]
            except Exception as exc:  # ApiError, httpx transport errors, bad JSON
                previous = self.snapshot.get(name, {})
                status = {**previous, "state": "Unreachable", "last_error": {"message": str(exc)}}
            finally:
                client.close()
            self.snapshot[name] = {**status, "name": name, "venue": dep.venue, "label": dep.label}
        coordinator = CoordinatorClient(self.coordinator_url, timeout=2.0)
        try:
            self.mesh = coordinator.mesh(self.project.name)
        except Exception:
            pass  # keep the last topology while the coordinator restarts
        finally:
            coordinator.close()

    def view(self) -> Group:
        elapsed = time.time() - self.started_at
        processes = [
            f"{sup.name} {'up' if sup.running else 'DOWN'} (restarts {sup.restarts})"
            for sup in [self.coordinator, *self.edges.values()]
            if sup is not None
        ]
        return Group(
            status_table(
                [self.snapshot[n] for n in self.state.deployments if n in self.snapshot],
                self.mesh,
                title=f"{self.project.name} — {elapsed:.0f}s",
            ),
            Text(" | ".join(processes), style="dim"),
            Text("Ctrl-C to undeploy and stop", style="dim"),
        )

    def run(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.duration if self.options.duration else None
        interrupted = False
        try:
            self.launch()
            if not self.options.start and not any(d == "Running" for d in self.desired.values()):
                self.console.print(
                    "[yellow]deployments are loaded but stopped (seed 001); start them with "
                    "`sequence start [name]` or run `sequence up --start`[/yellow]"
                )
            with Live(self.view(), console=self.console, refresh_per_second=4, transient=False) as live:
                while deadline is None or time.monotonic() < deadline:
                    self.supervise()
                    self.collect()
                    if self.options.live:
                        live.update(self.view())
                    time.sleep(self.options.refresh_s)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            summary = self.shutdown(interrupted)
        return summary

    def shutdown(self, interrupted: bool = False) -> dict[str, Any]:
        with contextlib.suppress(Exception):
            self.collect()
        final = {name: dict(s) for name, s in self.snapshot.items()}
        cancelled: dict[str, int] = {}
        for name, dep in self.state.deployments.items():
            if dep.venue not in self.edge_urls:
                continue
            client = EdgeClient(self.edge_urls[dep.venue], timeout=10.0)
            try:
                cancelled[name] = int(client.remove(dep.deployment_id).get("cancelled", 0))
            except Exception as exc:
                cancelled[name] = -1
                self.console.print(f"[red]undeploy of {name} failed: {exc}[/red]")
            finally:
                client.close()
        for sup in [*self.edges.values(), self.coordinator]:
            if sup is not None:
                sup.stop()
        self.state.remove()
        return self.summary(final, cancelled, interrupted)

    def summary(
        self, final: dict[str, dict[str, Any]], cancelled: dict[str, int], interrupted: bool
    ) -> dict[str, Any]:
        net: dict[str, float] = defaultdict(float)
        deployments = {}
        for name, s in final.items():
            for symbol, qty in (s.get("position") or {}).items():
                net[symbol] += qty
            deployments[name] = {
                key: s.get(key)
                for key in (
                    "deployment_id",
                    "venue",
                    "label",
                    "state",
                    "orders",
                    "fills",
                    "rejects",
                    "cancels",
                    "position",
                    "realized_pnl",
                    "unrealized_pnl",
                    "fees",
                    "mesh",
                    "latency_ns",
                    "last_error",
                )
            } | {"cancelled_at_undeploy": cancelled.get(name)}
        processes = {
            sup.name: {"restarts": sup.restarts, "events": sup.events}
            for sup in [self.coordinator, *self.edges.values()]
            if sup is not None
        }
        return {
            "project": self.project.name,
            "duration_s": round(time.time() - self.started_at, 1),
            "interrupted": interrupted,
            "deployments": deployments,
            "net_position": dict(net),
            "mesh": self.mesh,
            "processes": processes,
            "logs": str(self.log_dir),
        }


def write_summary(summary: dict[str, Any], console: Console, json_path: str | None) -> None:
    if json_path:
        text = json.dumps(summary, indent=2)
        if json_path == "-":
            print(text)
        else:
            Path(json_path).write_text(text + "\n")
    rows = [{**v, "name": k} for k, v in summary["deployments"].items()]
    console.print(
        status_table(
            rows, summary.get("mesh"), title=f"summary: {summary['project']}, {summary['duration_s']}s"
        )
    )
    console.print(
        "net position: " + (", ".join(f"{s} {q:+.4f}" for s, q in summary["net_position"].items()) or "flat")
    )
    for name, proc in summary["processes"].items():
        if proc["restarts"]:
            console.print(f"[yellow]{name} restarted {proc['restarts']} time(s)[/yellow]")
