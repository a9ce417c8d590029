"""`sequence deploy --wait`: until every deployment of the project is Ready, with a line per
change on stderr (a spinner besides on a terminal), or a clear message at the timeout.

Ready means: in a local session, loaded on its edge and in a steady state (Loaded, i.e. never
started, Running, Stopped or Paused); in the cluster, the AlgoDeployment's `Ready` condition is True for its current
generation (every capable edge runs the bundle in the requested state). A deployment that
Failed ends the wait at once: waiting longer would not change it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console

from ..client import ApiError
from ..cluster import ClusterTarget
from ..local.state import LocalState
from ..local.target import LocalTarget, TargetError
from .common import kube_error

POLL_S = 0.5
STEADY = ("Loaded", "Running", "Stopped", "Paused")


@dataclass(frozen=True)
class Progress:
    """Where one deployment is: READY or not, FAILED for good, and what to show."""

    ready: bool
    failed: bool
    text: str


def local_progress(row: dict[str, Any]) -> Progress:
    state = str(row.get("state", "?"))
    error = (row.get("last_error") or {}).get("message")
    text = state + (f": {error}" if error and state not in STEADY else "")
    return Progress(state in STEADY, state == "Failed", text)


def cluster_progress(algo: dict[str, Any]) -> Progress:
    status = algo.get("status") or {}
    generation = algo.get("metadata", {}).get("generation")
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    lifecycle = status.get("lifecycleState") or "Pending"
    current = ready is not None and ready.get("observedGeneration") in (None, generation)
    message = (ready or {}).get("message") or "waiting for the operator"
    edges = f"{status.get('pushedTo', 0)}/{status.get('capableEdges', 0)} edges"
    return Progress(
        bool(current and ready and ready.get("status") == "True"),
        lifecycle == "Failed" and current,
        f"{lifecycle} ({edges}): {message}",
    )


def local_poller(session: LocalState, names: list[str]) -> Callable[[], dict[str, Progress]]:
    target = LocalTarget(LocalState.load(session.path))

    def poll() -> dict[str, Progress]:
        rows = {row["name"]: row for row in target.status(None)}
        return {
            n: local_progress(rows[n]) if n in rows else Progress(False, False, "not on its edge")
            for n in names
        }

    return poll


def cluster_poller(target: ClusterTarget, names: list[str]) -> Callable[[], dict[str, Progress]]:
    def poll() -> dict[str, Progress]:
        algos = {a["metadata"]["name"]: a for a in target.select(None)}
        return {
            n: cluster_progress(algos[n]) if n in algos else Progress(False, False, "not created yet")
            for n in names
        }

    return poll


def wait_ready(poll: Callable[[], dict[str, Progress]], timeout: float) -> None:
    """Polls until every deployment is ready; ClickException on a failure or at TIMEOUT."""
    console = Console(stderr=True)
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    latest: dict[str, Progress] = {}
    unanswered = ""  # the last failure to ask, shown at the timeout
    spinner = console.status("waiting for the deployments to be ready") if console.is_terminal else None
    if spinner is not None:
        spinner.start()
    try:
        while True:
            try:
                latest, unanswered = poll(), ""
            except Exception as exc:  # an edge or the API server did not answer: ask again
                if not isinstance(exc, TargetError | ApiError) and kube_error(exc) is None:
                    raise
                unanswered = kube_error(exc) or str(exc)
            for name, progress in latest.items():
                if shown.get(name) != progress.text:
                    shown[name] = progress.text
                    mark = "ready" if progress.ready else "waiting"
                    console.print(f"wait: {name} {mark}: {progress.text}", highlight=False, markup=False)
            failed = {n: p for n, p in latest.items() if p.failed}
            if failed:
                why = "; ".join(f"{n}: {p.text}" for n, p in failed.items())
                raise click.ClickException(f"deployment failed: {why}")
            if latest and all(p.ready for p in latest.values()):
                return
            if time.monotonic() >= deadline:
                pending = "; ".join(f"{n} is {p.text}" for n, p in latest.items() if not p.ready)
                pending = "; ".join(
                    x for x in (pending, unanswered and f"last poll failed: {unanswered}") if x
                )
                raise click.ClickException(
                    f"timed out after {timeout:g} s waiting for the deployments to be ready: {pending} "
                    "(`sequence status` shows where they are; --timeout waits longer)"
                )
            if spinner is not None:
                waiting = [n for n, p in latest.items() if not p.ready]
                spinner.update(f"waiting for {', '.join(waiting)} ({deadline - time.monotonic():.0f} s left)")
            time.sleep(POLL_S)
    finally:
        if spinner is not None:
            spinner.stop()
