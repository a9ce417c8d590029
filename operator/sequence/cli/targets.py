"""Which running project the lifecycle verbs act on.

Verbs find their target from the project (--project, default `.`): a running `sequence up`
session of that project (or the only one running), else the current kubeconfig context
(`sequence --target local|cluster` forces one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..client import ApiError
from ..cluster import ClusterTarget
from ..local.state import running_sessions
from ..local.target import LocalTarget, TargetError
from ..project import project_identity
from .common import Context

__all__ = ["Target", "call", "mesh_or_none", "project_identity", "project_option", "resolve_target"]

Target = LocalTarget | ClusterTarget

project_option = click.option(
    "--project",
    "-p",
    "project_path",
    default=".",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Sequence.toml (or its directory) naming the project",
)


def resolve_target(project_path: Path) -> Target:
    """A running `sequence up` of the project (or the only one running), else the cluster."""
    options = click.get_current_context().find_object(Context)
    mode = options.target if options else "auto"
    name, namespace = project_identity(project_path)
    local_error = ""
    if mode != "cluster":
        sessions = running_sessions()
        mine = [s for s in sessions if s.project == name] if name else sessions
        if len(mine) == 1:
            return LocalTarget(mine[0])
        if name:
            local_error = f"project {name!r} is not running locally (start it with `sequence up`)"
        elif not sessions:
            local_error = "no running project (start one with `sequence up [PATH]`)"
        else:
            names = ", ".join(s.project for s in sessions)
            raise click.ClickException(f"several projects are running ({names}): pick one with --project")
        if mode == "local":
            raise click.ClickException(local_error)
    try:
        if options is None:
            return ClusterTarget(name, namespace)
        return ClusterTarget(name, options.namespace or namespace, options.kube_context)
    except TargetError as exc:
        raise click.ClickException("; ".join(m for m in (local_error, f"cluster: {exc}") if m)) from None


def call(fn: Any, *args: Any) -> Any:
    """FN(*ARGS), a target's failure shown as a CLI error."""
    try:
        return fn(*args)
    except (TargetError, ApiError) as exc:  # an edge or coordinator refused or did not answer
        raise click.ClickException(str(exc)) from None


def mesh_or_none(target: Target) -> dict[str, Any] | None:
    """The target's mesh topology, or None when the coordinator can't tell (the table shows '-')."""
    try:
        return target.mesh()
    except Exception:
        return None
