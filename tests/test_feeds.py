"""Market-data feeds: the seeded sim market (simfeed.pyx) and recorded replays (replay.py)."""

from __future__ import annotations

import gzip
import itertools
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from sequence_edge.algo import abi
from sequence_edge.engine import Engine
from sequence_edge.market.records import RecordBuffer
from sequence_edge.market.replay import ReplayFeedAdapter, ReplayFormatError, load_replay
from sequence_edge.market.simfeed import SimMarket

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples/data/sample-kraken.csv.gz"
ORIGIN = 1_763_719_200_000_000_000
SEC = 1_000_000_000


def sim(venue: str = "kraken", seed: int = 7, **kw) -> SimMarket:
    market = SimMarket(venue, seed=seed, origin_ns=ORIGIN, **kw)
    market.add_symbol("BTC-USD", 0)
    return market


def generate(market: SimMarket, seconds: float) -> list[tuple]:
    buf = RecordBuffer()
    market.generate(buf, ORIGIN + int(seconds * SEC))
    return [buf[i] for i in range(len(buf))]


def log_returns(prices: list[float]) -> list[float]:
    return [math.log(b / a) for a, b in itertools.pairwise(prices)]


# ---------------------------------------------------------------- sim


def test_same_seed_and_origin_give_the_same_stream() -> None:
    assert generate(sim(), 2.0) == generate(sim(), 2.0)
    assert generate(sim(), 2.0) != generate(sim(seed=8), 2.0)


def test_stream_starts_with_a_snapshot_then_sequenced_updates_at_the_configured_rate() -> None:
    recs = generate(sim(updates_per_sec=1000, depth=10), 1.0)
    kinds = [r[0] for r in recs]
    assert kinds[0] == "snapshot_begin" and kinds[21] == "snapshot_end"
    assert kinds[1:21] == ["snapshot_level"] * 20
    updates = recs[22:]
    assert len(updates) == 1000  # ts 1 ms .. 1000 ms after the snapshot at the origin
    assert [r[5] for r in updates] == list(range(2, 1002))  # seq continues from the snapshot's
    assert [r[6] for r in updates] == [ORIGIN + (i + 1) * 1_000_000 for i in range(1000)]


def test_sim_books_stay_consistent_tick_aligned_and_deep() -> None:
    engine = Engine()
    market = SimMarket("kraken", seed=3, origin_ns=ORIGIN, depth=25)
    market.add_symbol("ETH-USD", engine.add_book("ETH-USD"))
    buf = RecordBuffer()
    market.generate(buf, ORIGIN + 20 * SEC)
    engine.run(buf)
    book = engine.book("ETH-USD")
    assert engine.stats()["stale_events"] == 0 and not book.stale
    assert engine.stats()["applied"] == 40_000
    tick = market.tick_of("ETH-USD")
    bids, asks = book.top(25)
    assert all(px % tick == 0 for px, _ in bids + asks)
    assert 20 <= book.depth_of(1) <= 26 and 20 <= book.depth_of(2) <= 26
    mid = (bids[0][0] + asks[0][0]) / 2 / abi.FIXED_SCALE
    assert 2000 < mid < 5000  # around ETH's default 3200


def test_volatility_matches_the_knob() -> None:
    market = sim(volatility_bps=20.0)
    prices = [market.common_mid_at("BTC-USD", ORIGIN + i * SEC) for i in range(3600)]
    realized_bps = statistics.pstdev(log_returns(prices)) * 1e4
    assert 14 < realized_bps < 26
    flat = sim(volatility_bps=0.0, dislocation_bps=0.0)
    assert {flat.mid_at("BTC-USD", ORIGIN + i * SEC) for i in range(10)} == {65000.0}


def test_venues_with_one_seed_share_the_common_mid_and_differ_by_a_small_dislocation() -> None:
    kraken, coinbase, other = sim("kraken"), sim("coinbase"), sim("coinbase", seed=99)
    times = [ORIGIN + i * SEC for i in range(900)]
    assert all(kraken.common_mid_at("BTC-USD", t) == coinbase.common_mid_at("BTC-USD", t) for t in times)
    k = log_returns([kraken.mid_at("BTC-USD", t) for t in times])
    c = log_returns([coinbase.mid_at("BTC-USD", t) for t in times])
    o = log_returns([other.mid_at("BTC-USD", t) for t in times])
    assert statistics.correlation(k, c) > 0.95
    assert abs(statistics.correlation(k, o)) < 0.3
    dislocation = [
        math.log(kraken.mid_at("BTC-USD", t) / kraken.common_mid_at("BTC-USD", t)) * 1e4 for t in times
    ]
    assert 1.5 < statistics.pstdev(dislocation) < 4.5  # dislocation_bps = 3
    assert abs(statistics.mean(dislocation)) < 1.5  # mean-reverting around the common mid


