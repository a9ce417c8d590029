"""Execution graphs as text: one line per graph for `sequence up`, and the node and edge tables of
`sequence graph status` (quantities are shown in units, the API's `*_1e8` integers / 1e8)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

SCALE = 100_000_000
GRAPH_STYLE = {
    "completed": "bold green",
    "active": "cyan",
    "partial_fill": "cyan",
    "pending": "dim",
    "paused": "magenta",
    "expired": "yellow",
    "aborted": "red",
    "cancelled": "red",
    "rejected": "red",
    "skipped": "dim",
}


def qty(value_1e8: int | None) -> str:
    return "-" if value_1e8 is None else f"{value_1e8 / SCALE:g}"


def _node_brief(name: str, node: dict[str, Any]) -> str:
    return f"{name} {node.get('status')} {qty(node.get('filled_qty_1e8'))}/{qty(node.get('target_qty_1e8'))}"


def graph_lines(graphs: dict[str, dict[str, Any]]) -> list[Text]:
    """`graph twap: completed — twap completed 1/1` for each graph."""
    lines = []
    for name, status in graphs.items():
        if "error" in status:
            lines.append(Text(f"graph {name}: not submitted: {status['error']}", style="red"))
            continue
        nodes = ", ".join(_node_brief(n, node) for n, node in (status.get("nodes") or {}).items())
        state = str(status.get("status", "?"))
        line = Text(f"graph {name}: ")
        line.append(state, style=GRAPH_STYLE.get(state, ""))
        line.append(f" — {nodes}")
        lines.append(line)
    return lines


def graphs_table(graphs: list[dict[str, Any]], title: str = "") -> Table:
    """`sequence graph list`: one row per graph."""
    table = Table(title=title or None, header_style="bold")
    for column in ("Graph id", "Client id", "Status", "Nodes", "PnL USD", "Reason"):
        table.add_column(column)
    for g in graphs:
        state = str(g.get("status", "?"))
        done = sum(1 for n in (g.get("nodes") or {}).values() if n.get("status") == "completed")
        table.add_row(
            str(g.get("graph_id", "")),
            str(g.get("client_id") or "-"),
            Text(state, style=GRAPH_STYLE.get(state, "")),
            f"{done}/{len(g.get('nodes') or {})} completed",
            f"{g.get('pnl_usd', 0.0):+.2f}",
            str(g.get("reason") or ""),
        )
    return table


def nodes_table(status: dict[str, Any]) -> Table:
    """The graph's nodes: filled / target, average price, orders, TWAP slices."""
    table = Table(title=f"nodes of {status.get('graph_id')}", header_style="bold")
    for column, justify in (
        ("Node", "left"),
        ("Side", "left"),
        ("Symbol", "left"),
        ("Status", "left"),
        ("Filled/Target", "right"),
        ("Avg price", "right"),
        ("Orders", "right"),
        ("Slices", "right"),
        ("Reason", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, node in (status.get("nodes") or {}).items():
        state = str(node.get("status", "?"))
        slices = node.get("slices") or []
        done = sum(1 for s in slices if s.get("status") == "completed")
        avg = node.get("avg_price")
        table.add_row(
            name,
            str(node.get("side", "")),
            str(node.get("symbol", "")),
            Text(state, style=GRAPH_STYLE.get(state, "")),
            f"{qty(node.get('filled_qty_1e8'))}/{qty(node.get('target_qty_1e8'))}",
            "-" if avg is None else f"{avg:,.2f}",
            str(len(node.get("orders") or [])),
            f"{done}/{len(slices)}" if slices else "-",
            str(node.get("reason") or ""),
        )
    return table


def edges_table(status: dict[str, Any]) -> Table:
    """The graph's edges: trigger, whether it fired, how many times."""
    table = Table(title="edges", header_style="bold")
    for column in ("Edge", "Trigger", "Fired", "Fire count"):
        table.add_column(column)
    for key, edge in (status.get("edges") or {}).items():
        trigger = edge.get("trigger")
        text = trigger if isinstance(trigger, str) else ", ".join(f"{k} {v}" for k, v in trigger.items())
        table.add_row(key, str(text), "yes" if edge.get("fired") else "no", str(edge.get("fire_count", 0)))
    return table
