"""`sequence tca [NAME] [--symbol PAIR]`: transaction cost analysis of a deployment (docs/cli.md).

It reads what the deployment's edges keep (its last 500 orders, the traces of those that filled,
the edge's fee schedule and mid history) and prints slippage against the arrival mid, fees, fill
rate, markouts at 1, 10 and 60 s and a per-venue breakdown (sequence.analysis.tca computes them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sequence_wire.edge_api import FeeSchedule, MidHistory, OrderTrace

from ..analysis.report_html import render_html
from ..analysis.tca import HORIZONS_S, NS, CostSummary, TcaReport, VenueData, analyze
from ..client import ApiError, NotFound
from ..local.target import TargetError
from .edge_access import DeploymentEdge, deployment_edges
from .targets import project_option, resolve_target

console = Console(width=None if sys.stdout.isatty() else 160)


def collect(dep: DeploymentEdge, symbol: str | None) -> VenueData:
    """One deployment's orders on one edge, the traces of those that filled, fees and mids."""
    reader = dep.reader
    orders = [o for o in reader.orders(dep.deployment_id) if symbol is None or o.symbol == symbol]
    traces: list[OrderTrace] = []
    for order in orders:
        if order.filled > 0:
            try:
                traces.append(reader.trace(order.order_ref))
            except NotFound:  # evicted between the two calls: its fills are gone from the edge
                continue
    fill_times = [e.ts_ns for t in traces for e in t.events if e.event == "fill"]
    mids: dict[str, MidHistory] = {}
    fees = FeeSchedule(maker_bps=0.0, taker_bps=0.0)
    for sym in sorted({o.symbol for o in orders}):
        book = reader.book(sym, 1)
        fees = book.fees
        mids[sym] = reader.mids(sym, max(0, min(fill_times, default=0) - NS))
    return VenueData(dep.venue, dep.deployment_id, orders, traces, fees, mids)


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def _cells(s: CostSummary) -> list[str]:
    return [
        str(s.orders),
        str(s.fills),
        _num(s.notional),
        _num(s.share * 100 if s.share is not None else None, 1, "%"),
        _num(s.fill_rate * 100 if s.fill_rate is not None else None, 1, "%"),
        _num(s.slippage_bps),
        _num(s.fees, 4),
        *(_num(s.markouts_bps.get(str(h))) for h in HORIZONS_S),
    ]


def table(report: TcaReport, title: str) -> Table:
    t = Table(title=title)
    for column in ("venue", "orders", "fills", "notional", "share", "fill rate", "slippage bps", "fees"):
        t.add_column(column, justify="left" if column == "venue" else "right")
    for h in HORIZONS_S:
        t.add_column(f"markout {h}s bps", justify="right")
    for venue, summary in report.venues.items():
        t.add_row(venue, *_cells(summary))
    if len(report.venues) != 1:
        t.add_row("all venues", *_cells(report.total), style="bold")
    return t


@click.command()
@click.argument("name", required=False)
@click.option("--symbol", help="Only this pair (e.g. BTC-USD).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write an HTML report."
)
@project_option
def tca(
    name: str | None, symbol: str | None, output: str, html_file: Path | None, project_path: Path
) -> None:
    """Transaction cost analysis: slippage against the arrival mid, fees, fill rate, markouts at
    1/10/60 s and a per-venue routing breakdown, from the orders the edges keep (the last 500 per
    deployment and edge). NAME: one deployment (default: all of the project's)."""
    target = resolve_target(project_path)
    try:
        with deployment_edges(target, name) as deps:
            data = [collect(dep, symbol) for dep in deps]
    except (TargetError, ApiError) as exc:
        raise click.ClickException(str(exc)) from None
    report = analyze(data, symbol)
    title = f"TCA {name or target.project}" + (f" {symbol}" if symbol else "")
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        console.print(table(report, title))
        t = report.total
        console.print(
            f"  fill rate {_num(t.fill_rate * 100 if t.fill_rate is not None else None, 1, '%')} "
            f"({_num(t.filled_qty, 8)} of {_num(t.ordered_qty, 8)}; {t.rejected} rejected orders left out), "
            f"fees {_num(t.fees, 4)} ({_num(t.fees_bps)} bps), {t.maker_fills} of {t.fills} fills as maker",
            style="dim",
        )
        pending = {h: t.fills - t.markouts_known.get(str(h), 0) for h in HORIZONS_S}
        waiting = [f"{h}s: {n}" for h, n in pending.items() if n]
        if waiting:
            console.print(
                f"  markouts not known yet (or older than the edge's mid history): {', '.join(waiting)}",
                style="dim",
            )
    if html_file is not None:
        html_file.write_text(render_html(report, title, list(HORIZONS_S)), encoding="utf-8")
        if output != "json":
            console.print(f"  report written to {html_file}")
