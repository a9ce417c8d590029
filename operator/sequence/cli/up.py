"""`sequence up`: run a Sequence.toml on this machine (local/ does the work)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .common import load_or_exit


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option(
    "--start", is_flag=True, help="Start every deployment once loaded (they start stopped otherwise)."
)
@click.option(
    "--duration", type=click.FloatRange(min=1), help="Run this many seconds, then undeploy and exit."
)
@click.option(
    "--json", "json_path", metavar="FILE", help="Write the summary as JSON to FILE ('-' for stdout)."
)
def up(path: Path, start: bool, duration: float | None, json_path: str | None) -> None:
    """Run PATH's Sequence.toml on this machine: a coordinator and one edge per venue."""
    from ..local.summary import write_summary
    from ..local.up import LocalRun, UpOptions

    project = load_or_exit(path)
    err_console = Console(stderr=True)
    if not err_console.is_terminal:  # a log file or a pipe: wide enough for the whole table
        err_console = Console(stderr=True, width=160)
    run = LocalRun(
        project, UpOptions(start=start, duration=duration, live=err_console.is_terminal), err_console
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` undeploys cleanly too, like Ctrl-C
    try:
        summary = run.run()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    write_summary(summary, err_console, json_path)
