"""Building native (.so) algorithms for the tests: the workspace's Rust examples with Debian's
cargo (the `native` profile) and the C probe (tests/fixtures/native_probe.c) with gcc."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CARGO, RUSTC = Path("/usr/bin/cargo"), Path("/usr/bin/rustc")
NATIVE_OUT = REPO / "examples" / "target" / "native"
PROBE_SOURCE = Path(__file__).parent / "fixtures" / "native_probe.c"

needs_cargo = pytest.mark.skipif(
    not (CARGO.exists() and RUSTC.exists()), reason="Debian's cargo/rustc 1.63 are not installed"
)
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def build_native_examples() -> dict[str, Path]:
    """cargo build --profile native of the native example crates; lib name -> .so path."""
    env = {k: v for k, v in os.environ.items() if k not in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS")}
    env["RUSTC"] = str(RUSTC)
    cmd = [str(CARGO), "build", "-q", "--offline", "--profile", "native"]
    cmd += ["-p", "my-strategy", "-p", "bad-trap", "-p", "bench-empty", "-p", "market-maker"]
    cmd += ["--features", "bad-trap/native,bench-empty/native,market-maker/native"]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stderr}"
    names = ("my_strategy", "trap", "bench_empty", "market_maker")
    return {name: NATIVE_OUT / f"lib{name}.so" for name in names}


def build_probe(out: Path, *defines: str) -> Path:
    """gcc the C probe into `out` with -D`defines` (e.g. "PROBE_ABI=2")."""
    cmd = ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-I", str(REPO / "sdk" / "include")]
    cmd += [f"-D{d}" for d in defines] + [str(PROBE_SOURCE), "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return out


class ProbeCounters:
    """The C probe's global counters, read through ctypes (the same mapping the host uses)."""

    KINDS = (
        "book",
        "fill",
        "reject",
        "nbbo",
        "message",
        "heartbeat",
        "start",
        "stop",
        "shutdown",
        "pause",
        "resume",
        "subscribed",
        "unsubscribed",
    )

    def __init__(self, path: Path) -> None:
        self.lib = ctypes.CDLL(str(path))

    def calls(self) -> dict[str, int]:
        raw = (ctypes.c_long * 13).in_dll(self.lib, "probe_calls")
        return dict(zip(self.KINDS, raw, strict=True))

    def books_by_symbol(self) -> list[int]:
        return list((ctypes.c_long * 16).in_dll(self.lib, "books_by_symbol"))

    def value(self, name: str) -> int:
        kind = ctypes.c_long if name == "probe_live_instances" else ctypes.c_int
        return kind.in_dll(self.lib, name).value
