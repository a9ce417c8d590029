"""`sequence up`: the whole Sequence.toml on one machine, no cluster.

One coordinator and one edge per venue run as local processes on loopback (launch.py);
the bundles are pushed over the edges' control API; a live table shows every deployment
(views.py); Ctrl-C (or --duration) undeploys cleanly and prints a summary (summary.py).
Children that die are restarted with backoff (supervision.py) and their deployments pushed
again in their last state (a restarted edge starts from a fresh paper account).

Undeploy order at the end: first the deployments that send mesh messages
(`peers` in Sequence.toml), then, once their last messages have arrived, the
others; so a hedger still sees the maker's final fills. Each removal returns the
deployment's final status, which is what the summary reports.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live

from sequence_wire.auth import TOKEN_ENV

from ..client import ApiError, CoordinatorClient, EdgeClient
from ..project import Project
from . import launch
from .graph_views import graph_lines
from .graphs import SessionGraphs
from .session_api import SessionApi
from .state import LocalState, running_sessions
from .summary import Observed, build_summary
from .supervision import Supervised, free_port, pids, supervise
from .views import session_view

QUIET_S = 0.3  # receivers count as caught up when their mesh counters hold still this long
QUIET_MAX_S = 5.0


@dataclass
class UpOptions:
    start: bool = False
    duration: float | None = None
    refresh_s: float = 1.0
    live: bool = True


class LocalRun:
    """One `sequence up` session: launch, then supervise and poll until the end, then undeploy."""

    def __init__(self, project: Project, options: UpOptions, console: Console | None = None) -> None:
        self.project = project
        self.options = options
        self.console = console or Console(stderr=True)
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"sequence-{project.name}-"))
        self.coordinator: Supervised | None = None
        self.api: SessionApi | None = None  # GET /v1/algos (session_api.py)
        self.edges: dict[str, Supervised] = {}
        self.edge_urls: dict[str, str] = {}
        self.coordinator_url = ""
        self.desired: dict[str, str] = {}  # deploy name -> "Running"/"Stopped" as last seen
        self.undeployed: set[str] = set()  # removed with `sequence undeploy` during the session
        self.seen = Observed()
        self.graphs = SessionGraphs(project)  # the file's [graph.*] blocks, submitted with --start
        self.started_at = time.time()
        self.state = LocalState(
            project.name, str(project.root.resolve()), os.getpid(), log_dir=str(self.log_dir)
        )

    # ------------------------------------------------------------------ launch

    def launch(self) -> None:
        launch.check_bundles(self.project)
        if any(s.project == self.project.name for s in running_sessions()):
            raise RuntimeError(f"{self.project.name} is already running (see `sequence status`)")
        self.progress(
            f"starting {self.project.name}: a coordinator and {len(launch.venues(self.project))} edge(s)"
        )
        mesh_port, api_port = free_port(), free_port()
        # One token for the session: the children inherit it as SEQUENCE_TOKEN, this process's
        # clients send it, the CLI verbs read it from the session's 0600 file (docs/security.md).
        os.environ[TOKEN_ENV] = self.state.create_token()
        self.coordinator_url = f"http://127.0.0.1:{api_port}"
        self.coordinator = launch.coordinator_process(
            api_port, mesh_port, self.log_dir, on_restart=lambda _: self._coordinator_restarted()
        )
        self.coordinator.start()
        if not self.coordinator.wait_healthy():
            raise RuntimeError(f"the coordinator did not start; see {self.coordinator.log_path}")
        self.progress(f"coordinator healthy on {self.coordinator_url} (mesh port {mesh_port})")
        launch.set_routes(self.project, self.coordinator_url)
        for venue in launch.venues(self.project):
            port = free_port()
            sup = launch.edge_process(
                self.project,
                venue,
                port,
                mesh_port,
                self.log_dir,
                on_restart=lambda _, v=venue: self._edge_restarted(v),  # type: ignore[misc]
            )
            sup.start()
            self.edges[venue], self.edge_urls[venue] = sup, f"http://127.0.0.1:{port}"
            self.progress(f"edge {venue} starting on {self.edge_urls[venue]}")
        for venue, sup in self.edges.items():
            if not sup.wait_healthy():
                raise RuntimeError(f"the {venue} edge did not start; see {sup.log_path}")
            self.progress(f"edge {venue} healthy")
        for name, block in self.project.config.deploy.items():
            self.desired[name] = "Running" if self.options.start else block.state.capitalize()
        self.state.deployments = launch.local_deployments(self.project)
        for venue in self.edges:
            self._push_venue(venue, announce=True)
        self.state.coordinator_url = self.coordinator_url
        self.state.edges = dict(self.edge_urls)
        self.api = SessionApi(self.state.path, self.state.token())
        self.state.api_url = self.api.url
        self.state.processes = pids(self.processes())
        count = f"{len(self.state.deployments)} deployment(s) on {len(self.edges)} edge(s)"
        self.progress(f"{self.project.name} is up: {count}")  # before the file: `--detach` relays it
        self.state.save()  # the CLI verbs find the session once its deployments exist
        self._submit_graphs()

    def _submit_graphs(self) -> None:
        if not self.project.config.graph:
            return
        if not self.options.start:
            self.console.print(
                "[yellow]graphs are not submitted without --start: "
                "`sequence graph submit NAME` submits one[/yellow]"
            )
            return
        self.graphs.submit_all(self.coordinator_url, list(self.edges))
        for name, why in self.graphs.errors.items():
            self.console.print(f"[red]graph {name} not submitted: {why}[/red]")

    def progress(self, message: str) -> None:
        """One line on stderr while launching (plain text when it is not a terminal)."""
        self.console.print(f"[dim]up:[/dim] {message}", highlight=False)

    def _push_venue(self, venue: str, announce: bool = False) -> None:
        def pushed(name: str, state: str) -> None:
            self.progress(f"pushed {name} to the {venue} edge ({state})")

        on_pushed = pushed if announce else None
        launch.push_venue(
            self.project, venue, self.edge_urls[venue], self.desired, self.undeployed, on_pushed
        )

    def _coordinator_restarted(self) -> None:
        self.seen.coordinator_restarted()
        launch.set_routes(self.project, self.coordinator_url)

    def _edge_restarted(self, venue: str) -> None:
        self.seen.edge_restarted(venue)
        self._push_venue(venue)

    def processes(self) -> list[Supervised]:
        return [sup for sup in [self.coordinator, *self.edges.values()] if sup is not None]

    # ------------------------------------------------------------------ poll

    def _sync_deployments(self) -> None:
        """Follow the session file, which the CLI and the SDK also write: `sequence undeploy NAME`
        removes NAME (stop tracking it), `sequence deploy` and `deploy_algo` add deployments (track
        them, so the session's own saves keep them)."""
        try:
            listed = LocalState.load(self.state.path).deployments
        except (OSError, ValueError, TypeError):
            return
        for name in list(self.state.deployments):
            if name not in listed:
                del self.state.deployments[name]
                self.undeployed.add(name)
                if name in self.seen.snapshot:
                    self.seen.snapshot[name]["state"] = "Undeployed"
        for name, dep in listed.items():
            if name not in self.state.deployments and dep.venue in self.edge_urls:
                self.state.deployments[name] = dep
                self.undeployed.discard(name)

    def collect(self) -> None:
        """Ask every edge and the coordinator what they see now."""
        self._sync_deployments()
        for venue, url in self.edge_urls.items():
            # down: keep the last one (its counters are folded in at the restart)
            with EdgeClient(url, timeout=2.0) as client, contextlib.suppress(ApiError):
                self.seen.edge_info[venue] = client.info().as_dict()
        for name, dep in self.state.deployments.items():
            with EdgeClient(self.edge_urls[dep.venue], timeout=2.0) as client:
                try:
                    status = client.status(dep.deployment_id).as_dict()
                    if status.get("state") in ("Running", "Stopped", "Paused"):
                        self.desired[name] = status["state"]
                except ApiError as exc:  # refused, unreachable, or an answer that is not a status
                    previous = self.seen.snapshot.get(name, {})
                    status = {**previous, "state": "Unreachable", "last_error": {"message": str(exc)}}
            self.seen.snapshot[name] = {**status, "name": name, "venue": dep.venue, "label": dep.label}
        if self.desired != self.state.desired:  # in the session file: what a restart brings back
            self.state.desired = dict(self.desired)
            desired = dict(self.desired)
            LocalState.update(self.state.path, lambda fresh: setattr(fresh, "desired", desired))
        # keep the last topology while the coordinator restarts
        with CoordinatorClient(self.coordinator_url, timeout=2.0) as cc, contextlib.suppress(ApiError):
            self.seen.mesh = cc.topology(self.project.name).as_dict()
        self.graphs.collect(self.coordinator_url)

    def view(self) -> Group:
        elapsed = time.time() - self.started_at
        snapshot = self.seen.snapshot
        view = session_view(
            f"{self.project.name} — {elapsed:.0f}s",
            [snapshot[n] for n in self.state.deployments if n in snapshot],
            self.seen.mesh,
            self.seen.edge_info,
            [
                f"{sup.name} {'up' if sup.running else 'DOWN'} (restarts {sup.restarts}"
                + "".join(f", {reason} {n}" for reason, n in sup.restart_reasons.items())
                + ")"
                for sup in self.processes()
            ],
        )
        return Group(view, *graph_lines(self.graphs.last)) if self.graphs.last else view

    def run(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.duration if self.options.duration else None
        interrupted = False
        try:
            self.launch()
            if not self.options.start and not any(d == "Running" for d in self.desired.values()):
                self.console.print(
                    "[yellow]deployments are loaded but stopped (so feeds warm up before the first book update); "
                    "start them with "
                    "`sequence start [name]` or run `sequence up --start`[/yellow]"
                )
            live = (
                Live(self.view(), console=self.console, refresh_per_second=4) if self.options.live else None
            )
            with live or contextlib.nullcontext():
                while deadline is None or time.monotonic() < deadline:
                    supervise(self.processes(), self.state)
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
        with EdgeClient(self.edge_urls[dep.venue], timeout=10.0) as client:
            try:
                result = client.remove(dep.deployment_id)
            except ApiError as exc:
                self.console.print(f"[red]undeploy of {name} failed: {exc}[/red]")
                return
        entry = {**result.status.as_dict(), "name": name, "venue": dep.venue, "label": dep.label}
        entry["cancelled_at_undeploy"] = result.cancelled
        self.seen.snapshot[name] = entry
        del self.state.deployments[name]
        # and from the session file, which the next poll follows (it adopts what it lists)
        LocalState.update(self.state.path, functools.partial(_forget, name))

    def _wait_mesh_quiet(self, names: list[str]) -> None:
        """Until the receivers' mesh counters hold still (the senders' last messages arrived)."""
        deadline = time.monotonic() + QUIET_MAX_S
        last: list[Any] | None = None
        while time.monotonic() < deadline:
            time.sleep(QUIET_S)
            counts: list[Any] = []
            for name in names:
                dep = self.state.deployments[name]
                with EdgeClient(self.edge_urls[dep.venue], timeout=2.0) as client:
                    try:
                        mesh = client.status(dep.deployment_id).mesh
                        counts.append((mesh.received, mesh.undelivered))
                    except ApiError:
                        counts.append(None)
            if counts == last:
                return
            last = counts

    def shutdown(self, interrupted: bool = False) -> dict[str, Any]:
        with contextlib.suppress(Exception):
            supervise(self.processes(), self.state)
            self.collect()
        with contextlib.suppress(Exception):  # the status above is what the summary reports
            self.graphs.cancel_running(self.coordinator_url)
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
        if self.api is not None:
            self.api.close()
        for sup in [*self.edges.values(), self.coordinator]:
            if sup is not None:
                sup.stop()
        self.state.remove()
        summary = build_summary(
            self.project.name, self.started_at, interrupted, self.seen, self.processes(), self.log_dir
        )
        summary["graphs"] = self.graphs.summary()
        summary["graphs_cancelled_at_shutdown"] = self.graphs.cancelled_at_shutdown
        return summary


def _forget(name: str, fresh: LocalState) -> None:
    fresh.deployments.pop(name, None)
