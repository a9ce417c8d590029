# Part of sequence_edge.algo.host (included by host.pyx).
# Python-facing result types and errors, and load-time validation of a module's exports and
# imports against the ABI.

# ------------------------------------------------------------------ Python-facing types and errors

class BundleError(ValueError):
    """A bundle the host refuses to load; the message says what to fix."""


class NotWasmError(BundleError):
    pass


class CompileError(BundleError):
    pass


class MissingExportError(BundleError):
    pass


class ExportSignatureError(BundleError):
    pass


class ImportMismatchError(BundleError):
    pass


class AbiMismatchError(BundleError):
    pass


class IoBlockError(BundleError):
    pass


class InstantiationError(BundleError):
    pass


class UnknownDeploymentError(LookupError):
    pass


class InstanceStateError(RuntimeError):
    """The operation is not possible in the instance's current state (e.g. starting a failed one)."""


class Action(NamedTuple):
    kind: int
    side: int
    order_type: int
    symbol_idx: int
    order_id: int
    px_1e8: int
    qty_1e8: int


class LogLine(NamedTuple):
    ts_ns: int
    level: str
    text: str


class OpenOrder(NamedTuple):
    order_id: int
    px_1e8: int
    qty_1e8: int
    filled_1e8: int
    symbol_idx: int
    side: int
    order_type: int


_CAP_BITS = {
    "algo_on_nbbo": CAP_NBBO,
    "algo_on_message": CAP_MESSAGE,
    "algo_on_heartbeat": CAP_HEARTBEAT,
    "algo_on_start": CAP_START,
    "algo_on_stop": CAP_STOP,
    "algo_on_shutdown": CAP_SHUTDOWN,
}


def _error_summary(text: str) -> str:
    """One line from a wasmtime error: "<context>: <cause>", or just the cause of a trap (wasmtime
    puts the cause after "Caused by:", below a backtrace or a generic first line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    if "Caused by:" not in lines:
        return lines[0]
    cause = "; ".join(line.removeprefix("wasm trap: ") for line in lines[lines.index("Caused by:") + 1:])
    if lines[0].startswith("error while executing"):
        return cause
    return f"{lines[0]}: {cause}"


def _signature(functype) -> tuple:
    return (tuple(str(t) for t in functype.params), tuple(str(t) for t in functype.results))


def _fmt_sig(sig: tuple) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


def _check_module_interface(module) -> frozenset:
    """Exports and imports against the ABI; returns the optional exports present."""
    exports = {e.name: e.type for e in module.exports}
    missing = [name for name in abi.REQUIRED_EXPORTS if name not in exports]
    if missing:
        raise MissingExportError(
            f"bundle is missing required export(s): {', '.join(missing)} (an ABI v{abi.ABI_VERSION} "
            f"algo exports {', '.join(abi.REQUIRED_EXPORTS)}; with the Rust SDK, use export_algo!)")
    memory = exports["memory"]
    if not isinstance(memory, wasmtime.MemoryType):
        raise ExportSignatureError(f"export 'memory' must be a linear memory, got {type(memory).__name__}")
    if memory.is_64:
        raise ExportSignatureError("export 'memory' is a 64-bit memory; ABI v1 needs a 32-bit memory "
                                   "(build for wasm32-unknown-unknown)")
    wrong = []
    for name, (params, results) in abi.EXPORTS.items():
        ty = exports.get(name)
        if ty is None:
            continue
        if not isinstance(ty, wasmtime.FuncType):
            wrong.append(f"{name} must be a function {_fmt_sig((params, results))}, got {type(ty).__name__}")
            continue
        got = _signature(ty)
        if got != (params, results):
            wrong.append(f"{name} must be {_fmt_sig((params, results))}, got {_fmt_sig(got)}")
    if wrong:
        raise ExportSignatureError("bundle exports with the wrong signature: " + "; ".join(wrong))
    provided = ", ".join(f"{abi.IMPORT_MODULE}.{n}" for n in abi.IMPORTS)
    for imp in module.imports:
        spec = abi.IMPORTS.get(imp.name) if imp.module == abi.IMPORT_MODULE else None
        if spec is None:
            raise ImportMismatchError(
                f"bundle imports {imp.module}.{imp.name}, which the host does not provide "
                f"(available: {provided})")
        if not isinstance(imp.type, wasmtime.FuncType) or _signature(imp.type) != spec[:2]:
            got = _fmt_sig(_signature(imp.type)) if isinstance(imp.type, wasmtime.FuncType) \
                else type(imp.type).__name__
            raise ImportMismatchError(
                f"bundle imports {imp.module}.{imp.name} as {got}, but the host provides "
                f"{_fmt_sig(spec[:2])}")
    return frozenset(name for name in _CAP_BITS if isinstance(exports.get(name), wasmtime.FuncType))


def _check_symbols(symbols) -> tuple:
    if isinstance(symbols, str):
        symbols = [symbols]
    symbols = tuple(symbols)
    if not 1 <= len(symbols) <= abi.MAX_SYMBOLS:
        raise ValueError(f"a deployment needs 1..{abi.MAX_SYMBOLS} symbols, got {len(symbols)}")
    for sym in symbols:
        if not isinstance(sym, str) or not sym:
            raise ValueError(f"symbols must be non-empty strings, got {sym!r}")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols must be unique, got {list(symbols)}")
    return symbols


def _as_text(kind: str, value) -> str:
    """A param or name as the algorithm reads it: numbers in plain decimal notation (docs/abi.md)."""
    if isinstance(value, (str, int, float)):  # bool is an int
        try:
            return param_text(value)
        except ValueError as exc:
            raise ValueError(f"{kind}: {exc}") from None
    raise ValueError(f"{kind} must be a string or a number, got {type(value).__name__}")


cdef bytes _utf8(str s):
    return s.encode("utf-8")


