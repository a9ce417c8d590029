"""The Cython L2 book: level semantics, staleness, ABI bytes and online features.

Built in place with `cythonize -3 -q -i edge-image/sequence_edge/book.pyx`.
"""

from __future__ import annotations

import array
import math
import random
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequence_edge.algo import abi
from sequence_edge.market.book import ASK, BID, IGNORED, OK, STALE, Book

PX = 100_000_000  # 1.0 in 1e8 fixed point
_U = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "i64": "<q", "f64": "<d"}


# ---------------------------------------------------------------- decoding helpers


def decode_l2(data: bytes) -> dict:
    """Decode an L2Book with the offsets of abi.L2BOOK (the ABI source of truth)."""
    assert len(data) == abi.L2BOOK.size
    out: dict = {}
    for f in abi.L2BOOK.fields:
        if f.ctype in _U:
            out[f.name] = struct.unpack_from(_U[f.ctype], data, f.offset)[0]
        else:  # Level[20]
            out[f.name] = [struct.unpack_from("<QQ", data, f.offset + 16 * i) for i in range(abi.MAX_LEVELS)]
    return out


def decode_features(data: bytes) -> dict:
    assert len(data) == abi.FEATURES.size
    return {f.name: struct.unpack_from(_U[f.ctype], data, f.offset)[0] for f in abi.FEATURES.fields}


def all_levels(book: Book) -> tuple[list, list]:
    return book.top(1 << 30)


# ---------------------------------------------------------------- reference model


class RefStats:
    """The OnlineFeatures recurrences of abi.py, written the obvious way."""

    def __init__(self) -> None:
        self.mid = 0.0
        self.ema = 0.0
        self.vol = 0.0
        self.change = 0.0

    def advance(self, bids: dict, asks: dict) -> None:
        if not bids or not asks:
            self.change = 0.0
            return
        mid = (max(bids) + min(asks)) / 2e8
        if self.mid == 0.0:
            self.ema, self.vol, self.change = mid, 0.0, 0.0
        else:
            self.change = (mid - self.mid) / self.mid * 1e4
            self.ema += 0.05 * (mid - self.ema)
            self.vol += 0.05 * (abs(self.change) - self.vol)
        self.mid = mid


def ref_features(bids: dict, asks: dict, stats: RefStats, updates: int) -> dict:
    top_b = sorted(bids.items(), reverse=True)
    top_a = sorted(asks.items())
    bq = top_b[0][1] / 1e8 if top_b else 0.0
    aq = top_a[0][1] / 1e8 if top_a else 0.0
    bq5 = sum(q for _, q in top_b[:5]) / 1e8
    aq5 = sum(q for _, q in top_a[:5]) / 1e8
    if top_b and top_a:
        bid, ask = top_b[0][0], top_a[0][0]
        mid, spread = (bid + ask) / 2e8, (ask - bid) / 1e8
        micro = (bid / 1e8 * aq + ask / 1e8 * bq) / (bq + aq)
    else:
        mid = spread = micro = 0.0
    return {
        "mid": mid,
        "spread": spread,
        "microprice": micro,
        "imbalance": (bq - aq) / (bq + aq) if bq + aq else 0.0,
        "imbalance_5": (bq5 - aq5) / (bq5 + aq5) if bq5 + aq5 else 0.0,
        "ema_mid": stats.ema,
        "volatility_bps": stats.vol,
        "mid_change_bps": stats.change,
        "updates": updates,
    }


