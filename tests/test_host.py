"""The WASM algo host (edge-image/sequence_edge/host.pyx) with real wasmtime and real modules.

Targeted behaviours use the WAT fixtures in tests/fixtures/host/ (compiled with wasmtime.wat2wasm
here); the SDK-built examples in examples/ are loaded too (skipped only while a file is missing).
Built in place with `cythonize -3 -q -i edge-image/sequence_edge/host.pyx`.
"""

from __future__ import annotations

import array
import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from sequence_edge.algo import abi
from sequence_edge.algo.host import (
    AbiMismatchError,
    Action,
    AlgoHost,
    BundleError,
    CompileError,
    ExportSignatureError,
    ImportMismatchError,
    InstanceStateError,
    InstantiationError,
    IoBlockError,
    MissingExportError,
    NotWasmError,
    UnknownDeploymentError,
)
from sequence_edge.market.book import Book

FIXTURES = Path(__file__).parent / "fixtures" / "host"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PX = abi.FIXED_SCALE  # 1.0 in 1e8 fixed point
BID_PX, BID_QTY, ASK_PX, ASK_QTY = 65_000 * PX, 2 * PX, 65_001 * PX, 3 * PX
PLACE, CANCEL, CANCEL_ALL = abi.ACTION_PLACE, abi.ACTION_CANCEL, abi.ACTION_CANCEL_ALL


def wat(name: str) -> bytes:
    return wasmtime.wat2wasm((FIXTURES / f"{name}.wat").read_text())


def example(relpath: str) -> bytes:
    path = EXAMPLES / relpath
    if not path.exists():
        pytest.skip(f"examples/{relpath} is not in the repo yet (built by the SDK work)")
    return path.read_bytes()


def signed(u: int) -> int:
    """Return codes are stored sign-extended in u64 action fields."""
    return u - (1 << 64) if u >= 1 << 63 else u


def make_book(
    symbol: str = "BTC-USD",
    bid: tuple[int, int] = (BID_PX, BID_QTY),
    ask: tuple[int, int] = (ASK_PX, ASK_QTY),
) -> Book:
    book = Book(symbol)
    book.snapshot([bid], [ask], seq=1, ts_ns=1_700_000_000_000_000_000)
    return book


@pytest.fixture
def host() -> Iterator[AlgoHost]:
    h = AlgoHost()
    yield h
    h.close()


def running(host: AlgoHost, dep: str, bundle: bytes, symbols: list[str] | None = None, **kwargs) -> None:
    host.load(dep, bundle, symbols or ["BTC-USD"], **kwargs)
    host.start(dep)


# ---------------------------------------------------------------- the book reaches the algo


def test_raw_abi_example_places_the_expected_bid(host: AlgoHost) -> None:
    running(host, "raw", example("abi-raw/raw_algo.wasm"))
    assert host.on_book(make_book()) == 1
    # raw_algo.wat: one limit buy at the best bid for min(best bid qty, 0.01), id = next_id.
    assert host.drain_actions("raw") == [
        Action(PLACE, abi.SIDE_BUY, abi.ORDER_LIMIT, 0, 1, BID_PX, 1_000_000)
    ]
    assert [line.level for line in host.drain_logs("raw")] == ["INFO"]
    assert host.status("raw")["next_id"] == 2


def test_raw_example_sees_open_orders_from_algo_state(host: AlgoHost) -> None:
    running(host, "raw", example("abi-raw/raw_algo.wasm"))
    host.set_open_orders("raw", [(7, BID_PX, PX, 0, 0, abi.SIDE_BUY, abi.ORDER_LIMIT)])
    host.on_book(make_book())
    assert host.drain_actions("raw") == []  # it only bids while it has no open order
    host.set_open_orders("raw", [])
    host.on_book(make_book())
    assert [a.kind for a in host.drain_actions("raw")] == [PLACE]


