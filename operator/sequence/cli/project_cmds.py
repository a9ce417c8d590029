"""`sequence render`, `validate` and `crds`: commands that work on files, not on a runtime."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..project import ConfigError, load_project
from .common import fail, internal, load_or_exit


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
def render(path: Path) -> None:
    """Print the Kubernetes resources for PATH (a Sequence.toml or its directory).

    On any error nothing is printed on stdout and the exit code is 2, so an
    Argo CD sync never mistakes a broken file for "delete everything".
    """
    from ..render.render import render as render_yaml

    try:
        text = render_yaml(load_project(path))
    except ConfigError as exc:
        fail(list(exc.problems))
    except Exception as exc:  # never print half a render
        fail([internal(path, "rendering", exc)])
    sys.stdout.write(text)


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check PATH's Sequence.toml and bundles; print only errors (exit 2 on any) and warnings."""
    for warning in load_or_exit(path).warnings:
        click.echo(str(warning), err=True)


@click.command()
@click.option(
    "--write",
    is_flag=True,
    help="Write crds/*.yaml, the Helm chart's copy and the Argo CD health checks instead of printing.",
)
def crds(write: bool) -> None:
    """Print (or write) the CustomResourceDefinitions generated from the models."""
    from ..render.argocd import write_health
    from ..render.crdgen import all_crds_yaml, write_crds

    if write:
        for path in [*write_crds(), *write_health()]:
            click.echo(f"wrote {path}", err=True)
    else:
        sys.stdout.write(all_crds_yaml())
