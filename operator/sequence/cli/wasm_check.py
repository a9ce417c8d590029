"""What `sequence build` checks in a built bundle: its exports and its ABI version.

A tiny WebAssembly reader (imports, exports, code bodies) rather than the edge's runtime: the
control plane does not import the data plane (sequence_edge). The ABI names and version are
the ones in sequence_edge/algo/abi.py; tests/test_workflow.py keeps the two in step.
"""

from __future__ import annotations

ABI_VERSION = 1
REQUIRED_EXPORTS = ("memory", "algo_abi_version", "algo_io", "algo_on_book", "algo_on_fill", "algo_on_reject")

_MAGIC = b"\0asm\x01\0\0\0"
_IMPORT, _EXPORT, _CODE = 2, 7, 10
_FUNC = 0


class WasmError(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise WasmError("truncated module")
        self.pos += 1
        return self.data[self.pos - 1]

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def sleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result - (1 << shift) if b & 0x40 else result

    def name(self) -> str:
        n = self.uleb()
        if self.pos + n > self.end:
            raise WasmError("truncated name")
        self.pos += n
        return self.data[self.pos - n : self.pos].decode("utf-8", "replace")

    def skip_limits(self) -> None:
        flags = self.uleb()
        self.uleb()
        if flags & 1:
            self.uleb()


def _sections(data: bytes) -> dict[int, tuple[int, int]]:
    if not data.startswith(_MAGIC):
        raise WasmError("not a WebAssembly module (bad magic or version)")
    r = _Reader(data, len(_MAGIC))
    found: dict[int, tuple[int, int]] = {}
    while r.pos < r.end:
        sid = r.byte()
        size = r.uleb()
        found.setdefault(sid, (r.pos, r.pos + size))
        r.pos += size
    return found


def _imported_functions(data: bytes, span: tuple[int, int] | None) -> int:
    if span is None:
        return 0
    r, count = _Reader(data, *span), 0
    for _ in range(r.uleb()):
        r.name(), r.name()
        kind = r.byte()
        if kind == _FUNC:
            r.uleb()
            count += 1
        elif kind == 1:  # table: reftype, limits
            r.byte()
            r.skip_limits()
        elif kind == 2:  # memory
            r.skip_limits()
        else:  # global: valtype, mutability
            r.byte(), r.byte()
    return count


def exports(data: bytes) -> dict[str, tuple[int, int]]:
    """Export name -> (kind, index); kind 0 is a function, 2 a memory."""
    span = _sections(data).get(_EXPORT)
    if span is None:
        return {}
    r = _Reader(data, *span)
    found: dict[str, tuple[int, int]] = {}
    for _ in range(r.uleb()):
        name = r.name()
        found[name] = (r.byte(), r.uleb())
    return found


def constant_result(data: bytes, function_index: int) -> int | None:
    """The i32 a function returns when its body is just `i32.const N`, else None."""
    sections = _sections(data)
    local_index = function_index - _imported_functions(data, sections.get(_IMPORT))
    if local_index < 0 or _CODE not in sections:
        return None
    r = _Reader(data, *sections[_CODE])
    if local_index >= r.uleb():
        return None
    for _ in range(local_index):
        skip = r.uleb()
        r.pos += skip
    size = r.uleb()
    body = _Reader(data, r.pos, r.pos + size)
    if body.uleb() != 0 or body.byte() != 0x41:  # no locals, i32.const
        return None
    value = body.sleb()
    return value if body.byte() == 0x0B else None  # end


def abi_problems(data: bytes) -> list[str]:
    """What keeps this module from loading on an edge; empty when it is a valid ABI v1 bundle."""
    try:
        found = exports(data)
    except WasmError as exc:
        return [str(exc)]
    problems = [f"missing export {name!r}" for name in REQUIRED_EXPORTS if name not in found]
    version = found.get("algo_abi_version")
    if version and version[0] == _FUNC:
        value = constant_result(data, version[1])
        if value is not None and value != ABI_VERSION:
            problems.append(f"algo_abi_version returns {value}; this platform runs ABI {ABI_VERSION}")
    return problems
