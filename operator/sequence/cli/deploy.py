"""`sequence deploy [PATH]`: server-side apply what `sequence render` produces."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..local.state import LocalState, running_sessions
from ..local.target import TargetError
from ..project import Project
from .common import Context, kube_error, load_or_exit, progress_line
from .sandbox import paper_only


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would be applied and apply nothing.")
@click.option("--skip-build", is_flag=True, help="Deploy the bundles as they are: no `sequence build` first.")
@click.option(
    "--wait",
    is_flag=True,
    help="Return once every deployment is Ready (loaded on its edges in the requested state).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="With --wait: give up after this many seconds (exit 1, saying what is not ready).",
)
@click.pass_obj
@paper_only
def deploy(ctx: Context, path: Path, dry_run: bool, skip_build: bool, wait: bool, timeout: float) -> None:
    """Build (when PATH has a Cargo.toml), then deploy PATH's Sequence.toml: to its running
    `sequence up` session, else to the current cluster (server-side apply, field manager
    `sequence`), else, with no kubeconfig, to a new background session (`sequence down` stops it).

    New deployments start Stopped unless the file says otherwise, so every edge loads the
    algorithm and warms up its books before the first order; `sequence start` runs them. In a
    running session, a deployment already there is hot-swapped and keeps its state.

    --wait returns once every deployment is Ready: in the cluster, once the operator has pushed
    the bundle to every capable edge (a progress line per change on stderr).
    """
    from ..cluster import deploy as apply_objects
    from ..render.render import render_objects

    if wait and dry_run:
        raise click.UsageError("--dry-run deploys nothing to wait for: drop --wait")
    crate_dir = path if path.is_dir() else path.parent
    if not skip_build and not dry_run and (crate_dir / "Cargo.toml").is_file():
        _build_first(crate_dir, path)
    project = load_or_exit(path)
    if ctx.target != "cluster":
        session = next((s for s in running_sessions() if s.project == project.name), None)
        if session is not None:
            _deploy_locally(ctx, project, session, dry_run)
            if wait:
                _wait_locally(project, session, timeout)
            return
        if ctx.target == "local":
            raise click.ClickException(f"project {project.name!r} is not running locally (`sequence up`)")
        if not dry_run and not _has_kubeconfig():
            session = _start_session(ctx, project, path)
            if wait:
                _wait_locally(project, session, timeout)
            return
    objects = render_objects(project)
    live = [
        o["metadata"]["name"] for o in objects if o["kind"] == "VenueEdge" and o["spec"].get("mode") == "live"
    ]
    if ctx.sandbox and live:
        raise click.ClickException(f"--sandbox refuses live venues: {', '.join(live)}")
    keyless = [
        n
        for n, v in project.config.venue.items()
        if v.mode == "live" and not v.credentials and not v.external
    ]
    if keyless:
        raise click.ClickException(
            f"{project.path}: venue.{keyless[0]}.credentials: a live venue in a cluster needs "
            'credentials = "<secret>" (credentials_dir is for `sequence up`)'
        )
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
    except Exception as exc:
        message = kube_error(exc)
        if message is None:
            raise
        raise click.ClickException(message) from None
    if wait:
        _wait_in_cluster(
            ctx, namespace, [o["metadata"]["name"] for o in objects if o["kind"] == "AlgoDeployment"], timeout
        )
        click.echo(f"every deployment of {project.name} is ready")
    click.echo("deployments start stopped: run `sequence start` when the edges are ready", err=True)


def _wait_locally(project: Project, session: LocalState, timeout: float) -> None:
    from .deploy_wait import local_poller, wait_ready

    wait_ready(local_poller(session, list(project.config.deploy)), timeout)
    click.echo(f"every deployment of {project.name} is ready")


def _wait_in_cluster(ctx: Context, namespace: str | None, names: list[str], timeout: float) -> None:
    from ..cluster import ClusterTarget
    from .deploy_wait import cluster_poller, wait_ready

    try:
        target = ClusterTarget(None, namespace, ctx.kube_context)
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None
    wait_ready(cluster_poller(target, names), timeout)


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


def _build_first(crate_dir: Path, path: Path) -> None:
    """`sequence build` (native when a deploy block runs natively) before deploying."""
    from ..project import ConfigError, load_project
    from .build import build_and_check

    try:
        blocks = list(load_project(path, check_files=False).config.deploy.values())
    except ConfigError:
        blocks = []  # load_or_exit reports the problems next
    native = any(block.runtime == "native" for block in blocks)
    if not build_and_check(crate_dir, native):
        raise click.ClickException("the build failed its checks; nothing was deployed")


def _has_kubeconfig() -> bool:
    return bool(
        os.environ.get("KUBECONFIG")
        or os.environ.get("KUBERNETES_SERVICE_HOST")
        or (Path.home() / ".kube" / "config").is_file()
    )


def _start_session(ctx: Context, project: Project, path: Path) -> LocalState:
    from ..local.background import start_detached

    if ctx.sandbox:
        live = [n for n, v in project.config.venue.items() if v.mode == "live"]
        if live:
            raise click.ClickException(f"--sandbox refuses live venues: {', '.join(live)}")
    try:
        session, log_path = start_detached(project.name, path, start=False, on_progress=progress_line)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"no cluster configured: started a local session of {project.name} in the background")
    for name in session.deployments:
        click.echo(f"deployed {name} (stopped; `sequence start {name}` runs it)")
    click.echo(f"output in {log_path}; `sequence down` stops the session")
    return session
