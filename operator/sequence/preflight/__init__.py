"""`sequence preflight`: is this project ready to deploy? (docs/cli.md, "sequence preflight")

The target is the one `sequence deploy` would use: the project's running local session, else the
cluster (a kubeconfig), else nothing yet. A failure (✗) is something deploy or trading would trip
over; a skipped line (-) is a check that needs a target which does not exist yet. With no session
and no kubeconfig, `sequence deploy` starts a fresh local session, so the target checks (edges,
feeds, names, capital) are skipped and say so, and the rest (bundles, risk limits, credentials)
still run: preflight passes in a fresh project before its first deploy.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..cluster import ClusterTarget
from ..local.state import running_sessions
from ..local.target import TargetError
from ..project import Project
from .checks import (
    AbiCheck,
    Check,
    Market,
    bundle_checks,
    capital_checks,
    failed,
    gateway_permissions,
    local_credential_problem,
    passed,
    risk_checks,
    sandbox_check,
    skipped,
)
from .reading import cluster_readings, cluster_secret_problem, local_readings

__all__ = ["Check", "run_preflight"]


def kubeconfig_present() -> bool:
    """The rule `sequence deploy` uses to pick the cluster when no session runs."""
    return bool(
        os.environ.get("KUBECONFIG")
        or os.environ.get("KUBERNETES_SERVICE_HOST")
        or (Path.home() / ".kube" / "config").is_file()
    )


def run_preflight(
    project: Project,
    *,
    mode: str,
    namespace: str | None,
    kube_context: str | None,
    paper_only: str | None,
    abi_problems: AbiCheck,
) -> list[Check]:
    """Every check line, in the order the checklist shows them."""
    target_line, readings, cluster = _target_checks(project, mode, namespace, kube_context)
    checks, markets = readings
    return [
        target_line,
        *checks,
        *bundle_checks(project, abi_problems),
        *risk_checks(project, markets),
        *capital_checks(project, markets),
        *credential_checks(project, markets, cluster),
        *sandbox_check(project, paper_only),
    ]


def _target_checks(
    project: Project, mode: str, namespace: str | None, kube_context: str | None
) -> tuple[Check, tuple[list[Check], dict[str, Market]], ClusterTarget | None]:
    nothing: tuple[list[Check], dict[str, Market]] = ([], {})
    if mode != "cluster":
        mine = [s for s in running_sessions() if s.project == project.name]
        if mine:
            session = mine[0]
            line = passed("target", f"the local session of {project.name} (pid {session.supervisor_pid})")
            return line, local_readings(project, session), None
        if mode == "local":
            why = f"project {project.name!r} is not running locally: start it with `sequence up`"
            return failed("target", why), nothing, None
        if not kubeconfig_present():
            return (
                skipped(
                    "target",
                    f"no session of {project.name} is running and there is no kubeconfig: `sequence "
                    "deploy` will start a fresh local session; edge, feed, name and capital checks "
                    "skipped",
                ),
                nothing,
                None,
            )
    try:
        cluster = ClusterTarget(project.name, namespace or project.config.project.namespace, kube_context)
    except TargetError as exc:
        return failed("target", f"the cluster: {exc}"), nothing, None
    line = passed("target", f"the cluster, namespace {cluster.namespace}")
    try:
        return line, cluster_readings(project, cluster), cluster
    except Exception as exc:  # the API server refused or did not answer: the target is not usable
        return failed("target", f"the cluster, namespace {cluster.namespace}: {exc}"), nothing, cluster


def credential_checks(
    project: Project, markets: dict[str, Market], cluster: ClusterTarget | None
) -> list[Check]:
    """Live venues: their keys present and private (a local directory, or the Secret in the
    cluster), and what the edge's gateway says they may do, where it reports it."""
    used = {b.venue for b in project.config.deploy.values()}
    live = {n: v for n, v in sorted(project.config.venue.items()) if v.mode == "live" and n in used}
    if not live:
        return [passed("credentials", "no live venue: paper trading needs no keys")]
    checks = []
    for name, venue in live.items():
        label, secret = f"credentials {name}", venue.credentials or ""
        directory = (project.root / venue.credentials_dir).resolve() if venue.credentials_dir else None
        try:
            if cluster:
                problem = cluster_secret_problem(cluster, secret)
            elif directory is None:
                problem = 'no credentials_dir = "<dir>" with the api_key and api_secret files'
            else:
                problem = local_credential_problem(directory)
        except Exception as exc:  # the API server did not answer
            problem = f"cannot check Secret {secret}: {exc}"
        if problem:
            checks.append(failed(label, problem))
            continue
        ok, permissions = gateway_permissions(markets.get(name))
        where = f"Secret {secret}" if cluster else f"keys in {directory}"
        checks.append((passed if ok else failed)(label, f"{where} present; {permissions}"))
    return checks
