"""The Rust SDK and the C header against abi.py, and the native vtable path end to end.

Builds with Debian's Rust 1.63 (/usr/bin/cargo, RUSTC=/usr/bin/rustc) into examples/target,
the workspace's ignored build directory.
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
from pathlib import Path

import pytest
import wasmtime

from sequence_edge.algo import abi
from tests.algo_harness import book_bytes, pack, state_bytes

REPO = Path(__file__).resolve().parents[1]
CARGO, RUSTC = Path("/usr/bin/cargo"), Path("/usr/bin/rustc")
HEADER = REPO / "sdk" / "include" / "sequence_algo.h"

pytestmark = pytest.mark.skipif(
    not (CARGO.exists() and RUSTC.exists()), reason="Debian's cargo/rustc 1.63 are not installed"
)


def cargo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS")}
    env["RUSTC"] = str(RUSTC)
    result = subprocess.run(
        [str(CARGO), *args, "--offline"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"cargo {' '.join(args)} failed:\n{result.stderr}"
    return result


# ---------------------------------------------------------------------------- layouts

C_NAMES = {
    "Level": "seq_level_t",
    "L2Book": "seq_l2book_t",
    "OnlineFeatures": "seq_features_t",
    "Fill": "seq_fill_t",
    "Reject": "seq_reject_t",
    "Nbbo": "seq_nbbo_t",
    "Position": "seq_position_t",
    "OpenOrder": "seq_open_order_t",
    "AlgoState": "seq_algo_state_t",
    "Action": "seq_action_t",
    "Actions": "seq_actions_t",
    "Message": "seq_message_t",
    "IoBlock": "seq_io_block_t",
}


def test_c_header_layout_and_constants_match_abi_py(tmp_path: Path) -> None:
    checks = []
    for s in abi.STRUCTS:
        c = C_NAMES[s.name]
        checks.append(f'_Static_assert(sizeof({c}) == {s.size}, "{s.name}");')
        for f in s.fields:
            checks.append(f'_Static_assert(offsetof({c}, {f.name}) == {f.offset}, "{s.name}.{f.name}");')
            checks.append(
                f'_Static_assert(sizeof((({c} *)0)->{f.name}) == {f.size}, "{s.name}.{f.name} size");'
            )
    constants = {"SEQ_ABI_VERSION": abi.ABI_VERSION, "SEQ_MAX_ACTIONS": abi.MAX_ACTIONS}
    constants |= {f"SEQ_REJECT_{name}": code for code, name in abi.REJECT_REASONS.items()}
    constants["SEQ_CAP_EXTENDED_TABLE"] = abi.CAP_EXTENDED_TABLE
    for prefix in (
        "SIDE_",
        "ACTION_",
        "ORDER_",
        "FILL_FLAG_",
        "BOOK_FLAG_",
        "SEND_",
        "MAX_",
        "LOG_",
        "SUB_ERR_",
        "ACTIONS_FLAG_",
    ):
        constants |= {
            f"SEQ_{n}": v for n, v in vars(abi).items() if n.startswith(prefix) and isinstance(v, int)
        }
    checks += [f'_Static_assert({name} == {value}, "{name}");' for name, value in constants.items()]
    checks.append(
        f'_Static_assert(sizeof(SEQ_NATIVE_VTABLE_SYMBOL) == {len(abi.NATIVE_VTABLE_SYMBOL) + 1}, "sym");'
    )
    source = tmp_path / "check.c"
    source.write_text('#include "sequence_algo.h"\n' + "\n".join(checks) + "\nint main(void) { return 0; }\n")
    for compiler, std in (("gcc", "-std=c11"), ("g++", "-std=c++17")):
        cmd = [
            compiler,
            std,
            "-Wall",
            "-Werror",
            "-I",
            str(HEADER.parent),
            "-c",
            str(source),
            "-o",
            "/dev/null",
        ]
        if compiler == "g++":
            cmd[-4:-4] = ["-x", "c++", "-D_Static_assert=static_assert"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert f'"{abi.NATIVE_VTABLE_SYMBOL}"' in HEADER.read_text()


def test_rust_sdk_layout_matches_abi_py() -> None:
    out = cargo("run", "-q", "-p", "sequence-algo-sdk", "--features", "std", "--example", "abi_layout").stdout
    layout: dict[str, dict[str, tuple[int, int]]] = {}
    for line in out.splitlines():
        struct_name, field, offset, size = line.split()
        layout.setdefault(struct_name, {})[field] = (int(offset), int(size))
    assert set(layout) == {s.name for s in abi.STRUCTS}
    for s in abi.STRUCTS:
        expected = {f.name: (f.offset, f.size) for f in s.fields} | {"-": (0, s.size)}
        assert layout[s.name] == expected, s.name


def test_rust_sdk_unit_tests_pass() -> None:
    result = cargo("test", "-q", "-p", "sequence-algo-sdk", "--features", "std")
    assert "test result: ok" in result.stdout


# ---------------------------------------------------------------------------- native vtable

LOG_FN = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32
)
SEND_FN = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32
)
NOW_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)
PARAM_FN = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32
)
POSITION_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_uint32)
NAME_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32)
SUB_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32)


class HostApi(ctypes.Structure):
    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("log", LOG_FN),
        ("send", SEND_FN),
        ("now_ns", NOW_FN),
        ("param", PARAM_FN),
        ("position", POSITION_FN),
        ("symbol", NAME_FN),
        ("venue_name", NAME_FN),
        ("subscribe", SUB_FN),
        ("unsubscribe", SUB_FN),
    ]


P = ctypes.c_void_p
STATE_ACTIONS = ctypes.CFUNCTYPE(ctypes.c_int32, P, P, P)


class Vtable(ctypes.Structure):
    _fields_ = [
        ("abi_version", ctypes.c_uint32),
        ("capabilities", ctypes.c_uint32),
        ("create", ctypes.CFUNCTYPE(P, ctypes.POINTER(HostApi))),
        ("destroy", ctypes.CFUNCTYPE(None, P)),
        ("on_book", ctypes.CFUNCTYPE(ctypes.c_int32, P, P, P, P, P)),
        ("on_fill", ctypes.CFUNCTYPE(ctypes.c_int32, P, P, P)),
        ("on_reject", ctypes.CFUNCTYPE(ctypes.c_int32, P, P)),
        ("on_nbbo", ctypes.CFUNCTYPE(ctypes.c_int32, P, P, P, P)),
        ("on_message", ctypes.CFUNCTYPE(ctypes.c_int32, P, P, P, P)),
        ("on_heartbeat", ctypes.CFUNCTYPE(ctypes.c_int32, P, ctypes.c_uint64, P, P)),
        ("on_start", STATE_ACTIONS),
        ("on_stop", STATE_ACTIONS),
        ("on_shutdown", STATE_ACTIONS),
        ("on_pause", STATE_ACTIONS),
        ("on_resume", STATE_ACTIONS),
        ("on_subscribed", ctypes.CFUNCTYPE(ctypes.c_int32, P, ctypes.c_uint32, P, P)),
        ("on_unsubscribed", ctypes.CFUNCTYPE(ctypes.c_int32, P, ctypes.c_uint32, P, P)),
    ]


def aligned(data: bytes) -> ctypes.Array:
    """An 8-byte-aligned buffer holding `data` (ABI structs need natural alignment)."""
    buf = (ctypes.c_uint64 * ((len(data) + 7) // 8))()
    ctypes.memmove(buf, bytes(data), len(data))
    return buf


class NativeHost:
    """The host side of SequenceHostApi in Python: params in, log lines out."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = {k.encode(): v.encode() for k, v in params.items()}
        self.logs: list[tuple[int, str]] = []
        self.api = HostApi(
            None,
            LOG_FN(self._log),
            SEND_FN(lambda ctx, lp, ll, pp, pl: abi.SEND_OK),
            NOW_FN(lambda ctx: 1),
            PARAM_FN(self._param),
            POSITION_FN(lambda ctx, idx: 0),
            NAME_FN(lambda ctx, idx, buf, cap: abi.ERR_NOT_FOUND),
            NAME_FN(lambda ctx, idx, buf, cap: abi.ERR_NOT_FOUND),
            SUB_FN(lambda ctx, sym, n: abi.SUB_ERR_UNKNOWN_SYMBOL),
            SUB_FN(lambda ctx, sym, n: abi.SUB_ERR_NOT_SUBSCRIBED),
        )

    def _log(self, ctx: int, level: int, msg: ctypes.POINTER(ctypes.c_uint8), length: int) -> None:
        self.logs.append((level, ctypes.string_at(msg, length).decode()))

    def _param(self, ctx: int, key: int, key_len: int, buf: int, cap: int) -> int:
        value = self.params.get(ctypes.string_at(key, key_len))
        if value is None:
            return abi.ERR_NOT_FOUND
        ctypes.memmove(buf, value, min(len(value), cap))
        return len(value)


