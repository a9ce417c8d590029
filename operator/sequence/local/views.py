"""Rich tables shared by `sequence up`, `status`, `mesh` and `watch`."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

STATE_STYLE = {
    "Running": "bold green",
    "Stopped": "yellow",
    "Paused": "magenta",
    "Loaded": "cyan",
    "Failed": "bold red",
    "Unreachable": "red",
    "Removed": "dim",
    "Undeployed": "dim",
}
LEVEL_STYLE = {"DEBUG": "dim", "INFO": "green", "WARN": "yellow", "ERROR": "bold red"}


def _us(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1000:.1f}"


def _num(x: float | None, fmt: str = "{:.4f}") -> str:
    return "-" if x is None else fmt.format(x)


def position_text(position: dict[str, float] | None) -> str:
    if not position:
        return "0"
    return " ".join(f"{sym} {qty:+.4f}" for sym, qty in position.items())


def mesh_latency(mesh: dict[str, Any] | None, label: str) -> str:
    """The measured latency of a deployment's mesh links (send in one algo -> on_message in the
    other), p50/p99 in µs: messages it receives (`<-maker`), else messages it sends (`->hedger`)."""
    links = [lk for lk in (mesh or {}).get("links", []) if lk.get("p50_us") is not None]
    incoming = [lk for lk in links if lk.get("to") == label]
    outgoing = [lk for lk in links if lk.get("from") == label]
    if not incoming and not outgoing:
        return "-"
    link = max(incoming or outgoing, key=lambda lk: lk.get("p99_us") or 0)
    arrow = f"<-{link.get('from')}" if incoming else f"->{link.get('to')}"
    return f"{arrow} {link['p50_us']:.0f}/{link.get('p99_us') or 0:.0f}"


def edges_line(edge_info: dict[str, dict[str, Any]]) -> str:
    """One line per refresh: book updates and coordinator connection of every edge."""
    parts = []
    for venue, info in sorted(edge_info.items()):
        feed = info.get("feed") or {}
        mesh = info.get("mesh") or {}
        link = "mesh up" if mesh.get("connected") else "mesh DOWN"
        live = ""
        if feed.get("kind") == "live":  # the venue connection matters as much as the mesh's
            state = str(feed.get("state", "?"))
            live = f"live {state if state == 'connected' else state.upper()}"
            live += f" ({feed['resyncs']} resyncs), " if feed.get("resyncs") else ", "
        parts.append(f"{venue}: {feed.get('updates', 0):,} book updates, {live}{link}")
    return " | ".join(parts)


def status_table(rows: list[dict[str, Any]], mesh: dict[str, Any] | None = None, title: str = "") -> Table:
    table = Table(title=title or None, expand=False, header_style="bold")
    for column, justify in (
        ("Deployment", "left"),
        ("Venue", "left"),
        ("Runtime", "left"),
        ("State", "left"),
        ("Orders", "right"),
        ("Fills", "right"),
        ("Rej", "right"),
        ("Position", "right"),
        ("PnL", "right"),
        ("Callback µs p50/p99", "right"),
        ("Mesh sent/recv", "right"),
        ("Mesh µs p50/p99", "right"),
        ("Last error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        state = row.get("state", "?")
        latency = row.get("latency_ns") or {}
        m = row.get("mesh") or {}
        pnl = (row.get("realized_pnl") or 0.0) + (row.get("unrealized_pnl") or 0.0)
        error = row.get("last_error") or {}
        table.add_row(
            row.get("name", row.get("deployment_id", "?")),
            row.get("venue", ""),
            row.get("runtime", "wasm"),
            Text(state, style=STATE_STYLE.get(state, "")),
            str(row.get("orders", 0)),
            str(row.get("fills", 0)),
            str(row.get("rejects", 0)),
            position_text(row.get("position")),
            _num(pnl, "{:+.2f}"),
            f"{_us(latency.get('p50'))}/{_us(latency.get('p99'))}",
            f"{m.get('sent', 0)}/{m.get('received', 0)}",
            mesh_latency(mesh, row.get("label", "")),
            Text(str(error.get("message", ""))[:60], style="red") if error else "",
        )
    return table


def mesh_table(mesh: dict[str, Any]) -> Table:
    table = Table(title=f"mesh group {mesh.get('mesh_group', '?')}", header_style="bold")
    for column in ("Label", "Venue", "Edge", "Deployment", "Mesh id"):
        table.add_column(column)
    for inst in mesh.get("instances", []):
        table.add_row(
            inst.get("label", ""),
            inst.get("venue", ""),
            inst.get("edge_id", ""),
            str(inst.get("deployment", "")),
            str(inst.get("mesh_id", "")),
        )
    return table


def links_table(mesh: dict[str, Any]) -> Table:
    table = Table(title="links (send in one algorithm -> on_message in the other)", header_style="bold")
    for column, justify in (
        ("From", "left"),
        ("To", "left"),
        ("Messages", "right"),
        ("Drops", "right"),
        ("p50 µs", "right"),
        ("p99 µs", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for link in mesh.get("links", []):
        table.add_row(
            link.get("from", ""),
            link.get("to", ""),
            str(link.get("messages", 0)),
            str(link.get("drops", 0)),
            _num(link.get("p50_us"), "{:.1f}"),
            _num(link.get("p99_us"), "{:.1f}"),
        )
    return table


def session_view(
    title: str,
    rows: list[dict[str, Any]],
    mesh: dict[str, Any] | None,
    edge_info: dict[str, dict[str, Any]],
    processes: list[str],
) -> Group:
    """`sequence up`'s live view: the deployments, the edges, the processes."""
    return Group(
        status_table(rows, mesh, title=title),
        Text(edges_line(edge_info), style="dim"),
        Text(" | ".join(processes), style="dim"),
        Text("Ctrl-C to undeploy and stop", style="dim"),
    )
