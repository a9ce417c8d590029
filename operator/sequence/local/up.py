"""`sequence up`: the whole Sequence.toml on one machine, no cluster.

One coordinator and one edge per venue run as local processes on loopback;
the bundles are pushed over the edges' control API; a live table shows every
deployment; Ctrl-C (or --duration) undeploys cleanly and prints a summary.
Children that die are restarted with backoff and their deployments pushed
again in their last state (a restarted edge starts from a fresh paper account).

Undeploy order at the end: first the deployments that send mesh messages
(`peers` in Sequence.toml), then, once their last messages have arrived, the
others; so a hedger still sees the maker's final fills. Each removal returns the
deployment's final status, which is what the summary reports.
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

from ..edge_spec import feed_args, push_body
from ..models import Feed
from ..project import Project
from ..render import algo_spec, resource_name
from .api import CoordinatorClient, EdgeClient
from .processes import Supervised, free_port
from .state import LocalDeployment, LocalState, running_sessions
from .views import edges_line, status_table

QUIET_S = 0.3  # receivers count as caught up when their mesh counters hold still this long
QUIET_MAX_S = 5.0


@dataclass
class UpOptions:
    start: bool = False
    duration: float | None = None
    refresh_s: float = 1.0
    live: bool = True


def push_config(project: Project, name: str, state: str) -> dict[str, Any]:
    """The edge push body for one deploy block, minus the bundle: the operator's, with STATE."""
    body = push_body(algo_spec(project, name))
    body.pop("sha256")  # EdgeClient.push adds it next to the bytes
    return {**body, "state": state}