@pytest.fixture(scope="module")
def native_libs() -> dict[str, Path]:
    features = "market-maker/native,bad-trap/native"
    cargo(
        "build", "-q", "--profile", "native", "--features", features, "-p", "market-maker", "-p", "bad-trap"
    )
    out = REPO / "examples" / "target" / "native"
    return {"market_maker": out / "libmarket_maker.so", "trap": out / "libtrap.so"}


def load_vtable(path: Path) -> Vtable:
    lib = ctypes.CDLL(str(path))
    entry = getattr(lib, abi.NATIVE_VTABLE_SYMBOL)
    entry.restype = ctypes.POINTER(Vtable)
    vtable = entry().contents
    vtable._lib = lib  # keep the library mapped while the table is used
    return vtable


def test_native_market_maker_runs_through_the_vtable(native_libs: dict[str, Path]) -> None:
    vt = load_vtable(native_libs["market_maker"])
    assert vt.abi_version == abi.ABI_VERSION
    declared = abi.CAPABILITIES["OnStart"] | abi.CAPABILITIES["OnStop"] | abi.CAPABILITIES["OnShutdown"]
    assert vt.capabilities == declared | abi.CAP_EXTENDED_TABLE
    host = NativeHost({"qty": "0.03"})
    inst = vt.create(ctypes.byref(host.api))
    assert inst
    state = aligned(state_bytes(next_id=50))
    actions = aligned(bytes(abi.ACTIONS.size))
    assert vt.on_start(inst, state, actions) == 0
    assert any("qty 0.03" in text for _level, text in host.logs)

    bid, ask = 64_990 * 100_000_000, 65_010 * 100_000_000
    book = aligned(book_bytes([(bid, 100_000_000)], [(ask, 100_000_000)]))
    features = aligned(bytes(abi.FEATURES.size))
    assert vt.on_book(inst, book, state, features, actions) == 0
    raw = bytes(actions)
    assert struct.unpack_from("<I", raw, 0)[0] == 2
    first = dict(zip(("kind", "side", "order_type"), raw[8:11], strict=True))
    assert first == {"kind": abi.ACTION_PLACE, "side": abi.SIDE_BUY, "order_type": abi.ORDER_LIMIT}
    assert struct.unpack_from("<QQQ", raw, 8 + 8) == (50, bid, 3_000_000)
    assert struct.unpack_from("<Q", bytes(state), 0)[0] == 52  # next_id advanced in place
    vt.destroy(inst)


