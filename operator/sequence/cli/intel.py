"""`sequence intel SYMBOL`: venue coverage, slippage curves from the live books, fee-adjusted cost
and the graph engine's routing preference for one symbol (docs/cli.md; sequence.analysis.intel)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sequence_wire import edge_api as wire

from ..analysis.intel import Coverage, IntelReport, analyze
from ..client import ApiError, NotFound
from ..local.target import TargetError
from .common import Context
from .edge_access import project_edges
from .graph_targets import target_graphs
from .targets import project_option, resolve_target

console = Console(width=None if sys.stdout.isatty() else 160)
DEPTH = 100  # levels asked of each book: 25x the top size is usually within them


def gather(symbol: str, project_path: Path) -> IntelReport:
    target = resolve_target(project_path)
    edges: list[tuple[wire.EdgeInfo, wire.BookDepth | None]] = []
    unreachable: list[Coverage] = []
    try:
        with project_edges(target) as readers:
            for name, reader in readers:
                try:
                    info = reader.info()
                except ApiError as exc:
                    unreachable.append(Coverage(name, name, False, "?", False, 0.0, error=str(exc)))
                    continue
                book = None
                if symbol in info.symbols:
                    try:
                        book = reader.book(symbol, DEPTH)
                    except NotFound:
                        book = None
                edges.append((info, book))
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None
    report = analyze(symbol, edges, unreachable)
    qty = report.reference_size or 1.0
    try:
        router = target_graphs(target)  # the local session's coordinator, or the namespace's
        options = click.get_current_context().find_object(Context)
        sandbox = bool(options and options.sandbox)  # `sequence --sandbox`: paper venues only
        for side in ("buy", "sell"):
            report.routing[side] = router.route(symbol, side, qty, sandbox)
    except click.ClickException as exc:
        report.routing_error = exc.message
    except ApiError as exc:
        report.routing_error = str(exc)
    return report


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _cost(value: float | None) -> str:
    return "beyond book" if value is None else f"{value:,.2f}"


def print_report(report: IntelReport) -> None:
    cov = Table(title=f"{report.symbol}: venue coverage")
    for column in (
        "venue",
        "edge",
        "carries",
        "feed",
        "healthy",
        "lag ms",
        "mid",
        "spread bps",
        "top bid/ask size",
    ):
        cov.add_column(column)
    for row in report.coverage:
        sizes = (
            f"{row.bid_size:g} / {row.ask_size:g}"
            if row.bid_size is not None and row.ask_size is not None
            else "-"
        )
        cov.add_row(
            row.venue,
            row.edge_id,
            "yes" if row.carries else "no",
            row.feed,
            ("yes" if row.feed_healthy else "no") if row.error is None else f"unreachable: {row.error}",
            f"{row.lag_ms:.1f}",
            f"{row.mid:,.8g}" if row.mid is not None else "-",
            _bps(row.spread_bps),
            sizes,
        )
    console.print(cov)
    if not report.curves:
        console.print(
            "  no venue has a valid two-sided book for this symbol: no slippage curve", style="yellow"
        )
    else:
        size = report.reference_size or 0.0
        curves = Table(
            title=f"cost to trade, bps of the venue's mid (top size {size:g}); fee-adjusted: + taker fee"
        )
        curves.add_column("venue")
        curves.add_column("side")
        for m in report.multiples:
            curves.add_column(f"{m}x ({size * m:g})", justify="right")
        for m in report.multiples:
            curves.add_column(f"{m}x + fee", justify="right")
        for c in report.curves:
            curves.add_row(
                c.venue, c.side, *(_cost(v) for v in c.cost_bps), *(_cost(v) for v in c.fee_adjusted_bps)
            )
        console.print(curves)
    if report.routing_error:
        console.print(f"  routing preference: unknown ({report.routing_error})", style="yellow")
    for side, pref in report.routing.items():
        if pref is None:
            continue
        where = (
            f"{pref.venue} at {pref.price:,.8g}" if pref.venue and pref.price else (pref.venue or "no venue")
        )
        console.print(f"  SOR routing preference, {side} {pref.qty:g}: {where}")


@click.command()
@click.argument("symbol")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@project_option
def intel(symbol: str, output: str, project_path: Path) -> None:
    """Market structure of SYMBOL across the project's edges: venue coverage and feed health, the cost
    of trading 1x, 5x and 25x the top-of-book size on each venue (from the live books, with and
    without the taker fee), and where the graph engine's smart order router would route now."""
    report = gather(symbol, project_path)
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
