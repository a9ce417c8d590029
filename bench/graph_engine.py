"""The graph engine in process: admission throughput, trigger cost, 1,000 concurrent graphs.

No network: a paper port acks and fills at once, so this measures the
engine's own cost (what the coordinator adds on top of the mesh hops).
Prints medians, p99 and ratios against baselines measured in the same run:

- admission, graphs/s: journaled (SQLite WAL) vs in-memory;
- trigger: a parent fill to the child's place() call, vs a fill with no edge;
- 1,000 resting graphs: one quote's step over all of them vs over one graph,
  and the memory they hold (tracemalloc).

    python bench/graph_engine.py [--graphs 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from sequence_coordinator.graphs import AccountSnapshot, GraphEngine, GraphJournal

SCALE = 100_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def now_ms(self) -> int:
        return self.ms


class Port:
    """Records places; the bench feeds acks and fills itself."""

    def __init__(self) -> None:
        self.placed: list[tuple[str, float]] = []

    def place(self, venue: str, cid: str, *args: Any) -> None:
        self.placed.append((cid, time.perf_counter()))

    def cancel(self, venue: str, cid: str) -> None:
        pass

    def account(self, venue: str) -> AccountSnapshot | None:
        return AccountSnapshot(1e9, 1e9)


def engine(journal: GraphJournal | None = None) -> tuple[GraphEngine, Port, Clock]:
    port, clock = Port(), Clock()
    e = GraphEngine(port, clock, journal)
    e.on_venue_up("paper")
    e.on_quote("paper", "ETH-USD", 100 * SCALE - 5_000_000, 100 * SCALE + 5_000_000, SCALE, SCALE)
    e.on_quote("paper", "ETH-USD-PERP", 100 * SCALE - 5_000_000, 100 * SCALE + 5_000_000, SCALE, SCALE)
    return e, port, clock


RESTING = {"nodes": {"n": {"side": "buy", "symbol": "ETH-USD", "qty": 1.0, "limit_price": 90.0}}}
HEDGED = {
    "nodes": {
        "spot": {"side": "buy", "symbol": "ETH-USD", "qty": 100.0, "limit_price": 99.0},
        "hedge": {"side": "sell", "symbol": "ETH-USD-PERP", "derived": True},
    },
    "edges": [{"from": "spot", "to": "hedge", "trigger": "on_fill", "sizing": {"linear_hedge": -1.0}}],
}


def admission_rate(n: int, journal: GraphJournal | None) -> float:
    e, _, _ = engine(journal)
    start = time.perf_counter()
    for _ in range(n):
        e.submit(RESTING)
    return n / (time.perf_counter() - start)


def fill_costs(n: int, spec: dict[str, Any]) -> list[float]:
    """Seconds from on_order_event(fill) of the root to the next place() (or return)."""
    e, port, _ = engine()
    gid = e.submit(spec).graph_id
    root = next(iter(spec["nodes"]))
    cid = e.status(gid).nodes[root].orders[0].client_order_id
    e.on_order_event(cid, "ack")
    samples = []
    for _ in range(n):
        before = len(port.placed)
        start = time.perf_counter()
        e.on_order_event(cid, "fill", qty_1e8=SCALE // 2, price_1e8=99 * SCALE)
        end = port.placed[-1][1] if len(port.placed) > before else time.perf_counter()
        samples.append(end - start)
        for placed_cid, _ in port.placed[before:]:  # the hedge fills at once
            e.on_order_event(placed_cid, "fill", qty_1e8=SCALE // 2, price_1e8=99 * SCALE)
    return samples


def quote_step(graphs: int, quotes: int) -> tuple[list[float], int]:
    tracemalloc.start()
    e, _, clock = engine()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(graphs):
        e.submit(RESTING)
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    samples = []
    for i in range(quotes):
        clock.ms += 10
        bid = 100 * SCALE - 5_000_000 + (i % 2) * 1_000_000
        start = time.perf_counter()
        e.on_quote("paper", "ETH-USD", bid, 100 * SCALE + 5_000_000, SCALE, SCALE)
        samples.append(time.perf_counter() - start)
    return samples, held


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=1000)
    args = parser.parse_args()

    memory = admission_rate(args.graphs, None)
    with tempfile.TemporaryDirectory() as tmp:
        journaled = admission_rate(args.graphs, GraphJournal(Path(tmp) / "graphs.db"))
    print(
        f"admission: {journaled:,.0f} graphs/s journaled, {memory:,.0f} in memory "
        f"(journal costs {memory / journaled:.2f}x)"
    )

    trigger = fill_costs(190, HEDGED)
    plain = fill_costs(190, RESTING | {"nodes": {"n": RESTING["nodes"]["n"] | {"qty": 100.0}}})
    print(
        f"fill -> child place(): median {statistics.median(trigger) * 1e6:.0f} us, "
        f"p99 {p99(trigger) * 1e6:.0f} us; a fill with no edge {statistics.median(plain) * 1e6:.0f} us "
        f"({statistics.median(trigger) / statistics.median(plain):.2f}x)"
    )

    many, held = quote_step(args.graphs, 50)
    one, _ = quote_step(1, 50)
    print(
        f"{args.graphs} resting graphs: a quote steps them in median {statistics.median(many) * 1e3:.1f} ms "
        f"(p99 {p99(many) * 1e3:.1f} ms), one graph {statistics.median(one) * 1e6:.0f} us "
        f"({statistics.median(many) / statistics.median(one):.0f}x); "
        f"they hold {held / 2**20:.1f} MiB ({held / args.graphs / 1024:.1f} KiB each)"
    )


if __name__ == "__main__":
    main()