def test_native_panic_is_contained_and_poisons_the_instance(native_libs: dict[str, Path]) -> None:
    vt = load_vtable(native_libs["trap"])
    host = NativeHost({})
    inst = vt.create(ctypes.byref(host.api))
    state, actions = aligned(state_bytes()), aligned(bytes(abi.ACTIONS.size))
    book, features = aligned(book_bytes([(1, 1)], [(2, 1)])), aligned(bytes(abi.FEATURES.size))
    assert [vt.on_book(inst, book, state, features, actions) for _ in range(3)] == [0, 0, 0]
    assert vt.on_book(inst, book, state, features, actions) == -1  # the 4th book panics
    errors = [text for level, text in host.logs if level == abi.LOG_ERROR]
    assert len(errors) == 1 and "panic in on_book" in errors[0], host.logs
    assert "trap: book 4 is one too many" in errors[0]  # the panic message reaches the host
    fill = aligned(pack(abi.FILL, order_id=1))
    assert vt.on_fill(inst, fill, state) == -1  # refused from now on
    vt.destroy(inst)


# ---------------------------------------------------------------------------- seed compatibility

# The seeds' code (docs 002 and 003), changed only where the seed elides something
# (`/* init */`, a missing price argument, `// your logic here`).
SEED_MESH = """
use algo_sdk::*;

pub struct Maker { /* ... */ }

impl Algo for Maker {
    fn on_fill(&mut self, fill: &Fill, _state: &AlgoState) {
        // Tell the hedger we just got filled so it can offset the exposure.
        let payload = bytemuck::bytes_of(fill);
        messaging::send("hedger", payload);
    }

    fn on_book(
        &mut self,
        book: &L2Book,
        state: &AlgoState,
        _features: &OnlineFeatures,
        actions: &mut Actions,
    ) {
        // Quote locally on whichever venue this instance is deployed to.
    }
}

export_algo!(Maker { /* init */ });

mod hedger {
    use algo_sdk::*;
    pub struct Hedger;
    impl Algo for Hedger {
        fn on_message(
            &mut self,
            from: &str,
            payload: &[u8],
            state: &AlgoState,
            actions: &mut Actions,
        ) {
            if from == "maker" && payload.len() == std::mem::size_of::<Fill>() {
                let fill: &Fill = bytemuck::from_bytes(payload);
                // Offset maker's fill on our local book.
                actions.sell(state.next_id(), fill.qty_1e8, fill.px_1e8 /* mid - offset */);
            }
        }

        fn on_book(
            &mut self,
            _book: &L2Book,
            _state: &AlgoState,
            _features: &OnlineFeatures,
            _actions: &mut Actions,
        ) {
            // No-op — this instance only acts when nudged by the maker.
        }
    }
}
"""

