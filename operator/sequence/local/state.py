"""Where a running `sequence up` session records its processes, so the other
CLI verbs (status, start, logs, ...) can find its edges and coordinator.

One JSON file per project under $SEQUENCE_STATE_DIR (default ~/.sequence/local).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sequence_wire.auth import TOKEN_ENV, TokenError, generate_token, read_token_file, write_token_file


def state_dir() -> Path:
    return Path(os.environ.get("SEQUENCE_STATE_DIR", Path.home() / ".sequence" / "local"))


@dataclass
class LocalDeployment:
    name: str  # deploy block name in Sequence.toml
    deployment_id: str  # id on the edge (`<project>-<name>`, like the Kubernetes name)
    venue: str
    label: str
    symbols: list[str]


@dataclass
class LocalState:
    project: str
    root: str  # directory of the Sequence.toml
    supervisor_pid: int
    coordinator_url: str | None = None
    edges: dict[str, str] = field(default_factory=dict)  # venue -> control API base URL
    deployments: dict[str, LocalDeployment] = field(default_factory=dict)
    log_dir: str = ""
    processes: dict[str, int] = field(default_factory=dict)  # "coordinator", "edge/<venue>" -> pid
    restarts: dict[str, dict[str, int]] = field(default_factory=dict)  # process -> {"exited"/"hung": n}
    token_file: str = ""  # the session's bearer token (mode 0600), docs/security.md
    api_url: str = ""  # the session's own API (`GET /v1/algos`, session_api.py)
    # deploy name -> the state a restarted edge gets it back in (the last state `sequence up` saw)
    desired: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return state_dir() / f"{self.project}.json"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.path)

    @classmethod
    def update(cls, path: Path, change: Callable[[LocalState], None]) -> LocalState | None:
        """Apply CHANGE to the file as it is now and write it back, under a lock: the session, the
        CLI verbs and the SDK all write this file, and none may undo another's change (a deploy
        lost to a save of an older copy). None when the file is gone (the session ended)."""
        with _locked(path):
            try:
                fresh = cls.load(path)
            except (OSError, ValueError, TypeError):
                return None
            change(fresh)
            fresh.save()
            return fresh

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        if self.token_file:
            Path(self.token_file).unlink(missing_ok=True)

    def create_token(self) -> str:
        """The session's token ($SEQUENCE_TOKEN, else a new one), written to a 0600 file next to
        the session file, where the CLI verbs read it."""
        token = os.environ.get(TOKEN_ENV) or generate_token()
        self.token_file = str(write_token_file(self.path.with_suffix(".token"), token))
        return token

    def token(self) -> str | None:
        """The session's token, or None for a session without one (or an unreadable file)."""
        if not self.token_file:
            return None
        try:
            return read_token_file(self.token_file)
        except TokenError:
            return None

    @classmethod
    def load(cls, path: Path) -> LocalState:
        data = json.loads(path.read_text())
        data["deployments"] = {k: LocalDeployment(**v) for k, v in data.get("deployments", {}).items()}
        return cls(**data)

    def alive(self) -> bool:
        try:
            os.kill(self.supervisor_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def edge_url(self, deployment: LocalDeployment) -> str:
        return self.edges[deployment.venue]


def running_sessions() -> list[LocalState]:
    """Live `sequence up` sessions (stale files from crashed sessions are ignored)."""
    sessions = []
    for path in sorted(state_dir().glob("*.json")):
        try:
            state = LocalState.load(path)
        except (OSError, ValueError, TypeError):
            continue
        if state.alive():
            sessions.append(state)
    return sessions


class SeveralSessions(Exception):
    """Several sessions run and nothing picks one; the message lists their projects."""


def session_of(name: str | None) -> tuple[LocalState | None, str]:
    """The running session of project NAME (without NAME: the only one running), else None and
    why not. Raises SeveralSessions when several run and NAME does not pick one (the CLI verbs and
    `sequence.connect()` choose their target with it)."""
    sessions = running_sessions()
    mine = [s for s in sessions if s.project == name] if name else sessions
    if len(mine) > 1:
        raise SeveralSessions(", ".join(s.project for s in mine))
    if mine:
        return mine[0], ""
    return None, (f"project {name!r} is not running locally" if name else "no running project")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