def test_a_quote_at_the_touch_fills_within_seconds_at_the_default_rate() -> None:
    engine = Engine()
    market = SimMarket("kraken", seed=7, origin_ns=ORIGIN)  # 2000 updates/s
    market.add_symbol("BTC-USD", engine.add_book("BTC-USD"))
    buf = RecordBuffer()
    market.generate(buf, ORIGIN)
    engine.run(buf)
    acct = engine.open_account("q", ["BTC-USD"])
    best_bid = engine.book("BTC-USD").top(1)[0][0][0]
    acct.place(abi.SIDE_BUY, abi.ORDER_LIMIT, 1, best_bid, abi.to_fixed(0.01))
    t = ORIGIN
    while acct.n_fills == 0 and t < ORIGIN + 5 * SEC:
        t += SEC // 100
        buf.clear()
        market.generate(buf, t)
        engine.run(buf)
    assert acct.n_fills > 0


def test_a_consumer_that_falls_behind_resyncs_with_a_snapshot() -> None:
    market = sim()
    generate(market, 0.1)
    market.skip_to(ORIGIN + 60 * SEC)
    buf = RecordBuffer()
    market.generate(buf, ORIGIN + 60 * SEC)
    assert buf[0][0] == "snapshot_begin" and buf[0][6] == ORIGIN + 60 * SEC


def test_bad_sim_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        SimMarket("kraken", depth=0, origin_ns=0)
    with pytest.raises(ValueError, match="updates_per_sec"):
        SimMarket("kraken", updates_per_sec=0, origin_ns=0)
    with pytest.raises(ValueError, match="start price"):
        SimMarket("kraken", start_prices={"BTC-USD": -1.0}, origin_ns=0).add_symbol("BTC-USD", 0)


# ---------------------------------------------------------------- replay


def test_the_committed_sample_is_small_valid_and_reproducible(tmp_path: Path) -> None:
    assert SAMPLE.stat().st_size < 500_000
    data = load_replay(SAMPLE)
    assert data.symbols == ["BTC-USD", "ETH-USD"]
    assert len(data.records) > 10_000
    out = tmp_path / "again.csv.gz"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/make_replay_sample.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_replay_rebuilds_the_recorded_book() -> None:
    engine = Engine()
    feed = ReplayFeedAdapter(SAMPLE, loop=False, start_ns=0)
    for symbol in feed.available_symbols():
        feed.subscribe(symbol, engine.add_book(symbol))
    buf = RecordBuffer()
    feed.poll(buf, 10**18, 10**7)
    engine.run(buf)
    assert feed.finished
    assert engine.stats()["stale_events"] == 0
    with gzip.open(SAMPLE, "rt") as fh:
        rows = [line.split(",") for line in fh.read().splitlines() if ",ETH-USD,ask," in line]
    last_qty = {}
    for row in rows:  # the last quantity written at each ask price
        last_qty[abi.to_fixed(float(row[3]))] = abi.to_fixed(float(row[4]))
    book = engine.book("ETH-USD")
    assert all(book.qty_at(2, px) == qty for px, qty in last_qty.items())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.csv"
    path.write_text(text)
    return path


GOOD = """# a tiny replay
ts_ns,symbol,side,px,qty,seq
1000000000,BTC-USD,snapshot_begin,,,
1000000000,BTC-USD,bid,100,1,
1000000000,BTC-USD,ask,101,1,
1000000000,BTC-USD,snapshot_end,,,10
2000000000,BTC-USD,bid,100,2,11
3000000000,BTC-USD,ask,101.5,0.25,12
5000000000,BTC-USD,bid,99.5,1,13
"""


