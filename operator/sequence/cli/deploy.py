"""`sequence deploy [PATH]`: server-side apply what `sequence render` produces."""

from __future__ import annotations

from pathlib import Path

import click

from ..local.state import LocalState, running_sessions
from ..local.target import TargetError
from ..project import Project
from .common import Context, load_or_exit


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would be applied and apply nothing.")
@click.pass_obj
def deploy(ctx: Context, path: Path, dry_run: bool) -> None:
    """Deploy PATH's Sequence.toml: to its running `sequence up` session, else to the current
    cluster (server-side apply, field manager `sequence`).

    New deployments start Stopped unless the file says otherwise, so every edge loads the
    algorithm and warms up its books before the first order; `sequence start` runs them. In a
    running session, a deployment already there is hot-swapped and keeps its state.
    """
    from ..cluster import deploy as apply_objects
    from ..render.render import render_objects

    project = load_or_exit(path)
    if ctx.target != "cluster":
        session = next((s for s in running_sessions() if s.project == project.name), None)
        if session is not None:
            _deploy_locally(ctx, project, session, dry_run)
            return
        if ctx.target == "local":
            raise click.ClickException(f"project {project.name!r} is not running locally (`sequence up`)")
    objects = render_objects(project)
    live = [
        o["metadata"]["name"] for o in objects if o["kind"] == "VenueEdge" and o["spec"].get("mode") == "live"
    ]
    if ctx.sandbox and live:
        raise click.ClickException(f"--sandbox refuses live venues: {', '.join(live)}")
    if dry_run:
        for obj in objects:
            click.echo(f"would apply {obj['kind']}/{obj['metadata']['name']}")
        return
    namespace = ctx.namespace or project.config.project.namespace
    try:
        for applied in apply_objects(objects, namespace, ctx.kube_context):
            click.echo(f"applied {applied}")
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("deployments start stopped: run `sequence start` when the edges are ready", err=True)


def _deploy_locally(ctx: Context, project: Project, session: LocalState, dry_run: bool) -> None:
    from ..local.redeploy import deploy_to_session

    live = sorted(
        {
            b.venue
            for b in project.config.deploy.values()
            if project.config.venue.get(b.venue) and project.config.venue[b.venue].mode == "live"
        }
    )
    if ctx.sandbox and live:
        raise click.ClickException(f"--sandbox refuses live venues: {', '.join(live)}")
    if dry_run:
        for name in project.config.deploy:
            click.echo(f"would push {name} to the running session {project.name}")
        return
    try:
        results = deploy_to_session(project, session)
    except (TargetError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    for name, action, state in results:
        click.echo(f"{action} {name} ({state}) in the running session {project.name}")
