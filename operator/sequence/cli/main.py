"""The `sequence` command line (also `kubectl sequence` as a kubectl plugin).

Project commands (render, validate, crds) work on a Sequence.toml; runtime
commands are registered from their own modules so this file stays a table of
contents.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from .. import __version__
from ..project import ConfigError, Project, load_project

EXIT_CONFIG = 2  # Argo CD's plugin must see non-zero and empty stdout on any error


class Context:
    def __init__(self, sandbox: bool, target: str, context: str | None, namespace: str | None) -> None:
        self.sandbox = sandbox
        self.target = target  # auto: a running `sequence up` of the project, else the cluster
        self.kube_context = context
        self.namespace = namespace


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--sandbox",
    is_flag=True,
    envvar="SEQUENCE_SANDBOX",
    help="Paper-trading only: refuse anything that would reach a live venue.",
)
@click.option(
    "--target",
    type=click.Choice(["auto", "local", "cluster"]),
    default="auto",
    envvar="SEQUENCE_TARGET",
    show_default=True,
    help="Where the verbs act: a local `sequence up` session, or the cluster.",
)
@click.option(
    "--context", "kube_context", envvar="SEQUENCE_CONTEXT", help="kubeconfig context (default: current)."
)
@click.option("--namespace", "-n", envvar="SEQUENCE_NAMESPACE", help="Namespace (default: the context's).")
@click.version_option(__version__, prog_name="sequence")
@click.pass_context
def cli(
    ctx: click.Context, sandbox: bool, target: str, kube_context: str | None, namespace: str | None
) -> None:
    """Run sandboxed trading algorithms declared in Sequence.toml, locally or on Kubernetes."""
    ctx.obj = Context(sandbox=sandbox, target=target, context=kube_context, namespace=namespace)


def _fail(problems: list[object]) -> NoReturn:
    for problem in problems:
        click.echo(str(problem), err=True)
    sys.exit(EXIT_CONFIG)


def load_or_exit(path: Path) -> Project:
    """The project at PATH, or its problems on stderr and exit 2."""
    try:
        return load_project(path)
    except ConfigError as exc:
        _fail(list(exc.problems))


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
def render(path: Path) -> None:
    """Print the Kubernetes resources for PATH (a Sequence.toml or its directory).

    On any error nothing is printed on stdout and the exit code is 2, so an
    Argo CD sync never mistakes a broken file for "delete everything".
    """
    from ..render import render as render_yaml

    try:
        text = render_yaml(load_project(path))
    except ConfigError as exc:
        _fail(list(exc.problems))
    except Exception as exc:  # never print half a render
        _fail([f"{path}: internal error while rendering: {exc!r}"])
    sys.stdout.write(text)


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check PATH's Sequence.toml and bundles; print only errors (exit 2 on any) and warnings."""
    for warning in load_or_exit(path).warnings:
        click.echo(str(warning), err=True)


@cli.command()
@click.option(
    "--write",
    is_flag=True,
    help="Write crds/*.yaml, the Helm chart's copy and the Argo CD health checks instead of printing.",
)
def crds(write: bool) -> None:
    """Print (or write) the CustomResourceDefinitions generated from the models."""
    from ..argocd import write_health
    from ..crdgen import all_crds_yaml, write_crds

    if write:
        for path in [*write_crds(), *write_health()]:
            click.echo(f"wrote {path}", err=True)
    else:
        sys.stdout.write(all_crds_yaml())


def main() -> None:
    cli(prog_name="sequence")


# Commands that live in their own modules register themselves on `cli`:
# edge, coordinator, operator, deploy, and `up` with the lifecycle verbs.
from . import coordinator, deploy, edge, operator_cmd, verbs  # noqa: E402, F401
