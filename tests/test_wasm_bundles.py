"""The committed .wasm bundles: ABI conformance and behaviour, with plain wasmtime.

Each bundle is instantiated with host imports written in Python (tests/algo_harness.py), fed
byte-exact ABI structs built from abi.py, and its outputs are read back from linear memory.
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest
import wasmtime

from sequence_edge.algo import abi
from tests.algo_harness import (
    MEMORY_CAP,
    AbiViolation,
    WasmAlgo,
    book_bytes,
    pack,
    state_bytes,
)

REPO = Path(__file__).resolve().parents[1]


def _build_script():
    spec = importlib.util.spec_from_file_location("build_wasm", REPO / "scripts" / "build_wasm.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build_script()
BUNDLES = sorted([*BUILD.CRATE_OUTPUTS.values(), *BUILD.WAT_OUTPUTS.values()])
SDK_BUNDLES = sorted(BUILD.CRATE_OUTPUTS.values())

MARKET_MAKER = REPO / "examples/market-maker/market_maker.wasm"
MAKER = REPO / "examples/mesh-arb/maker.wasm"
HEDGER = REPO / "examples/mesh-arb/hedger.wasm"
RAW = REPO / "examples/abi-raw/raw_algo.wasm"
BAD = REPO / "examples/bad-algos"

PX = 100_000_000  # 1.0 in fixed point
BID, ASK = 64_990 * PX, 65_010 * PX  # a 20-dollar (about 3 bps) wide market


def exports_of(path: Path) -> dict[str, object]:
    module = wasmtime.Module(wasmtime.Engine(), path.read_bytes())
    return {e.name: e.type for e in module.exports}


def signature(functype: wasmtime.FuncType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(str(t) for t in functype.params), tuple(str(t) for t in functype.results)


def places(actions: list[dict]) -> list[dict]:
    return [a for a in actions if a["kind"] == abi.ACTION_PLACE]


def resting(*orders: tuple[int, int, int, int]) -> list[dict[str, int]]:
    """OpenOrder dicts from (order_id, side, px_1e8, qty_1e8)."""
    return [
        {"order_id": oid, "side": side, "px_1e8": px, "qty_1e8": qty, "order_type": abi.ORDER_LIMIT}
        for oid, side, px, qty in orders
    ]


# ---------------------------------------------------------------------------- conformance


@pytest.mark.parametrize("rel", BUNDLES)
def test_bundle_has_the_abi_v1_exports_and_imports(rel: str) -> None:
    path = REPO / rel
    exports = exports_of(path)
    for name in abi.REQUIRED_EXPORTS:
        assert name in exports, f"{rel} lacks {name}"
    assert isinstance(exports["memory"], wasmtime.MemoryType)
    for name, sig in abi.EXPORTS.items():
        if name in exports:
            assert signature(exports[name]) == sig, f"{rel}: {name}"
    module = wasmtime.Module(wasmtime.Engine(), path.read_bytes())
    for imp in module.imports:
        assert imp.module == abi.IMPORT_MODULE, f"{rel} imports from {imp.module}"
        assert signature(imp.type) == abi.IMPORTS[imp.name][:2], f"{rel}: seq.{imp.name}"


@pytest.mark.parametrize("rel", BUNDLES)
def test_bundle_reports_its_abi_version_and_a_valid_io_block(rel: str) -> None:
    algo = WasmAlgo(REPO / rel)
    version = algo.exports["algo_abi_version"](algo.store)
    assert version == (2 if rel.endswith("wrong_abi.wasm") else abi.ABI_VERSION)
    assert algo.io % 8 == 0
    assert algo.io + abi.IO_BLOCK.size <= algo.memory.data_len(algo.store)
    assert algo.exports["algo_io"](algo.store) == algo.io  # stable


@pytest.mark.parametrize("rel", SDK_BUNDLES)
def test_sdk_bundles_are_small(rel: str) -> None:
    size = (REPO / rel).stat().st_size
    assert 1_000 < size < 64 * 1024, f"{rel} is {size} bytes"


def test_every_callback_is_exported_and_unimplemented_ones_decline() -> None:
    for bundle in (HEDGER, MARKET_MAKER, MAKER):
        assert set(abi.OPTIONAL_EXPORTS) <= set(exports_of(bundle)), bundle
    nbbo = pack(abi.NBBO, bid_px_1e8=BID, bid_qty_1e8=PX, ask_px_1e8=ASK, ask_qty_1e8=PX)
    hedger, maker = WasmAlgo(HEDGER), WasmAlgo(MARKET_MAKER)
    hedger.on_nbbo(nbbo, state=state_bytes())
    assert not hedger.declined()  # the hedger implements on_nbbo: it receives NBBO
    maker.on_nbbo(nbbo, state=state_bytes())
    assert maker.declined()  # the market maker does not: the host stops sending it NBBO
    maker.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes())
    assert not maker.declined()


def test_io_block_sections_are_where_abi_py_says() -> None:
    """Bytes written at abi.py's offsets are what the SDK reads: the book's best bid is quoted."""
    algo = WasmAlgo(MARKET_MAKER, params={"spread_bps": "1000"})  # wider than the market: join the touch
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=5))
    buy, sell = places(algo.actions())
    assert (buy["px_1e8"], sell["px_1e8"]) == (BID, ASK)
    assert algo.next_id == 7


# ---------------------------------------------------------------------------- market maker


def test_market_maker_quotes_both_sides_inside_the_touch() -> None:
    algo = WasmAlgo(MARKET_MAKER, params={"qty": "0.02"})
    algo.on_book(book_bytes([(BID, 3 * PX)], [(ASK, PX)]), state=state_bytes(next_id=100))
    buy, sell = places(algo.actions())
    assert (buy["side"], sell["side"]) == (abi.SIDE_BUY, abi.SIDE_SELL)
    assert buy["order_type"] == sell["order_type"] == abi.ORDER_LIMIT
    assert BID <= buy["px_1e8"] < sell["px_1e8"] <= ASK  # at or inside the touch, not crossed
    assert buy["qty_1e8"] == sell["qty_1e8"] == 2_000_000
    assert {buy["order_id"], sell["order_id"]} == {100, 101}
    assert algo.next_id == 102


def test_market_maker_quotes_spread_bps_around_the_microprice_in_a_wide_market() -> None:
    bid, ask = 64_900 * PX, 65_100 * PX  # about 31 bps wide: both quotes fit inside
    algo = WasmAlgo(MARKET_MAKER)
    algo.on_book(book_bytes([(bid, 3 * PX)], [(ask, PX)]), state=state_bytes(next_id=1))
    buy, sell = places(algo.actions())
    micro = (bid * 1 + ask * 3) // 4  # leans towards the thin ask: 65050
    half = micro * 4 // 10_000 // 2
    tick = 1_000_000
    assert buy["px_1e8"] == (micro - half) // tick * tick
    assert sell["px_1e8"] == -(-(micro + half) // tick) * tick
    assert bid < buy["px_1e8"] < micro < sell["px_1e8"] < ask


def test_market_maker_never_crosses_itself() -> None:
    algo = WasmAlgo(MARKET_MAKER, params={"spread_bps": "0"})
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=1))
    buy, sell = places(algo.actions())
    assert sell["px_1e8"] - buy["px_1e8"] == 1_000_000  # one tick apart at the microprice


def test_market_maker_does_not_churn_resting_quotes() -> None:
    algo = WasmAlgo(MARKET_MAKER)
    book = book_bytes([(BID, PX)], [(ASK, PX)])
    algo.on_book(book, state=state_bytes(next_id=1))
    buy, sell = places(algo.actions())
    still_resting = resting(
        (buy["order_id"], abi.SIDE_BUY, buy["px_1e8"], buy["qty_1e8"]),
        (sell["order_id"], abi.SIDE_SELL, sell["px_1e8"], sell["qty_1e8"]),
    )
    algo.on_book(book, state=state_bytes(next_id=3, open_orders=still_resting))
    assert algo.actions() == []
    assert algo.next_id == 3


def test_market_maker_requotes_when_the_mid_moves() -> None:
    algo = WasmAlgo(MARKET_MAKER)
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=1))
    buy, sell = places(algo.actions())
    open_orders = resting(
        (buy["order_id"], abi.SIDE_BUY, buy["px_1e8"], buy["qty_1e8"]),
        (sell["order_id"], abi.SIDE_SELL, sell["px_1e8"], sell["qty_1e8"]),
    )
    up = 10 * PX
    moved = book_bytes([(BID + up, PX)], [(ASK + up, PX)])
    algo.now_ns += 10_000_000  # 10 ms later: inside requote_ms (50 ms), the quotes stay
    algo.on_book(moved, state=state_bytes(next_id=3, open_orders=open_orders))
    assert algo.actions() == []
    algo.now_ns += 50_000_000  # past requote_ms: cancel and re-quote around the new mid
    algo.on_book(moved, state=state_bytes(next_id=3, open_orders=open_orders))
    actions = algo.actions()
    cancelled = {a["order_id"] for a in actions if a["kind"] == abi.ACTION_CANCEL}
    assert cancelled == {buy["order_id"], sell["order_id"]}
    new_buy, new_sell = places(actions)
    assert new_buy["px_1e8"] > buy["px_1e8"] and new_sell["px_1e8"] > sell["px_1e8"]
    assert {new_buy["order_id"], new_sell["order_id"]} == {3, 4}


def test_market_maker_stops_bidding_at_the_long_position_limit() -> None:
    max_position = 5_000_000  # 0.05, the default
    algo = WasmAlgo(MARKET_MAKER)
    algo.on_book(
        book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=1, positions={0: max_position})
    )
    (only,) = places(algo.actions())
    assert only["side"] == abi.SIDE_SELL


def test_market_maker_requotes_after_a_fill_and_cancels_all_on_shutdown() -> None:
    algo = WasmAlgo(MARKET_MAKER)
    book = book_bytes([(BID, PX)], [(ASK, PX)])
    algo.on_book(book, state=state_bytes(next_id=1))
    buy, sell = places(algo.actions())
    fill = pack(
        abi.FILL,
        order_id=buy["order_id"],
        px_1e8=buy["px_1e8"],
        qty_1e8=buy["qty_1e8"],
        side=abi.SIDE_BUY,
        flags=abi.FILL_FLAG_FINAL | abi.FILL_FLAG_MAKER,
    )
    ask_rests = resting((sell["order_id"], abi.SIDE_SELL, sell["px_1e8"], sell["qty_1e8"]))
    after_fill = state_bytes(next_id=3, positions={0: buy["qty_1e8"]}, open_orders=ask_rests)
    algo.on_fill(fill, state=after_fill)
    assert any("filled buy 0.01" in text for _level, text in algo.calls.logs)
    algo.on_book(book, state=after_fill)
    (new_bid,) = [a for a in places(algo.actions()) if a["side"] == abi.SIDE_BUY]
    assert new_bid["order_id"] == 3

    algo.lifecycle("algo_on_shutdown", state=after_fill)
    (cancel_all,) = algo.actions()
    assert cancel_all["kind"] == abi.ACTION_CANCEL_ALL
    assert cancel_all["symbol_idx"] == 0xFFFF


def test_market_maker_logs_its_params_at_start_and_warns_about_bad_ones() -> None:
    algo = WasmAlgo(MARKET_MAKER, params={"spread_bps": "six", "qty": "0.5"})
    algo.lifecycle("algo_on_start", state=state_bytes())
    texts = [text for _level, text in algo.calls.logs]
    assert any(level == abi.LOG_WARN and "spread_bps='six'" in text for level, text in algo.calls.logs)
    assert "market maker started: spread 4 bps, qty 0.5, max position 0.05, tick 0.01" in texts


# ---------------------------------------------------------------------------- mesh pair


def maker_fill(side: int, order_id: int = 42, qty: int = 1_000_000, ts_ns: int = 7) -> bytes:
    return bytes(
        pack(
            abi.FILL,
            order_id=order_id,
            px_1e8=BID,
            qty_1e8=qty,
            side=side,
            ts_ns=ts_ns,
            flags=abi.FILL_FLAG_FINAL,
        )
    )


def test_maker_sends_each_fill_to_the_hedger_as_its_48_bytes() -> None:
    algo = WasmAlgo(MAKER)
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=1))
    assert len(places(algo.actions())) == 2
    fill = maker_fill(abi.SIDE_BUY, order_id=1)
    algo.on_fill(fill, state=state_bytes(next_id=3, positions={0: 1_000_000}))
    assert algo.calls.sends == [("hedger", fill)]
    assert algo.calls.send_codes == [abi.SEND_OK]


def test_hedger_offsets_a_maker_buy_with_an_ioc_sell_through_the_bid() -> None:
    algo = WasmAlgo(HEDGER)
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=1))
    assert algo.actions() == []  # it never trades on its own
    algo.on_message("maker", maker_fill(abi.SIDE_BUY), state=state_bytes(next_id=1))
    (hedge,) = algo.actions()
    assert hedge["kind"] == abi.ACTION_PLACE
    assert (hedge["side"], hedge["order_type"]) == (abi.SIDE_SELL, abi.ORDER_IOC)
    assert hedge["qty_1e8"] == 1_000_000
    assert hedge["px_1e8"] == BID - BID * 20 // 10_000  # 20 bps through the best bid
    assert hedge["order_id"] == 1 and algo.next_id == 2
    assert any("hedge #1: sell 0.01" in text for _level, text in algo.calls.logs)


def test_hedger_ignores_duplicates_strangers_and_malformed_payloads() -> None:
    algo = WasmAlgo(HEDGER)
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=1))
    algo.on_message("maker", maker_fill(abi.SIDE_SELL), state=state_bytes(next_id=1))
    (hedge,) = algo.actions()
    assert hedge["side"] == abi.SIDE_BUY and hedge["px_1e8"] == ASK + ASK * 20 // 10_000
    algo.on_message("maker", maker_fill(abi.SIDE_SELL), state=state_bytes(next_id=2))
    assert algo.actions() == []  # the same fill delivered twice is hedged once
    algo.on_message("intruder", maker_fill(abi.SIDE_SELL, order_id=9), state=state_bytes(next_id=2))
    assert algo.actions() == []
    algo.on_message("maker", b"\x01" * 47, state=state_bytes(next_id=2))
    assert algo.actions() == []
    assert any(level == abi.LOG_WARN and "47 bytes" in text for level, text in algo.calls.logs)
    # A second partial fill of the same order is a different fill and is hedged.
    algo.on_message("maker", maker_fill(abi.SIDE_SELL, ts_ns=8), state=state_bytes(next_id=2))
    assert len(algo.actions()) == 1


def test_hedger_prices_from_the_nbbo_before_it_has_a_local_book() -> None:
    algo = WasmAlgo(HEDGER, venues=("kraken", "coinbase"))
    nbbo = pack(
        abi.NBBO, bid_px_1e8=BID, ask_px_1e8=ASK, bid_qty_1e8=PX, ask_qty_1e8=PX, bid_venue=1, ask_venue=0
    )
    algo.on_nbbo(nbbo, state=state_bytes())
    assert ("first NBBO: bid 64990 on coinbase, ask 65010 on kraken") in [t for _l, t in algo.calls.logs]
    algo.on_message("maker", maker_fill(abi.SIDE_SELL), state=state_bytes(next_id=1))
    (hedge,) = algo.actions()
    assert hedge["px_1e8"] == ASK + ASK * 20 // 10_000


# ---------------------------------------------------------------------------- raw WAT algo


def test_raw_wat_algo_bids_at_the_touch_once_and_logs_once() -> None:
    algo = WasmAlgo(RAW)
    algo.on_book(book_bytes([(BID, 500_000)], [(ASK, PX)]), state=state_bytes(next_id=9))
    (bid,) = algo.actions()
    assert (bid["kind"], bid["side"], bid["order_type"]) == (abi.ACTION_PLACE, abi.SIDE_BUY, abi.ORDER_LIMIT)
    assert (bid["px_1e8"], bid["qty_1e8"], bid["order_id"]) == (BID, 500_000, 9)
    assert algo.next_id == 10
    open_bid = resting((9, abi.SIDE_BUY, BID, 500_000))
    algo.on_book(
        book_bytes([(BID, 5 * PX)], [(ASK, PX)]), state=state_bytes(next_id=10, open_orders=open_bid)
    )
    assert algo.actions() == []
    algo.on_book(book_bytes([(BID, 5 * PX)], [(ASK, PX)]), state=state_bytes(next_id=10))
    (second,) = algo.actions()
    assert second["qty_1e8"] == 1_000_000  # capped at 0.01
    assert len(algo.calls.logs) == 1


# ---------------------------------------------------------------------------- bad algorithms


def test_infinite_loop_is_interrupted_by_the_epoch_deadline() -> None:
    algo = WasmAlgo(BAD / "infinite_loop.wasm")
    with pytest.raises(wasmtime.Trap) as trap:
        algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), timeout_s=0.05)
    assert trap.value.trap_code == wasmtime.TrapCode.INTERRUPT


def test_trap_algo_panics_after_a_few_books_and_logs_why() -> None:
    algo = WasmAlgo(BAD / "trap.wasm")
    book = book_bytes([(BID, PX)], [(ASK, PX)])
    for _ in range(3):
        algo.on_book(book)
    with pytest.raises(wasmtime.Trap) as trap:
        algo.on_book(book)
    assert trap.value.trap_code == wasmtime.TrapCode.UNREACHABLE
    assert any(level == abi.LOG_ERROR and "book 4 is one too many" in t for level, t in algo.calls.logs)


def test_memory_hog_grows_to_the_cap_then_traps() -> None:
    algo = WasmAlgo(BAD / "memory_hog.wasm")
    with pytest.raises(wasmtime.Trap):
        algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]))
    size = algo.memory.data_len(algo.store)
    assert MEMORY_CAP - 1024 * 1024 < size <= MEMORY_CAP
    assert any("memory.grow refused" in text for _level, text in algo.calls.logs)


def test_too_many_actions_claims_seventeen() -> None:
    algo = WasmAlgo(BAD / "too_many_actions.wasm")
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes())
    assert struct.unpack("<I", algo.read("actions", 4))[0] == 17
    with pytest.raises(AbiViolation, match="17"):
        algo.actions()


def test_oversized_message_is_refused_by_the_host_and_the_code_logged() -> None:
    algo = WasmAlgo(BAD / "oversized_message.wasm")
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]))
    assert algo.calls.send_codes == [abi.SEND_ERR_PAYLOAD_TOO_LARGE]
    assert algo.calls.sends == []
    assert any("refused with code -1" in text for _level, text in algo.calls.logs)


def test_market_maker_pauses_after_a_reject() -> None:
    """A rejected quote (e.g. RATE_LIMIT) is not re-sent on every book: the maker waits 250 ms."""
    algo = WasmAlgo(MARKET_MAKER)
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=1))
    buy, _sell = places(algo.actions())
    reject = struct.pack("<QIHBB", buy["order_id"], abi.REJECT_CODES["RATE_LIMIT"], 0, abi.ACTION_PLACE, 0)
    algo.on_reject(reject)
    algo.now_ns += 100_000_000
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=3))
    assert algo.actions() == []
    algo.now_ns += 200_000_000  # 300 ms after the reject
    algo.on_book(book_bytes([(BID, PX)], [(ASK, PX)]), state=state_bytes(next_id=3))
    assert any(a["kind"] == abi.ACTION_PLACE for a in algo.actions())
