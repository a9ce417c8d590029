"""`sequence deploy [PATH]`: server-side apply what `sequence render` produces."""

from __future__ import annotations

from pathlib import Path

import click

from ..local.target import TargetError
from .common import Context, load_or_exit


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would be applied and apply nothing.")
@click.pass_obj
def deploy(ctx: Context, path: Path, dry_run: bool) -> None:
    """Apply PATH's resources to the current cluster (server-side apply, field manager `sequence`).

    Deployments start Stopped unless the file says otherwise, so every edge loads the algorithm and
    warms up its books before the first order; `sequence start` runs them.
    """
    from ..cluster import deploy as apply_objects
    from ..render.render import render_objects

    project = load_or_exit(path)
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
