"""The lifecycle verbs on a running project, local or in the cluster: status, start, stop,
undeploy, logs, mesh, watch, orders, trace (targets.py finds which)."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from ..client import ApiError
from ..local.target import LocalTarget, TargetError
from ..local.views import LEVEL_STYLE, links_table, mesh_counters, mesh_table, orders_table, status_table
from .common import emit, output_option, reader_gone
from .sandbox import paper_only
from .targets import call, mesh_or_none, project_option, resolve_target
from .watch_lines import watch_lines

console = Console(width=None if sys.stdout.isatty() else 160)  # piped: the whole table, not 80 columns
# -o wide: every column at its full width, as long as the lines get (the terminal wraps them)
wide_console = Console(width=1000, force_terminal=sys.stdout.isatty())


@click.command()
@click.argument("name", required=False)
@output_option
@project_option
def status(name: str | None, output: str, project_path: Path) -> None:
    """Show each deployment's state, heartbeat, orders, fills, position and errors."""
    target = resolve_target(project_path)
    rows = call(target.status, name)
    if emit(rows, output):
        return
    title = f"{target.project} ({target.kind})"
    table = status_table(rows, mesh_or_none(target), title=title, wide=output == "wide")
    (wide_console if output == "wide" else console).print(table)
    for row in rows:
        if row.get("last_heartbeat"):
            console.print(f"  {row['name']}: last heartbeat {row['last_heartbeat']}", style="dim")
        restored = row.get("restored")
        if restored:
            console.print(
                f"  {row['name']}: restored from the edge's journal after a restart ({restored.get('fills')} fills, "
                f"next order id {restored.get('next_id')}, {restored.get('open_orders')} resting orders)",
                style="dim",
            )
    restarts = target.process_restarts() if isinstance(target, LocalTarget) else {}
    for process, reasons in restarts.items():
        why = ", ".join(f"{reason} {n}" for reason, n in reasons.items())
        console.print(f"  {process}: restarted {sum(reasons.values())} time(s) ({why})", style="yellow")


def _lifecycle(verb: str, name: str | None, project_path: Path) -> None:
    target = resolve_target(project_path)
    rows = call(getattr(target, verb), name)
    failed = False
    for row in rows:
        error = row.get("last_error") if row.get("state") in ("Error", "Unreachable") else None
        failed |= bool(error)
        detail = f": {error['message']}" if error else ""
        extra = f" ({row['cancelled']} resting orders cancelled)" if "cancelled" in row else ""
        console.print(f"{row['name']:<16} {row.get('state', 'removed')}{extra}{detail}")
    if failed:
        sys.exit(1)


@click.command()
@click.argument("name", required=False)
@project_option
@paper_only
def start(name: str | None, project_path: Path) -> None:
    """Start a stopped deployment (all of the project's when NAME is omitted)."""
    _lifecycle("start", name, project_path)


@click.command()
@click.argument("name", required=False)
@project_option
def stop(name: str | None, project_path: Path) -> None:
    """Stop a deployment: it gets no more books and places no new orders; its state and resting orders are kept."""
    _lifecycle("stop", name, project_path)


@click.command()
@click.argument("name", required=False)
@project_option
def pause(name: str | None, project_path: Path) -> None:
    """Pause a running deployment: on_pause, then no books until resume; unlike stop, the
    instance and its market-data subscriptions stay warm, so resume is immediate."""
    _lifecycle("pause", name, project_path)


@click.command()
@click.argument("name", required=False)
@project_option
@paper_only
def resume(name: str | None, project_path: Path) -> None:
    """Resume a paused deployment (on_resume, then books again)."""
    _lifecycle("resume", name, project_path)


@click.command()
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


@click.command()
@click.argument("name", required=False)
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Follow logs in real time (every deployment's, interleaved, without NAME).",
)
@click.option("--tail", default=100, show_default=True, help="Lines of history to show.")
@project_option
def logs(name: str | None, follow: bool, tail: int, project_path: Path) -> None:
    """Stream algorithm log output (levels coloured: INFO, WARN, ERROR, DEBUG), each line naming
    its deployment. Without NAME: every deployment of the project."""
    target = resolve_target(project_path)
    try:
        for dep_name, entry in target.logs(name, tail, follow):
            console.print(_format_log(dep_name, entry))
    except (TargetError, ApiError) as exc:
        raise click.ClickException(str(exc)) from None
    except BrokenPipeError:
        reader_gone()
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("name", required=False)
@output_option
@project_option
def mesh(name: str | None, output: str, project_path: Path) -> None:
    """Print the mesh topology and the measured latency of each (from, to) pair."""
    target = resolve_target(project_path)
    topology = call(target.mesh)
    if name:
        labels = call(target.labels, name)
        topology = {
            **topology,
            "links": [
                lk for lk in topology.get("links", []) if lk.get("from") in labels or lk.get("to") in labels
            ],
        }
    if emit(topology, output):
        return
    console.print(mesh_table(topology))
    (wide_console if output == "wide" else console).print(links_table(topology, wide=output == "wide"))
    if output == "wide":
        console.print(mesh_counters(topology))


