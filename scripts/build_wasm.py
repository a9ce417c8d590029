#!/usr/bin/env python3
"""Build every example algorithm to .wasm and put it where Sequence.toml files expect it.

    python scripts/build_wasm.py           # build, copy into examples/
    python scripts/build_wasm.py --check   # rebuild in a temp dir, exit 1 listing committed .wasm that differ
    python scripts/build_wasm.py --native  # build the native (.so) examples into examples/target/native

Native libraries are not committed: they are built where they run (tests, CI, an edge's image),
because a .so embeds the build machine's toolchain and is only meaningful on its platform.

Uses Debian's Rust 1.63 (`/usr/bin/cargo` with `RUSTC=/usr/bin/rustc`, which has the
wasm32-unknown-unknown standard library); a rustup toolchain earlier on PATH is bypassed on
purpose. Builds are offline (no crates.io) and reproducible: one workspace at the repository
root (cargo hashes member paths relative to it) and the clone's path remapped to /sequence, so a
clone anywhere produces byte-identical files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = REPO  # Cargo.toml at the root: the SDK and every example crate
TARGET = "wasm32-unknown-unknown"
CARGO = "/usr/bin/cargo"
RUSTC = "/usr/bin/rustc"

# Cargo artifact (lib name) -> committed path, relative to the repository.
CRATE_OUTPUTS: dict[str, str] = {
    "market_maker": "examples/market-maker/market_maker.wasm",
    "maker": "examples/mesh-arb/maker.wasm",
    "hedger": "examples/mesh-arb/hedger.wasm",
    "mesh_ping": "examples/mesh-ping/mesh_ping.wasm",
    "infinite_loop": "examples/bad-algos/infinite_loop.wasm",
    "trap": "examples/bad-algos/trap.wasm",
    "memory_hog": "examples/bad-algos/memory_hog.wasm",
    "too_many_actions": "examples/bad-algos/too_many_actions.wasm",
    "oversized_message": "examples/bad-algos/oversized_message.wasm",
    "wrong_abi": "examples/bad-algos/wrong_abi.wasm",
    "bench_empty": "examples/bench-empty/bench_empty.wasm",
}
# Native cdylibs (cargo package, features) -> lib name; built with `--profile native`.
NATIVE_CRATES: dict[str, tuple[str, str]] = {
    "my_strategy": ("my-strategy", ""),
    "market_maker": ("market-maker", "market-maker/native"),
    "bench_empty": ("bench-empty", "bench-empty/native"),
    "trap": ("bad-trap", "bad-trap/native"),
}
# Workspace members that only build natively (left out of the wasm32 build).
NATIVE_ONLY_PACKAGES = ("my-strategy",)
# Hand-written WebAssembly text -> committed binary.
WAT_OUTPUTS: dict[str, str] = {
    "examples/abi-raw/raw_algo.wat": "examples/abi-raw/raw_algo.wasm",
}


class BuildError(RuntimeError):
    pass


def cargo_env(target_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS")}
    env["RUSTC"] = RUSTC
    env["CARGO_TARGET_DIR"] = str(target_dir)
    # Panic messages embed source paths: workspace members get relative ones, and this maps
    # anything absolute under the clone to the same prefix wherever the repo lives.
    env["RUSTFLAGS"] = f"--remap-path-prefix={REPO}=/sequence"
    return env


def build_crates(target_dir: Path) -> dict[str, Path]:
    """Runs cargo once for the whole workspace; returns artifact name -> built .wasm."""
    for tool in (CARGO, RUSTC):
        if not Path(tool).exists():
            raise BuildError(f"{tool} not found: install Debian's cargo, rustc and libstd-rust-dev-wasm32")
    # Native-only crates depend on the SDK's `std` feature; building them here would unify it
    # into every bundle (cargo features are per build), so they are left out of the wasm build.
    cmd = [CARGO, "build", "--release", "--offline", "--locked", "--target", TARGET, "--workspace"]
    for package in NATIVE_ONLY_PACKAGES:
        cmd += ["--exclude", package]
    result = subprocess.run(cmd, cwd=WORKSPACE, env=cargo_env(target_dir), capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    built = {name: target_dir / TARGET / "release" / f"{name}.wasm" for name in CRATE_OUTPUTS}
    missing = [str(p) for p in built.values() if not p.exists()]
    if missing:
        raise BuildError(f"cargo did not produce: {', '.join(missing)}")
    return built


def build_native(target_dir: Path) -> dict[str, Path]:
    """cargo build --profile native of the native examples; lib name -> .so."""
    cmd = [CARGO, "build", "--offline", "--locked", "--profile", "native"]
    for package, _features in NATIVE_CRATES.values():
        cmd += ["-p", package]
    features = ",".join(f for _p, f in NATIVE_CRATES.values() if f)
    cmd += ["--features", features]
    result = subprocess.run(cmd, cwd=WORKSPACE, env=cargo_env(target_dir), capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    built = {name: target_dir / "native" / f"lib{name}.so" for name in NATIVE_CRATES}
    missing = [str(p) for p in built.values() if not p.exists()]
    if missing:
        raise BuildError(f"cargo did not produce: {', '.join(missing)}")
    return built


def build_wat(source: Path, dest: Path) -> None:
    import wasmtime  # the python wheel ships a wat2wasm

    try:
        dest.write_bytes(wasmtime.wat2wasm(source.read_text()))
    except wasmtime.WasmtimeError as e:
        raise BuildError(f"{source}: {e}") from e


def build_all(out_dir: Path, target_dir: Path) -> dict[str, Path]:
    """Builds everything into `out_dir` (mirroring the committed paths); returns rel path -> file."""
    outputs: dict[str, Path] = {}
    for name, built in build_crates(target_dir).items():
        dest = out_dir / CRATE_OUTPUTS[name]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, dest)
        outputs[CRATE_OUTPUTS[name]] = dest
    for source, rel in WAT_OUTPUTS.items():
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        build_wat(REPO / source, dest)
        outputs[rel] = dest
    return outputs


def check() -> int:
    with tempfile.TemporaryDirectory(prefix="build-wasm-") as tmp:
        outputs = build_all(Path(tmp) / "out", Path(tmp) / "target")
        stale = []
        for rel, fresh in sorted(outputs.items()):
            committed = REPO / rel
            if not committed.exists():
                stale.append(f"{rel}: missing")
            elif committed.read_bytes() != fresh.read_bytes():
                stale.append(
                    f"{rel}: differs from a fresh build ({committed.stat().st_size} vs {fresh.stat().st_size} bytes)"
                )
    if stale:
        print("committed .wasm files are out of date; run python scripts/build_wasm.py:", file=sys.stderr)
        for line in stale:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"all {len(outputs)} .wasm files match a fresh build")
    return 0


def build() -> int:
    outputs = build_all(REPO, REPO / "examples" / "target")
    for rel, path in sorted(outputs.items()):
        print(f"{path.stat().st_size:>7} bytes  {rel}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="verify committed .wasm files match a fresh build"
    )
    parser.add_argument(
        "--native", action="store_true", help="build the native .so examples into examples/target/native"
    )
    args = parser.parse_args(argv)
    try:
        if args.native:
            for name, path in sorted(build_native(REPO / "examples" / "target").items()):
                print(f"{path.stat().st_size:>8} bytes  {path.relative_to(REPO)}  ({name})")
            return 0
        return check() if args.check else build()
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
