"""Native (.so) algorithms: the loader's checks (algo/native.pyx) and native instances in the
host's slots next to WASM ones (pause/resume, subscribe, declined callbacks, panics).

Real libraries throughout: the seed's MyStrategy and the SDK examples built by Debian's cargo,
and a C probe (tests/fixtures/native_probe.c) built by gcc from the public header.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from sequence_edge.algo import abi
from sequence_edge.algo.host import Action, AlgoHost, InstanceStateError
from sequence_edge.algo.native import (
    AbiMismatchError,
    CapabilitiesError,
    MissingSymbolError,
    NativeLibrary,
    NotElfError,
    Sha256MismatchError,
)
from sequence_edge.market.book import Book
from tests.native_support import (
    CARGO,
    RUSTC,
    ProbeCounters,
    build_native_examples,
    build_probe,
    needs_cargo,
    needs_gcc,
)

PX = abi.FIXED_SCALE
BID, ASK = 65_000 * PX, 65_001 * PX


def make_book(symbol: str = "BTC-USD", bid: int = BID, ask: int = ASK) -> Book:
    book = Book(symbol)
    book.snapshot([(bid, 2 * PX)], [(ask, 3 * PX)], seq=1, ts_ns=1_700_000_000_000_000_000)
    return book


@pytest.fixture
def host() -> Iterator[AlgoHost]:
    h = AlgoHost()
    yield h
    h.close()


@pytest.fixture(scope="module")
def rust_libs() -> dict[str, Path]:
    if not (CARGO.exists() and RUSTC.exists()):
        pytest.skip("Debian's cargo/rustc 1.63 are not installed")
    return build_native_examples()


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    return build_probe(tmp_path / "libprobe.so")


# ---------------------------------------------------------------------------- the loader


@needs_gcc
def test_the_loader_reads_version_and_capabilities(probe: Path) -> None:
    lib = NativeLibrary.open(probe, hashlib.sha256(probe.read_bytes()).hexdigest())
    assert lib.abi_version == abi.ABI_VERSION and lib.extended
    assert lib.capability_names() == {"OnHeartbeat", "OnPause", "OnResume", "OnSubscribed", "OnUnsubscribed"}
    lib.close()
    assert lib.closed


@needs_gcc
def test_abi_version_2_is_refused_with_the_mismatch_message(tmp_path: Path) -> None:
    so = build_probe(tmp_path / "libv2.so", "PROBE_ABI=2")
    with pytest.raises(AbiMismatchError, match=r"^AbiMismatch \{ got: 2, expected: 1 \}"):
        NativeLibrary.open(so)


@needs_gcc
def test_a_library_without_the_vtable_symbol_is_refused(tmp_path: Path) -> None:
    so = build_probe(tmp_path / "libnovt.so", "PROBE_NO_VTABLE")
    with pytest.raises(MissingSymbolError, match="does not export sequence_algo_vtable_v1"):
        NativeLibrary.open(so)


@needs_gcc
def test_non_elf_and_foreign_elf_files_are_refused_before_loading(tmp_path: Path, probe: Path) -> None:
    text = tmp_path / "strategy.so"
    text.write_text("#!/bin/sh\necho not a library\n")
    with pytest.raises(NotElfError, match="not an ELF file"):
        NativeLibrary.open(text)
    wasm = Path(__file__).resolve().parents[1] / "examples" / "market-maker" / "market_maker.wasm"
    with pytest.raises(NotElfError, match="not an ELF file"):
        NativeLibrary.from_bytes(wasm.read_bytes(), tmp_path / "cache")
    foreign = bytearray(probe.read_bytes())
    foreign[18:20] = (183).to_bytes(2, "little")  # e_machine: aarch64
    with pytest.raises(NotElfError, match="built for aarch64"):
        NativeLibrary.from_bytes(bytes(foreign), tmp_path / "cache")
    executable = bytearray(probe.read_bytes())
    executable[16:18] = (2).to_bytes(2, "little")  # e_type: ET_EXEC
    with pytest.raises(NotElfError, match="not a shared object"):
        NativeLibrary.from_bytes(bytes(executable), tmp_path / "cache")


@needs_gcc
def test_a_wrong_sha256_is_refused(tmp_path: Path, probe: Path) -> None:
    with pytest.raises(Sha256MismatchError, match="the deployment pins"):
        NativeLibrary.from_bytes(probe.read_bytes(), tmp_path / "cache", "0" * 64)
    assert not (tmp_path / "cache").exists()  # refused before anything was written


@needs_gcc
def test_pushed_bytes_are_stored_by_content_in_a_private_directory(tmp_path: Path, probe: Path) -> None:
    data = probe.read_bytes()
    lib = NativeLibrary.from_bytes(data, tmp_path, hashlib.sha256(data).hexdigest())
    (stored,) = (tmp_path / f"sequence-native-{os.getuid()}").iterdir()
    assert stored.name == f"{lib.sha256}.so" and stored.parent.stat().st_mode & 0o777 == 0o700
    other = build_probe(tmp_path / "libplain.so", "PROBE_CAPS=SEQ_CAP_ON_START")
    lib2 = NativeLibrary.from_bytes(other.read_bytes(), tmp_path)
    assert lib2.capability_names() == {"OnStart"}  # other bytes, another file: never the first library
    lib.close()
    lib2.close()


@needs_gcc
def test_new_callbacks_without_the_extended_table_are_refused(tmp_path: Path) -> None:
    so = build_probe(tmp_path / "libnoext.so", "PROBE_CAPS=SEQ_CAP_ON_PAUSE")
    with pytest.raises(CapabilitiesError, match="need the extended table"):
        NativeLibrary.open(so)


@needs_gcc
def test_the_library_stays_mapped_until_its_instances_are_destroyed(host: AlgoHost, probe: Path) -> None:
    lib = NativeLibrary.open(probe)
    counters = ProbeCounters(probe)
    host.load_native("p", lib, ["BTC-USD"])
    assert counters.value("probe_live_instances") == 1
    with pytest.raises(RuntimeError, match="destroy them first"):
        lib.close()
    host.remove("p")
    assert counters.value("probe_live_instances") == 0  # destroy ran ...
    lib.close()  # ... so the library may go
    assert lib.closed


# ---------------------------------------------------------------------------- native instances


@needs_gcc
def test_capabilities_gate_callbacks_and_undeclared_ones_are_offered_until_declined(
    host: AlgoHost, probe: Path
) -> None:
    counters = ProbeCounters(probe)
    host.load_native("p", NativeLibrary.open(probe), ["BTC-USD"])
    host.start("p")  # OnStart undeclared: offered once, the probe declines
    host.start("p")
    host.stop("p")
    host.start("p")
    assert counters.calls()["start"] == 1
    assert host.heartbeat() == 1 and host.heartbeat() == 1  # declared and implemented
    assert counters.calls()["heartbeat"] == 2
    nbbo = dict(bid_px_1e8=BID, bid_qty_1e8=PX, ask_px_1e8=ASK, ask_qty_1e8=PX)
    assert host.on_nbbo("BTC-USD", **nbbo) == 0  # offered, declined (so not received) ...
    assert not host.get("p").wants_nbbo
    assert host.on_nbbo("BTC-USD", **nbbo) == 0  # ... so no NBBO is prepared for it any more
    assert counters.calls()["nbbo"] == 1


@needs_gcc
def test_a_table_without_extension_gets_only_declared_callbacks(host: AlgoHost, tmp_path: Path) -> None:
    so = build_probe(tmp_path / "libplain.so", "PROBE_CAPS=SEQ_CAP_ON_START")
    counters = ProbeCounters(so)
    host.load_native("p", NativeLibrary.open(so), ["BTC-USD"])
    host.start("p")
    assert host.heartbeat() == 0
    assert host.on_nbbo("BTC-USD", bid_px_1e8=BID, bid_qty_1e8=PX, ask_px_1e8=ASK, ask_qty_1e8=PX) == 0
    assert host.on_book(make_book()) == 1
    calls = counters.calls()
    assert (calls["start"], calls["heartbeat"], calls["nbbo"], calls["book"]) == (1, 0, 0, 1)


@needs_gcc
def test_subscribe_and_unsubscribe_change_what_on_book_sees(host: AlgoHost, probe: Path) -> None:
    counters = ProbeCounters(probe)
    host.set_carried_symbols(["BTC-USD", "ETH-USD", "SOL-USD"])
    host.load_native("p", NativeLibrary.open(probe), ["BTC-USD"], {"subscribe": "ETH-USD"}, max_symbols=2)
    host.start("p")
    eth = make_book("ETH-USD", 3_000 * PX, 3_001 * PX)
    assert host.on_book(eth) == 0  # not subscribed yet
    assert host.on_book(make_book()) == 1  # the first book subscribes to ETH-USD
    assert counters.value("probe_subscribe_result") == 1  # its new symbol index
    assert host.apply_subscriptions() == [("p", ("BTC-USD", "ETH-USD"))]
    assert counters.calls()["subscribed"] == 1
    assert host.status("p")["symbols"] == ["BTC-USD", "ETH-USD"]
    assert host.on_book(eth) == 1  # an ETH book, symbol 1: the probe unsubscribes ETH-USD
    assert counters.books_by_symbol()[:2] == [1, 1]
    assert counters.value("probe_unsubscribe_result") == 0
    assert host.on_book(eth) == 0  # muted at once
    assert host.apply_subscriptions() == []
    assert counters.calls()["unsubscribed"] == 1
    status = host.status("p")
    assert status["symbols"] == ["BTC-USD", "ETH-USD"] and status["unsubscribed"] == ["ETH-USD"]


@needs_gcc
def test_subscribe_is_limited_to_carried_symbols_and_max_symbols(host: AlgoHost, tmp_path: Path) -> None:
    host.set_carried_symbols(["BTC-USD", "ETH-USD"])
    results = {}
    for name, params, max_symbols in (
        ("uncarried", {"subscribe": "DOGE-USD"}, 2),
        ("limit", {"subscribe": "ETH-USD"}, 1),
        ("again", {"subscribe": "BTC-USD"}, 1),
    ):
        so = build_probe(tmp_path / f"lib{name}.so")
        host.load_native(name, NativeLibrary.open(so), ["BTC-USD"], params, max_symbols=max_symbols)
        host.start(name)
        host.on_book(make_book())
        results[name] = ProbeCounters(so).value("probe_subscribe_result")
    assert results == {"uncarried": abi.SUB_ERR_UNKNOWN_SYMBOL, "limit": abi.SUB_ERR_LIMIT, "again": 0}
    assert host.apply_subscriptions() == []


@needs_gcc
def test_pause_keeps_fills_and_routes_and_resume_continues(host: AlgoHost, probe: Path) -> None:
    counters = ProbeCounters(probe)
    host.load_native("p", NativeLibrary.open(probe), ["BTC-USD"])
    host.start("p")
    assert host.pause("p") == "paused"
    assert counters.calls()["pause"] == 1
    assert host.on_book(make_book()) == 0 and host.heartbeat() == 0
    assert host.router.route_subscribers("BTC-USD") == ["p"]  # subscription kept warm
    assert host.deliver_fill("p", order_id=1, px_1e8=BID, qty_1e8=PX, symbol_idx=0, side=abi.SIDE_BUY)
    with pytest.raises(InstanceStateError, match="resume it"):
        host.start("p")
    assert host.resume("p") == "running"
    assert counters.calls()["resume"] == 1
    assert host.on_book(make_book()) == 1
    host.stop("p")
    assert host.router.route_subscribers("BTC-USD") == []  # stop releases the route
    with pytest.raises(InstanceStateError, match="only a running instance can pause"):
        host.pause("p")
    calls = counters.calls()
    assert (calls["book"], calls["fill"]) == (1, 1)


@needs_cargo
def test_the_seed_strategy_trades_through_the_host(host: AlgoHost, rust_libs: dict[str, Path]) -> None:
    lib = NativeLibrary.open(rust_libs["my_strategy"])
    inst = host.load_native("mine", lib, ["BTC-USD"])
    assert inst.runtime == "native" and host.status("mine")["runtime"] == "native"
    host.start("mine")
    assert host.on_book(make_book()) == 1
    (bid,) = host.drain_actions("mine")
    assert bid == Action(abi.ACTION_PLACE, abi.SIDE_BUY, abi.ORDER_LIMIT, 0, 1, BID, 1_000_000)
    assert host.status("mine")["next_id"] == 2
    host.set_open_orders("mine", [(1, BID, 1_000_000, 0, 0, abi.SIDE_BUY, abi.ORDER_LIMIT)])
    assert host.on_book(make_book()) == 1
    assert host.drain_actions("mine") == []  # its bid is still working


@needs_cargo
def test_a_panicking_native_strategy_fails_alone(host: AlgoHost, rust_libs: dict[str, Path]) -> None:
    wasm = (
        Path(__file__).resolve().parents[1] / "examples" / "market-maker" / "market_maker.wasm"
    ).read_bytes()
    host.load("wasm-mm", wasm, ["BTC-USD"])
    host.load_native("trap", NativeLibrary.open(rust_libs["trap"]), ["BTC-USD"])
    host.start("wasm-mm")
    host.start("trap")
    for _ in range(3):
        assert host.on_book(make_book()) == 2
    host.on_book(make_book())  # the 4th book panics inside the .so
    status = host.status("trap")
    assert status["state"] == "failed"
    assert "panicked (in algo_on_book): panic in on_book: panicked at" in status["reason"]
    assert "trap: book 4 is one too many" in status["reason"]
    assert host.on_book(make_book(bid=BID - PX)) == 1  # the WASM sibling keeps trading
    assert host.status("wasm-mm")["state"] == "running"
    assert any(a.kind == abi.ACTION_PLACE for a in host.drain_actions("wasm-mm"))


def test_wasm_subscribe_and_unsubscribe_change_what_on_book_sees(host: AlgoHost) -> None:
    wat = (Path(__file__).parent / "fixtures" / "host" / "subscriber.wat").read_text()
    host.set_carried_symbols(["BTC-USD", "ETH-USD"])
    host.load("w", wasmtime.wat2wasm(wat), ["BTC-USD"], max_symbols=2)
    host.start("w")
    eth = make_book("ETH-USD", 3_000 * PX, 3_001 * PX)
    assert host.on_book(eth) == 0
    assert host.on_book(make_book()) == 1
    assert host.apply_subscriptions() == [("w", ("BTC-USD", "ETH-USD"))]
    assert host.on_book(eth) == 1  # symbol 1 now: the algo unsubscribes it
    assert host.on_book(eth) == 0
    host.apply_subscriptions()
    reports = [(a.order_id, a.px_1e8) for a in host.drain_actions("w")]
    # book of symbol 0 + subscribe -> index 1; on_subscribed(1); book of symbol 1 + unsubscribe -> 0;
    # on_unsubscribed(1)
    assert reports == [(10, 0), (1, 1), (3, 1), (11, 0), (2, 0), (4, 1)]


@needs_cargo
def test_one_source_behaves_the_same_native_and_wasm(host: AlgoHost, rust_libs: dict[str, Path]) -> None:
    params = {"spread_bps": "4", "qty": "0.01", "max_position": "0.05"}
    wasm = (
        Path(__file__).resolve().parents[1] / "examples" / "market-maker" / "market_maker.wasm"
    ).read_bytes()
    host.load("wasm", wasm, ["BTC-USD"], params)
    host.load_native("native", NativeLibrary.open(rust_libs["market_maker"]), ["BTC-USD"], params)
    for dep in ("wasm", "native"):
        host.start(dep)
    assert [line.text for line in host.drain_logs("wasm")] == [
        line.text for line in host.drain_logs("native")
    ]
    mid, placed = 65_000 * PX, 0
    for step in range(60):
        mid += ((step * 7) % 11 - 5) * PX
        assert host.on_book(make_book(bid=mid - PX, ask=mid + PX)) == 2
        wasm_actions, native_actions = host.drain_actions("wasm"), host.drain_actions("native")
        assert wasm_actions == native_actions, step
        placed += sum(a.kind == abi.ACTION_PLACE for a in wasm_actions)
    assert placed > 0
