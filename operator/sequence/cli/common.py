"""What every `sequence` subcommand shares: the global options' Context, exit codes, and
loading a project or exiting with its problems. Subcommands import this, never main.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from ..project import ConfigError, Problem, Project, load_project, resolve_path

EXIT_CONFIG = 2  # Argo CD's plugin must see non-zero and empty stdout on any error


class Context:
    """The global options (`sequence --sandbox --target ... --context ... -n ...`)."""

    def __init__(self, sandbox: bool, target: str, context: str | None, namespace: str | None) -> None:
        self.sandbox = sandbox
        self.target = target  # auto: a running `sequence up` of the project, else the cluster
        self.kube_context = context
        self.namespace = namespace


def fail(problems: list[object]) -> NoReturn:
    """Each problem on stderr, nothing on stdout, exit 2."""
    for problem in problems:
        click.echo(str(problem), err=True)
    sys.exit(EXIT_CONFIG)


def internal(path: Path, what: str, exc: Exception) -> Problem:
    """An unexpected failure, still as one `file:line: field: message` line (a bug to report)."""
    return Problem(str(resolve_path(path)), 1, "file", f"internal error while {what}: {exc!r}")


def load_or_exit(path: Path) -> Project:
    """The project at PATH, or its problems on stderr and exit 2."""
    try:
        return load_project(path)
    except ConfigError as exc:
        fail(list(exc.problems))
    except Exception as exc:  # keep the error contract even for a bug in the loader
        fail([internal(path, "loading", exc)])