def test_symbol_index_and_book_bytes_reach_the_algo(host: AlgoHost) -> None:
    running(host, "q", wat("quoter"), ["BTC-USD", "ETH-USD"])
    eth = make_book("ETH-USD", bid=(3_000 * PX, 7 * PX), ask=(3_001 * PX, PX))
    btc = make_book("BTC-USD")
    assert host.on_book(eth) == 1
    assert host.on_book(btc) == 1
    # quoter.wat bids the best bid for its quantity with symbol_idx = the argument; it emits
    # CANCEL_ALL 999 instead if the L2Book's own symbol_idx disagrees with the argument.
    assert host.drain_actions("q") == [
        Action(PLACE, abi.SIDE_BUY, 0, 1, 1, 3_000 * PX, 7 * PX),
        Action(PLACE, abi.SIDE_BUY, 0, 0, 2, BID_PX, BID_QTY),
    ]


def test_a_stale_book_is_never_dispatched(host: AlgoHost) -> None:
    running(host, "q", wat("quoter"))
    book = Book("BTC-USD")  # no snapshot yet: stale
    assert host.on_book(book) == 0
    book.snapshot([(BID_PX, BID_QTY)], [(ASK_PX, ASK_QTY)], seq=10)
    assert host.on_book(book) == 1
    book.update(abi.SIDE_BUY, BID_PX, PX, seq=12)  # seq gap: the book goes stale
    assert book.stale
    assert host.on_book(book) == 0
    status = host.status("q")
    assert status["books"] == 1
    assert status["stale_skipped"] == 2
    assert len(host.drain_actions("q")) == 1


def test_books_only_reach_running_instances_of_their_symbol(host: AlgoHost) -> None:
    host.load("btc", wat("quoter"), ["BTC-USD"])
    running(host, "eth", wat("quoter"), ["ETH-USD"])
    assert host.on_book(make_book("BTC-USD")) == 0  # "btc" is loaded, not started
    assert host.on_book(make_book("ETH-USD")) == 1
    assert host.on_book(make_book("SOL-USD")) == 0  # nobody trades it
    assert host.status("btc")["books"] == 0
    assert host.status("eth")["books"] == 1


# ---------------------------------------------------------------- load-time validation


def test_abi_mismatch_is_refused_with_the_exact_message(host: AlgoHost) -> None:
    with pytest.raises(AbiMismatchError) as exc:
        host.load("v2", wat("abi_v2"), ["BTC-USD"])
    assert str(exc.value) == "ABI mismatch: got 2, expected 1"
    assert "v2" not in host


def test_sdk_wrong_abi_example_is_refused(host: AlgoHost) -> None:
    with pytest.raises(AbiMismatchError, match=r"^ABI mismatch: got \d+, expected 1$"):
        host.load("w", example("bad-algos/wrong_abi.wasm"), ["BTC-USD"])


def test_missing_exports_are_listed(host: AlgoHost) -> None:
    with pytest.raises(MissingExportError) as exc:
        host.load("m", wat("missing_exports"), ["BTC-USD"])
    assert "missing required export(s): algo_on_fill, algo_on_reject" in str(exc.value)
    assert isinstance(exc.value, BundleError)


def test_wrong_export_signatures_are_named(host: AlgoHost) -> None:
    with pytest.raises(ExportSignatureError) as exc:
        host.load("s", wat("bad_signature"), ["BTC-USD"])
    message = str(exc.value)
    assert "algo_io must be () -> (i32), got () -> (i64)" in message
    assert "algo_on_book must be (i32) -> (), got () -> ()" in message


