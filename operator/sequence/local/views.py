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


def status_table(
    rows: list[dict[str, Any]], mesh: dict[str, Any] | None = None, title: str = "", wide: bool = False
) -> Table:
    """One row per deployment; WIDE adds the id, edge, label, open orders, cancels, fees,
    unrealized PnL, callbacks, traps and the last heartbeat."""
    table = Table(title=title or None, expand=False, header_style="bold")
    columns = [
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
    ]
    if wide:
        columns += [
            ("Id", "left"),
            ("Edge", "left"),
            ("Label", "left"),
            ("Open", "right"),
            ("Cancels", "right"),
            ("Fees", "right"),
            ("Unrealized", "right"),
            ("Callbacks", "right"),
            ("Traps", "right"),
            ("Heartbeat", "left"),
        ]
    for column, justify in [*columns, ("Last error", "left")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        state = row.get("state", "?")
        latency = row.get("latency_ns") or {}
        m = row.get("mesh") or {}
        pnl = (row.get("realized_pnl") or 0.0) + (row.get("unrealized_pnl") or 0.0)
        error = row.get("last_error") or {}
        cells: list[Any] = [
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
        ]
        if wide:
            cells += [
                str(row.get("deployment_id") or "-"),
                str(row.get("edge_id") or row.get("edges") or "-"),
                str(row.get("label") or "-"),
                str(row.get("open_orders", "-")),
                str(row.get("cancels", "-")),
                _num(row.get("fees")),
                _num(row.get("unrealized_pnl"), "{:+.2f}"),
                str(row.get("callbacks", "-")),
                str(row.get("traps", "-")),
                str(row.get("last_heartbeat") or "-"),
            ]
        limit = None if wide else 60
        cells.append(Text(str(error.get("message", ""))[:limit], style="red") if error else "")
        table.add_row(*cells)
    return table


def orders_table(rows: list[dict[str, Any]], title: str = "", wide: bool = False) -> Table:
    """`sequence orders`: the ref first (what `sequence trace` takes); WIDE adds the order id,
    the deployment id and the queue ahead of a resting order."""
    table = Table(title=title or None, header_style="bold")
    columns = [("Ref", "left"), ("Deployment", "left"), ("Symbol", "left"), ("Side", "left")]
    columns += [("Type", "left"), ("Px", "right"), ("Qty", "right"), ("Filled", "right"), ("State", "left")]
    if wide:
        columns += [("Order id", "right"), ("Deployment id", "left"), ("Queue ahead", "right")]
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        cells = [
            row.get("order_ref", ""),
            row.get("name", ""),
            row.get("symbol", ""),
            row.get("side", ""),
            row.get("type", ""),
            f"{row.get('px', 0):g}",
            f"{row.get('qty', 0):g}",
            f"{row.get('filled', 0):g}",
            row.get("state", ""),
        ]
        if wide:
            queue = row.get("queue_ahead")
            cells += [
                str(row.get("order_id", "")),
                row.get("deployment_id", ""),
                "-" if queue is None else f"{queue:g}",
            ]
        table.add_row(*cells)
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


def links_table(mesh: dict[str, Any], wide: bool = False) -> Table:
    """Per (from, to) pair; WIDE adds the share of messages dropped."""
    table = Table(title="links (send in one algorithm -> on_message in the other)", header_style="bold")
    columns = [("From", "left"), ("To", "left"), ("Messages", "right"), ("Drops", "right")]
    columns += [("p50 µs", "right"), ("p99 µs", "right")] + ([("Dropped %", "right")] if wide else [])
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for link in mesh.get("links", []):
        messages, drops = link.get("messages", 0), link.get("drops", 0)
        cells = [
            link.get("from", ""),
            link.get("to", ""),
            str(messages),
            str(drops),
            _num(link.get("p50_us"), "{:.1f}"),
            _num(link.get("p99_us"), "{:.1f}"),
        ]
        if wide:
            cells.append(_num(100.0 * drops / (messages + drops) if messages + drops else None, "{:.2f}"))
        table.add_row(*cells)
    return table


def mesh_counters(mesh: dict[str, Any]) -> Text:
    """The group's routing counters (`sequence mesh -o wide`): routed, dropped by reason, labels
    with no instance."""
    dropped = mesh.get("dropped") or {}
    parts = [f"routed {mesh.get('routed', '-')}"]
    parts += [f"dropped {reason} {n}" for reason, n in sorted(dropped.items())]
    unknown = mesh.get("dropped_unknown_label_by_label") or {}
    parts += [f"to unknown label {label}: {n}" for label, n in sorted(unknown.items())]
    if mesh.get("missing_labels"):
        parts.append("labels with no instance: " + ", ".join(mesh["missing_labels"]))
    if "routing_table" in mesh:
        parts.append("routing table " + ("set" if mesh["routing_table"] else "not set"))
    return Text(" | ".join(parts), style="dim")


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
