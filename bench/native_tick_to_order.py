"""Tick-to-order inside one edge with the example market maker compiled native vs WASM.

Same source (examples/market-maker/algo), same workload and harness as bench/edge_tick_to_order.py
(the sim feed's BTC-USD stream through the Cython Engine: book, resting-order matching, the algo,
risk, paper OMS, fills back), run once with `market_maker.wasm` and once with the native build
`libmarket_maker.so` (built with `scripts/build_wasm.py --native` if missing), alternating, in
one process. Reports tick-to-order (feed update -> OMS ack of an order placed in reaction, the
OMS's histogram), the algo callback's own latency and updates/s per CPU second.

    python bench/native_tick_to_order.py [--updates 500000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from edge_tick_to_order import PARAMS, RISK, SYMBOL, generate

from sequence_edge.algo.host import AlgoHost
from sequence_edge.algo.native import NativeLibrary
from sequence_edge.engine import Engine
from sequence_edge.market.records import RecordBuffer

REPO = Path(__file__).resolve().parents[1]
WASM = REPO / "examples" / "market-maker" / "market_maker.wasm"
NATIVE = REPO / "examples" / "target" / "native" / "libmarket_maker.so"


def run(buf: RecordBuffer, runtime: str) -> dict:
    host = AlgoHost()
    library = NativeLibrary.open(NATIVE) if runtime == "native" else None
    try:
        engine = Engine(host, maker_fee_bps=1.0, taker_fee_bps=4.0)
        engine.add_book(SYMBOL)
        acct = engine.open_account("bench", [SYMBOL], risk=RISK)
        if library is not None:
            acct.attach(host.load_native("bench", library, [SYMBOL], PARAMS))
        else:
            acct.attach(host.load("bench", WASM.read_bytes(), [SYMBOL], PARAMS))
        host.start("bench")
        engine.run(buf, 0, 100)
        cpu = time.thread_time()
        engine.run(buf, 100)
        cpu = time.thread_time() - cpu
        status = host.status("bench")
        assert status["state"] == "running", status
        return {
            "rate": (buf.count - 100) / cpu,
            "t2o_p50": acct.tick_to_order_ns(0.5),
            "t2o_p99": acct.tick_to_order_ns(0.99),
            "callback_p50": status["latency_ns"]["p50"],
            "orders": acct.n_orders,
        }
    finally:
        host.close()
        if library is not None:
            library.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not NATIVE.exists():
        subprocess.run([sys.executable, str(REPO / "scripts" / "build_wasm.py"), "--native"], check=True)
    buf, _rate = generate(args.updates, seed=7)
    runs: dict[str, list[dict]] = {"wasm": [], "native": []}
    for _ in range(args.repeat):
        for runtime in ("wasm", "native"):
            runs[runtime].append(run(buf, runtime))
    print(
        f"Market maker, native .so vs WASM, same source ({args.updates:,} sim updates, {args.repeat} runs each)"
    )
    med = {rt: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for rt, rs in runs.items()}
    for runtime, m in med.items():
        print(
            f"  {runtime:<6} tick-to-order p50 {m['t2o_p50']:7.0f} ns  p99 {m['t2o_p99']:7.0f} ns   "
            f"callback p50 {m['callback_p50']:5.0f} ns   {m['rate'] / 1e6:5.2f} M updates/s   "
            f"{m['orders']:.0f} orders"
        )
    w, n = med["wasm"], med["native"]
    print(
        f"  ratio wasm/native: tick-to-order p50 {w['t2o_p50'] / n['t2o_p50']:4.2f} x, "
        f"callback p50 {w['callback_p50'] / max(n['callback_p50'], 1):4.2f} x, "
        f"throughput {n['rate'] / w['rate']:4.2f} x"
    )


if __name__ == "__main__":
    main()
