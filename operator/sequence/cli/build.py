"""`sequence build`: compile the algorithm crate in the project directory.

WebAssembly by default (`cargo build --target wasm32-unknown-unknown --release --offline`), or a
native .so with --native (`--profile native --features native`). Debian's toolchain
(/usr/bin/cargo with RUSTC=/usr/bin/rustc, which ships the wasm32 standard library) is preferred
when present, as scripts/build_wasm.py does; otherwise cargo and rustc from PATH. Nothing but
cargo's target directory is written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import click

from .wasm_check import abi_problems

WASM_TARGET = "wasm32-unknown-unknown"
SIZE_WARNING_BYTES = 50 * 1024
DEBIAN_CARGO, DEBIAN_RUSTC = Path("/usr/bin/cargo"), Path("/usr/bin/rustc")


def toolchain() -> tuple[str, dict[str, str]]:
    """(cargo, environment): Debian's Rust when installed, else the one on PATH."""
    env = dict(os.environ)
    if DEBIAN_CARGO.exists() and DEBIAN_RUSTC.exists():
        env["RUSTC"] = str(DEBIAN_RUSTC)
        return str(DEBIAN_CARGO), env
    cargo = shutil.which("cargo")
    if cargo is None:
        raise click.ClickException(
            "cargo not found: install Rust (Debian/Ubuntu: apt install cargo rustc "
            "libstd-rust-dev-wasm32; or https://rustup.rs then `rustup target add wasm32-unknown-unknown`)"
        )
    return cargo, env


def missing_target_hint(stderr: str) -> str | None:
    """What to install when the compiler has no wasm32 standard library."""
    if "can't find crate for `core`" in stderr or "target may not be installed" in stderr:
        return (
            f"the Rust toolchain has no {WASM_TARGET} standard library: run "
            f"`rustup target add {WASM_TARGET}` (rustup), or `apt install libstd-rust-dev-wasm32` "
            "(Debian's rustc)"
        )
    return None


def run_cargo(project_dir: Path, native: bool) -> list[Path]:
    """Runs cargo; returns the cdylib files it produced."""
    cargo, env = toolchain()
    cmd = [cargo, "build", "--offline", "--message-format=json-render-diagnostics"]
    cmd += (
        ["--profile", "native", "--features", "native"] if native else ["--release", "--target", WASM_TARGET]
    )
    result = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        hint = None if native else missing_target_hint(result.stderr)
        raise click.ClickException(hint or f"{' '.join(cmd)} failed:\n{result.stderr.strip()}")
    suffix = ".so" if native else ".wasm"
    produced = []
    for line in result.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("reason") == "compiler-artifact" and "cdylib" in message["target"]["kind"]:
            produced += [Path(f) for f in message["filenames"] if f.endswith(suffix)]
    if not produced:
        raise click.ClickException(
            f'cargo built no {suffix} library: is crate-type = ["cdylib"] in Cargo.toml?'
        )
    return produced


@click.command("build")
@click.option("--native", is_flag=True, help="Build a native .so (cdylib) instead of WebAssembly.")
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=Path))
def build(native: bool, path: Path) -> None:
    """Compile the algorithm crate in PATH (default: here) and check the result."""
    if not build_and_check(path, native):
        raise SystemExit(1)


def build_and_check(path: Path, native: bool) -> bool:
    """Builds the crate in PATH and reports each artifact; False when one fails the ABI check."""
    if not (path / "Cargo.toml").is_file():
        raise click.ClickException(f"no Cargo.toml in {path}: run `sequence init NAME` to start a project")
    failed = False
    for artifact in run_cargo(path, native):
        size = artifact.stat().st_size
        click.echo(f"built {artifact} ({size} bytes, {size / 1024:.1f} KB)")
        if native:
            continue
        if size > SIZE_WARNING_BYTES:
            click.echo(
                f"warning: {artifact.name} is over 50 KB; look for dependencies pulling in std "
                "allocators or unused crates",
                err=True,
            )
        problems = abi_problems(artifact.read_bytes())
        for problem in problems:
            click.echo(f"error: {artifact.name}: {problem}", err=True)
        if problems:
            failed = True
        else:
            click.echo("ABI v1 exports present, algo_abi_version = 1")
    return not failed
