"""`sequence up --detach` and `sequence down`: a local session in the background.

`--detach` starts `sequence up` as its own process group (it survives the shell), with its
output in `$SEQUENCE_STATE_DIR/<project>.log`, and returns once the session file lists the
deployments (the verbs can act then). `down` sends the session's supervisor SIGTERM, which
undeploys every deployment (on_shutdown, cancels) and stops the edges and the coordinator, and
waits until it has exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .state import LocalState, running_sessions, state_dir
from .supervision import sequence_command

POLL_S = 0.1


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(POLL_S)
    return check()


def start_detached(
    project_name: str,
    path: Path,
    start: bool,
    timeout: float = 120.0,
    on_progress: Callable[[str], None] | None = None,
) -> tuple[LocalState, Path]:
    """Starts `sequence up PATH` in the background; returns its session and its log file.
    ON_PROGRESS gets each launch progress line (`up: ...`) of the session's output as it comes."""
    if any(s.project == project_name for s in running_sessions()):
        raise RuntimeError(f"project {project_name!r} is already running locally (`sequence down` stops it)")
    log_path = state_dir() / f"{project_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [*sequence_command(), "up", str(path), *(["--start"] if start else [])]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    state_file = state_dir() / f"{project_name}.json"

    relayed = 0

    def relay() -> None:
        nonlocal relayed
        if on_progress is None:
            return
        text = log_path.read_text(errors="replace")
        complete = text[: text.rfind("\n") + 1].splitlines()  # a line still being written waits
        for line in complete[relayed:]:
            if line.startswith("up: "):
                on_progress(line[4:])
        relayed = max(relayed, len(complete))

    def ready() -> bool:
        relay()
        if proc.poll() is not None:
            return True
        try:
            state = LocalState.load(state_file)
        except (OSError, ValueError, TypeError):
            return False
        return state.supervisor_pid == proc.pid and bool(state.edges)

    started = _wait(ready, timeout)
    relay()  # the last lines (`... is up`) written just before the session file
    if not started or proc.poll() is not None:
        if proc.poll() is None:
            proc.terminate()
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError("`sequence up` did not start:\n" + "\n".join(tail))
    return LocalState.load(state_file), log_path


def stop_session(session: LocalState, timeout: float = 60.0) -> bool:
    """SIGTERM to the session's supervisor; True once it has exited (False if it is still up)."""
    try:
        os.kill(session.supervisor_pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    return _wait(lambda: not session.alive(), timeout)
