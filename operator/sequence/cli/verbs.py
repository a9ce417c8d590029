"""`sequence up` and the lifecycle verbs of seed 001: status, start, stop,
undeploy, logs, mesh, watch, trace.

Verbs find their target from the project (--project, default `.`): a running
`sequence up` session of that project (or the only one running), else the
current kubeconfig context (`--target local|cluster` forces one).
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from ..cluster import ClusterTarget
from ..local.state import running_sessions
from ..local.target import LocalTarget, TargetError
from ..local.views import LEVEL_STYLE, links_table, mesh_table, status_table
from ..project import ConfigError, load_project, resolve_path
from .main import Context, cli, load_or_exit

console = Console(width=None if sys.stdout.isatty() else 160)  # piped: the whole table, not 80 columns
project_option = click.option(
    "--project",
    "-p",
    "project_path",
    default=".",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Sequence.toml (or its directory) naming the project",
)


def _project(path: Path) -> tuple[str | None, str | None]:
    """(name, namespace) of the project at PATH, or (None, None) when there is none."""
    file = resolve_path(path)
    if not file.is_file():
        return None, None
    try:
        project = load_project(file, check_files=False)
    except ConfigError:
        return None, None
    return project.name, project.config.project.namespace


def resolve_target(project_path: Path) -> LocalTarget | ClusterTarget:
    """A running `sequence up` of the project (or the only one running), else the cluster."""
    options = click.get_current_context().find_object(Context)
    mode = options.target if options else "auto"
    name, namespace = _project(project_path)
    local_error = ""
    if mode != "cluster":
        sessions = running_sessions()
        mine = [s for s in sessions if s.project == name] if name else sessions
        if len(mine) == 1:
            return LocalTarget(mine[0])
        if name:
            local_error = f"project {name!r} is not running locally (start it with `sequence up`)"
        elif not sessions:
            local_error = "no running project (start one with `sequence up [PATH]`)"
        else:
            names = ", ".join(s.project for s in sessions)
            raise click.ClickException(f"several projects are running ({names}): pick one with --project")
        if mode == "local":
            raise click.ClickException(local_error)
    try:
        if options is None:
            return ClusterTarget(name, namespace)
        return ClusterTarget(name, options.namespace or namespace, options.kube_context)
    except TargetError as exc:
        raise click.ClickException("; ".join(m for m in (local_error, f"cluster: {exc}") if m)) from None


def _run(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option(
    "--start", is_flag=True, help="Start every deployment once loaded (they start stopped otherwise)."
)
@click.option(
    "--duration", type=click.FloatRange(min=1), help="Run this many seconds, then undeploy and exit."
)
@click.option(
    "--json", "json_path", metavar="FILE", help="Write the summary as JSON to FILE ('-' for stdout)."
)
def up(path: Path, start: bool, duration: float | None, json_path: str | None) -> None:
    """Run PATH's Sequence.toml on this machine: a coordinator and one edge per venue."""
    from ..local.up import LocalRun, UpOptions, write_summary

    project = load_or_exit(path)
    err_console = Console(stderr=True)
    if not err_console.is_terminal:  # a log file or a pipe: wide enough for the whole table
        err_console = Console(stderr=True, width=160)
    run = LocalRun(
        project, UpOptions(start=start, duration=duration, live=err_console.is_terminal), err_console
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` undeploys cleanly too, like Ctrl-C
    try:
        summary = run.run()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    write_summary(summary, err_console, json_path)


@cli.command()
@click.argument("name", required=False)
@project_option
def status(name: str | None, project_path: Path) -> None:
    """Show each deployment's state, heartbeat, orders, fills, position and errors."""
    target = resolve_target(project_path)
    rows = _run(target.status, name)
    console.print(status_table(rows, _safe_mesh(target), title=f"{target.project} ({target.kind})"))
    for row in rows:
        if row.get("last_heartbeat"):
            console.print(f"  {row['name']}: last heartbeat {row['last_heartbeat']}", style="dim")


def _safe_mesh(target: LocalTarget | ClusterTarget) -> dict[str, Any] | None:
    try:
        return target.mesh()
    except Exception:
        return None


def _lifecycle(verb: str, name: str | None, project_path: Path) -> None:
    target = resolve_target(project_path)
    rows = _run(getattr(target, verb), name)
    failed = False
    for row in rows:
        error = row.get("last_error") if row.get("state") in ("Error", "Unreachable") else None
        failed |= bool(error)
        detail = f": {error['message']}" if error else ""
        extra = f" ({row['cancelled']} resting orders cancelled)" if "cancelled" in row else ""
        console.print(f"{row['name']:<16} {row.get('state', 'removed')}{extra}{detail}")
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("name", required=False)
@project_option
def start(name: str | None, project_path: Path) -> None:
    """Start a stopped deployment (all of the project's when NAME is omitted)."""
    _lifecycle("start", name, project_path)


@cli.command()
@click.argument("name", required=False)
@project_option
def stop(name: str | None, project_path: Path) -> None:
    """Stop a deployment: no more books; state and resting orders are kept (seed 000)."""
    _lifecycle("stop", name, project_path)


@cli.command()
@click.argument("name", required=False)
@project_option
def pause(name: str | None, project_path: Path) -> None:
    """Pause a running deployment: on_pause, then no books until resume; unlike stop, the
    instance and its market-data subscriptions stay warm, so resume is immediate."""
    _lifecycle("pause", name, project_path)


@cli.command()
@click.argument("name", required=False)
@project_option
def resume(name: str | None, project_path: Path) -> None:
    """Resume a paused deployment (on_resume, then books again)."""
    _lifecycle("resume", name, project_path)


@cli.command()
@click.argument("name", required=False)
@project_option
def undeploy(name: str | None, project_path: Path) -> None:
    """Remove a deployment: on_shutdown, then cancel whatever it left resting."""
    _lifecycle("undeploy", name, project_path)


def _format_log(name: str, entry: dict[str, Any]) -> Text:
    ts = dt.datetime.fromtimestamp(entry.get("ts_ns", 0) / 1e9, tz=dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    level = str(entry.get("level", "INFO")).upper()
    line = Text(f"{ts} ")
    line.append(f"{level:<5}", style=LEVEL_STYLE.get(level, ""))
    line.append(f" {name}: {entry.get('message', '')}")
    return line


@cli.command()
@click.argument("name", required=False)
@click.option("-f", "--follow", is_flag=True, help="Follow logs in real time.")
@click.option("--tail", default=100, show_default=True, help="Lines of history to show.")
@project_option
def logs(name: str | None, follow: bool, tail: int, project_path: Path) -> None:
    """Stream algorithm log output (levels coloured: INFO, WARN, ERROR, DEBUG)."""
    target = resolve_target(project_path)
    try:
        for dep_name, entry in target.logs(name, tail, follow):
            console.print(_format_log(dep_name, entry))
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@cli.command()
@click.argument("name", required=False)
@project_option
def mesh(name: str | None, project_path: Path) -> None:
    """Print the mesh topology and the measured latency of each (from, to) pair."""
    target = resolve_target(project_path)
    topology = _run(target.mesh)
    if name:
        labels = _run(target.labels, name)
        topology = {
            **topology,
            "links": [
                lk for lk in topology.get("links", []) if lk.get("from") in labels or lk.get("to") in labels
            ],
        }
    console.print(mesh_table(topology))
    console.print(links_table(topology))


@cli.command()
@click.argument("name", required=False)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes.")
@project_option
def watch(name: str | None, interval: float, project_path: Path) -> None:
    """Live view of orders, fills, per-edge latency and mesh message flow (Ctrl-C to quit)."""
    target = resolve_target(project_path)

    def frame() -> Group:
        rows = _run(target.status, name)
        topology = _safe_mesh(target)
        parts: list[Any] = [status_table(rows, topology, title=f"{target.project} — watch")]
        if topology:
            parts.append(links_table(topology))
        parts.append(Text(time.strftime("%H:%M:%S") + "  Ctrl-C to quit", style="dim"))
        return Group(*parts)

    try:
        with Live(frame(), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(interval)
                live.update(frame())
    except KeyboardInterrupt:
        pass


@cli.command()
@click.argument("order_ref")
@project_option
def trace(order_ref: str, project_path: Path) -> None:
    """Per-order lifecycle with nanosecond timestamps (submit -> risk -> ack -> fills)."""
    target = resolve_target(project_path)
    result = _run(target.trace, order_ref)
    events = result.get("events", [])
    console.print(
        f"order {result.get('order_ref', order_ref)}  deployment {result.get('deployment_id', '?')}"
    )
    first = events[0]["ts_ns"] if events else 0
    for event in events:
        details = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "ts_ns"))
        console.print(f"  +{event['ts_ns'] - first:>12,} ns  {event['event']:<14} {details}")
