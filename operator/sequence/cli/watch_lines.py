"""`sequence watch` when stdout is not a terminal: one logfmt line per deployment per refresh,
for a log file, `grep`, or a script (`key=value` pairs; values with spaces are double-quoted)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..local.views import mesh_latency


def _value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=\\') else text


def watch_line(ts: str, row: dict[str, Any], mesh: dict[str, Any] | None) -> str:
    """One deployment at one refresh."""
    latency = row.get("latency_ns") or {}
    links = row.get("mesh") or {}
    position = row.get("position") or {}
    error = (row.get("last_error") or {}).get("message")
    fields: list[tuple[str, Any]] = [
        ("ts", ts),
        ("name", row.get("name", row.get("deployment_id", "?"))),
        ("venue", row.get("venue", "")),
        ("state", row.get("state", "?")),
        ("orders", row.get("orders", 0)),
        ("open", row.get("open_orders", 0)),
        ("fills", row.get("fills", 0)),
        ("rejects", row.get("rejects", 0)),
        *((f"pos.{symbol}", f"{qty:+.8g}") for symbol, qty in sorted(position.items())),
        ("pnl", f"{(row.get('realized_pnl') or 0.0) + (row.get('unrealized_pnl') or 0.0):+.4f}"),
        ("cb_p50_us", "-" if latency.get("p50") is None else f"{latency['p50'] / 1000:.1f}"),
        ("cb_p99_us", "-" if latency.get("p99") is None else f"{latency['p99'] / 1000:.1f}"),
        ("mesh_sent", links.get("sent", 0)),
        ("mesh_recv", links.get("received", 0)),
        ("mesh_us", mesh_latency(mesh, row.get("label", "")).replace(" ", ":")),
    ]
    if error:
        fields.append(("error", error))
    return " ".join(f"{key}={_value(value)}" for key, value in fields)


def watch_lines(
    rows: Callable[[], list[dict[str, Any]]],
    mesh: Callable[[], dict[str, Any] | None],
    interval: float,
    count: int | None,
) -> Iterator[str]:
    """Every INTERVAL seconds (COUNT times, or forever), a line per row."""
    refreshes = 0
    while count is None or refreshes < count:
        if refreshes:
            time.sleep(interval)
        ts = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        topology = mesh()
        for row in rows():
            yield watch_line(ts, row, topology)
        refreshes += 1