def add_counts(into: dict[str, int], counts: dict[str, Any] | None) -> None:
    for key, n in (counts or {}).items():
        if isinstance(n, int) and n:
            into[key] = into.get(key, 0) + n


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
        self.snapshot: dict[str, dict[str, Any]] = {}  # deploy name -> last status seen
        self.undeployed: set[str] = set()  # removed with `sequence undeploy` during the session
        self.edge_info: dict[str, dict[str, Any]] = {}  # venue -> last GET /v1/edge
        self.mesh: dict[str, Any] | None = None
        # drop counters of process incarnations that are gone (a restart starts from zero)
        self.past_edge_drops: dict[str, int] = {}
        self.past_coordinator_drops: dict[str, int] = {}
        self.started_at = time.time()
        self.state = LocalState(project.name, str(project.root), os.getpid(), log_dir=str(self.log_dir))

    # ------------------------------------------------------------------ lifecycle

    def venues(self) -> list[str]:
        """Venues that get an edge: those some deploy block uses."""
        return sorted({block.venue for block in self.project.config.deploy.values()})

    def venue_table(self) -> list[str]:
        """Every edge gives its algos this table, so NBBO venue indexes mean the same everywhere."""
        return sorted({*self.venues(), *self.project.config.venue})

    def check_bundles(self) -> None:
        for name, block in self.project.config.deploy.items():
            if name not in self.project.bundles and not block.bundle.startswith("https://"):
                raise RuntimeError(
                    f"deploy.{name}: sequence up runs local .wasm files and https:// bundles, "
                    f"not {block.bundle}"
                )

    def launch(self) -> None:
        self.check_bundles()
        if any(s.project == self.project.name for s in running_sessions()):
            raise RuntimeError(f"{self.project.name} is already running (see `sequence status`)")
        mesh_port, api_port = free_port(), free_port()
        self.coordinator_url = f"http://127.0.0.1:{api_port}"
        self.coordinator = Supervised(
            "coordinator",
            ["coordinator", "--port", str(api_port), "--mesh-port", str(mesh_port), "--bind", "127.0.0.1"],
            f"{self.coordinator_url}/healthz",
            self.log_dir / "coordinator.log",
            on_restart=lambda _: self._coordinator_restarted(),
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
                "--venues",
                ",".join(self.venue_table()),
                "--symbols",
                ",".join(symbols),
                *feed_args(feed, str(self.project.root / feed.replay.file) if feed.replay else None),
            ]
            venue_block = self.project.config.venue.get(venue)
            if venue_block is not None and venue_block.allow_native:
                args.append("--allow-native")
            url = f"http://127.0.0.1:{port}"
            sup = Supervised(
                f"edge/{venue}",
                args,
                f"{url}/healthz",
                self.log_dir / f"edge-{venue}.log",
                on_restart=lambda s, v=venue: self._edge_restarted(v),  # type: ignore[misc]
            )
            sup.start()
            self.edges[venue], self.edge_urls[venue] = sup, url
        for venue, sup in self.edges.items():
            if not sup.wait_healthy():
                raise RuntimeError(f"the {venue} edge did not start; see {sup.log_path}")
        for name, block in self.project.config.deploy.items():
            self.desired[name] = "Running" if self.options.start else block.state.capitalize()
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
        self.state.processes = self.pids()
        self.state.save()  # the CLI verbs find the session once its deployments exist

    def _coordinator_restarted(self) -> None:
        if self.mesh:
            add_counts(self.past_coordinator_drops, self.mesh.get("dropped"))
        self.mesh = None
        self._set_routes()

    def _edge_restarted(self, venue: str) -> None:
        info = self.edge_info.pop(venue, None)
        if info:
            add_counts(self.past_edge_drops, (info.get("mesh") or {}).get("dropped"))
        self._push_venue(venue)

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
                if block.venue != venue or name in self.undeployed:
                    continue
                config = push_config(self.project, name, self.desired[name])
                dep_id = resource_name(self.project.name, name)
                bundle = self.project.bundles.get(name)
                if bundle is not None:
                    client.push(dep_id, bundle.data, bundle.sha256, **config)
                else:  # an https:// bundle: the edge downloads it and checks the sha256
                    client.push_url(dep_id, block.bundle, str(block.sha256), **config)
        finally:
            client.close()

    def pids(self) -> dict[str, int]:
        return {sup.name: sup.proc.pid for sup in self.processes() if sup.proc is not None}

    def supervise(self) -> None:
        restarted = [sup.check() for sup in self.processes()]
        if any(restarted):  # record the new pids (the CLI verbs' session file may have changed)
            try:
                saved = LocalState.load(self.state.path)
            except (OSError, ValueError, TypeError):
                saved = self.state
            saved.processes = self.pids()
            saved.save()

    def _sync_undeploys(self) -> None:
        """`sequence undeploy NAME` removes NAME from the session file: stop tracking it."""
        try:
            names = set(LocalState.load(self.state.path).deployments)
        except (OSError, ValueError, TypeError):
            return
        for name in list(self.state.deployments):
            if name not in names:
                del self.state.deployments[name]
                self.undeployed.add(name)
                if name in self.snapshot:
                    self.snapshot[name]["state"] = "Undeployed"

    def collect(self) -> None:
        self._sync_undeploys()
        for venue, url in self.edge_urls.items():
            client = EdgeClient(url, timeout=2.0)
            try:
                self.edge_info[venue] = client.info()
            except Exception:
                pass  # down: keep the last one (its counters are folded in at the restart)
            finally:
                client.close()
        for name, dep in self.state.deployments.items():
            client = EdgeClient(self.edge_urls[dep.venue], timeout=2.0)
            try:
                status = client.status(dep.deployment_id)
                if status.get("state") in ("Running", "Stopped", "Paused"):
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

    def processes(self) -> list[Supervised]:
        return [sup for sup in [self.coordinator, *self.edges.values()] if sup is not None]

    def view(self) -> Group:
        elapsed = time.time() - self.started_at
        processes = [
            f"{sup.name} {'up' if sup.running else 'DOWN'} (restarts {sup.restarts})"
            for sup in self.processes()
        ]
        return Group(
            status_table(
                [self.snapshot[n] for n in self.state.deployments if n in self.snapshot],
                self.mesh,
                title=f"{self.project.name} — {elapsed:.0f}s",
            ),
            Text(edges_line(self.edge_info), style="dim"),
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
            live = (
                Live(self.view(), console=self.console, refresh_per_second=4) if self.options.live else None
            )
            with live or contextlib.nullcontext():
                while deadline is None or time.monotonic() < deadline:
                    self.supervise()
                    self.collect()
                    if live is not None:
                        live.update(self.view())
                    time.sleep(
                        self.options.refresh_s
                        if deadline is None
                        else max(0.0, min(self.options.refresh_s, deadline - time.monotonic()))
                    )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            summary = self.shutdown(interrupted)
        return summary

    # ------------------------------------------------------------------ shutdown

    def _remove(self, name: str) -> None:
        dep = self.state.deployments[name]
        client = EdgeClient(self.edge_urls[dep.venue], timeout=10.0)
        try:
            result = client.remove(dep.deployment_id)
            final = result.get("status") or self.snapshot.get(name, {})
            self.snapshot[name] = {**final, "name": name, "venue": dep.venue, "label": dep.label}
            self.snapshot[name]["cancelled_at_undeploy"] = int(result.get("cancelled", 0))
            del self.state.deployments[name]
        except Exception as exc:
            self.console.print(f"[red]undeploy of {name} failed: {exc}[/red]")
        finally:
            client.close()

    def _wait_mesh_quiet(self, names: list[str]) -> None:
        """Until the receivers' mesh counters hold still (the senders' last messages arrived)."""
        deadline = time.monotonic() + QUIET_MAX_S
        last: list[Any] | None = None
        while time.monotonic() < deadline:
            time.sleep(QUIET_S)
            counts: list[Any] = []
            for name in names:
                dep = self.state.deployments[name]
                client = EdgeClient(self.edge_urls[dep.venue], timeout=2.0)
                try:
                    mesh = client.status(dep.deployment_id).get("mesh") or {}
                    counts.append((mesh.get("received"), mesh.get("undelivered")))
                except Exception:
                    counts.append(None)
                finally:
                    client.close()
            if counts == last:
                return
            last = counts

    def shutdown(self, interrupted: bool = False) -> dict[str, Any]:
        with contextlib.suppress(Exception):
            self.supervise()
            self.collect()
        names = list(self.state.deployments)
        senders = [n for n in names if self.project.config.deploy[n].peers]
        others = [n for n in names if n not in senders]
        for name in senders:
            self._remove(name)
        if senders and others:
            self._wait_mesh_quiet(others)
        for name in others:
            self._remove(name)
        with contextlib.suppress(Exception):  # the drop counters after the last messages
            self.collect()
        for sup in [*self.edges.values(), self.coordinator]:
            if sup is not None:
                sup.stop()
        self.state.remove()
        return self.summary(interrupted)

    # ------------------------------------------------------------------ summary

    def mesh_drops(self) -> dict[str, dict[str, int]]:
        """Every mesh message lost, by where and why, over all process incarnations."""
        edges = dict(self.past_edge_drops)
        for info in self.edge_info.values():
            add_counts(edges, (info.get("mesh") or {}).get("dropped"))
        coordinator = dict(self.past_coordinator_drops)
        add_counts(coordinator, (self.mesh or {}).get("dropped"))
        return {"edges": edges, "coordinator": coordinator}

    def summary(self, interrupted: bool) -> dict[str, Any]:
        net: dict[str, float] = defaultdict(float)
        deployments = {}
        for name, s in self.snapshot.items():
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
                    "rejects_by_reason",
                    "last_error",
                    "cancelled_at_undeploy",
                )
            }
        drops = self.mesh_drops()
        return {
            "project": self.project.name,
            "duration_s": round(time.time() - self.started_at, 1),
            "interrupted": interrupted,
            "deployments": deployments,
            "net_position": {symbol: round(qty, 8) for symbol, qty in net.items()},
            "mesh": self.mesh,
            "mesh_drops": {
                **drops,
                "total": sum(drops["edges"].values()) + sum(drops["coordinator"].values()),
            },
            "edges": {
                venue: {
                    "book_updates": (info.get("feed") or {}).get("updates"),
                    "mesh": {k: v for k, v in (info.get("mesh") or {}).items() if k != "dropped"},
                }
                for venue, info in self.edge_info.items()
            },
            "processes": {
                sup.name: {"restarts": sup.restarts, "events": sup.events} for sup in self.processes()
            },
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
    drops = summary["mesh_drops"]
    detail = ", ".join(
        f"{where} {reason} {n}" for where in ("edges", "coordinator") for reason, n in drops[where].items()
    )
    console.print(f"mesh drops: {drops['total']}" + (f" ({detail})" if detail else ""))
    for name, proc in summary["processes"].items():
        style = "yellow" if proc["restarts"] else "dim"
        console.print(f"[{style}]{name}: {proc['restarts']} restart(s)[/{style}]")
    console.print(f"[dim]logs: {summary['logs']}[/dim]")