@click.command()
@click.argument("name", required=False)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes.")
@click.option(
    "--count", type=click.IntRange(min=1), help="Stop after this many refreshes (default: until Ctrl-C)."
)
@project_option
def watch(name: str | None, interval: float, count: int | None, project_path: Path) -> None:
    """Live view of orders, fills, per-edge latency and mesh message flow (Ctrl-C to quit).

    When stdout is not a terminal (a pipe, a file), one logfmt line per deployment per refresh
    instead: `ts=... name=mm state=Running orders=12 fills=3 ...`."""
    target = resolve_target(project_path)
    try:
        if not console.is_terminal:
            for line in watch_lines(
                lambda: call(target.status, name), lambda: mesh_or_none(target), interval, count
            ):
                try:
                    click.echo(line)
                    sys.stdout.flush()
                except BrokenPipeError:
                    reader_gone()
                    return
            return

        def frame() -> Group:
            rows = call(target.status, name)
            topology = mesh_or_none(target)
            parts: list[Any] = [status_table(rows, topology, title=f"{target.project} — watch")]
            if topology:
                parts.append(links_table(topology))
            parts.append(Text(time.strftime("%H:%M:%S") + "  Ctrl-C to quit", style="dim"))
            return Group(*parts)

        with Live(frame(), console=console, refresh_per_second=4) as live:
            refreshes = 1
            while count is None or refreshes < count:
                time.sleep(interval)
                live.update(frame())
                refreshes += 1
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("name", required=False)
@click.option("--open", "open_only", is_flag=True, help="Only resting orders (with the queue ahead of each).")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="The most recent orders per deployment to show (0: all the edge keeps).",
)
@output_option
@project_option
def orders(name: str | None, open_only: bool, limit: int, output: str, project_path: Path) -> None:
    """List a deployment's orders with their refs (what `sequence trace REF` takes): the orders
    whose traces the edge still keeps, or with --open the resting ones. Without NAME: every
    deployment of the project."""
    target = resolve_target(project_path)
    rows = call(target.orders, name, open_only)
    if limit:
        kept: dict[str, int] = {}
        for row in reversed(rows):  # the newest LIMIT of each deployment, still oldest first
            kept[row["name"]] = kept.get(row["name"], 0) + 1
            row["_keep"] = kept[row["name"]] <= limit
        rows = [{k: v for k, v in row.items() if k != "_keep"} for row in rows if row["_keep"]]
    if emit(rows, output):
        return
    title = f"{target.project}: {'resting' if open_only else 'recent'} orders"
    (wide_console if output == "wide" else console).print(
        orders_table(rows, title=title, wide=output == "wide")
    )
    if not rows:
        console.print("no orders" + (" resting" if open_only else " yet"), style="dim")


@click.command()
@click.argument("order_ref")
@output_option
@project_option
def trace(order_ref: str, output: str, project_path: Path) -> None:
    """Per-order lifecycle with nanosecond timestamps (submit -> risk -> ack -> fills).
    `sequence orders` lists the refs."""
    target = resolve_target(project_path)
    result = call(target.trace, order_ref)
    if emit(result, output):
        return
    events = result.get("events", [])
    console.print(
        f"order {result.get('order_ref', order_ref)}  deployment {result.get('deployment_id', '?')}"
    )
    wide = output == "wide"
    if wide:
        fields = ("symbol", "side", "type", "px", "qty", "filled", "state", "order_id")
        console.print("  " + " ".join(f"{k}={result[k]}" for k in fields if result.get(k) is not None))
        if result.get("dropped_events"):
            console.print(
                f"  {result['dropped_events']} older events dropped from the trace ring", style="yellow"
            )
    first = events[0]["ts_ns"] if events else 0
    for event in events:
        details = " ".join(
            f"{k}={v}" for k, v in event.items() if k not in ("event", "ts_ns") and (v is not None or wide)
        )
        absolute = f"{event['ts_ns']:>20} " if wide else ""
        console.print(f"  {absolute}+{event['ts_ns'] - first:>12,} ns  {event['event']:<14} {details}")
