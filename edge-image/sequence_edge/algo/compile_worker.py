"""Compile pushed WASM bundles off the edge's trading loop, in a capped worker process.

Cranelift needs time and memory roughly in proportion to a module's function count: a 6 MB
module of 300,000 tiny functions takes tens of seconds and over 1.5 GB. On the edge's event
loop that would freeze every algo and `/healthz`, and could take the pod past its memory limit.
So the edge (see `CompileWorkers`):

1. checks the bundle's shape first, without compiling: its size against `max_bundle_bytes` and
   the number of functions it defines against `max_functions` (reading the section headers of the
   binary is cheap: the function section starts with its count);
2. runs `python -m sequence_edge.algo.compile_worker` (CompileWorkers keeps one started ahead)
   as a child process that sets its own
   address-space limit (RLIMIT_AS = `memory_mib`) and a lower CPU priority before importing
   wasmtime, compiles on one thread, and writes the serialized module to a file the edge names;
   a worker that runs past `timeout_s` is killed;
3. turns the artifact (a file in a directory only the edge can write) back into a module with
   `wasmtime.Module.deserialize_file` on a thread (ctypes releases the GIL), with the host's
   engine: cheap, no copy of the artifact on the loop, and no Cranelift in the edge process.

The worker's engine settings must match the host's (AlgoHost in host.pyx): deserialize refuses an
artifact compiled with other settings. The artifact never leaves the edge, and only the edge's
own worker produces it, which is what makes deserializing it safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

# Engine settings shared with AlgoHost (host.pyx): a serialized module only loads into an engine
# configured the same way.
EPOCH_INTERRUPTION = True
CRANELIFT_OPT_LEVEL = "speed"

EXIT_BAD_BUNDLE = 2  # wasmtime refused the module: the message is on stdout
WORKER_NICE = 10  # the trading loop wins the CPU over a compile


class CompileRefused(Exception):
    """The push is refused; `reason` is the CamelCase reason of the 4xx answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class CompileLimits:
    max_bundle_bytes: int = 8 << 20
    max_functions: int = 20_000
    memory_mib: int = 512
    timeout_s: float = 60.0


# ------------------------------------------------------------------ shape check (no compile)


def _leb_u32(data: bytes, pos: int) -> tuple[int, int]:
    """Unsigned LEB128 at data[pos:]; (value, position after it)."""
    value = shift = 0
    for _ in range(5):
        if pos >= len(data):
            raise CompileRefused("CompileError", "bundle is truncated inside a section header")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise CompileRefused("CompileError", "bundle has a malformed LEB128 number in a section header")


def count_functions(wasm: bytes) -> int:
    """Functions the module defines (its function section's count), reading only section headers.
    Assumes the magic and version were checked; wasmtime validates everything else later."""
    pos = 8
    while pos < len(wasm):
        section_id = wasm[pos]
        size, body = _leb_u32(wasm, pos + 1)
        if body + size > len(wasm):
            raise CompileRefused("CompileError", "bundle is truncated: a section runs past its end")
        if section_id == 3:  # function section: vec(typeidx)
            return _leb_u32(wasm, body)[0]
        pos = body + size
    return 0


def check_shape(wasm: bytes, limits: CompileLimits) -> None:
    """Refuse a bundle that is too big or defines too many functions, before any compile."""
    if len(wasm) > limits.max_bundle_bytes:
        raise CompileRefused(
            "BundleTooLarge",
            f"bundle is {len(wasm)} bytes; this edge accepts at most {limits.max_bundle_bytes} "
            "(sequence edge --max-bundle-bytes)",
        )
    if wasm[:4] != b"\0asm" or wasm[4:8] != b"\x01\x00\x00\x00":
        raise CompileRefused(
            "NotWasm",
            f"bundle is not a WebAssembly core module: it starts with {wasm[:8]!r}, not the \\0asm magic "
            "and version 1 (pass the .wasm file built for wasm32-unknown-unknown)",
        )
    functions = count_functions(wasm)
    if functions > limits.max_functions:
        raise CompileRefused(
            "TooManyFunctions",
            f"bundle defines {functions} functions; this edge compiles at most {limits.max_functions} "
            "(sequence edge --max-functions)",
        )