SEED_NATIVE = """
use algo_sdk::traits::Algo;
use algo_sdk::{Actions, AlgoState, Fill, L2Book, OnlineFeatures, Reject};

#[derive(Default)]
pub struct MyStrategy {
    next_id: u64,
    working_bid: u64,
}

impl Algo for MyStrategy {
    fn on_book(
        &mut self,
        book: &L2Book,
        _state: &AlgoState,
        _features: &OnlineFeatures,
        actions: &mut Actions,
    ) {
        // your logic here — write into `actions`, return.
        let qty = algo_sdk::seq::get_position("BTC-USDT").unwrap_or(0);
        let _ = (book, actions, qty, self.next_id, self.working_bid);
    }
    fn on_fill(&mut self, _fill: &Fill, _state: &AlgoState) {}
    fn on_reject(&mut self, _reject: &Reject) {}
}

// This single line emits `extern "C" fn sequence_algo_vtable_v1() -> *const SequenceAlgoVtable`
algo_sdk::export_native_algo!(MyStrategy);
const _: u32 = algo_sdk::ffi::ABI_VERSION;
"""


def seed_crate(root: Path, source: str, features: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "lib.rs").write_text("#![allow(unused)]\n" + source)
    (root / "Cargo.toml").write_text(
        '[package]\nname = "seed-code"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\ncrate-type = ["cdylib"]\n\n[dependencies]\n'
        f'algo-sdk = {{ path = "{REPO / "sdk"}", package = "sequence-algo-sdk", {features} }}\n\n'
        "[workspace]\n"
    )
    return root


