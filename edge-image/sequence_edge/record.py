"""`sequence record VENUE SYMBOLS --duration`: live order books written in the replay format.

The recorder runs the same live feed as an edge (market/live.py: ccxt transport, the venue's
sequence and checksum checks, resyncs) and writes what the edge's books would have applied as
replay CSV (docs/operations.md, "Replay format"), which `--feed replay` plays back
deterministically. Each snapshot is written whole once its end arrives (a snapshot cut short by
a disconnect is dropped: the resync's fresh snapshot follows), a symbol's rows start with its
first snapshot, and timestamps never go back (a venue timestamp older than the previous row is
written as the previous row's).
"""

from __future__ import annotations

import gzip
import io
import time
from pathlib import Path
from typing import TextIO

import click

from .market.live import VENUES, LiveFeedAdapter, LiveFeedUnavailable
from .market.records import RecordBuffer
from .market.replay import HEADER, SYMBOL_RE

SIDES = {1: "bid", 2: "ask"}


def decimal_text(value_1e8: int) -> str:
    whole, frac = divmod(value_1e8, 100_000_000)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".")


class ReplayWriter:
    """Feed records -> replay rows, keeping the format's rules."""

    def __init__(self, out: TextIO, symbols: list[str]) -> None:
        self.out = out
        self.symbols = symbols  # book index -> symbol
        self.started: set[int] = set()
        self.snapshots: dict[int, list[str]] = {}  # book -> rows of an unfinished snapshot
        self.last_ts = 0
        self.rows = 0
        out.write(
            f"# recorded by `sequence record` at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        )
        out.write(",".join(HEADER) + "\n")

    def _ts(self, ts: int) -> int:
        self.last_ts = max(self.last_ts, ts)
        return self.last_ts

    def write(self, rec: tuple[str, int, int, int, int, int, int]) -> None:
        kind, book, side, px, qty, _seq, ts = rec
        symbol = self.symbols[book]
        if kind == "snapshot_begin":
            self.snapshots[book] = []  # an earlier unfinished one (a disconnect) is dropped
        elif kind == "snapshot_level":
            if book in self.snapshots:
                self.snapshots[book].append(f"{symbol},{SIDES[side]},{decimal_text(px)},{decimal_text(qty)},")
        elif kind == "snapshot_end":
            rows = self.snapshots.pop(book, None)
            if rows is None:
                return
            t = self._ts(ts)
            lines = [
                f"{t},{symbol},snapshot_begin,,,",
                *(f"{t},{row}" for row in rows),
                f"{t},{symbol},snapshot_end,,,",
            ]
            self.out.write("\n".join(lines) + "\n")
            self.rows += len(lines)
            self.started.add(book)
        elif book in self.started and book not in self.snapshots:
            self.out.write(f"{self._ts(ts)},{symbol},{SIDES[side]},{decimal_text(px)},{decimal_text(qty)},\n")
            self.rows += 1


def record_live(feed: LiveFeedAdapter, symbols: list[str], out: TextIO, duration_s: float) -> ReplayWriter:
    """Subscribe `symbols`, write their records for `duration_s` seconds."""
    writer = ReplayWriter(out, symbols)
    for book, symbol in enumerate(symbols):
        feed.subscribe(symbol, book)
    buf = RecordBuffer(1 << 14)
    deadline = time.monotonic() + duration_s
    while True:
        buf.clear()
        for i in range(feed.poll(buf, 0, 1 << 16)):
            writer.write(buf[i])
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return writer


def _symbols(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    symbols = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in symbols if not SYMBOL_RE.match(s)]
    if not symbols or bad:
        raise click.BadParameter(f"symbols like BTC-USD,ETH-USDC-PERP, got {value!r}")
    return symbols


@click.command()
@click.argument("venue", type=click.Choice(VENUES))
@click.argument("symbols", callback=_symbols)
@click.option("--duration", type=click.FloatRange(0, min_open=True), required=True, help="Seconds to record")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Replay file to write (.gz: compressed)  [default: VENUE-<time>.csv.gz]",
)
@click.option("--live-endpoint", default=None, help="The venue's websocket URL instead of its public one")
@click.option("--live-rest-endpoint", default=None, help="The venue's REST base URL (the market list)")
@click.option(
    "--live-markets-file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="ccxt markets as JSON (symbol -> market) instead of fetching the market list",
)
@click.option(
    "--live-cafile",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="CA bundle to trust for the venue's TLS certificate",
)
@click.option("--depth", default=10, show_default=True, type=click.IntRange(1, 1000), help="Levels per side")
def record(
    venue: str,
    symbols: list[str],
    duration: float,
    out_path: str | None,
    live_endpoint: str | None,
    live_rest_endpoint: str | None,
    live_markets_file: str | None,
    live_cafile: str | None,
    depth: int,
) -> None:
    """Record a venue's live order books (comma-separated SYMBOLS) as a replay file for `--feed replay`."""
    path = Path(out_path or f"{venue}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.csv.gz")
    try:
        feed = LiveFeedAdapter(
            venue,
            endpoint=live_endpoint,
            rest_endpoint=live_rest_endpoint,
            markets_file=live_markets_file,
            cafile=live_cafile,
            depth=depth,
        )
    except LiveFeedUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    raw = gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb")  # noqa: SIM115
    try:
        with io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
            writer = record_live(feed, symbols, out, duration)
    finally:
        feed.close()
    status = feed.status()
    missing = [s for b, s in enumerate(symbols) if b not in writer.started]
    click.echo(
        f"wrote {writer.rows} rows to {path} ({status['messages']} messages, {status['gaps']} gaps, "
        f"{status['checksum_failures']} checksum failures, {status['resyncs']} resyncs)"
    )
    why = f"{status['state']}: {status['last_error'] or 'no data'}"
    if not writer.started:
        path.unlink(missing_ok=True)  # a file without a snapshot is not a valid replay
        raise click.ClickException(f"nothing recorded: no snapshot received ({why})")
    if missing:
        click.echo(
            f"warning: no snapshot received for {', '.join(missing)}; not in the file ({why})", err=True
        )
