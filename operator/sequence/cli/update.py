"""`sequence update`: upgrade this CLI to the newest release (sequence/selfupdate.py does the work)."""

from __future__ import annotations

import os

import click


@click.command("update")
@click.option(
    "--index-url",
    metavar="URL",
    help="Package index with PyPI's JSON API (default: $SEQUENCE_INDEX_URL, else https://pypi.org).",
)
@click.option("--check", "check_only", is_flag=True, help="Only say whether a newer release exists.")
def update(index_url: str | None, check_only: bool) -> None:
    """Upgrade the sequence CLI (the sequence-k8s package) in place to the newest release: the
    file is checked against the sha256 the index publishes and installed by pip with
    --require-hashes. An editable or development install is refused (update it with git)."""
    from .. import selfupdate

    index = selfupdate.index_url(index_url, dict(os.environ))
    current = selfupdate.installed_version()
    try:
        release = selfupdate.latest_release(index)
        if not selfupdate.is_newer(release.version, current):
            click.echo(f"sequence {current} is up to date (newest on {index}: {release.version})")
            return
        click.echo(f"sequence {release.version} is available (installed: {current})")
        if release.changelog:
            click.echo(f"  {release.changelog}")
        if check_only:
            return
        problem = selfupdate.current_install_problem()
        if problem:
            raise click.ClickException(f"not updating: {problem}")
        click.echo(f"installing {release.filename} (sha256 {release.sha256[:16]}…)")
        selfupdate.install(release)
    except selfupdate.UpdateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sequence updated to {release.version}")
