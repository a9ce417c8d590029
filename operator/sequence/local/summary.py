"""What `sequence up` reports when it ends: the summary (its `--json` shape) and its text form.

The summary is built from the last status of every deployment (their final status, once
undeployed), the edges' and coordinator's last reports, and the drop counters of process
incarnations that are gone (a restarted process counts from zero).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from .graph_views import graph_lines
from .supervision import Supervised
from .views import status_table

DEPLOYMENT_FIELDS = (
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


def add_counts(into: dict[str, int], counts: dict[str, Any] | None) -> None:
    for key, n in (counts or {}).items():
        if isinstance(n, int) and n:
            into[key] = into.get(key, 0) + n


@dataclass
class Observed:
    """What the session last saw of its deployments, edges and coordinator."""

    snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)  # deploy name -> last status
    edge_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # venue -> last GET /v1/edge
    mesh: dict[str, Any] | None = None  # the coordinator's last topology
    # drop counters of process incarnations that are gone (a restart starts from zero)
    past_edge_drops: dict[str, int] = field(default_factory=dict)
    past_coordinator_drops: dict[str, int] = field(default_factory=dict)

    def edge_restarted(self, venue: str) -> None:
        info = self.edge_info.pop(venue, None)
        if info:
            add_counts(self.past_edge_drops, (info.get("mesh") or {}).get("dropped"))

    def coordinator_restarted(self) -> None:
        if self.mesh:
            add_counts(self.past_coordinator_drops, self.mesh.get("dropped"))
        self.mesh = None

    def mesh_drops(self) -> dict[str, dict[str, int]]:
        """Every mesh message lost, by where and why, over all process incarnations."""
        edges = dict(self.past_edge_drops)
        for info in self.edge_info.values():
            add_counts(edges, (info.get("mesh") or {}).get("dropped"))
        coordinator = dict(self.past_coordinator_drops)
        add_counts(coordinator, (self.mesh or {}).get("dropped"))
        return {"edges": edges, "coordinator": coordinator}


def build_summary(
    project: str,
    started_at: float,
    interrupted: bool,
    seen: Observed,
    processes: list[Supervised],
    log_dir: Path,
) -> dict[str, Any]:
    """The `sequence up --json` summary."""
    net: dict[str, float] = defaultdict(float)
    deployments = {}
    for name, s in seen.snapshot.items():
        for symbol, qty in (s.get("position") or {}).items():
            net[symbol] += qty
        deployments[name] = {key: s.get(key) for key in DEPLOYMENT_FIELDS}
    drops = seen.mesh_drops()
    return {
        "project": project,
        "duration_s": round(time.time() - started_at, 1),
        "interrupted": interrupted,
        "deployments": deployments,
        "net_position": {symbol: round(qty, 8) for symbol, qty in net.items()},
        "mesh": seen.mesh,
        "mesh_drops": {
            **drops,
            "total": sum(drops["edges"].values()) + sum(drops["coordinator"].values()),
        },
        "edges": {
            venue: {
                "book_updates": (info.get("feed") or {}).get("updates"),
                **_live_feed(info.get("feed") or {}),
                "mesh": {k: v for k, v in (info.get("mesh") or {}).items() if k != "dropped"},
            }
            for venue, info in seen.edge_info.items()
        },
        "processes": {
            sup.name: {
                "restarts": sup.restarts,
                "restart_reasons": dict(sup.restart_reasons),
                "events": sup.events,
            }
            for sup in processes
        },
        "logs": str(log_dir),
    }


def _live_feed(feed: dict[str, Any]) -> dict[str, Any]:
    """A live feed's consistency counters for the summary (nothing for sim and replay)."""
    if feed.get("kind") != "live":
        return {}
    keys = ("state", "gaps", "checksum_failures", "resyncs", "disconnects")
    return {"live_feed": {k: feed.get(k) for k in keys}}


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
        why = ", ".join(f"{reason} {n}" for reason, n in (proc.get("restart_reasons") or {}).items())
        console.print(f"[{style}]{name}: {proc['restarts']} restart(s){f' ({why})' if why else ''}[/{style}]")
    for line in graph_lines(summary.get("graphs") or {}):
        console.print(line)
    if summary.get("graphs_cancelled_at_shutdown"):
        names = ", ".join(summary["graphs_cancelled_at_shutdown"])
        console.print(f"[yellow]graphs still running when the session ended, cancelled: {names}[/yellow]")
    console.print(f"[dim]logs: {summary['logs']}[/dim]")