class RefBook:
    """Dict-based model of the book contract in book.pxd."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.stale = True
        self.ever_valid = False
        self.last_seq = 0
        self.updates = self.gaps = self.crosses = self.resyncs = 0
        self.stats = RefStats()

    def crossed(self) -> bool:
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))

    def snapshot(self, bids: list, asks: list, seq: int) -> None:
        was_stale = self.stale
        self.bids, self.asks = dict(bids), dict(asks)
        self.last_seq = seq
        self.updates += 1
        if self.crossed():
            self.crosses += 1
            self.stale = True
            return
        if was_stale and self.ever_valid:
            self.resyncs += 1
        self.stale, self.ever_valid = False, True
        self.stats.advance(self.bids, self.asks)

    def update(self, side: int, px: int, qty: int, seq: int) -> int:
        if self.stale:
            return IGNORED
        if seq and self.last_seq and seq != self.last_seq + 1:
            self.gaps += 1
            self.stale = True
            return STALE
        if seq:
            self.last_seq = seq
        levels = self.bids if side == BID else self.asks
        if qty:
            levels[px] = qty
        else:
            levels.pop(px, None)
        self.updates += 1
        if self.crossed():
            self.crosses += 1
            self.stale = True
            return STALE
        self.stats.advance(self.bids, self.asks)
        return OK

    def levels(self) -> tuple[list, list]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


def assert_features(book: Book, expected: dict) -> None:
    got = decode_features(book.features_bytes())
    assert got["updates"] == expected.pop("updates")
    for name, value in expected.items():
        assert not math.isnan(got[name]), name
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def ladder(best: int, n: int, step: int, qty: int = 1) -> list[tuple[int, int]]:
    """n levels from `best` moving away by `step` (negative for bids), qty rising with depth."""
    return [(best + i * step, (qty + i) * PX) for i in range(n)]


# ---------------------------------------------------------------- level semantics


def test_fresh_book_is_stale_and_ignores_updates():
    book = Book("BTC-USDT")
    assert book.stale and book.symbol == "BTC-USDT"
    assert book.update(BID, 100 * PX, PX) == IGNORED
    assert book.top() == ([], []) and book.updates == 0


def test_snapshot_update_and_delete():
    book = Book("BTC-USDT")
    # Levels in any order; bids come out descending, asks ascending.
    book.snapshot([(99 * PX, 2 * PX), (100 * PX, PX)], [(102 * PX, 3 * PX), (101 * PX, 4 * PX)], seq=7)
    assert not book.stale and book.last_seq == 7
    assert book.top() == ([(100 * PX, PX), (99 * PX, 2 * PX)], [(101 * PX, 4 * PX), (102 * PX, 3 * PX)])
    assert book.update(BID, 100 * PX, 5 * PX, seq=8) == OK  # quantity change
    assert book.update(BID, 98 * PX, 6 * PX, seq=9) == OK  # new level below
    assert book.update(ASK, 101 * PX, 0, seq=10) == OK  # delete the best ask
    assert book.update(ASK, 150 * PX, 0, seq=11) == OK  # delete of a missing level is harmless
    bids, asks = book.top()
    assert bids == [(100 * PX, 5 * PX), (99 * PX, 2 * PX), (98 * PX, 6 * PX)]
    assert asks == [(102 * PX, 3 * PX)]
    assert (book.last_seq, book.updates) == (11, 5)  # the snapshot counts as one update
    assert book.qty_at(BID, 99 * PX) == 2 * PX and book.qty_at(ASK, 101 * PX) == 0
    assert (book.depth_of(BID), book.depth_of(ASK)) == (3, 1)


def test_depth_beyond_20_is_kept_and_revealed():
    book = Book("ETH-USDT")
    bids = ladder(1000 * PX, 60, -PX)
    asks = ladder(1001 * PX, 45, PX)
    book.snapshot(bids, asks)
    assert (book.depth_of(BID), book.depth_of(ASK)) == (60, 45)
    assert book.top(20) == (bids[:20], asks[:20])
    l2 = decode_l2(book.l2_bytes())
    assert (l2["bid_count"], l2["ask_count"]) == (20, 20)
    for px, _ in bids[:25]:  # eat the top 25 bids: levels 26.. surface
        assert book.update(BID, px, 0) == OK
    assert book.top(20)[0] == bids[25:45]
    assert decode_l2(book.l2_bytes())["bids"] == bids[25:45]
    assert all_levels(book) == (bids[25:], asks)


def test_many_levels_grow_and_stay_sorted():
    book = Book("SOL-USDT")
    book.snapshot([], [])
    rng = random.Random(5)
    prices = rng.sample(range(1, 5000), 3000)
    for px in prices:
        assert book.update(BID, px * PX, px) == OK
    assert all_levels(book)[0] == sorted(((px * PX, px) for px in prices), reverse=True)


def test_drifting_market_matches_model():
    """A market trending up then down: the arrays shift, re-centre and grow many times over."""
    rng = random.Random(17)
    book, ref = Book("DRIFT"), RefBook()
    book.snapshot(ladder(1000 * PX, 40, -PX), ladder(1001 * PX, 40, PX), seq=1)
    ref.snapshot(ladder(1000 * PX, 40, -PX), ladder(1001 * PX, 40, PX), 1)
    seq, deepest, lowest_bid, highest_bid = 1, 0, 1000 * PX, 1000 * PX
    for step in range(20_000):
        trend = 1 if step < 10_000 else -1
        side = rng.choice((BID, ASK))
        levels = ref.bids if side == BID else ref.asks
        best_bid, best_ask = max(ref.bids), min(ref.asks)
        r = rng.random()
        if r < 0.3:  # new best on the side the market moves towards, or a new worst level far away
            if (side == BID) == (trend == 1):
                px = best_bid + PX if side == BID else best_ask - PX
                if best_bid + PX >= best_ask or best_ask - PX <= best_bid:
                    continue
            else:
                px = min(levels) - PX if side == BID else max(levels) + PX
            qty = rng.randint(1, 9) * PX
        elif r < 0.55 and len(levels) > 2:  # cancel the best or the worst level
            px = rng.choice((max(levels), min(levels)))
            qty = 0
        else:  # quantity change somewhere
            px, qty = rng.choice(list(levels)), rng.randint(1, 9) * PX
        seq += 1
        assert book.update(side, px, qty, seq=seq) == ref.update(side, px, qty, seq) == OK
        deepest = max(deepest, book.depth_of(side))
        lowest_bid, highest_bid = (
            min(lowest_bid, book.top(1)[0][0][0]),
            max(highest_bid, book.top(1)[0][0][0]),
        )
        if step % 997 == 0:
            assert all_levels(book) == ref.levels()
    assert all_levels(book) == ref.levels()
    # The stream did what it is for: deep books, and a best price that travelled far both ways.
    assert deepest > 300 and highest_bid - 1000 * PX > 500 * PX and highest_bid - lowest_bid > 500 * PX


# ---------------------------------------------------------------- staleness


def test_gap_marks_stale_then_ignores_until_snapshot_resync():
    book = Book("BTC-USDT")
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)], seq=10)
    assert decode_l2(book.l2_bytes())["flags"] == 0  # the first snapshot is not a resync
    assert book.update(BID, 100 * PX, 2 * PX, seq=11) == OK
    assert book.update(BID, 100 * PX, 3 * PX, seq=13) == STALE  # 12 missing
    assert book.stale and book.gaps == 1 and book.last_seq == 11
    assert book.top()[0] == [(100 * PX, 2 * PX)]  # the gapped update was not applied
    assert book.update(BID, 99 * PX, PX, seq=14) == IGNORED
    assert book.top()[0] == [(100 * PX, 2 * PX)]
    assert decode_l2(book.l2_bytes())["flags"] & abi.BOOK_FLAG_STALE

    book.snapshot([(100 * PX, 7 * PX)], [(101 * PX, PX)], seq=20)
    assert not book.stale and book.resyncs == 1 and book.last_seq == 20
    # Every reader of the resync book sees the flag, not only the first one.
    assert decode_l2(book.l2_bytes())["flags"] == abi.BOOK_FLAG_RESYNCED
    assert decode_l2(book.l2_bytes())["flags"] == abi.BOOK_FLAG_RESYNCED
    assert book.update(BID, 99 * PX, PX, seq=21) == OK
    assert decode_l2(book.l2_bytes())["flags"] == 0

    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)], seq=30)  # refresh of a healthy book
    assert book.resyncs == 1 and decode_l2(book.l2_bytes())["flags"] == 0


def test_duplicate_sequence_number_is_a_gap():
    book = Book("BTC-USDT")
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)], seq=10)
    assert book.update(BID, 100 * PX, 2 * PX, seq=10) == STALE
    assert book.gaps == 1


def test_crossed_update_marks_stale():
    book = Book("BTC-USDT")
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)], seq=1)
    assert book.update(BID, 101 * PX, PX, seq=2) == STALE  # bid == ask counts as crossed
    assert book.stale and book.crosses == 1 and book.gaps == 0
    assert book.update(BID, 101 * PX, 0, seq=3) == IGNORED  # even an update that would uncross it


def test_crossed_snapshot_stays_stale_until_a_good_one():
    book = Book("BTC-USDT")
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)])
    book.snapshot([(102 * PX, PX)], [(101 * PX, PX)])
    assert book.stale and book.crosses == 1 and book.resyncs == 0
    assert book.update(BID, 90 * PX, PX) == IGNORED
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)])
    assert not book.stale and book.resyncs == 1
    assert decode_l2(book.l2_bytes())["flags"] == abi.BOOK_FLAG_RESYNCED


def test_crossed_first_snapshot_is_not_counted_as_resync():
    book = Book("BTC-USDT")
    book.snapshot([(102 * PX, PX)], [(101 * PX, PX)])
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)])
    assert not book.stale and book.resyncs == 0


def test_unsequenced_feed_never_gaps():
    book = Book("BTC-USDT")
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)])
    for i in range(50):
        assert book.update(BID, (90 + i % 10) * PX, (i + 1) * PX) == OK
    assert book.gaps == 0 and book.last_seq == 0
    # A sequenced update after a seq-less snapshot starts the sequence.
    assert book.update(ASK, 102 * PX, PX, seq=500) == OK
    assert book.update(ASK, 103 * PX, PX, seq=501) == OK
    assert book.update(ASK, 104 * PX, PX, seq=503) == STALE


# ---------------------------------------------------------------- ABI bytes


def test_l2_bytes_match_top_and_zero_padding():
    book = Book("BTC-USDT")
    bids = ladder(65_000 * PX, 7, -PX // 100)
    asks = ladder(65_000 * PX + PX // 100, 23, PX // 100)
    book.snapshot(bids, asks, seq=3, ts_ns=1_700_000_000_123_456_789)
    data = book.l2_bytes(symbol_idx=9)
    assert len(data) == abi.L2BOOK.size == 656
    l2 = decode_l2(data)
    top_bids, top_asks = book.top(20)
    assert (l2["symbol_idx"], l2["bid_count"], l2["ask_count"]) == (9, 7, 20)
    assert l2["ts_ns"] == 1_700_000_000_123_456_789 and l2["flags"] == 0
    assert l2["bids"][:7] == top_bids == bids
    assert l2["asks"] == top_asks == asks[:20]
    assert l2["bids"][7:] == [(0, 0)] * 13
    assert data[abi.L2BOOK.offset("bids") + 7 * 16 : abi.L2BOOK.offset("asks")] == bytes(13 * 16)


def test_l2_bytes_of_empty_book_are_all_zero_but_symbol():
    book = Book("BTC-USDT")
    book.snapshot([], [])
    data = book.l2_bytes(symbol_idx=1)
    assert data[:2] == b"\x01\x00" and data[2:] == bytes(654)


def test_write_into_writes_the_io_block_prefix():
    book = Book("BTC-USDT")
    book.snapshot(ladder(100 * PX, 3, -PX), ladder(101 * PX, 3, PX), ts_ns=42)
    buf = bytearray(b"\xff" * 800)
    book.write_into(buf, symbol_idx=2)
    assert bytes(buf[:656]) == book.l2_bytes(2)
    assert bytes(buf[656:728]) == book.features_bytes()
    assert buf[728:] == b"\xff" * 72  # nothing written past OnlineFeatures
    with pytest.raises(ValueError, match="728"):
        book.write_into(bytearray(700))


# ---------------------------------------------------------------- features


@pytest.mark.parametrize(
    ("bids", "asks"),
    [
        (ladder(100 * PX, 8, -PX), ladder(101 * PX, 8, PX)),  # two-sided, deep
        ([(65_000 * PX, 3 * PX)], [(65_000 * PX + PX // 100, 1)]),  # lopsided top
        (ladder(100 * PX, 3, -PX), []),  # bids only
        ([], ladder(101 * PX, 2, PX)),  # asks only
        ([], []),  # empty
    ],
    ids=["deep", "lopsided", "bids-only", "asks-only", "empty"],
)
def test_features_match_python_definitions(bids, asks):
    book = Book("BTC-USDT")
    book.snapshot(bids, asks)
    ref = RefBook()
    ref.snapshot(bids, asks, 0)
    assert_features(book, ref_features(ref.bids, ref.asks, ref.stats, ref.updates))
    one_sided = not bids or not asks
    if one_sided:  # no mid, no NaN: documented as 0.0
        f = decode_features(book.features_bytes())
        assert f["mid"] == f["microprice"] == f["spread"] == f["ema_mid"] == 0.0


def test_statistics_advance_per_update_not_per_read():
    rng = random.Random(11)
    book = Book("BTC-USDT")
    ref = RefBook()
    bids, asks = ladder(1000 * PX, 10, -PX), ladder(1001 * PX, 10, PX)
    book.snapshot(bids, asks, seq=1)
    ref.snapshot(bids, asks, 1)
    for seq in range(2, 400):
        side = rng.choice((BID, ASK))
        best_bid, best_ask = max(ref.bids), min(ref.asks)
        if side == BID:
            px = rng.randint(best_bid - 5 * PX, best_ask - 1) // PX * PX
        else:
            px = -(-rng.randint(best_bid + 1, best_ask + 5 * PX) // PX) * PX
        qty = rng.choice((0, 0, rng.randint(1, 50) * PX))
        if qty == 0 and len(ref.bids if side == BID else ref.asks) == 1:
            qty = PX  # keep the book two-sided
        assert book.update(side, px, qty, seq=seq) == ref.update(side, px, qty, seq)
        expected = ref_features(ref.bids, ref.asks, ref.stats, ref.updates)
        assert_features(book, dict(expected))
        assert_features(book, dict(expected))  # a second reader sees the same statistics
    assert ref.stats.vol > 0 and ref.stats.ema != ref.stats.mid  # the stream did move the mid


def test_statistics_hold_while_one_sided_and_resume_against_last_mid():
    book = Book("BTC-USDT")
    book.snapshot([(100 * PX, PX)], [(102 * PX, PX)])
    assert book.update(ASK, 102 * PX, 0) == OK  # asks empty: no mid
    f = decode_features(book.features_bytes())
    assert (f["mid"], f["ema_mid"], f["mid_change_bps"]) == (0.0, 101.0, 0.0)
    assert book.update(ASK, 104 * PX, PX) == OK  # mid 102 vs the last two-sided mid 101
    f = decode_features(book.features_bytes())
    assert f["mid_change_bps"] == pytest.approx((102 - 101) / 101 * 1e4)
    assert f["ema_mid"] == pytest.approx(101 + 0.05 * (102 - 101))


# ---------------------------------------------------------------- apply_many


def records(rows: list[tuple[int, int, int, int, int]]) -> array.array:
    return array.array("Q", [v for row in rows for v in row])


def test_apply_many_equals_single_updates():
    rng = random.Random(3)
    rows = []
    for seq in range(101, 2101):
        side = rng.choice((BID, ASK))
        px = (rng.randint(900, 999) if side == BID else rng.randint(1001, 1100)) * PX
        rows.append((side, px, rng.choice((0, rng.randint(1, 9) * PX)), seq, seq * 1000))
    one, many = Book("A"), Book("A")
    for book in (one, many):
        book.snapshot(ladder(999 * PX, 50, -PX), ladder(1001 * PX, 50, PX), seq=100)
    for row in rows:
        assert one.update(*row) == OK
    assert many.apply_many(records(rows)) == len(rows)
    assert all_levels(many) == all_levels(one)
    assert many.features_bytes() == one.features_bytes()
    assert many.l2_bytes() == one.l2_bytes() and many.last_ts_ns == 2100 * 1000
    # numpy (N, 5) uint64 works as well
    third = Book("A")
    third.snapshot(ladder(999 * PX, 50, -PX), ladder(1001 * PX, 50, PX), seq=100)
    assert third.apply_many(np.array(rows, dtype=np.uint64)) == len(rows)
    assert third.l2_bytes() == one.l2_bytes()


def test_apply_many_stops_at_the_record_that_makes_the_book_stale():
    book = Book("A")
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)], seq=1)
    rows = [(BID, (99 - i) * PX, PX, seq, 0) for i, seq in enumerate((2, 3, 9, 10))]  # 4..8 missing
    assert book.apply_many(records(rows)) == 2
    assert book.stale and book.gaps == 1 and book.depth_of(BID) == 3
    assert book.apply_many(records(rows)) == 0  # already stale: nothing applied


def test_apply_many_rejects_bad_records_and_buffers():
    book = Book("A")
    book.snapshot([(100 * PX, PX)], [(101 * PX, PX)])
    with pytest.raises(ValueError, match="record 1"):
        book.apply_many(records([(BID, 99 * PX, PX, 0, 0), (3, 99 * PX, PX, 0, 0)]))
    assert book.qty_at(BID, 99 * PX) == PX  # the record before the bad one stays applied
    with pytest.raises(ValueError, match="record 0"):
        book.apply_many(records([(ASK, 0, PX, 0, 0)]))
    with pytest.raises(ValueError, match="N x 5"):
        book.apply_many(array.array("Q", [1, 2, 3]))
    with pytest.raises(TypeError, match="uint64"):
        book.apply_many(array.array("d", [1.0] * 5))
    with pytest.raises(TypeError, match="uint64"):
        book.apply_many(np.ones(5, dtype=np.int64))  # signed: a negative price must not wrap around
    with pytest.raises(TypeError, match="list"):
        book.apply_many([BID, PX, PX, 0, 0])
    with pytest.raises(ValueError, match="contiguous"):
        book.apply_many(np.ones((2, 10), dtype=np.uint64)[:, ::2])
    assert book.apply_many(array.array("Q")) == 0


# ---------------------------------------------------------------- bad input


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="symbol"):
        Book("")
    book = Book("A")
    with pytest.raises(ValueError, match="side"):
        book.update(3, PX, PX)
    with pytest.raises(ValueError, match="px_1e8"):
        book.update(BID, -5, PX)
    with pytest.raises(ValueError, match="px_1e8 must be > 0"):
        book.update(BID, 0, PX)
    with pytest.raises(TypeError, match="qty_1e8"):
        book.update(BID, PX, 1.5)
    with pytest.raises(ValueError, match="twice"):
        book.snapshot([(PX, 1), (PX, 2)], [])
    with pytest.raises(ValueError, match="quantities must be > 0"):
        book.snapshot([(PX, 0)], [])
    with pytest.raises(ValueError, match="pair"):
        book.snapshot([PX], [])
    book.snapshot([(PX, 1)], [(2 * PX, 1)])
    with pytest.raises(ValueError, match="twice"):  # a rejected snapshot leaves the book alone
        book.snapshot([(PX, 1), (PX, 2)], [])
    assert book.top() == ([(PX, 1)], [(2 * PX, 1)]) and not book.stale


# ---------------------------------------------------------------- property test against the model

PRICE = st.integers(min_value=1, max_value=120)


def snapshot_side(low: int, high: int) -> st.SearchStrategy:
    level = st.tuples(st.integers(low, high), st.integers(1, 9))
    return st.lists(level, unique_by=lambda lv: lv[0], max_size=30)


OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("update"),
            st.sampled_from((BID, ASK)),
            PRICE,
            st.sampled_from((0, 0, 1, 2, 3, 50)),
            st.sampled_from(("next", "next", "next", "zero", "jump")),
        ),
        st.tuples(
            st.just("snapshot"),
            snapshot_side(1, 70),  # bids and asks overlap: some snapshots are crossed
            snapshot_side(55, 120),
            st.integers(0, 1000),
        ),
    ),
    max_size=150,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_book_matches_dict_model(ops):
    book, ref = Book("P"), RefBook()
    for op in ops:
        if op[0] == "snapshot":
            _, bids, asks, seq = op
            bids = [(px * PX, q * PX) for px, q in bids]
            asks = [(px * PX, q * PX) for px, q in asks]
            book.snapshot(bids, asks, seq=seq)
            ref.snapshot(bids, asks, seq)
        else:
            _, side, px, qty, seq_kind = op
            seq = {"next": ref.last_seq + 1, "zero": 0, "jump": ref.last_seq + 3}[seq_kind]
            assert book.update(side, px * PX, qty * PX, seq=seq) == ref.update(side, px * PX, qty * PX, seq)
        assert all_levels(book) == ref.levels()
        assert (book.stale, book.last_seq, book.updates) == (ref.stale, ref.last_seq, ref.updates)
        assert (book.gaps, book.crosses, book.resyncs) == (ref.gaps, ref.crosses, ref.resyncs)
        bids, asks = ref.levels()
        l2 = decode_l2(book.l2_bytes())
        assert l2["bids"][: l2["bid_count"]] == bids[:20] and l2["asks"][: l2["ask_count"]] == asks[:20]
        if not ref.stale:
            assert_features(book, ref_features(ref.bids, ref.asks, ref.stats, ref.updates))
