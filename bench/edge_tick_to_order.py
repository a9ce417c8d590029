"""Tick-to-order and throughput inside one edge: feed update -> book -> wasm algo -> risk -> paper OMS.

Workload: the sim feed's BTC-USD stream (seed 7, default knobs), generated up front, and the
example market maker (examples/market-maker/market_maker.wasm) with every risk limit on (the
order rate limit set high enough not to refuse orders: the loop runs far faster than real time).

  edge      sequence_edge.engine.Engine.run: one Cython loop per batch, no Python per update
            (book update, resting-order matching, PnL mark, algo_on_book through the wasmtime C
            API, actions through risk and the OMS, fills back through the host)
  python    the same book, host and wasm driven one update at a time through their Python APIs
            (Book.update, AlgoHost.on_book, drain_actions) with a pure-Python risk + OMS doing
            the same checks: what the edge would cost with Python in the per-update path

Tick-to-order = from the start of processing a feed update to the OMS accepting an order the
algo placed in reaction to it (edge: the OMS's own ns histogram, ~6% resolution; python:
perf_counter_ns around the same span). Throughput = updates processed per second of wall time on
one thread, with the market maker attached; also reported: the edge with a near no-op algo
(raw_algo.wasm: returns as soon as its one order rests) and with no algo (books + OMS only), and
the sim generator's own rate. Target: tick-to-order median <= 2 us, throughput >= 1M updates/s.

Journal on vs off (--step-records N, default 1000): the edge + market maker run the feed in steps
of N records as the edge loop does, with and without the trading journal (a real state dir in a
temp directory, the edge's flush after every step, fsync thread on): same workload, same run,
interleaved; the journal must stay within 10% of the run without it.

    python bench/edge_tick_to_order.py [--updates 1000000] [--python-updates 50000] [--repeat 3]
                                       [--step-records 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from sequence_edge.algo import abi
from sequence_edge.algo.host import AlgoHost
from sequence_edge.engine import Engine
from sequence_edge.journal import StateDir
from sequence_edge.market.book import Book
from sequence_edge.market.records import RecordBuffer
from sequence_edge.market.simfeed import SimMarket
from sequence_edge.orders import journal as cjournal

REPO = Path(__file__).resolve().parents[1]
MM = (REPO / "examples/market-maker/market_maker.wasm").read_bytes()
RAW = (REPO / "examples/abi-raw/raw_algo.wasm").read_bytes()
PARAMS = {"spread_bps": "4", "qty": "0.01", "max_position": "0.05"}
RISK = {
    "max_order_qty": 0.05,
    "max_notional": 10000,
    "max_position": 0.2,
    "max_open_orders": 4,
    "max_orders_per_sec": 1e9,
    "price_band_bps": 100,
    "max_loss": 1e6,
}
ORIGIN = 1_763_719_200_000_000_000
SYMBOL = "BTC-USD"


def generate(n: int, seed: int) -> tuple[RecordBuffer, float]:
    """n level updates of BTC-USD (plus the opening snapshot) and the generator's rate (updates/s)."""
    sim = SimMarket("kraken", seed=seed, origin_ns=ORIGIN)
    sim.add_symbol(SYMBOL, 0)
    buf = RecordBuffer(n + 64)
    t0 = time.perf_counter()
    sim.generate(buf, ORIGIN + n * 500_000)  # 2000 updates/s of feed time
    return buf, n / (time.perf_counter() - t0)


# ---------------------------------------------------------------- the edge


