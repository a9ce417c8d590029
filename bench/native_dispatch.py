"""Dispatching one book to an algorithm whose on_book does nothing: native .so vs WASM, in one run.

The same Rust source (examples/bench-empty) is built both ways: `bench_empty.wasm` (the committed
WASM build) and `libbench_empty.so` (`--features native --profile native`; this script builds it
with Debian's cargo if it is missing). Three harnesses, each timing batches of calls in C around
the batch with this thread's CPU clock (time spent preempted on a shared machine does not count),
reporting the median and p99 over batches of the mean ns per call:

1. raw vtable call (the seed's `dispatch.rs` harness): `vtable.on_book(instance, &book, &state,
   &features, &actions)` with every input prepared once -- native only, WASM has no such call;
2. prepared call through the host's slot (`bench_prepared_on_book`): the book is written once,
   then each call goes through the edge's slot call path -- the wasmtime call with its deadline
   armed and the action buffer read back for WASM, the one vtable call and the same read-back for
   native;
3. full edge dispatch (`Router.bench_dispatch`, what the edge loop does per update): the 656-byte
   book and 72-byte features written, AlgoState refreshed, the call, actions read back.

The headline compares (1) with WASM's (2): the cost of dispatching a book to each runtime.

    python bench/native_dispatch.py [--batches 2000] [--batch-size 2000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from sequence_edge.algo.host import AlgoHost, bench_prepared_on_book
from sequence_edge.algo.native import NativeLibrary, bench_raw_on_book
from sequence_edge.market.book import Book

REPO = Path(__file__).resolve().parents[1]
WASM = REPO / "examples" / "bench-empty" / "bench_empty.wasm"
NATIVE = REPO / "examples" / "target" / "native" / "libbench_empty.so"
TARGET_P50_NS = 2.0
TARGET_RATIO = 20.0
PX = 100_000_000


def make_book() -> Book:
    book = Book("BTC-USD")
    book.snapshot(
        [(65_000 * PX - i * PX // 100, (i + 1) * PX) for i in range(25)],
        [(65_001 * PX + i * PX // 100, (i + 1) * PX) for i in range(25)],
        seq=1,
    )
    return book


def summarize(per_call_ns: list[float]) -> tuple[float, float]:
    ordered = sorted(per_call_ns)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def ensure_native() -> None:
    if not NATIVE.exists():
        subprocess.run([sys.executable, str(REPO / "scripts" / "build_wasm.py"), "--native"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()
    ensure_native()
    book = make_book()
    lib = NativeLibrary.open(NATIVE)
    host = AlgoHost()
    try:
        host.load("wasm", WASM.read_bytes(), ["BTC-USD"])
        host.load_native("native", lib, ["BTC-USD"])
        for dep in ("wasm", "native"):
            host.start(dep)
        results: dict[str, list[float]] = {}
        rounds = 3  # interleaved, so that a slow phase of the machine hits every harness alike
        share = max(1, args.batches // rounds)
        for _ in range(rounds):
            raw = bench_raw_on_book(
                lib, book.l2_bytes(0), book.features_bytes(), share, args.batch_size, True
            )
            results.setdefault("raw native", []).extend(raw)
            for dep in ("wasm", "native"):
                inst = host.get(dep)
                results.setdefault(f"prepared {dep}", []).extend(
                    bench_prepared_on_book(inst, book, share, args.batch_size // 10 or 1, True)
                )
            host.router.bench_dispatch(book, 5, 100)  # both instances share the route
        # Full edge dispatch, one runtime at a time on the route.
        for dep, other in (("wasm", "native"), ("native", "wasm")):
            host.stop(other)
            results[f"dispatch {dep}"] = host.router.bench_dispatch(
                book, share, args.batch_size // 10 or 1, True
            )
            host.start(other)
        for dep in ("wasm", "native"):
            assert host.status(dep)["state"] == "running", host.status(dep)
    finally:
        host.close()
        lib.close()

    stats = {name: summarize(values) for name, values in results.items()}
    print("Empty on_book, native .so vs WASM (same source, same run; thread CPU time per call)")
    for name, (p50, p99) in stats.items():
        print(f"  {name:<18} median {p50:8.2f} ns   p99 {p99:8.2f} ns   [{len(results[name])} batches]")
    raw_p50 = stats["raw native"][0]
    wasm_p50 = stats["prepared wasm"][0]
    print(f"  ratio WASM prepared call / native raw call     median {wasm_p50 / raw_p50:7.1f} x")
    print(
        f"  ratio through the slot (prepared wasm/native)  median "
        f"{wasm_p50 / stats['prepared native'][0]:7.1f} x"
    )
    print(
        f"  ratio full edge dispatch (wasm/native)         median "
        f"{stats['dispatch wasm'][0] / stats['dispatch native'][0]:7.1f} x"
    )
    met = raw_p50 <= TARGET_P50_NS and wasm_p50 / raw_p50 >= TARGET_RATIO
    print(
        f"  target: native p50 <= {TARGET_P50_NS} ns and >= {TARGET_RATIO:.0f}x faster than WASM -> "
        f"{'met' if met else 'NOT met on this run'}"
    )


if __name__ == "__main__":
    main()
