"""`sequence up`: run a Sequence.toml on this machine (local/ does the work)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .common import Context, load_or_exit, progress_line
from .sandbox import refuse_live


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
@click.option(
    "--detach",
    "-d",
    is_flag=True,
    help="Run in the background and return once it is up; `sequence down` stops it.",
)
@click.pass_obj
def up(
    ctx: Context, path: Path, start: bool, duration: float | None, json_path: str | None, detach: bool
) -> None:
    """Run PATH's Sequence.toml on this machine: a coordinator and one edge per venue."""
    from ..local.summary import write_summary
    from ..local.up import LocalRun, UpOptions

    project = load_or_exit(path)
    used = {block.venue for block in project.config.deploy.values()}
    live = sorted(n for n, v in project.config.venue.items() if v.mode == "live" and n in used)
    refuse_live(ctx, live)  # --sandbox, or a sandbox login: paper trading only
    for name in live:
        venue = project.config.venue[name]
        if not venue.credentials_dir:
            raise click.ClickException(
                f"{project.path}: venue.{name}.credentials_dir: a live venue run by `sequence up` needs a "
                "directory with api_key and api_secret files readable only by you (chmod 600)"
            )
        click.secho(
            f'venue {name} is mode = "live": orders that pass the edge\'s risk go to '
            f"{venue.orders_endpoint or 'the venue'}"
            + (" (dry run: logged, not sent)" if venue.dry_run else ""),
            fg="yellow",
            bold=True,
            err=True,
        )
    if detach:
        if duration or json_path:
            raise click.UsageError("--detach runs until `sequence down`: drop --duration and --json")
        from ..local.background import start_detached

        try:
            session, log_path = start_detached(project.name, path, start, on_progress=progress_line)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        names = ", ".join(session.deployments) or "none"
        click.echo(f"{project.name} is running in the background (pid {session.supervisor_pid})")
        click.echo(f"deployments: {names}; output in {log_path}; stop it with `sequence down`")
        return
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


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
def down(path: Path) -> None:
    """Stop the background session of PATH's project (or the only one running): undeploy every
    deployment, stop its edges and coordinator."""
    from ..local.background import stop_session
    from ..local.state import running_sessions
    from .targets import project_identity

    name, _ = project_identity(path)
    sessions = running_sessions()
    mine = [s for s in sessions if s.project == name] if name else sessions
    if not mine:
        raise click.ClickException(
            f"{'project ' + repr(name) if name else 'no project'} is not running locally"
        )
    if len(mine) > 1:
        raise click.ClickException(
            f"several projects are running ({', '.join(s.project for s in mine)}): pass PATH"
        )
    session = mine[0]
    if not stop_session(session):
        raise click.ClickException(
            f"{session.project} (pid {session.supervisor_pid}) did not stop within 60 s"
        )
    click.echo(f"{session.project} stopped")