def test_replay_is_paced_by_timestamps_times_speed(tmp_path: Path) -> None:
    feed = ReplayFeedAdapter(write(tmp_path, GOOD), speed=2.0, loop=False, start_ns=SEC * 100)
    feed.subscribe("BTC-USD", 4)
    buf = RecordBuffer()
    assert feed.poll(buf, SEC * 100, 100) == 4  # the snapshot is due at the start
    assert feed.poll(buf, SEC * 100 + SEC // 2 - 1, 100) == 0  # next record is 1 s later: 0.5 s at 2x
    assert feed.poll(buf, SEC * 100 + SEC // 2, 100) == 1
    assert feed.poll(buf, SEC * 100 + 2 * SEC, 100) == 2
    assert [buf[i][6] for i in range(len(buf))] == [SEC * 100] * 4 + [
        SEC * 100 + SEC // 2,
        SEC * 100 + SEC,
        SEC * 100 + 2 * SEC,
    ]
    assert {buf[i][1] for i in range(len(buf))} == {4}  # records carry the edge's book index
    assert feed.finished


def test_replay_loops_from_its_snapshot(tmp_path: Path) -> None:
    feed = ReplayFeedAdapter(write(tmp_path, GOOD), speed=1.0, loop=True, start_ns=0)
    feed.subscribe("BTC-USD", 0)
    buf = RecordBuffer()
    assert feed.poll(buf, 4 * SEC, 100) == 7
    # the next pass starts one average record gap (4 s / 6) after the last record
    buf.clear()
    assert feed.poll(buf, 4 * SEC + 4 * SEC // 6 - 1, 100) == 0
    assert feed.poll(buf, 4 * SEC + 4 * SEC // 6 + 1, 100) == 4
    assert [buf[i][0] for i in range(4)] == [
        "snapshot_begin",
        "snapshot_level",
        "snapshot_level",
        "snapshot_end",
    ]
    assert feed.loops == 1 and not feed.finished
    engine = Engine()
    engine.add_book("BTC-USD")
    assert engine.run(buf) == 4 and not engine.book("BTC-USD").stale


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ts_ns,symbol,px\n", ":1: header must be ts_ns,symbol,side,px,qty,seq"),
        (GOOD.replace("2000000000,BTC-USD,bid", "2000000000,BTC-USD,buy"), ":7: side must be bid, ask"),
        (GOOD.replace("3000000000", "500000000"), ":8: ts_ns 500000000 goes back in time"),
        (GOOD.replace("101.5,0.25", "101.5,0.123456789"), ":8: qty '0.123456789' has more than 8 decimals"),
        (GOOD.replace("99.5,1,13", "-99.5,1,13"), ":9: px must be > 0"),
        (
            GOOD.replace("1000000000,BTC-USD,snapshot_begin,,,\n", ""),
            ":3: the first row of BTC-USD must be its snapshot_begin",
        ),
        (GOOD.replace("1000000000,BTC-USD,snapshot_end,,,10\n", ""), "the snapshot of BTC-USD is not closed"),
        (
            GOOD + "6000000000,ETH-USD,snapshot_begin,,,\n6000000000,BTC-USD,bid,1,1,\n",
            ":11: BTC-USD row inside the snapshot of ETH-USD",
        ),
        (
            GOOD.replace("1000000000,BTC-USD,bid,100,1,", "1000000000,BTC-USD,bid,100,0,"),
            ":4: qty must be > 0",
        ),
        (GOOD.replace("BTC-USD,bid,100,2,11", "btc,bid,100,2,11"), ":7: 'btc' is not a symbol"),
        (GOOD.replace("100,2,11", "100,2"), ":7: expected 6 columns, got 5"),
        ("# only a comment\n", "no records"),
    ],
)
def test_replay_format_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ReplayFormatError) as err:
        load_replay(write(tmp_path, text))
    assert message in str(err.value)
    assert str(tmp_path / "r.csv") in str(err.value)


def test_replay_without_seq_column_and_unknown_symbol(tmp_path: Path) -> None:
    text = (
        "ts_ns,symbol,side,px,qty\n1,SOL-USD,snapshot_begin,,\n1,SOL-USD,bid,1,1\n1,SOL-USD,snapshot_end,,\n"
    )
    feed = ReplayFeedAdapter(write(tmp_path, text), start_ns=0)
    assert feed.available_symbols() == ["SOL-USD"]
    with pytest.raises(ValueError, match="BTC-USD is not in replay file"):
        feed.subscribe("BTC-USD", 0)
    with pytest.raises(ReplayFormatError, match="no such replay file"):
        load_replay(tmp_path / "missing.csv")
