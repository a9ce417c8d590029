"""`sequence init NAME`: a new algorithm project that builds offline.

The crate depends on the Rust SDK (`sequence-algo-sdk`) by path: the SDK's source next to this
Python package (`<checkout>/sdk` beside `operator/`), or $SEQUENCE_SDK_PATH. No registry is
needed, because crates.io is unreachable on many trading networks.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
TEMPLATES = Path(__file__).parent / "templates"

CARGO_TOML = """\
[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# The Sequence SDK, from its source on this machine (builds offline; no registry).
algo-sdk = {{ path = "{sdk}", package = "sequence-algo-sdk" }}

[features]
# `sequence build --native`: a .so exporting sequence_algo_vtable_v1 instead of WASM exports.
native = ["algo-sdk/std"]

# Its own workspace, even when created inside another Cargo workspace.
[workspace]

# Small bundles: no debug info, one codegen unit, abort on panic.
[profile.release]
opt-level = "z"
lto = true
panic = "abort"
codegen-units = 1
debug = false
strip = true

# Native builds unwind, so the SDK can catch a panic at the vtable boundary.
[profile.native]
inherits = "release"
opt-level = 3
panic = "unwind"
"""

CARGO_CONFIG = """\
# `cargo build` builds the WebAssembly bundle by default (`sequence build` passes it too).
[build]
target = "wasm32-unknown-unknown"
"""

SEQUENCE_TOML = """\
# {name}: a market maker on a simulated Kraken book (paper trading, no keys needed).
#   sequence build && sequence up --start      # or: sequence deploy && sequence start

[project]
name = "{project}"

[venue.kraken]
mode = "sandbox"                  # market data from the feed, fills simulated against the book{allow_native}

[venue.kraken.feed]
kind = "sim"
sim = {{ seed = 7, updates_per_sec = 2000, volatility_bps = 40, spread_bps = 2 }}

[deploy.mm]
venue = "kraken"
label = "mm"
symbols = ["BTC-USD"]{runtime}
bundle = "{bundle}"
state = "stopped"                 # loaded and warming up; no orders until `sequence start mm`

[deploy.mm.risk]
max_order_qty = 0.05
max_notional = 10000
max_position = 0.2
max_open_orders = 4
max_orders_per_sec = 50
price_band_bps = 100
max_loss = 1000

[deploy.mm.params]
spread_bps = 4
qty = 0.01
max_position = 0.05
requote_ms = 50
"""

CARGO_CONFIG_NATIVE = """\
# A native project builds for this machine (`sequence build --native`); `sequence build` without
# --native still makes the WebAssembly bundle (it passes --target wasm32-unknown-unknown).
"""

GITIGNORE = "/target\n"


def sdk_source() -> Path:
    """The SDK crate's directory: $SEQUENCE_SDK_PATH, else `sdk/` beside the Python package."""
    configured = os.environ.get("SEQUENCE_SDK_PATH")
    candidate = Path(configured) if configured else Path(__file__).resolve().parents[3] / "sdk"
    if not (candidate / "Cargo.toml").is_file():
        raise click.ClickException(
            f"the Sequence Rust SDK was not found at {candidate}: set SEQUENCE_SDK_PATH to the "
            "directory of its Cargo.toml (the `sdk/` directory of the Sequence source)"
        )
    return candidate.resolve()


def crate_lib_name(name: str) -> str:
    return name.replace("-", "_")


def artifact_path(name: str, native: bool) -> str:
    """Where cargo puts the built algorithm, relative to the project directory."""
    if native:
        return f"target/native/lib{crate_lib_name(name)}.so"
    return f"target/wasm32-unknown-unknown/release/{crate_lib_name(name)}.wasm"


def project_name(name: str) -> str:
    """NAME as a DNS label for [project] (Kubernetes names allow no '_' or upper case)."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "algo"


def scaffold(directory: Path, name: str, native: bool) -> list[Path]:
    if not NAME_PATTERN.match(name):
        raise click.ClickException(f"invalid project name {name!r}: use 1-63 letters, digits, '-' or '_'")
    if directory.exists():
        raise click.ClickException(f"{directory} already exists; pick another name or remove it")
    sdk = sdk_source()
    files = {
        "Cargo.toml": CARGO_TOML.format(name=name.lower().replace("_", "-"), sdk=sdk.as_posix()),
        ".cargo/config.toml": CARGO_CONFIG_NATIVE if native else CARGO_CONFIG,
        "src/lib.rs": (TEMPLATES / "lib.rs").read_text(),
        "Sequence.toml": SEQUENCE_TOML.format(
            name=name,
            project=project_name(name),
            allow_native="\nallow_native = true               # native code runs unsandboxed in the edge"
            if native
            else "",
            runtime='\nruntime = "native"' if native else "",
            bundle=artifact_path(name.lower().replace("_", "-"), native),
        ),
        ".gitignore": GITIGNORE,
    }
    written = []
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


@click.command("init")
@click.argument("name")
@click.option("--native", is_flag=True, help="Scaffold for a native .so (cdylib) instead of WebAssembly.")
def init(name: str, native: bool) -> None:
    """Create NAME/: a Rust market maker on the Sequence SDK and a Sequence.toml to run it."""
    directory = Path(name)
    written = scaffold(directory, name, native)
    for path in written:
        click.echo(f"created {path}")
    _offer_login()
    click.echo(f"\nnext: cd {name} && sequence build{' --native' if native else ''} && sequence up --start")


def _offer_login() -> None:
    """With no login stored: on a terminal, offer `sequence login` (a token for a cluster or a remote
    session; running on this machine needs none); otherwise say how to add one later."""
    from ..client.logins import LoginError, load_logins
    from .login import login

    try:
        if load_logins():
            return
    except LoginError:
        return  # an unreadable logins file: `sequence login` itself reports it
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        click.echo(
            "no login stored: `sequence login` stores the token of a cluster or remote session", err=True
        )
        return
    ask = "No Sequence login is stored on this machine. Log in now (Enter: later, with `sequence login`)?"
    if click.confirm(ask, default=False, err=True):
        sandbox = click.confirm("Paper trading only (a sandbox login)?", default=True, err=True)
        click.get_current_context().invoke(login, sandbox=sandbox)
