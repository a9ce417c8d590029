"""Supervision of `sequence up`'s children: start one, wait until healthy, restart it with
exponential backoff when it dies or hangs (liveness.py), stop it; and keep the session file's
pids and restart counts current."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .liveness import LivenessProbe
from .state import LocalState

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sequence_command() -> list[str]:
    exe = shutil.which("sequence")
    return [exe] if exe else [sys.executable, "-m", "sequence"]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the supervisor dies (even by SIGKILL), so a
    killed `sequence up` never leaves edges and a coordinator trading on their own (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass
class Supervised:
    """One child process (`sequence edge ...` or `sequence coordinator ...`)."""

    name: str
    args: list[str]
    health_url: str
    log_path: Path
    on_restart: Callable[[Supervised], None] | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    last_exit: int | None = None
    _next_start: float = 0.0
    _backoff: float = BACKOFF_START_S
    events: list[str] = field(default_factory=list)
    # why it was restarted: "exited" (it died) or "hung" (alive but not answering /healthz)
    restart_reasons: dict[str, int] = field(default_factory=dict)
    liveness: bool = True  # probe /healthz once healthy and kill the child when it hangs
    _probe: LivenessProbe | None = None
    _hung: str | None = None  # set by the probe thread just before it kills the child

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*sequence_command(), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
            preexec_fn=_die_with_parent,
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            try:
                if httpx.get(self.health_url, timeout=1.0).status_code == 200:
                    self._watch()
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def _watch(self) -> None:
        if not self.liveness:
            return
        if self._probe is None:
            self._probe = LivenessProbe(self.name, self.health_url, self._on_hung)
        self._probe.watch(self.proc)

    def _on_hung(self, reason: str) -> None:
        self._hung = reason  # the probe thread; check() reads it once the kill shows as an exit

    def check(self) -> bool:
        """Restart the process if it died (with exponential backoff). True if it was restarted."""
        if self.running or self.proc is None:
            return False
        now = time.monotonic()
        if self.last_exit is None:
            self.last_exit = self.proc.returncode
            hung, self._hung = self._hung, None
            reason = "hung" if hung else "exited"
            self.restart_reasons[reason] = self.restart_reasons.get(reason, 0) + 1
            self.events.append(
                f"{hung or f'{self.name} exited with {self.last_exit}'}; restarting in {self._backoff:.1f}s"
            )
            self._next_start = now + self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
        if now < self._next_start:
            return False
        self.restarts += 1
        self.last_exit = None
        self.start()
        if self.wait_healthy():
            self._backoff = BACKOFF_START_S
            if self.on_restart:
                self.on_restart(self)
            self.events.append(f"{self.name} restarted (restart #{self.restarts})")
        return True

    def stop(self, timeout: float = 5.0) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        if not self.running or self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def supervise(processes: list[Supervised], state: LocalState) -> None:
    """Restart whichever of PROCESSES died; record the new pids in the session file."""
    restarted = [sup.check() for sup in processes]
    if any(restarted):  # the CLI verbs may have changed the session file since: update it in place
        state.processes, state.restarts = pids(processes), restarts(processes)

        def record(fresh: LocalState) -> None:
            fresh.processes, fresh.restarts = state.processes, state.restarts

        if LocalState.update(state.path, record) is None:
            state.save()


def restarts(processes: list[Supervised]) -> dict[str, dict[str, int]]:
    """{name: {reason: count}} of the children restarted so far (for `sequence status`)."""
    return {sup.name: dict(sup.restart_reasons) for sup in processes if sup.restart_reasons}


def pids(processes: list[Supervised]) -> dict[str, int]:
    """{"coordinator" / "edge/<venue>": pid} of the children started so far."""
    return {sup.name: sup.proc.pid for sup in processes if sup.proc is not None}