def build_outside_repo(crate: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS")}
    env["RUSTC"] = str(RUSTC)
    return subprocess.run(
        [str(CARGO), "build", "--offline", *args],
        cwd=crate,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_seed_mesh_code_compiles_to_an_abi_v1_bundle(tmp_path: Path) -> None:
    crate = seed_crate(tmp_path / "mesh", SEED_MESH, 'default-features = false, features = ["std"]')
    result = build_outside_repo(crate, "--release", "--target", "wasm32-unknown-unknown")
    assert result.returncode == 0, result.stderr
    wasm = crate / "target" / "wasm32-unknown-unknown" / "release" / "seed_code.wasm"
    module = wasmtime.Module(wasmtime.Engine(), wasm.read_bytes())
    assert set(abi.REQUIRED_EXPORTS) <= {e.name for e in module.exports}


def test_seed_native_code_compiles_to_a_vtable_library(tmp_path: Path) -> None:
    crate = seed_crate(tmp_path / "native", SEED_NATIVE, 'default-features = false, features = ["std"]')
    result = build_outside_repo(crate)
    assert result.returncode == 0, result.stderr
    vt = load_vtable(crate / "target" / "debug" / "libseed_code.so")
    assert vt.abi_version == abi.ABI_VERSION
    host = NativeHost({})
    inst = vt.create(ctypes.byref(host.api))
    state, actions = aligned(state_bytes()), aligned(bytes(abi.ACTIONS.size))
    book, features = aligned(book_bytes([(1, 1)], [(2, 1)])), aligned(bytes(abi.FEATURES.size))
    assert vt.on_book(inst, book, state, features, actions) == 0  # seq::get_position ran via a NULL hook
    vt.destroy(inst)


# ---------------------------------------------------------------------------- callbacks and host calls

PROBE = """
use algo_sdk::*;

#[derive(Default)]
pub struct Probe { subscribed: Option<u16> }

impl Algo for Probe {
    fn on_book(&mut self, _b: &L2Book, _s: &AlgoState, _f: &OnlineFeatures, _a: &mut Actions) {
        self.subscribed = seq::subscribe("ETH-USD").ok();
        match seq::unsubscribe("DOGE-USD") {
            Err(seq::SubscribeError::NotSubscribed) => log::info("not subscribed to DOGE-USD"),
            other => log::error(&format!("unexpected unsubscribe result {:?}", other)),
        }
    }
    // Implemented but NOT declared below: must still be received.
    fn on_nbbo(&mut self, nbbo: &Nbbo, state: &AlgoState, actions: &mut Actions) {
        actions.buy(state.next_id(), 1_000_000, nbbo.bid_px_1e8);
    }
    fn on_subscribed(&mut self, idx: u16, _s: &AlgoState, _a: &mut Actions) {
        info!("subscribed {} (subscribe returned {:?})", idx, self.subscribed);
    }
}

export_native_algo!(Probe, capabilities = [OnStart]);
"""


def test_undeclared_callbacks_are_received_and_unimplemented_ones_decline(tmp_path: Path) -> None:
    crate = seed_crate(tmp_path / "probe", PROBE, 'features = ["std"]')
    result = build_outside_repo(crate)
    assert result.returncode == 0, result.stderr
    vt = load_vtable(crate / "target" / "debug" / "libseed_code.so")
    assert vt.capabilities == abi.CAPABILITIES["OnStart"] | abi.CAP_EXTENDED_TABLE
    subscribed: list[bytes] = []
    host = NativeHost({})
    host.api.subscribe = SUB_FN(lambda ctx, sym, n: subscribed.append(ctypes.string_at(sym, n)) or 3)
    inst = vt.create(ctypes.byref(host.api))
    state, actions = aligned(state_bytes(next_id=7)), aligned(bytes(abi.ACTIONS.size))
    book, features = aligned(book_bytes([(1, 1)], [(2, 1)])), aligned(bytes(abi.FEATURES.size))
    assert vt.on_book(inst, book, state, features, actions) == 0
    assert subscribed == [b"ETH-USD"]
    assert (abi.LOG_INFO, "not subscribed to DOGE-USD") in host.logs

    def flags() -> int:
        return struct.unpack_from("<I", bytes(actions), 4)[0]

    nbbo = aligned(pack(abi.NBBO, bid_px_1e8=42 * abi.FIXED_SCALE))
    assert vt.on_nbbo(inst, nbbo, state, actions) == 0
    assert flags() == 0  # implemented: no decline, and its order is there
    assert struct.unpack_from("<I", bytes(actions), 0)[0] == 1
    assert vt.on_subscribed(inst, 3, state, actions) == 0
    assert flags() == 0
    assert (abi.LOG_INFO, "subscribed 3 (subscribe returned Some(3))") in host.logs
    for call in (lambda: vt.on_heartbeat(inst, 1, state, actions), lambda: vt.on_pause(inst, state, actions)):
        ctypes.memset(actions, 0, abi.ACTIONS.size)
        assert call() == 0
        assert flags() == abi.ACTIONS_FLAG_DECLINED  # the trait's default body
    vt.destroy(inst)


def test_the_seed_cargo_line_builds_with_a_patch(tmp_path: Path) -> None:
    crate = seed_crate(tmp_path / "seed", SEED_NATIVE, 'default-features = false, features = ["std"]')
    manifest = crate / "Cargo.toml"
    text = manifest.read_text().replace(f'path = "{REPO / "sdk"}", ', 'version = "0.4", ')
    manifest.write_text(text + f'\n[patch.crates-io]\nsequence-algo-sdk = {{ path = "{REPO / "sdk"}" }}\n')
    assert 'algo-sdk = { version = "0.4", package = "sequence-algo-sdk", default-features = false' in text
    result = build_outside_repo(crate, "--release")
    assert result.returncode == 0, result.stderr
    vt = load_vtable(crate / "target" / "release" / "libseed_code.so")
    assert vt.abi_version == abi.ABI_VERSION


UNKNOWN_CAP = """
use algo_sdk::*;
pub struct A;
impl Algo for A {
    fn on_book(&mut self, _b: &L2Book, _s: &AlgoState, _f: &OnlineFeatures, _a: &mut Actions) {}
}
export_native_algo!(A {}, capabilities = [OnNbbo, OnTick]);
"""


def test_an_unknown_capability_fails_to_compile_naming_the_valid_ones(tmp_path: Path) -> None:
    crate = seed_crate(tmp_path / "unknown", UNKNOWN_CAP, 'features = ["std"]')
    result = build_outside_repo(crate)
    assert result.returncode != 0
    assert "unknown capability `OnTick`" in result.stderr
    assert "OnSubscribed" in result.stderr
