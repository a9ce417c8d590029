"""What every `sequence` subcommand shares: the global options' Context, exit codes, loading a
project or exiting with its problems, and `-o json|yaml|wide` output. Subcommands import this,
never main.py."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ..project import ConfigError, Problem, Project, load_project, resolve_path

EXIT_CONFIG = 2  # Argo CD's plugin must see non-zero and empty stdout on any error
OUTPUT_FORMATS = ("table", "wide", "json", "yaml")

F = TypeVar("F", bound=Callable[..., Any])


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


def kube_error(exc: BaseException) -> str | None:
    """A Kubernetes client failure (the API server refused or did not answer) in one line, or
    None when EXC is not one: shown as a CLI error instead of a traceback."""
    module = type(exc).__module__
    if not module.startswith(("kubernetes.", "urllib3.")):
        return None
    status = getattr(exc, "status", None)
    if module.startswith("kubernetes.") and status:
        answer = f"the Kubernetes API server answered {status} {getattr(exc, 'reason', '')}".rstrip()
        try:  # its Status object says what it refused (a field, a validation rule)
            message = json.loads(getattr(exc, "body", None) or "{}").get("message")
        except (ValueError, AttributeError):
            message = None
        return f"{answer}: {message}" if message else answer
    reason = getattr(exc, "reason", None) or exc
    path = getattr(exc, "url", None)
    return f"the Kubernetes API server did not answer{f' ({path})' if path else ''}: {reason}"


def reader_gone() -> None:
    """The reader of stdout went away (`sequence watch | head -3`): stop quietly, without Python
    complaining at exit that it cannot flush stdout."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def progress_line(message: str) -> None:
    """A launch progress line of a background `sequence up`, on stderr (stdout stays for results)."""
    click.echo(f"up: {message}", err=True)


def output_option(fn: F) -> F:
    """`-o/--output table|wide|json|yaml` (the `output` parameter); `emit` prints json and yaml."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(OUTPUT_FORMATS),
        default="table",
        show_default=True,
        help="table, wide (every column), or json / yaml (the API's field names, for scripts).",
    )(fn)


def emit(value: Any, output: str) -> bool:
    """Prints VALUE as json or yaml on stdout and returns True; False for table/wide (the caller
    draws its table). VALUE is what the edge or coordinator API answers (docs/edge-api.md), so
    scripts see the same field names as the SDK."""
    if output == "json":
        click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))
        return True
    if output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(_plain(value), sort_keys=False, default_flow_style=False), nl=False)
        return True
    return False


def _plain(value: Any) -> Any:
    """VALUE with only the types yaml.safe_dump writes (what json.dumps would write)."""
    return json.loads(json.dumps(value, default=str))
