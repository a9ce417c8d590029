"""Recorded market data: the replay file format (docs/operations.md, "Replay format") and its feed.

A replay file is CSV (optionally gzip-compressed, `.gz`), UTF-8:

    # comment lines and blank lines are ignored
    ts_ns,symbol,side,px,qty,seq
    1763719200000000000,BTC-USD,snapshot_begin,,,
    1763719200000000000,BTC-USD,bid,65000.5,1.25,
    1763719200000000000,BTC-USD,ask,65001,0.8,
    1763719200000000000,BTC-USD,snapshot_end,,,1000
    1763719200000500000,BTC-USD,ask,65001,0,1001

- `ts_ns`: feed time, ns since the epoch, non-decreasing through the file.
- `side`: `bid` / `ask` for a level, `snapshot_begin` / `snapshot_end` around a snapshot of
  one symbol; the bid/ask rows of that symbol in between are the snapshot's levels (qty > 0,
  any order; rows of other symbols may not appear inside it).
- `px`, `qty`: decimal numbers in natural units, at most 8 decimals; qty 0 deletes the level.
- `seq`: optional (the column may be omitted, or a cell empty = unsequenced); on
  `snapshot_end`, the sequence the snapshot is consistent with.
- Each symbol's first row must be its `snapshot_begin` (a looped replay re-syncs from it).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .feeds import FeedAdapter
from .records import RecordBuffer

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}(-PERP)?$")
HEADER = ["ts_ns", "symbol", "side", "px", "qty", "seq"]
SIDES = {"bid": 1, "ask": 2}
SCALE = Decimal(100_000_000)
MAX_U64 = (1 << 64) - 1


class ReplayFormatError(ValueError):
    """A replay file that does not follow the format; the message names file and line."""


@dataclass
class ReplayData:
    symbols: list[str]  # in order of first appearance; record.book indexes this list
    records: RecordBuffer
    first_ts: int
    last_ts: int


def _fixed(text: str, what: str, where: str, allow_zero: bool) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ReplayFormatError(f"{where}: {what} {text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise ReplayFormatError(f"{where}: {what} must be {'>= 0' if allow_zero else '> 0'}, got {text!r}")
    scaled = value * SCALE
    if scaled != scaled.to_integral_value():
        raise ReplayFormatError(f"{where}: {what} {text!r} has more than 8 decimals")
    if scaled > MAX_U64:
        raise ReplayFormatError(f"{where}: {what} {text!r} is too large")
    return int(scaled)


def _uint(text: str, what: str, where: str) -> int:
    if not text.isdigit() or int(text) > MAX_U64:
        raise ReplayFormatError(f"{where}: {what} must be an unsigned integer, got {text!r}")
    return int(text)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def load_replay(path: str | Path) -> ReplayData:
    """Parse and validate a replay file (ReplayFormatError names the first problem)."""
    path = Path(path)
    if not path.is_file():
        raise ReplayFormatError(f"{path}: no such replay file")
    buf = RecordBuffer(1 << 14)
    symbols: dict[str, int] = {}
    open_snapshot: str | None = None
    last_ts = 0
    header: list[str] | None = None
    try:
        with _open_text(path) as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                where = f"{path}:{lineno}"
                if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                    continue
                row = [cell.strip() for cell in row]
                if header is None:
                    if row not in (HEADER, HEADER[:5]):
                        raise ReplayFormatError(
                            f"{where}: header must be {','.join(HEADER)} (seq optional), got {','.join(row)}"
                        )
                    header = row
                    continue
                if len(row) != len(header):
                    raise ReplayFormatError(f"{where}: expected {len(header)} columns, got {len(row)}")
                ts = _uint(row[0], "ts_ns", where)
                symbol, side = row[1], row[2]
                seq = _uint(row[5], "seq", where) if len(row) == 6 and row[5] else 0
                if ts < last_ts:
                    raise ReplayFormatError(f"{where}: ts_ns {ts} goes back in time (previous {last_ts})")
                last_ts = ts
                if not SYMBOL_RE.match(symbol):
                    raise ReplayFormatError(f"{where}: {symbol!r} is not a symbol like BTC-USD")
                first_row = symbol not in symbols
                if first_row:
                    if side != "snapshot_begin":
                        raise ReplayFormatError(
                            f"{where}: the first row of {symbol} must be its snapshot_begin"
                        )
                    symbols[symbol] = len(symbols)
                book = symbols[symbol]
                if open_snapshot is not None and symbol != open_snapshot:
                    raise ReplayFormatError(f"{where}: {symbol} row inside the snapshot of {open_snapshot}")
                if side == "snapshot_begin":
                    if open_snapshot is not None:
                        raise ReplayFormatError(f"{where}: snapshot_begin inside a snapshot of {symbol}")
                    open_snapshot = symbol
                    buf.append("snapshot_begin", book, ts_ns=ts)
                elif side == "snapshot_end":
                    if open_snapshot is None:
                        raise ReplayFormatError(f"{where}: snapshot_end without snapshot_begin")
                    open_snapshot = None
                    buf.append("snapshot_end", book, seq=seq, ts_ns=ts)
                elif side in SIDES:
                    px = _fixed(row[3], "px", where, allow_zero=False)
                    qty = _fixed(row[4], "qty", where, allow_zero=open_snapshot is None)
                    kind = "level" if open_snapshot is None else "snapshot_level"
                    buf.append(kind, book, SIDES[side], px, qty, seq, ts)
                else:
                    raise ReplayFormatError(
                        f"{where}: side must be bid, ask, snapshot_begin or snapshot_end, got {side!r}"
                    )
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile, csv.Error) as exc:
        raise ReplayFormatError(f"{path}: cannot read: {exc}") from None
    if header is None or not len(buf):
        raise ReplayFormatError(f"{path}: no records")
    if open_snapshot is not None:
        raise ReplayFormatError(f"{path}: the snapshot of {open_snapshot} is not closed (snapshot_end)")
    return ReplayData(list(symbols), buf, buf.ts_at(0), last_ts)


class ReplayFeedAdapter(FeedAdapter):
    """Replays a file paced by its timestamps / speed, optionally in a loop.

    Timestamps are shifted onto the wall clock: the first record is due when the feed starts,
    the others (ts - first) / speed later; each loop starts one average record gap after the
    previous one ended. Only the file's symbols exist; every one of them gets a book.
    """

    kind = "replay"

    def __init__(
        self, path: str | Path, *, speed: float = 1.0, loop: bool = True, start_ns: int | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError(f"replay speed must be > 0, got {speed}")
        self.path = Path(path)
        self.data = load_replay(self.path)
        self.speed = float(speed)
        self.loop = loop
        self.books: dict[str, int] = {}
        self.cursor = 0
        self.loops = 0
        self.base_ns = start_ns
        n = len(self.data.records)
        span = self.data.last_ts - self.data.first_ts
        self.loop_gap_ns = max(1, span // max(1, n - 1))

    def available_symbols(self) -> list[str]:
        return list(self.data.symbols)

    def subscribe(self, symbol: str, book: int) -> None:
        if symbol not in self.data.symbols:
            raise ValueError(
                f"{symbol} is not in replay file {self.path} (it has {', '.join(self.data.symbols)})"
            )
        if self.books and self.cursor:
            raise ValueError("subscribe every replay symbol before the replay starts")
        self.books[symbol] = book
        if len(self.books) == len(self.data.symbols):
            self.data.records.remap_books([self.books[s] for s in self.data.symbols])

    @property
    def finished(self) -> bool:
        return not self.loop and self.cursor >= len(self.data.records)

    def poll(self, buf: RecordBuffer, now_ns: int, max_records: int) -> int:
        if len(self.books) != len(self.data.symbols):
            return 0  # the edge subscribes every file symbol at start
        if self.base_ns is None:
            self.base_ns = now_ns
        recs = self.data.records
        added = 0
        while added < max_records and not self.finished:
            if self.cursor >= len(recs):  # loop: start over one record gap after the end
                self.base_ns += int((self.data.last_ts - self.data.first_ts + self.loop_gap_ns) / self.speed)
                self.cursor = 0
                self.loops += 1
            replay_now = self.data.first_ts + int((now_ns - self.base_ns) * self.speed)
            if now_ns < self.base_ns:
                break
            stop = min(recs.bisect_ts(replay_now, self.cursor), self.cursor + max_records - added)
            if stop <= self.cursor:
                break
            added += buf.copy_rebased(recs, self.cursor, stop, self.data.first_ts, self.base_ns, self.speed)
            self.cursor = stop
        return added

    def status(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "speed": self.speed,
            "loop": self.loop,
            "loops": self.loops,
            "position": self.cursor,
            "records": len(self.data.records),
            "finished": self.finished,
        }
