"""Rich tables shared by `sequence up`, `status`, `mesh` and `watch`."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

STATE_STYLE = {
    "Running": "bold green",
    "Stopped": "yellow",
    "Loaded": "cyan",
    "Failed": "bold red",
    "Unreachable": "red",
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


def link_latency(mesh: dict[str, Any] | None, label: str) -> tuple[float | None, float | None]:
    """p50/p99 (µs) of messages sent by `label`, worst link."""
    if not mesh:
        return None, None
    links = [
        link for link in mesh.get("links", []) if link.get("from") == label and link.get("p50_us") is not None
    ]
    if not links:
        return None, None
    worst = max(links, key=lambda link: link.get("p99_us") or 0)
    return worst.get("p50_us"), worst.get("p99_us")


def status_table(rows: list[dict[str, Any]], mesh: dict[str, Any] | None = None, title: str = "") -> Table:
    table = Table(title=title or None, expand=False, header_style="bold")
    for column, justify in (
        ("Deployment", "left"),
        ("Venue", "left"),
        ("Label", "left"),
        ("State", "left"),
        ("Orders", "right"),
        ("Fills", "right"),
        ("Rejects", "right"),
        ("Position", "right"),
        ("PnL", "right"),
        ("Callback p50/p99 µs", "right"),
        ("Mesh sent/recv", "right"),
        ("Mesh p50/p99 µs", "right"),
        ("Last error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        state = row.get("state", "?")
        latency = row.get("latency_ns") or {}
        m = row.get("mesh") or {}
        p50, p99 = link_latency(mesh, row.get("label", ""))
        pnl = (row.get("realized_pnl") or 0.0) + (row.get("unrealized_pnl") or 0.0)
        error = row.get("last_error") or {}
        table.add_row(
            row.get("name", row.get("deployment_id", "?")),
            row.get("venue", ""),
            row.get("label", ""),
            Text(state, style=STATE_STYLE.get(state, "")),
            str(row.get("orders", 0)),
            str(row.get("fills", 0)),
            str(row.get("rejects", 0)),
            position_text(row.get("position")),
            _num(pnl, "{:+.2f}"),
            f"{_us(latency.get('p50'))}/{_us(latency.get('p99'))}",
            f"{m.get('sent', 0)}/{m.get('received', 0)}",
            f"{_num(p50, '{:.0f}')}/{_num(p99, '{:.0f}')}",
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
