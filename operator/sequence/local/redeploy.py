"""`sequence deploy` against a running `sequence up` session: push the Sequence.toml's deploy
blocks, new and changed, to the session's edges while it runs.

A block already on its edge is hot-swapped in place and keeps its state (a running algorithm
stays running); a new one (or one undeployed earlier) starts in the state its block names
(stopped by default). Blocks whose venue has no edge in the session are refused: a session's
edges are fixed when it starts.
"""

from __future__ import annotations

import functools

from ..client import ApiError, EdgeClient, NotFound
from ..project import Project
from ..render.render import resource_name
from . import launch
from .state import LocalDeployment, LocalState
from .target import TargetError


def deploy_to_session(project: Project, session: LocalState) -> list[tuple[str, str, str]]:
    """Pushes every deploy block; returns (name, "created"/"updated", state) per block."""
    missing = sorted({b.venue for b in project.config.deploy.values()} - set(session.edges))
    if missing:
        raise TargetError(
            f"the running session has no edge for venue(s) {', '.join(missing)}: "
            "restart it (`sequence up`) to add venues"
        )
    launch.check_bundles(project)
    recorded = launch.local_deployments(project)
    results: list[tuple[str, str, str]] = []
    for name, block in project.config.deploy.items():
        dep_id = resource_name(project.name, name)
        with EdgeClient(session.edges[block.venue], token=session.token(), timeout=30.0) as client:
            try:
                current: str | None = client.status(dep_id).state
            except NotFound:
                current = None
            keep = current if current in ("Running", "Stopped", "Paused") else None
            config = launch.push_config(project, name, keep or block.state.capitalize())
            bundle = project.bundles.get(name)
            try:
                if bundle is not None:
                    status = client.push(dep_id, bundle.data, config, sha256=bundle.sha256)
                else:
                    status = client.push_url(dep_id, block.bundle, str(block.sha256), **config)
            except ApiError as exc:
                raise TargetError(f"{name}: the {block.venue} edge refused the push: {exc}") from exc
        # `sequence up` and the other verbs change the file too: update it under its lock
        LocalState.update(session.path, functools.partial(_record, name, recorded[name]))
        results.append((name, "updated" if current else "created", status.state))
    return results


def _record(name: str, entry: LocalDeployment, fresh: LocalState) -> None:
    fresh.deployments[name] = entry
