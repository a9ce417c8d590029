"""Per-update cost of the live feed, from the library's message callback to the book updated.

Paths measured in one run (no network: the venue's raw websocket text is handed to the
library's callback, as its receive loop would):
- sim:                 SimMarket.generate -> Engine.run (the baseline, no JSON at all)
- ccxt+adapter <venue>: orjson.loads (ccxt's parser) -> ccxt exchange.handle_message -> venues.py
                        decode + checks -> deque -> poll into a RecordBuffer -> Engine.run
- ccxt own book:       orjson.loads -> unmodified ccxt.pro.coinbase.handle_message (its Python
                        OrderBook; what watch_order_book costs before any diff into our book)
- cryptofeed:          Coinbase.message_handler (json with Decimal) -> its OrderBook -> our
                        book callback turning its delta into records -> Engine.run

Prints the median and the best of 7 interleaved rounds per path in microseconds per book update
(the best is the least disturbed by other processes on a shared machine), the ratios against the
sim feed, and the best updates/s per core. Run: PYTHONPATH=operator:edge-image:wire python3 bench/live_feed_cost.py
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from sequence_edge.engine import Engine
from sequence_edge.market.live import LiveFeedAdapter
from sequence_edge.market.records import RecordBuffer
from sequence_edge.market.simfeed import SimMarket

N = 20_000
ROUNDS = 7
MARKETS = {
    "coinbase": {
        "BTC/USD": {
            "id": "BTC-USD",
            "symbol": "BTC/USD",
            "base": "BTC",
            "quote": "USD",
            "baseId": "BTC",
            "quoteId": "USD",
            "type": "spot",
            "spot": True,
            "swap": False,
            "active": True,
            "precision": {"price": 0.01, "amount": 1e-8},
            "limits": {},
            "info": {},
        }
    },
    "kraken": {
        "BTC/USD": {
            "id": "XXBTZUSD",
            "symbol": "BTC/USD",
            "base": "BTC",
            "quote": "USD",
            "baseId": "XXBT",
            "quoteId": "ZUSD",
            "type": "spot",
            "spot": True,
            "swap": False,
            "active": True,
            "precision": {"price": 0.1, "amount": 1e-8},
            "limits": {},
            "info": {"pair_decimals": 1, "lot_decimals": 8},
        }
    },
    "hyperliquid": {
        "BTC/USDC:USDC": {
            "id": "0",
            "symbol": "BTC/USDC:USDC",
            "base": "BTC",
            "quote": "USDC",
            "settle": "USDC",
            "baseId": "0",
            "quoteId": "USDC",
            "baseName": "BTC",
            "type": "swap",
            "spot": False,
            "swap": True,
            "contract": True,
            "active": True,
            "precision": {"price": 1, "amount": 1e-5},
            "limits": {},
            "info": {},
        }
    },
}
TS = "2026-12-01T12:00:00.123456789Z"


def coinbase_messages(n: int) -> list[str]:
    rng = random.Random(1)
    snap = [
        {"side": "bid", "event_time": TS, "price_level": f"{65000 - i * 0.5:.2f}", "new_quantity": "1.5"}
        for i in range(25)
    ]
    snap += [
        {"side": "offer", "event_time": TS, "price_level": f"{65000.5 + i * 0.5:.2f}", "new_quantity": "1.5"}
        for i in range(25)
    ]
    out = [
        {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": TS,
            "sequence_num": 1,
            "events": [{"type": "snapshot", "product_id": "BTC-USD", "updates": snap}],
        }
    ]
    for i in range(n):
        side = rng.choice(("bid", "offer"))
        px = 65000 - rng.randrange(25) * 0.5 if side == "bid" else 65000.5 + rng.randrange(25) * 0.5
        out.append(
            {
                "channel": "l2_data",
                "client_id": "",
                "timestamp": TS,
                "sequence_num": i + 2,
                "events": [
                    {
                        "type": "update",
                        "product_id": "BTC-USD",
                        "updates": [
                            {
                                "side": side,
                                "event_time": TS,
                                "price_level": f"{px:.2f}",
                                "new_quantity": f"{rng.randrange(1, 500) / 100:.2f}",
                            }
                        ],
                    }
                ],
            }
        )
    return [json.dumps(m) for m in out]


def kraken_messages(n: int) -> list[str]:
    rng = random.Random(2)
    bids = {round(65000 - i * 0.1, 1): 1.5 for i in range(10)}
    asks = {round(65000.1 + i * 0.1, 1): 1.5 for i in range(10)}
    from sequence_edge.market.venues import KrakenProtocol, Subscription

    sub = Subscription("BTC-USD", 0, "BTC/USD", "BTC/USD", MARKETS["kraken"]["BTC/USD"])
    crc = KrakenProtocol().checksum
    out = [
        {
            "channel": "book",
            "type": "snapshot",
            "data": [
                {
                    "symbol": "BTC/USD",
                    "bids": [{"price": p, "qty": q} for p, q in bids.items()],
                    "asks": [{"price": p, "qty": q} for p, q in asks.items()],
                    "checksum": crc(sub, bids, asks),
                }
            ],
        }
    ]
    for _ in range(n):
        book_side, key = (bids, "bids") if rng.random() < 0.5 else (asks, "asks")
        px = rng.choice(list(book_side))
        qty = rng.randrange(1, 500) / 100
        book_side[px] = qty
        out.append(
            {
                "channel": "book",
                "type": "update",
                "data": [
                    {
                        "symbol": "BTC/USD",
                        "timestamp": TS,
                        "bids": [],
                        "asks": [],
                        key: [{"price": px, "qty": qty}],
                        "checksum": crc(sub, bids, asks),
                    }
                    | {key: [{"price": px, "qty": qty}]}
                ],
            }
        )
    return [json.dumps(m) for m in out]


def hyperliquid_messages(n: int) -> list[str]:
    rng = random.Random(3)
    out = []
    for i in range(n):
        mid = 65000 + rng.randrange(-50, 50)
        out.append(
            {
                "channel": "l2Book",
                "data": {
                    "coin": "BTC",
                    "time": 1_700_000_000_000 + i,
                    "levels": [
                        [
                            {"px": str(mid - j), "sz": f"{rng.randrange(1, 500) / 100}", "n": 1}
                            for j in range(1, 21)
                        ],
                        [
                            {"px": str(mid + j), "sz": f"{rng.randrange(1, 500) / 100}", "n": 1}
                            for j in range(1, 21)
                        ],
                    ],
                },
            }
        )
    return [json.dumps(m) for m in out]


def timed(run: Callable[[], tuple[int, float]]) -> float:
    """Seconds per book update of one round (run returns the updates applied and the seconds
    its measured part took: set-up such as starting the adapter's thread is not counted)."""
    updates, seconds = run()
    return seconds / max(1, updates)


def bench_sim() -> Callable[[], tuple[int, float]]:
    def run() -> tuple[int, float]:
        engine = Engine()
        market = SimMarket("bench", seed=1, updates_per_sec=N, origin_ns=0, depth=25)
        market.add_symbol("BTC-USD", engine.add_book("BTC-USD"))
        buf = RecordBuffer(N + 100)
        t0 = time.perf_counter()
        market.generate(buf, 1_000_000_000)
        engine.run(buf)
        return int(engine.applied), time.perf_counter() - t0

    return run


def bench_adapter(venue: str, raw: list[str], tmp: str) -> Callable[[], tuple[int, float]]:
    path = f"{tmp}/{venue}-markets.json"
    with open(path, "w") as fh:
        json.dump(MARKETS[venue], fh)
    symbol = "BTC-USDC-PERP" if venue == "hyperliquid" else "BTC-USD"

    def run() -> tuple[int, float]:
        return asyncio.run(measure())

    async def measure() -> tuple[int, float]:
        feed = LiveFeedAdapter(venue, markets_file=path)
        engine = Engine()
        book = engine.add_book(symbol)
        sub_symbol = next(iter(MARKETS[venue]))
        from sequence_edge.market.venues import Subscription

        market = feed.exchange.markets[sub_symbol] if feed.exchange.markets else MARKETS[venue][sub_symbol]
        feed.protocol.add(Subscription(symbol, book, sub_symbol, feed.protocol.wire_id(market), market))
        feed.subs[symbol] = feed.protocol.by_wire[feed.protocol.wire_id(market)]
        client = feed.exchange.client("wss://bench.invalid/")
        handle, loads = feed.exchange.handle_message, orjson.loads
        buf = RecordBuffer(1 << 16)
        t0 = time.perf_counter()
        for i, text in enumerate(raw):
            handle(client, loads(text))
            if i % 256 == 255:
                buf.clear()
                feed.poll(buf, 0, 1 << 20)
                engine.run(buf)
        buf.clear()
        feed.poll(buf, 0, 1 << 20)
        engine.run(buf)
        elapsed = time.perf_counter() - t0
        assert not engine.book(symbol).stale, f"{venue}: the bench book went stale"
        feed.close()
        return len(raw) - 1, elapsed  # one book update per message (hyperliquid: a 40-level snapshot)

    return run


def bench_ccxt_own(raw: list[str]) -> Callable[[], tuple[int, float]]:
    import ccxt.pro as ccxt_pro

    async def measure() -> tuple[int, float]:
        ex = ccxt_pro.coinbase({"markets": MARKETS["coinbase"]})
        await ex.load_markets()
        client = ex.client("wss://bench.invalid/")
        handle, loads = ex.handle_message, orjson.loads
        t0 = time.perf_counter()
        for text in raw:
            handle(client, loads(text))
        elapsed = time.perf_counter() - t0
        await ex.close()
        return len(raw) - 1 + 50, elapsed

    def run() -> tuple[int, float]:
        return asyncio.run(measure())

    return run


def bench_cryptofeed(raw: list[str]) -> Callable[[], tuple[int, float]]:
    from cryptofeed.defines import L2_BOOK
    from cryptofeed.exchanges import Coinbase
    from cryptofeed.symbols import Symbols

    Symbols.set(
        Coinbase.id, {"BTC-USD": "BTC-USD"}, {"tick_size": {}, "instrument_type": {"BTC-USD": "spot"}}
    )
    # cryptofeed's snapshot handler reads 'ask' where the feed sends 'offer': feed it what it parses
    fixed_raw = [raw[0].replace('"offer"', '"ask"'), *raw[1:]]

    def run() -> tuple[int, float]:
        engine = Engine()
        book = engine.add_book("BTC-USD")
        buf = RecordBuffer(1 << 16)
        pending: list[tuple[Any, ...]] = []

        async def on_book(ob: Any, receipt: float) -> None:
            if ob.delta is None:
                pending.append(("snapshot_begin", book, 0, 0, 0, 0, 0))
                for side, levels in ((1, ob.book.bids), (2, ob.book.asks)):
                    for px in levels:
                        pending.append(
                            (
                                "snapshot_level",
                                book,
                                side,
                                int(px * 100_000_000),
                                int(levels[px] * 100_000_000),
                                0,
                                0,
                            )
                        )
                pending.append(("snapshot_end", book, 0, 0, 0, 0, 0))
                return
            for side, name in ((1, "bid"), (2, "ask")):
                for px, qty in ob.delta[name]:
                    pending.append(("level", book, side, int(px * 100_000_000), int(qty * 100_000_000), 0, 0))

        feed = Coinbase(symbols=["BTC-USD"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})

        async def go() -> None:
            for i, text in enumerate(fixed_raw):
                await feed.message_handler(text, None, 0.0)
                if i % 256 == 255 or i == len(fixed_raw) - 1:
                    buf.clear()
                    for rec in pending:
                        buf.append(*rec)
                    pending.clear()
                    engine.run(buf)

        t0 = time.perf_counter()
        asyncio.run(go())
        return int(engine.applied), time.perf_counter() - t0

    return run


def main() -> None:
    import tempfile

    tmp = tempfile.mkdtemp()
    cb, kr, hl = coinbase_messages(N), kraken_messages(N), hyperliquid_messages(N // 20)
    paths: list[tuple[str, Callable[[], tuple[int, float]]]] = [
        ("sim (baseline)", bench_sim()),
        ("ccxt+adapter coinbase", bench_adapter("coinbase", cb, tmp)),
        ("ccxt+adapter kraken (checksum)", bench_adapter("kraken", kr, tmp)),
        ("ccxt+adapter hyperliquid (40-level snapshots)", bench_adapter("hyperliquid", hl, tmp)),
        ("ccxt own book coinbase (no records)", bench_ccxt_own(cb)),
    ]
    try:
        paths.append(("cryptofeed coinbase", bench_cryptofeed(cb)))
    except ImportError:
        print("cryptofeed not installed: skipped")
    results: dict[str, float] = {}
    for _ in range(ROUNDS):  # interleaved rounds: a loaded machine slows every path alike
        for name, run in paths:
            results.setdefault(name, [])  # type: ignore[arg-type]
            results[name].append(timed(run))  # type: ignore[attr-defined]
    base = statistics.median(results["sim (baseline)"])  # type: ignore[arg-type]
    best_base = min(results["sim (baseline)"])  # type: ignore[type-var]
    print(f"{'path':48} {'median us':>10} {'x sim':>7} {'best us':>9} {'x sim':>7} {'best updates/s':>15}")
    for name, samples in results.items():
        med, best = statistics.median(samples), min(samples)  # type: ignore[arg-type, type-var]
        print(
            f"{name:48} {med * 1e6:10.2f} {med / base:7.1f} {best * 1e6:9.2f} {best / best_base:7.1f} {1 / best:15,.0f}"
        )


if __name__ == "__main__":
    main()
