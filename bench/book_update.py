"""L2 book update cost: our Cython book against the `order-book` C extension and sortedcontainers.

One seeded, realistic stream (a deep book; mostly quantity changes near the top, adds and deletes,
now and then the top of one side swept away) is applied to

  ours         sequence_edge.market.book.Book.apply_many: one nogil loop per batch, no Python per update
  order-book   order_book.OrderBook (C extension from PyPI), one Python statement per update
  sorteddict   sortedcontainers.SortedDict per side, one Python statement per update

Updates are timed in batches (perf_counter_ns around each batch, the three books' batches
interleaved); per-update cost = batch time / batch size; the script prints the median and p99 over
batches and each peer's ratio to ours. The three final books are compared level by level (full
depth) before anything is printed. The peers check the sequence number like ours does, but do not
check for crossed books or keep online statistics.

Also measured: write_l2 + write_features per call, from a loop compiled with Cython against
book.pxd (the way the WASM host calls them), so the number has no Python call in it.

    python bench/book_update.py [--updates 1000000] [--batch 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import array
import importlib
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from order_book import OrderBook
from sortedcontainers import SortedDict, SortedList

import sequence_edge
from sequence_edge.market.book import ASK, BID, Book

TICK = 1_000_000  # 0.01 in 1e8 fixed point
LOT = 100_000  # 0.001 in 1e8 fixed point
START_TICK = 6_500_000  # 65,000.00
START_DEPTH = 1_000  # levels per side
MIN_DEPTH = 200  # the generator adds rather than deletes below this
FIRST_SEQ = 1_000

Record = tuple[int, int, int, int, int]  # side, px_1e8, qty_1e8, seq, ts_ns


# ---------------------------------------------------------------- the stream


def geometric(rng: random.Random, p: float, cap: int) -> int:
    """0, 1, 2, ... with P(k) = p (1-p)^k: distance from the top of the book, capped."""
    return min(cap, int(math.log(1.0 - rng.random()) / math.log(1.0 - p)))


def make_stream(
    n: int, seed: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[Record], Counter]:
    """Initial snapshot (bids, asks), n updates that never cross the book, and their mix by kind."""
    rng = random.Random(seed)
    bids: dict[int, int] = {}  # tick -> lots
    asks: dict[int, int] = {}
    tick = START_TICK
    while len(bids) < START_DEPTH:
        tick -= 1
        if rng.random() < 0.7:
            bids[tick] = rng.randint(1, 5_000)
    tick = START_TICK + 1
    while len(asks) < START_DEPTH:
        if rng.random() < 0.7:
            asks[tick] = rng.randint(1, 5_000)
        tick += 1
    bid_ticks, ask_ticks = SortedList(bids), SortedList(asks)
    snapshot_bids = [(t * TICK, q * LOT) for t, q in sorted(bids.items(), reverse=True)]
    snapshot_asks = [(t * TICK, q * LOT) for t, q in sorted(asks.items())]

    out: list[Record] = []
    mix: Counter = Counter()
    seq, ts = FIRST_SEQ, 1_700_000_000_000_000_000

    def emit(side: int, t: int, lots: int) -> None:
        nonlocal seq, ts
        levels, ticks = (bids, bid_ticks) if side == BID else (asks, ask_ticks)
        mix["quantity change" if t in levels and lots else "new level" if lots else "delete"] += 1
        if lots:
            if t not in levels:
                ticks.add(t)
            levels[t] = lots
        else:
            del levels[t]
            ticks.remove(t)
        seq += 1
        ts += rng.randint(200, 20_000)
        out.append((side, t * TICK, lots * LOT, seq, ts))

    def nth_from_top(side: int, k: int) -> int:
        ticks = bid_ticks if side == BID else ask_ticks
        k = min(k, len(ticks) - 1)
        return ticks[-1 - k] if side == BID else ticks[k]

    while len(out) < n:
        side = BID if rng.random() < 0.5 else ASK
        levels = bids if side == BID else asks
        # Adds and cancels balance around START_DEPTH levels per side.
        add_share = 0.19 if len(levels) >= START_DEPTH else 0.30
        r = rng.random()
        if r < 0.60:  # quantity change, mostly within the top few levels
            emit(side, nth_from_top(side, geometric(rng, 0.25, len(levels))), rng.randint(1, 5_000))
        elif r < 0.60 + add_share or len(levels) < MIN_DEPTH:  # new level, sometimes inside the spread
            best_bid, best_ask = bid_ticks[-1], ask_ticks[0]
            if rng.random() < 0.9:
                offset = geometric(rng, 0.15, 3 * START_DEPTH) - (1 if rng.random() < 0.3 else 0)
            else:
                offset = rng.randint(0, 2 * START_DEPTH)
            step = -1 if side == BID else 1
            t = min(best_bid - offset, best_ask - 1) if side == BID else max(best_ask + offset, best_bid + 1)
            for _ in range(8):  # a free tick nearby, away from the spread (else: a quantity change)
                if t not in levels:
                    break
                t += step
            emit(side, t, rng.randint(1, 5_000))
        elif r < 0.985:  # cancel a level, mostly near the top
            emit(side, nth_from_top(side, geometric(rng, 0.2, len(levels))), 0)
        else:  # a trade sweeps the top 1-3 levels of one side
            for _ in range(rng.randint(1, 3)):
                if len(out) < n and len(levels) > 1:
                    emit(side, nth_from_top(side, 0), 0)
    return snapshot_bids, snapshot_asks, out, mix


# ---------------------------------------------------------------- the three books


def peer_apply(bids, asks) -> Callable[[Sequence[Record], int], int]:
    """The per-update Python loop a feed handler would run over a dict-like book per side."""

    def apply(batch: Sequence[Record], last_seq: int) -> int:
        for side, px, qty, seq, _ts in batch:
            if seq != last_seq + 1:
                raise RuntimeError(f"sequence gap at {seq}")
            last_seq = seq
            levels = bids if side == 1 else asks
            if qty:
                levels[px] = qty
            elif px in levels:
                del levels[px]
        return last_seq

    return apply


def time_interleaved(runners: dict[str, Callable[[int], None]], batches: int, batch: int) -> dict:
    """Per-update ns of each batch, per runner.

    Batch i of every runner is timed before batch i+1 of any, so all of them see the same
    background load (the ratios stay meaningful on a busy machine).
    """
    per_update: dict[str, list[float]] = {name: [] for name in runners}
    clock = time.perf_counter_ns
    for i in range(batches):
        for name, run_batch in runners.items():
            t0 = clock()
            run_batch(i)
            per_update[name].append((clock() - t0) / batch)
    return per_update


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------- write_l2 + write_features

WRITE_COST_PYX = """\
# cython: language_level=3
from time import perf_counter_ns
from libc.stdint cimport uint64_t
from sequence_edge.algo.abi cimport seq_io_block_t
from sequence_edge.market.book cimport Book