# ------------------------------------------------------------------ the edge's side


async def _spawn(limits: CompileLimits) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sequence_edge.algo.compile_worker",
        str(limits.memory_mib),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


class CompileWorkers:
    """Compiles in worker processes, keeping one spare started ahead: a worker waits for its job
    on stdin with Python and wasmtime already loaded, so a push pays only for its compile.

    A job is the path to write the serialized module to (in a directory only this edge can
    write, mode 0700), a newline, then the bundle. The edge deserializes that file on a thread
    (wasmtime maps it; the loop never copies the artifact) and removes it. Each worker compiles one
    bundle and exits. A spare whose edge died reads end-of-file, finds nothing to compile and exits.
    """

    def __init__(self, limits: CompileLimits) -> None:
        self.limits = limits
        self._spare: asyncio.subprocess.Process | None = None
        self._dir: str | None = None

    async def warm(self) -> None:
        """Start the spare (the edge calls this when its loop starts)."""
        if self._spare is None or self._spare.returncode is not None:
            self._spare = await _spawn(self.limits)

    async def compile(self, wasm: bytes, engine: Any) -> Any:
        """The wasmtime.Module of `wasm` for `engine` (check_shape first, then a worker)."""
        import wasmtime  # here, not at the top: the worker imports it only once capped

        check_shape(wasm, self.limits)
        proc = self._spare
        self._spare = None
        if proc is None or proc.returncode is not None:
            proc = await _spawn(self.limits)
        try:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="sequence-compile-")  # $TMPDIR, mode 0700
        except OSError as exc:
            proc.kill()
            raise CompileRefused(
                "CompileUnavailable", f"the edge cannot write compiled modules: {exc}"
            ) from None
        path = os.path.join(self._dir, f"{uuid.uuid4().hex}.cwasm")
        try:
            await _run(proc, path.encode() + b"\n" + wasm, self.limits)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, wasmtime.Module.deserialize_file, engine, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            await self.warm()

    def discard(self) -> None:
        """Stop the spare and remove the artifact directory (edge shutdown)."""
        if self._spare is not None and self._spare.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._spare.kill()
        self._spare = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


async def _run(proc: asyncio.subprocess.Process, job: bytes, limits: CompileLimits) -> None:
    try:
        out, _ = await asyncio.wait_for(proc.communicate(job), timeout=limits.timeout_s)
    except TimeoutError:
        raise CompileRefused(
            "CompileTimeout",
            f"compiling the bundle took longer than {limits.timeout_s:g} s; the compile was stopped "
            "(a module with fewer functions compiles faster)",
        ) from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode == 0:
        return
    if proc.returncode == EXIT_BAD_BUNDLE:
        raise CompileRefused("CompileError", out.decode("utf-8", "replace")[:2000])
    raise CompileRefused(
        "CompileResourceLimit",
        f"compiling the bundle needed more than the {limits.memory_mib} MiB this edge allows a compile "
        "(sequence edge --compile-memory-mib); nothing was loaded",
    )


def trim_heap() -> None:
    """Give freed heap memory back to the OS. glibc keeps it otherwise: after a big push (its JSON,
    base64 and compiled artifact) or the delete of a big module, the edge's RSS would stay up."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)


# ------------------------------------------------------------------ the worker process


def _worker(memory_mib: int) -> int:
    limit = memory_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(WORKER_NICE)
    import wasmtime  # after the cap: wasmtime's own allocations count against it

    path, _, wasm = sys.stdin.buffer.read().partition(b"\n")
    config = wasmtime.Config()
    config.epoch_interruption = EPOCH_INTERRUPTION
    config.cranelift_opt_level = CRANELIFT_OPT_LEVEL
    config.parallel_compilation = False  # one core: the edge keeps the other
    try:
        module = wasmtime.Module(wasmtime.Engine(config), wasm)
    except wasmtime.WasmtimeError as exc:
        sys.stdout.write(f"bundle does not compile: {str(exc).strip().splitlines()[0][:1000]}")
        return EXIT_BAD_BUNDLE
    with open(path, "wb") as out:  # the edge's private directory (CompileWorkers)
        out.write(module.serialize())
    return 0


if __name__ == "__main__":
    sys.exit(_worker(int(sys.argv[1])))
