"""A minimal ABI v1 host written with the plain wasmtime Python API, for testing bundles.

It is not the edge's host (edge-image/sequence_edge/host.pyx): it exists so that the SDK and
the example algorithms can be exercised byte-for-byte against abi.py, with host imports
implemented in Python and results inspected directly.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from sequence_edge.algo import abi

IO = {f.name: f.offset for f in abi.IO_BLOCK.fields}
MEMORY_CAP = 64 * 1024 * 1024

_PACK = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "i64": "<q", "f64": "<d"}


def pack(struct_def: abi.Struct, **values: object) -> bytearray:
    """Bytes of one struct, fields given by name (scalars only), the rest zero."""
    buf = bytearray(struct_def.size)
    by_name = {f.name: f for f in struct_def.fields}
    for name, value in values.items():
        f = by_name[name]
        struct.pack_into(_PACK[f.ctype], buf, f.offset, value)
    return buf


def unpack(struct_def: abi.Struct, data: bytes) -> dict[str, int | float]:
    """Scalar fields of one struct by name."""
    return {
        f.name: struct.unpack_from(_PACK[f.ctype], data, f.offset)[0]
        for f in struct_def.fields
        if f.ctype in _PACK
    }


def book_bytes(bids: list[tuple[int, int]], asks: list[tuple[int, int]], symbol_idx: int = 0) -> bytearray:
    """An L2Book (656 bytes) with (px_1e8, qty_1e8) levels, best first."""
    buf = pack(abi.L2BOOK, symbol_idx=symbol_idx, bid_count=len(bids), ask_count=len(asks), ts_ns=1)
    for side, levels in (("bids", bids), ("asks", asks)):
        base = abi.L2BOOK.offset(side)
        for i, (px, qty) in enumerate(levels):
            struct.pack_into("<QQ", buf, base + i * abi.LEVEL.size, px, qty)
    return buf


def state_bytes(
    next_id: int = 1,
    positions: dict[int, int] | None = None,
    open_orders: list[dict[str, int]] | None = None,
    symbol_count: int = 1,
) -> bytearray:
    """An AlgoState (1576 bytes)."""
    orders = open_orders or []
    buf = pack(abi.ALGO_STATE, next_id=next_id, symbol_count=symbol_count, open_order_count=len(orders))
    for idx, qty in (positions or {}).items():
        struct.pack_into("<q", buf, abi.ALGO_STATE.offset("positions") + idx * abi.POSITION.size, qty)
    for i, order in enumerate(orders):
        start = abi.ALGO_STATE.offset("open_orders") + i * abi.OPEN_ORDER.size
        buf[start : start + abi.OPEN_ORDER.size] = pack(abi.OPEN_ORDER, **order)
    return buf


@dataclass
class HostCalls:
    """What the algorithm did through the `seq` imports."""

    logs: list[tuple[int, str]] = field(default_factory=list)
    sends: list[tuple[str, bytes]] = field(default_factory=list)
    send_codes: list[int] = field(default_factory=list)
    outbox_in_callback: int = 0


class WasmAlgo:
    """One instance of a bundle, driven callback by callback like the edge host does."""

    def __init__(
        self,
        wasm: Path | bytes,
        params: dict[str, str] | None = None,
        symbols: tuple[str, ...] = ("BTC-USD",),
        venues: tuple[str, ...] = ("kraken", "coinbase"),
        positions: dict[int, int] | None = None,
    ) -> None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        self.module = wasmtime.Module(self.engine, wasm.read_bytes() if isinstance(wasm, Path) else wasm)
        self.store = wasmtime.Store(self.engine)
        self.store.set_limits(memory_size=MEMORY_CAP)
        self.store.set_epoch_deadline(1)
        self.params = params or {}
        self.symbols = symbols
        self.venues = venues
        self.positions = positions or {}
        self.calls = HostCalls()
        self.now_ns = 1_700_000_000_000_000_000  # the algo's clock (seq.now_ns); tests advance it
        linker = wasmtime.Linker(self.engine)
        self._define_imports(linker)
        self.instance = linker.instantiate(self.store, self.module)
        self.exports = self.instance.exports(self.store)
        self.memory: wasmtime.Memory = self.exports["memory"]
        self.io: int = self.exports["algo_io"](self.store)

    # -- imports -----------------------------------------------------------------------------
    def _define_imports(self, linker: wasmtime.Linker) -> None:
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

        def define(name: str, params: list, results: list, fn) -> None:
            linker.define_func("seq", name, wasmtime.FuncType(params, results), fn, access_caller=True)

        define("log", [i32, i32, i32], [], self._log)
        define("send", [i32, i32, i32, i32], [i32], self._send)
        define("now_ns", [], [i64], lambda caller: self.now_ns)
        define("param", [i32, i32, i32, i32], [i32], self._param)
        define("position", [i32], [i64], lambda caller, idx: self.positions.get(idx, 0))
        define("symbol", [i32, i32, i32], [i32], lambda c, i, p, n: self._name(c, self.symbols, i, p, n))
        define("venue_name", [i32, i32, i32], [i32], lambda c, i, p, n: self._name(c, self.venues, i, p, n))

    @staticmethod
    def _mem(caller: wasmtime.Caller) -> wasmtime.Memory:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        return memory

    def _read(self, caller: wasmtime.Caller, ptr: int, length: int) -> bytes | None:
        memory = self._mem(caller)
        if ptr < 0 or length < 0 or ptr + length > memory.data_len(caller):
            return None
        return bytes(memory.read(caller, ptr, ptr + length))

    def _log(self, caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        data = self._read(caller, ptr, length)
        if data is not None:
            self.calls.logs.append((level, data.decode("utf-8", "replace")))

    def _send(self, caller: wasmtime.Caller, lptr: int, llen: int, pptr: int, plen: int) -> int:
        code = self._send_code(caller, lptr, llen, pptr, plen)
        self.calls.send_codes.append(code)
        return code

    def _send_code(self, caller: wasmtime.Caller, lptr: int, llen: int, pptr: int, plen: int) -> int:
        if plen > abi.MAX_PAYLOAD:
            return abi.SEND_ERR_PAYLOAD_TOO_LARGE
        if self.calls.outbox_in_callback >= abi.MAX_SENDS:
            return abi.SEND_ERR_OUTBOX_FULL
        label, payload = self._read(caller, lptr, llen), self._read(caller, pptr, plen)
        if label is None or payload is None:
            return abi.SEND_ERR_OUT_OF_BOUNDS
        try:
            text = label.decode("utf-8")
        except UnicodeDecodeError:
            return abi.SEND_ERR_BAD_LABEL
        if not text or len(label) > abi.MAX_LABEL:
            return abi.SEND_ERR_BAD_LABEL
        self.calls.outbox_in_callback += 1
        self.calls.sends.append((text, payload))
        return abi.SEND_OK

    def _param(self, caller: wasmtime.Caller, kptr: int, klen: int, bptr: int, cap: int) -> int:
        key = self._read(caller, kptr, klen)
        if key is None:
            return abi.ERR_OUT_OF_BOUNDS
        value = self.params.get(key.decode("utf-8", "replace"))
        if value is None:
            return abi.ERR_NOT_FOUND
        return self._copy_out(caller, value.encode(), bptr, cap)

    def _name(self, caller: wasmtime.Caller, names: tuple[str, ...], idx: int, ptr: int, cap: int) -> int:
        if not 0 <= idx < len(names):
            return abi.ERR_NOT_FOUND
        return self._copy_out(caller, names[idx].encode(), ptr, cap)

    def _copy_out(self, caller: wasmtime.Caller, data: bytes, ptr: int, cap: int) -> int:
        if self._read(caller, ptr, cap) is None:
            return abi.ERR_OUT_OF_BOUNDS
        self._mem(caller).write(caller, data[:cap], ptr)
        return len(data)

    # -- IO block ----------------------------------------------------------------------------
    def write(self, io_field: str, data: bytes, extra_offset: int = 0) -> None:
        self.memory.write(self.store, bytes(data), self.io + IO[io_field] + extra_offset)

    def read(self, io_field: str, size: int, extra_offset: int = 0) -> bytes:
        start = self.io + IO[io_field] + extra_offset
        return bytes(self.memory.read(self.store, start, start + size))

    @property
    def next_id(self) -> int:
        return struct.unpack("<Q", self.read("state", 8))[0]

    def declined(self) -> bool:
        """The last callback set ACTIONS_FLAG_DECLINED (it is the SDK's default: not implemented)."""
        flags = struct.unpack("<I", self.read("actions", 8)[4:])[0]
        return bool(flags & abi.ACTIONS_FLAG_DECLINED)

    def actions(self) -> list[dict[str, int | float]]:
        count = struct.unpack("<I", self.read("actions", 4))[0]
        if count > abi.MAX_ACTIONS:
            raise AbiViolation(f"actions.count = {count} > {abi.MAX_ACTIONS}")
        base = abi.ACTIONS.offset("actions")
        return [
            unpack(abi.ACTION, self.read("actions", abi.ACTION.size, base + i * abi.ACTION.size))
            for i in range(count)
        ]

    # -- callbacks ---------------------------------------------------------------------------
    def _call(
        self, export: str, *args: int, state: bytes | None = None, timeout_s: float | None = None
    ) -> None:
        """Writes state, clears the outputs, calls the export; a runaway call is interrupted."""
        if state is not None:
            self.write("state", state)
        self.write("actions", b"\0" * 8)  # count and flags
        self.calls.outbox_in_callback = 0
        self.store.set_epoch_deadline(1)
        timer = threading.Timer(timeout_s, self.engine.increment_epoch) if timeout_s else None
        if timer:
            timer.start()
        try:
            self.exports[export](self.store, *args)
        finally:
            if timer:
                timer.cancel()

    def on_book(self, book: bytes, state: bytes | None = None, timeout_s: float | None = None) -> None:
        self.write("book", book)
        symbol_idx = struct.unpack_from("<H", book, 0)[0]
        self._call("algo_on_book", symbol_idx, state=state, timeout_s=timeout_s)

    def on_fill(self, fill: bytes, state: bytes | None = None) -> None:
        self.write("fill", fill)
        self._call("algo_on_fill", state=state)

    def on_reject(self, reject: bytes, state: bytes | None = None) -> None:
        self.write("reject", reject)
        self._call("algo_on_reject", state=state)

    def on_message(self, sender: str, payload: bytes, state: bytes | None = None) -> None:
        msg = bytearray(abi.MESSAGE.size)
        label = sender.encode()
        msg[: len(label)] = label
        struct.pack_into("<II", msg, abi.MESSAGE.offset("from_len"), len(label), len(payload))
        start = abi.MESSAGE.offset("payload")
        msg[start : start + len(payload)] = payload
        self.write("message", msg)
        self._call("algo_on_message", state=state)

    def on_nbbo(self, nbbo: bytes, state: bytes | None = None) -> None:
        self.write("nbbo", nbbo)
        self._call("algo_on_nbbo", state=state)

    def lifecycle(self, export: str, state: bytes | None = None) -> None:
        """algo_on_start / algo_on_stop / algo_on_shutdown."""
        self._call(export, state=state)


class AbiViolation(Exception):
    pass