@pytest.mark.parametrize(
    "bundle, error, text",
    [
        (b"hello, world", NotWasmError, "not a WebAssembly module"),
        (b"\0asm\x0d\x00\x01\x00", NotWasmError, "component"),
        (b"\0asm\x01\x00\x00\x00\x01\xff\xff", CompileError, "bundle does not compile: .*end-of-file"),
    ],
    ids=["text", "component", "corrupt"],
)
def test_not_wasm_and_broken_wasm_are_refused(host: AlgoHost, bundle: bytes, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        host.load("x", bundle, ["BTC-USD"])


def test_io_block_must_be_aligned_and_inside_memory(host: AlgoHost) -> None:
    with pytest.raises(IoBlockError, match="0x404, which is not 8-byte aligned"):
        host.load("a", wat("io_misaligned"), ["BTC-USD"])
    with pytest.raises(IoBlockError, match="past the end of linear memory"):
        host.load("b", wat("io_out_of_bounds"), ["BTC-USD"])


def test_imports_the_host_does_not_provide_are_refused(host: AlgoHost) -> None:
    with pytest.raises(ImportMismatchError, match=r"imports env\.abort, which the host does not provide"):
        host.load("i", wat("unknown_import"), ["BTC-USD"])


def test_a_start_function_trap_is_reported_at_load(host: AlgoHost) -> None:
    with pytest.raises(InstantiationError) as exc:
        host.load("s", wat("start_traps"), ["BTC-USD"])
    assert str(exc.value) == "instantiating the bundle failed: wasm `unreachable` instruction executed"
    assert host.instances() == []


def test_bad_load_arguments_are_refused(host: AlgoHost) -> None:
    with pytest.raises(ValueError, match=r"1\.\.16 symbols"):
        host.load("a", wat("quoter"), [])
    with pytest.raises(ValueError, match="unique"):
        host.load("a", wat("quoter"), ["BTC-USD", "BTC-USD"])
    with pytest.raises(ValueError, match="deadline_ms"):
        host.load("a", wat("quoter"), ["BTC-USD"], deadline_ms=0)
    with pytest.raises(UnknownDeploymentError):
        host.start("nope")


def test_same_bundle_is_compiled_once(host: AlgoHost) -> None:
    bundle = wat("misbehave")
    first = host.load("a", bundle, ["BTC-USD"])
    second = host.load("b", bundle, ["ETH-USD"])
    assert first.bundle_sha256 == second.bundle_sha256
    assert host.cache_info() == {"modules": 1, "compiles": 1, "hits": 1}


# ---------------------------------------------------------------- bad algos are contained

MISBEHAVIOURS = {
    "l": ("deadline_hits", "deadline exceeded (1 ms) in algo_on_book"),
    "t": ("traps", "trap: wasm `unreachable` instruction executed (in algo_on_book"),
    "m": ("traps", "memory is at 3.1 MiB of its 4.0 MiB cap: a memory.grow beyond the cap was refused"),
    "a": ("abi_violations", "ABI violation: 17 actions > 16 max (in algo_on_book)"),
}


@pytest.mark.parametrize("mode", MISBEHAVIOURS, ids=["infinite_loop", "trap", "memory_hog", "17_actions"])
def test_a_failing_algo_is_contained_while_its_sibling_keeps_trading(host: AlgoHost, mode: str) -> None:
    counter, reason = MISBEHAVIOURS[mode]
    running(host, "good", wat("quoter"))
    running(host, "bad", wat("misbehave"), params={"mode": mode}, memory_limit_bytes=4 << 20)
    book = make_book()
    good_before = host.status("good")["callbacks"]
    for _ in range(3):
        host.on_book(book)
    bad = host.status("bad")
    assert bad["state"] == "failed"
    assert reason in bad["reason"]
    assert bad[counter] == 1
    assert bad["books"] == 1  # nothing after the failure
    assert host.drain_actions("bad") == []
    good = host.status("good")
    assert good["state"] == "running"
    assert good["callbacks"] == good_before + 3
    assert [a.kind for a in host.drain_actions("good")] == [PLACE] * 3
    with pytest.raises(InstanceStateError, match="failed"):
        host.start("bad")


def test_deadline_is_configurable_per_deployment(host: AlgoHost) -> None:
    running(host, "slow", wat("misbehave"), params={"mode": "l"}, deadline_ms=5)
    host.on_book(make_book())
    assert host.status("slow")["reason"] == "deadline exceeded (5 ms) in algo_on_book"


SDK_BAD_ALGOS = {
    "infinite_loop": "deadline exceeded (1 ms) in algo_on_book",
    "trap": "it logged: panicked at",
    "memory_hog": "a memory.grow beyond the cap was refused",
    "too_many_actions": "ABI violation: 17 actions > 16 max",
}


@pytest.mark.parametrize("name", SDK_BAD_ALGOS)
def test_sdk_bad_algo_examples_are_contained(host: AlgoHost, name: str) -> None:
    bundle = example(f"bad-algos/{name}.wasm")
    running(host, "good", wat("quoter"))
    running(host, "bad", bundle, memory_limit_bytes=8 << 20)
    book = make_book()
    for _ in range(6):  # trap.wasm panics on its 4th book
        host.on_book(book)
    bad = host.status("bad")
    assert bad["state"] == "failed", bad
    assert SDK_BAD_ALGOS[name] in bad["reason"]
    assert host.status("good")["books"] == 6
    assert len(host.drain_actions("good")) == 6


def test_sdk_oversized_message_gets_an_error_code_and_keeps_running(host: AlgoHost) -> None:
    running(host, "big", example("bad-algos/oversized_message.wasm"))
    host.on_book(make_book())
    host.on_book(make_book())
    status = host.status("big")
    assert status["state"] == "running"
    assert status["send_errors"] == 2
    assert host.drain_outbox("big") == []
    assert any("code -1" in line.text for line in host.drain_logs("big"))


# ---------------------------------------------------------------- seq.send limits


def test_a_300_byte_send_returns_minus_1_and_the_algo_keeps_running(host: AlgoHost) -> None:
    running(host, "p", wat("misbehave"), params={"mode": "p"})
    host.on_book(make_book())
    host.on_book(make_book())
    assert [signed(a.order_id) for a in host.drain_actions("p")] == [abi.SEND_ERR_PAYLOAD_TOO_LARGE] * 2
    assert host.status("p")["state"] == "running"
    assert host.drain_outbox("p") == []


def test_the_17th_send_in_a_callback_returns_minus_2(host: AlgoHost) -> None:
    running(host, "s", wat("misbehave"), params={"mode": "s"})
    host.on_book(make_book())
    host.on_book(make_book())  # the limit is per callback: the next book may send 16 again
    actions = host.drain_actions("s")
    assert [(signed(a.px_1e8), signed(a.order_id)) for a in actions] == [(0, abi.SEND_ERR_OUTBOX_FULL)] * 2
    outbox = host.drain_outbox("s")
    assert len(outbox) == 32
    assert outbox[0] == ("peer", bytes(8))
    assert host.status("s")["send_errors"] == 2


def test_bad_labels_and_out_of_bounds_pointers_are_refused(host: AlgoHost) -> None:
    running(host, "x", wat("misbehave"), params={"mode": "x"})
    host.on_book(make_book())
    (action,) = host.drain_actions("x")
    assert [signed(action.order_id), signed(action.px_1e8), signed(action.qty_1e8)] == [
        abi.SEND_ERR_BAD_LABEL,
        abi.SEND_ERR_BAD_LABEL,
        abi.SEND_ERR_OUT_OF_BOUNDS,
    ]
    assert host.status("x")["state"] == "running"


# ---------------------------------------------------------------- imports, logs, params


def test_logs_are_drained_with_levels_and_bounded(host: AlgoHost) -> None:
    running(host, "g", wat("misbehave"), params={"mode": "g"})
    before = time.time_ns()
    host.on_book(make_book())
    lines = host.drain_logs("g")
    assert [(line.level, line.text) for line in lines[:5]] == [
        ("DEBUG", "debug line"),
        ("INFO", "info line"),
        ("WARN", "warn line"),
        ("ERROR", "error line"),
        ("ERROR", "(seq.log called with a pointer/length outside linear memory)"),
    ]
    assert lines[5].level == "INFO" and len(lines[5].text) == 240  # a 300-byte line is truncated
    assert all(before <= line.ts_ns <= time.time_ns() for line in lines)
    assert host.drain_logs("g") == []
    for _ in range(100):  # 600 lines, more than the 512-line ring holds
        host.on_book(make_book())
    assert len(host.drain_logs("g")) == 512
    assert host.status("g")["logs_dropped"] == 88


def test_params_and_symbol_names_are_read_through_imports(host: AlgoHost) -> None:
    running(host, "q", wat("misbehave"), params={"mode": "q", "qty": 12345})
    host.on_book(make_book())
    (action,) = host.drain_actions("q")
    assert action.order_id == 5  # full length of "12345", though only 2 bytes fit the buffer
    assert action.px_1e8 == int.from_bytes(b"12", "little")
    assert signed(action.qty_1e8) == abi.ERR_NOT_FOUND  # param "absent"
    assert action.side == 1  # seq.symbol(7) on a one-symbol deployment returned -1


@pytest.mark.parametrize(
    ("value", "text"), [(1e-05, "0.00001"), (0.01, "0.01"), (2e21, "2000000000000000000000")]
)
def test_number_params_reach_the_algo_in_decimal_notation(host: AlgoHost, value: float, text: str) -> None:
    running(host, "q", wat("misbehave"), params={"mode": "q", "qty": value})
    host.on_book(make_book())
    (action,) = host.drain_actions("q")
    assert action.order_id == len(text)  # the full length of the text the algo reads
    assert action.px_1e8 == int.from_bytes(text[:2].encode(), "little")


def test_fill_reject_and_heartbeat_callbacks(host: AlgoHost) -> None:
    running(host, "q", wat("quoter"), ["ETH-USD", "BTC-USD"])
    assert [(line.level, line.text) for line in host.drain_logs("q")] == [("INFO", "start ETH-USD")]
    host.set_position("q", 1, -3 * PX, BID_PX)
    assert host.deliver_fill("q", order_id=41, px_1e8=BID_PX, qty_1e8=PX, symbol_idx=1, side=abi.SIDE_SELL)
    assert host.deliver_reject("q", 42, "MAX_POSITION", 1, PLACE)
    assert host.heartbeat(now_ns=123) == 1
    fill, reject, heartbeat = host.drain_actions("q")
    assert fill == Action(CANCEL, abi.SIDE_SELL, 0, 1, 41, BID_PX, (1 << 64) - 3 * PX)  # qty = seq.position
    assert reject == Action(CANCEL, 0, 0, 1, 42, abi.REJECT_CODES["MAX_POSITION"], PLACE)
    assert heartbeat.kind == CANCEL_ALL and heartbeat.order_id == 123
    assert abs(heartbeat.px_1e8 - time.time_ns()) < 60 * 10**9  # px = seq.now_ns(), wall clock
    assert [(line.level, line.text) for line in host.drain_logs("q")] == [("ERROR", "rejected")]


def test_status_reports_latency_counters_and_capabilities(host: AlgoHost) -> None:
    running(host, "q", wat("quoter"))
    for _ in range(50):
        host.on_book(make_book())
    status = host.status("q")
    assert status["capabilities"] == [
        "algo_on_heartbeat",
        "algo_on_shutdown",
        "algo_on_start",
        "algo_on_stop",
    ]
    latency = status["latency_ns"]
    assert latency["count"] == 1 + 50 // 8  # on_start, then one on_book in 8 (the default sampling)
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert status["callbacks"] == 51
    assert status["actions"] == 50 and status["actions_pending"] == 50
    assert [s["deployment_id"] for s in host.instances()] == ["q"]


def test_latency_of_every_callback_can_be_recorded() -> None:
    host = AlgoHost(latency_sample_every=1)
    try:
        running(host, "q", wat("quoter"))
        for _ in range(20):
            host.on_book(make_book())
        assert host.status("q")["latency_ns"]["count"] == 21
        assert host.get("q").latency_ns(0.5) == host.status("q")["latency_ns"]["p50"]
    finally:
        host.close()
    with pytest.raises(ValueError, match="power of 2"):
        AlgoHost(latency_sample_every=3)


# ---------------------------------------------------------------- lifecycle


def test_stop_keeps_state_and_start_resumes(host: AlgoHost) -> None:
    running(host, "q", wat("quoter"))
    host.on_book(make_book())
    assert host.stop("q") == "stopped"
    assert host.on_book(make_book()) == 0
    assert host.deliver_message("q", "peer", b"x") is False
    assert host.start("q") == "running"
    host.on_book(make_book())
    assert [a.order_id for a in host.drain_actions("q")] == [1, 2]  # next_id survived the stop
    assert [line.text for line in host.drain_logs("q")] == ["start BTC-USD", "stop", "start BTC-USD"]


def test_remove_runs_on_shutdown_and_returns_leftover_actions(host: AlgoHost) -> None:
    running(host, "q", wat("quoter"))
    running(host, "sibling", wat("quoter"))
    host.on_book(make_book())
    leftovers = host.remove("q")
    assert [a.kind for a in leftovers] == [PLACE, CANCEL_ALL]  # undrained on_book + on_shutdown's
    assert leftovers[1].symbol_idx == 0xFFFF
    assert "q" not in host
    assert host.on_book(make_book()) == 1  # only the sibling now
    with pytest.raises(UnknownDeploymentError):
        host.status("q")


def test_reloading_an_id_hot_swaps_and_keeps_trading_state(host: AlgoHost) -> None:
    running(host, "d", wat("quoter"))
    host.on_book(make_book())
    old = host.get("d")
    new = host.load("d", wat("misbehave"), ["BTC-USD"], {"mode": "n"})
    assert new.state == "running" and old.state == "removed"
    assert host.on_book(make_book()) == 1
    assert [a.order_id for a in host.drain_actions("d")] == [1, 2]  # ids continue across the swap
    with pytest.raises(AbiMismatchError):
        host.load("d", wat("abi_v2"), ["BTC-USD"])
    assert host.get("d") is new and new.state == "running"  # a bad bundle leaves the old one


# ---------------------------------------------------------------- mesh: NBBO and messages


def test_nbbo_only_reaches_instances_exporting_algo_on_nbbo(host: AlgoHost) -> None:
    running(host, "single", wat("quoter"))
    running(host, "mesh", wat("mesh"), ["ETH-USD", "BTC-USD"], venue_names=["kraken", "coinbase"])
    assert host.get("mesh").wants_nbbo and not host.get("single").wants_nbbo
    nbbo = {
        "bid_px_1e8": BID_PX,
        "bid_qty_1e8": PX,
        "ask_px_1e8": ASK_PX,
        "ask_qty_1e8": PX,
        "bid_venue": 1,
        "ask_venue": 0,
    }
    assert host.on_nbbo("BTC-USD", **nbbo) == 1
    assert host.drain_actions("mesh") == [Action(PLACE, abi.SIDE_BUY, 0, 1, 1, BID_PX, PX)]
    assert [line.text for line in host.drain_logs("mesh")] == ["coinbase"]
    assert host.drain_actions("single") == []
    assert host.deliver_nbbo("single", symbol_idx=0, **nbbo) is False
    assert host.status("single")["callbacks"] == 1  # on_start only


def test_messages_reach_on_message_and_sends_land_in_the_outbox(host: AlgoHost) -> None:
    running(host, "mesh", wat("mesh"))
    running(host, "single", wat("quoter"))
    assert host.deliver_message("mesh", "maker", b"hello") is True
    assert host.drain_outbox("mesh") == [("maker", b"hello")]
    assert host.drain_actions("mesh") == [Action(CANCEL, 0, 0, 0, 5, 0, 0)]
    assert host.deliver_message("single", "maker", b"hello") is False
    host.on_book(make_book())
    ((label, payload),) = host.drain_outbox("mesh")
    assert label == "hedger" and struct.unpack_from("<HBB", payload) == (0, 1, 1)  # the L2Book header
    with pytest.raises(ValueError, match="payload must be <= 256 bytes"):
        host.deliver_message("mesh", "maker", bytes(257))


def test_outbox_entries_carry_the_time_the_algo_called_send(host: AlgoHost) -> None:
    running(host, "mesh", wat("mesh"))
    before = time.time_ns()
    assert host.deliver_message("mesh", "maker", b"ping") is True
    after = time.time_ns()
    time.sleep(0.01)  # the drain happens later: its time must not be the one reported
    ((label, payload, ts_ns),) = host.drain_outbox("mesh", timestamps=True)
    assert (label, payload) == ("maker", b"ping") and before <= ts_ns <= after


def test_sdk_mesh_maker_sends_its_fill_to_the_hedger(host: AlgoHost) -> None:
    running(host, "maker", example("mesh-arb/maker.wasm"), params={"qty": 0.01})
    running(host, "hedger", example("mesh-arb/hedger.wasm"), venue_names=["kraken", "coinbase"])
    host.on_book(make_book())
    placed = host.drain_actions("maker")
    assert {a.side for a in placed if a.kind == PLACE} == {abi.SIDE_BUY, abi.SIDE_SELL}
    assert host.deliver_fill(
        "maker",
        order_id=placed[0].order_id,
        px_1e8=BID_PX,
        qty_1e8=1_000_000,
        symbol_idx=0,
        side=abi.SIDE_BUY,
        flags=abi.FILL_FLAG_FINAL,
        ts_ns=5,
    )
    ((label, payload),) = host.drain_outbox("maker")
    assert label == "hedger" and len(payload) == abi.FILL.size
    host.on_book(make_book())  # the hedger learns the local touch
    assert host.deliver_message("hedger", "maker", payload)
    hedges = [a for a in host.drain_actions("hedger") if a.kind == PLACE]
    assert [(a.side, a.qty_1e8) for a in hedges] == [(abi.SIDE_SELL, 1_000_000)]


def test_sdk_market_maker_quotes_both_sides_inside_the_touch(host: AlgoHost) -> None:
    running(host, "mm", example("market-maker/market_maker.wasm"), params={"qty": 0.01, "spread_bps": 4})
    host.on_book(make_book())
    quotes = {a.side: a for a in host.drain_actions("mm") if a.kind == PLACE}
    assert set(quotes) == {abi.SIDE_BUY, abi.SIDE_SELL}
    assert BID_PX <= quotes[abi.SIDE_BUY].px_1e8 < quotes[abi.SIDE_SELL].px_1e8 <= ASK_PX
    assert quotes[abi.SIDE_BUY].qty_1e8 == 1_000_000


# ---------------------------------------------------------------- batch loop


def records(n: int, first_seq: int = 2, gap_at: int | None = None) -> array.array:
    """n bid updates [side, px, qty, seq, ts] continuing a snapshot taken at seq 1."""
    out = array.array("Q")
    for i in range(n):
        seq = first_seq + i + (1 if gap_at is not None and i >= gap_at else 0)
        out.extend([abi.SIDE_BUY, BID_PX - (i % 10) * PX, PX + i, seq, i])
    return out


def test_run_updates_applies_and_dispatches_every_update_in_c(host: AlgoHost) -> None:
    running(host, "a", wat("quoter"))
    running(host, "b", wat("quoter"))
    book = make_book()
    assert host.router.run_updates(book, records(1000)) == (1000, 2000)
    assert host.status("a")["books"] == 1000
    assert host.status("a")["next_id"] == 1001
    assert host.status("a")["actions_pending"] == 0  # consumed, standing in for the OMS
    gappy = make_book()
    assert host.router.run_updates(gappy, records(100, gap_at=40), consume_actions=False) == (40, 80)
    assert gappy.stale
    assert len(host.drain_actions("b")) == 40


def test_bench_dispatch_times_batches(host: AlgoHost) -> None:
    running(host, "a", wat("quoter"))
    per_dispatch = host.router.bench_dispatch(make_book(), 3, 100)
    assert len(per_dispatch) == 3 and all(ns > 0 for ns in per_dispatch)
    assert host.status("a")["books"] == 300


def test_reason_text_is_readable(host: AlgoHost) -> None:
    running(host, "t", wat("misbehave"), params={"mode": "t"})
    host.on_book(make_book())
    reason = host.get("t").reason
    assert re.fullmatch(r"trap: wasm `unreachable` instruction executed \(in algo_on_book, at .+\)", reason)


def test_a_closed_host_refuses_new_bundles() -> None:
    host = AlgoHost()
    running(host, "q", wat("quoter"))
    host.close()
    assert host.instances() == []
    with pytest.raises(RuntimeError, match="closed"):
        host.load("q", wat("quoter"), ["BTC-USD"])


def test_an_edge_never_closed_exits_cleanly(tmp_path: Path) -> None:
    """An AlgoHost still alive at interpreter exit (here in a reference cycle) must not let its epoch
    ticker thread tick an Engine that wasmtime's own exit hooks already freed: that segfaulted."""
    script = tmp_path / "never_closed.py"
    script.write_text(
        "import base64, hashlib\n"
        "from pathlib import Path\n"
        "from sequence_edge.edge import Edge, EdgeConfig\n"
        "from sequence_edge.push import parse_push\n"
        f"wasm = Path({str(EXAMPLES / 'mesh-ping/mesh_ping.wasm')!r}).read_bytes()\n"
        "edge = Edge(EdgeConfig(venue='kraken', seed=3, symbols=['BTC-USD']))\n"
        "body = {'bundle': base64.b64encode(wasm).decode(), 'sha256': hashlib.sha256(wasm).hexdigest(),\n"
        "        'symbols': ['BTC-USD'], 'state': 'Running'}\n"
        "edge.push('p', parse_push(body), wasm)\n"
        "edge.step()\n"
        "edge.myself = edge\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