def run_edge(buf: RecordBuffer, wasm: bytes | None, risk: dict, step: int = 0, journal: bool = False) -> dict:
    """One run; `step` > 0: in steps of that many records (with a journal flush after each when
    `journal`), else one engine.run over the whole buffer."""
    host = AlgoHost()
    tmp = tempfile.TemporaryDirectory(prefix="seq-bench-journal-") if journal else None
    state = StateDir(tmp.name, fsync_ms=200) if tmp is not None else None
    try:
        engine = Engine(host, maker_fee_bps=1.0, taker_fee_bps=4.0)
        engine.add_book(SYMBOL)
        acct = engine.open_account("bench", [SYMBOL], risk=risk)
        if wasm is not None:
            acct.attach(host.load("bench", wasm, [SYMBOL], PARAMS))
            host.start("bench")
        if state is not None:
            state.open("bench").write_meta(
                {"deployment_id": "bench", "sha256": "0" * 64, "symbols": [SYMBOL]}
            )
            cjournal.enable(acct)
        ids, accounts = ["bench"], [acct]  # as the edge keeps them between steps
        issued = engine.traces
        engine.run(buf, 0, 100)  # snapshot + a few updates before timing
        wall, cpu = time.perf_counter(), time.thread_time()
        if step <= 0:
            engine.run(buf, 100)
        else:
            for start in range(100, buf.count, step):
                engine.run(buf, start, step)
                if state is not None:
                    state.flush_accounts(ids, accounts, lambda: int(issued.issued))
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        updates = buf.count - 100
        return {
            "cpu_rate": updates / cpu,
            "wall_rate": updates / wall,
            "t2o_p50": acct.tick_to_order_ns(0.5),
            "t2o_p99": acct.tick_to_order_ns(0.99),
            "orders": acct.n_orders,
            "fills": acct.n_fills,
            "rejects": acct.rejects_by_reason(),
            "callback_p50": host.status("bench")["latency_ns"]["p50"] if wasm is not None else 0,
            "journal_bytes": state.bytes_written if state is not None else 0,
            "journal_flushes": state.flushes if state is not None else 0,
        }
    finally:
        host.close()
        if state is not None:
            state.close()
        if tmp is not None:
            tmp.cleanup()


# ---------------------------------------------------------------- the Python baseline


class PyRiskOms:
    """risk.pyx's checks and a simpler OMS (resting orders fill only when traded through) in Python,
    mirroring open orders and position into the algo's AlgoState like the edge does."""

    def __init__(self, host: AlgoHost, risk: dict) -> None:
        self.host = host
        plain = ("max_open_orders", "max_orders_per_sec", "price_band_bps")
        self.lim = {k: v if k in plain else abi.to_fixed(v) for k, v in risk.items()}
        self.open: dict[int, list[int]] = {}  # id -> [side, px, qty, filled]
        self.seen: set[int] = set()
        self.position = 0
        self.tokens = float(self.lim["max_orders_per_sec"])
        self.last_ns = 0
        self.accepted = 0

    def check(self, side: int, px: int, qty: int, mid: int, now: int) -> str | None:
        lim = self.lim
        if qty > lim["max_order_qty"]:
            return "MAX_ORDER_QTY"
        if px * qty // abi.FIXED_SCALE > lim["max_notional"]:
            return "MAX_NOTIONAL"
        same = sum(o[2] - o[3] for o in self.open.values() if o[0] == side)
        worst = self.position + same + qty if side == 1 else self.position - same - qty
        if abs(worst) > lim["max_position"]:
            return "MAX_POSITION"
        if len(self.open) >= lim["max_open_orders"]:
            return "MAX_OPEN_ORDERS"
        if mid and abs(px - mid) * 10_000 > lim["price_band_bps"] * mid:
            return "PRICE_BAND"
        rate = lim["max_orders_per_sec"]
        self.tokens = min(rate, self.tokens + (now - self.last_ns) * 1e-9 * rate) if self.last_ns else rate
        self.last_ns = now
        if self.tokens < 1:
            return "RATE_LIMIT"
        self.tokens -= 1
        return None

    def mirror(self) -> None:
        rows = [(oid, o[1], o[2], o[3], 0, o[0], 0) for oid, o in self.open.items()]
        self.host.set_open_orders("bench", rows)
        self.host.set_position("bench", 0, self.position, 0)

    def match(self, best_bid: int, best_ask: int) -> None:
        """Resting orders the opposite side traded through fill completely (a simpler model than ours)."""
        done = [
            oid
            for oid, o in self.open.items()
            if (o[0] == 1 and best_ask and best_ask < o[1]) or (o[0] == 2 and best_bid and best_bid > o[1])
        ]
        for oid in done:
            side, px, qty, filled = self.open.pop(oid)
            self.position += (qty - filled) if side == 1 else -(qty - filled)
            self.host.deliver_fill(
                "bench",
                order_id=oid,
                px_1e8=px,
                qty_1e8=qty - filled,
                symbol_idx=0,
                side=side,
                flags=abi.FILL_FLAG_FINAL | abi.FILL_FLAG_MAKER,
            )
        if done:
            self.mirror()

    def handle(self, action, mid: int) -> bool:
        """True when a PLACE was accepted (the end of tick-to-order)."""
        if action.kind == abi.ACTION_CANCEL:
            self.open.pop(action.order_id, None)
            return False
        if action.kind != abi.ACTION_PLACE or action.order_id in self.seen:
            return False
        self.seen.add(action.order_id)
        if self.check(action.side, action.px_1e8, action.qty_1e8, mid, time.time_ns()) is not None:
            return False
        self.open[action.order_id] = [action.side, action.px_1e8, action.qty_1e8, 0]
        self.accepted += 1
        return True