def write_cost_ns(Book book, long calls):
    # An 8-byte aligned IO block, like the one in an algorithm's linear memory.
    cdef uint64_t block[404]  # 3232 bytes
    cdef seq_io_block_t* io = <seq_io_block_t*>block
    cdef long i
    t0 = perf_counter_ns()
    for i in range(calls):
        book.write_l2(<unsigned char*>&io.book, 0)
        book.write_features(<unsigned char*>&io.features)
    return perf_counter_ns() - t0
"""


def compile_write_cost(workdir: Path) -> Callable[[Book, int], int]:
    """Build a tiny Cython module that cimports Book and calls the writers in a C loop."""
    (workdir / "book_write_cost.pyx").write_text(WRITE_COST_PYX)
    package_parent = Path(sequence_edge.__file__).resolve().parent.parent  # where book.pxd is found
    env = dict(os.environ, PYTHONPATH=f"{package_parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    build = subprocess.run(
        [sys.executable, "-m", "Cython.Build.Cythonize", "-3", "-q", "-i", "book_write_cost.pyx"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        raise SystemExit(f"building the write_l2/write_features timing loop failed:\n{build.stderr}")
    sys.path.insert(0, str(workdir))
    return importlib.import_module("book_write_cost").write_cost_ns


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=1_000_000, help="updates in the stream")
    parser.add_argument("--batch", type=int, default=1_000, help="updates per timed batch")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.updates < args.batch or args.batch < 1:
        parser.error("need --updates >= --batch >= 1")
    n = args.updates // args.batch * args.batch
    batches = n // args.batch

    t0 = time.perf_counter()
    snap_bids, snap_asks, stream, mix = make_stream(n, args.seed)
    print(
        f"stream: {n:,} updates, {len(snap_bids)}+{len(snap_asks)} levels in the snapshot, "
        f"generated in {time.perf_counter() - t0:.1f} s (seed {args.seed})"
    )
    print("mix: " + ", ".join(f"{count / n:.0%} {kind}s" for kind, count in mix.most_common()))
    print(
        f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} (other work inflates all rows)"
    )

    # ours: records as one flat uint64 buffer, a memoryview slice per batch prepared up front
    ours = Book("BTC-USDT")
    ours.snapshot(snap_bids, snap_asks, seq=FIRST_SEQ)
    flat = memoryview(array.array("Q", [v for rec in stream for v in rec]))
    width = 5 * args.batch
    slices = [flat[i * width : (i + 1) * width] for i in range(batches)]
    applied = []
    runners: dict[str, Callable[[int], None]] = {"ours": lambda i: applied.append(ours.apply_many(slices[i]))}

    # peers: the same records as tuples, a list per batch
    chunks = [stream[i * args.batch : (i + 1) * args.batch] for i in range(batches)]
    order_book = OrderBook()
    peers = {
        "order-book": (order_book.bids, order_book.asks),
        "sorteddict": (SortedDict(), SortedDict()),
    }
    for name, (bids, asks) in peers.items():
        for px, qty in snap_bids:
            bids[px] = qty
        for px, qty in snap_asks:
            asks[px] = qty
        apply = peer_apply(bids, asks)
        last_seq = [FIRST_SEQ]

        def run(i: int, apply=apply, last_seq=last_seq) -> None:
            last_seq[0] = apply(chunks[i], last_seq[0])

        runners[name] = run

    timings = time_interleaved(runners, batches, args.batch)
    if sum(applied) != n or ours.stale:
        raise SystemExit(f"our book applied {sum(applied)} of {n} updates (stale={ours.stale})")

    # Same final book everywhere, every level.
    our_levels = ours.top(1 << 30)
    ob_bids, ob_asks = peers["order-book"]
    sd_bids, sd_asks = peers["sorteddict"]
    final = {
        "order-book": (list(ob_bids.to_dict().items()), list(ob_asks.to_dict().items())),
        "sorteddict": (list(reversed(sd_bids.items())), list(sd_asks.items())),
    }
    for name, levels in final.items():
        if levels != our_levels:
            raise SystemExit(f"final book of {name} differs from ours")
    print(f"final books identical at full depth: {len(our_levels[0])} bids, {len(our_levels[1])} asks")

    ours_ns = timings.pop("ours")
    ours_median, ours_p99 = statistics.median(ours_ns), percentile(ours_ns, 0.99)
    print(f"\nper update, {batches:,} batches of {args.batch:,} (ns)     median      p99")
    print(f"  ours (apply_many, nogil)              {ours_median:8.1f} {ours_p99:8.1f}")
    for name, ns in timings.items():
        print(f"  {name:<37} {statistics.median(ns):8.1f} {percentile(ns, 0.99):8.1f}")
    for name, ns in timings.items():
        ratio = statistics.median(ns) / ours_median
        print(f"{name} is {ratio:.1f}x slower (median), {percentile(ns, 0.99) / ours_p99:.1f}x (p99)")
    print(f"target for ours: <= 50 ns median per update: {'met' if ours_median <= 50 else 'NOT met'}")

    with tempfile.TemporaryDirectory() as tmp:
        write_cost_ns = compile_write_cost(Path(tmp))
        calls = 100_000
        runs = [write_cost_ns(ours, calls) / calls for _ in range(31)]
    print(
        f"\nwrite_l2 + write_features (656 + 72 bytes, C loop, {calls:,} calls x 31 runs): "
        f"median {statistics.median(runs):.1f} ns, p99 {percentile(runs, 0.99):.1f} ns per call"
    )


if __name__ == "__main__":
    main()
