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
from ..local.state import SeveralSessions, session_of
from ..local.target import LocalTarget, TargetError
from ..project import project_identity
from .common import Context, kube_error

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
        try:
            session, why = session_of(name)
        except SeveralSessions as exc:
            raise click.ClickException(
                f"several projects are running ({exc}): pick one with --project"
            ) from None
        if session is not None:
            return LocalTarget(session)
        local_error = (
            f"{why} (start it with `sequence up`)" if name else f"{why} (start one with `sequence up [PATH]`)"
        )
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
    except Exception as exc:
        message = kube_error(exc)
        if message is None:
            raise
        raise click.ClickException(message) from None


def mesh_or_none(target: Target) -> dict[str, Any] | None:
    """The target's mesh topology, or None when the coordinator can't tell (the table shows '-')."""
    try:
        return target.mesh()
    except Exception:
        return None