def run_python(buf: RecordBuffer, n: int, risk: dict) -> dict:
    host = AlgoHost()
    try:
        host.load("bench", MM, [SYMBOL], PARAMS)
        host.start("bench")
        book = Book(SYMBOL)
        oms = PyRiskOms(host, risk)
        records = [buf[i] for i in range(min(buf.count, n + 100))]
        i = next(j for j, r in enumerate(records) if r[0] == "snapshot_end")
        levels = [r for r in records[:i] if r[0] == "snapshot_level"]
        book.snapshot(
            [(r[3], r[4]) for r in levels if r[2] == 1],
            [(r[3], r[4]) for r in levels if r[2] == 2],
            seq=records[i][5],
        )
        latencies = []
        clock = time.perf_counter_ns
        wall, cpu = time.perf_counter(), time.thread_time()
        for _kind, _book, side, px, qty, seq, ts in records[i + 1 :]:
            start = clock()
            book.update(side, px, qty, seq, ts)
            (bids, asks) = book.top(1)
            best_bid, best_ask = (bids[0][0] if bids else 0), (asks[0][0] if asks else 0)
            oms.match(best_bid, best_ask)
            host.on_book(book)
            mid = (best_bid + best_ask) // 2 if best_bid and best_ask else 0
            changed = False
            for action in host.drain_actions("bench"):
                if oms.handle(action, mid):
                    latencies.append(clock() - start)
                changed = True
            if changed:
                oms.mirror()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        updates = len(records) - i - 1
        latencies.sort()
        return {
            "cpu_rate": updates / cpu,
            "wall_rate": updates / wall,
            "t2o_p50": latencies[len(latencies) // 2] if latencies else 0,
            "t2o_p99": latencies[int(len(latencies) * 0.99)] if latencies else 0,
            "orders": oms.accepted,
        }
    finally:
        host.close()


# ---------------------------------------------------------------- report


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1_000_000, help="feed updates per edge run")
    parser.add_argument("--python-updates", type=int, default=50_000, help="updates per Python-baseline run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (medians reported)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--step-records",
        type=int,
        default=1000,
        help="records per edge step in the journal on/off comparison",
    )
    args = parser.parse_args()

    buf, gen_rate = generate(args.updates, args.seed)
    loose = {**RISK, "max_position": 1e6}  # raw_algo buys at the bid forever; keep it out of rejects
    edge, noop, bare, python, stepped, journaled = [], [], [], [], [], []
    for _ in range(args.repeat):  # interleaved, so machine noise hits every configuration alike
        edge.append(run_edge(buf, MM, RISK))
        stepped.append(run_edge(buf, MM, RISK, step=args.step_records))
        journaled.append(run_edge(buf, MM, RISK, step=args.step_records, journal=True))
        noop.append(run_edge(buf, RAW, loose))
        bare.append(run_edge(buf, None, RISK))
        python.append(run_python(buf, args.python_updates, RISK))

    print(
        f"workload: sim BTC-USD seed {args.seed}, {args.updates:,} updates (python baseline: "
        f"{args.python_updates:,}), market_maker.wasm, all risk limits on; medians of {args.repeat} runs; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    print("tick-to-order (feed update -> order accepted by the paper OMS), wall clock")
    e50, e99 = med(edge, "t2o_p50"), med(edge, "t2o_p99")
    p50, p99 = med(python, "t2o_p50"), med(python, "t2o_p99")
    print(
        f"  edge     median {e50 / 1000:7.2f} us   p99 {e99 / 1000:7.2f} us   "
        f"({int(med(edge, 'orders')):,} orders; wasm callback median {med(edge, 'callback_p50'):.0f} ns)"
    )
    print(
        f"  python   median {p50 / 1000:7.2f} us   p99 {p99 / 1000:7.2f} us   "
        f"({int(med(python, 'orders')):,} orders)"
    )
    print(
        f"  ratio    python/edge  median {p50 / e50:5.1f}x   p99 {p99 / e99:5.1f}x   "
        f"target edge median <= 2 us: {'met' if e50 <= 2000 else 'MISSED'}"
    )
    print(
        "\nthroughput (book updates/s on one thread, feed pre-generated): per CPU second (the thread's "
        "CPU time,\n  which preemption on a shared machine does not inflate) and per wall-clock second"
    )
    configs = {
        "edge + market maker": edge,
        "edge + no-op algo": noop,
        "edge, no algo": bare,
        "python + market maker": python,
    }
    for name, runs in configs.items():
        cpu, wall = med(runs, "cpu_rate"), med(runs, "wall_rate")
        print(
            f"  {name:22s} {cpu / 1e6:6.2f} M/s cpu ({1e9 / cpu:5.0f} ns/update)   {wall / 1e6:6.2f} M/s wall"
        )
    mm_cpu = med(edge, "cpu_rate")
    print(
        f"  ratio    edge/python (market maker, cpu) {mm_cpu / med(python, 'cpu_rate'):5.1f}x   "
        f"target >= 1M/s with one algo: market maker {'met' if mm_cpu >= 1e6 else 'MISSED'}, "
        f"no-op algo {'met' if med(noop, 'cpu_rate') >= 1e6 else 'MISSED'}"
    )
    print(
        f"  sim feed generation alone: {gen_rate / 1e6:.2f} M updates/s wall "
        f"(edge + market maker + generation on one core: {1 / (1 / gen_rate + 1 / mm_cpu) / 1e6:.2f} M/s)"
    )
    print(
        f"\nmarket maker in the edge: {int(med(edge, 'fills')):,} fills per run, rejects {edge[0]['rejects']}"
    )
    off_cpu, on_cpu = med(stepped, "cpu_rate"), med(journaled, "cpu_rate")
    off_t, on_t = med(stepped, "t2o_p50"), med(journaled, "t2o_p50")
    print(
        f"\ntrading journal (edge + market maker in steps of {args.step_records:,} records, flush after each step):"
    )
    print(
        f"  off      {off_cpu / 1e6:6.2f} M updates/s cpu   tick-to-order median {off_t / 1000:6.2f} us\n"
        f"  on       {on_cpu / 1e6:6.2f} M updates/s cpu   tick-to-order median {on_t / 1000:6.2f} us   "
        f"({int(med(journaled, 'journal_flushes')):,} batches, "
        f"{med(journaled, 'journal_bytes') / 1e6:.1f} MB written per run)"
    )
    ratio = off_cpu / on_cpu
    print(
        f"  ratio    throughput off/on {ratio:5.3f}x   tick-to-order on/off {on_t / off_t:5.3f}x   "
        f"target within 10%: {'met' if ratio <= 1.10 and on_t <= 1.10 * off_t else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
