"""Hung-process detection for `sequence up`: a child that is alive but no longer answers.

A stopped (SIGSTOP), deadlocked or stuck process never exits, so waiting for its exit code never
notices it. Each supervised child gets a probe thread: once the child has been healthy, it GETs
the child's /healthz every PROBE_PERIOD_S (from the start of one probe to the next) with a
PROBE_TIMEOUT_S timeout. Any HTTP answer counts as alive (a 503 is a slow feed, not a hang); after
PROBE_FAILURES probes in a row without one it kills the child's process group (SIGKILL reaches a
stopped process too) and says why, and the supervisor restarts it as after any exit, reason `hung`.
The thread runs beside the supervisor loop, so a hung child never slows the detection of another.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import httpx

PROBE_PERIOD_S = 1.0
PROBE_TIMEOUT_S = 2.0
PROBE_FAILURES = 3


class LivenessProbe:
    """Probes one child's health URL in a daemon thread and kills the child when it hangs."""

    def __init__(
        self,
        name: str,
        health_url: str,
        on_hung: Callable[[str], None],
        *,
        period_s: float = PROBE_PERIOD_S,
        timeout_s: float = PROBE_TIMEOUT_S,
        failures: int = PROBE_FAILURES,
    ) -> None:
        self.name = name
        self.health_url = health_url
        self.on_hung = on_hung
        self.period_s = period_s
        self.timeout_s = timeout_s
        self.failures = failures
        self._proc: subprocess.Popen[bytes] | None = None
        self._failed = 0
        self.answered = 0  # probes answered since the probe was created
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"liveness-{name}", daemon=True)
        self._thread.start()

    def watch(self, proc: subprocess.Popen[bytes] | None) -> None:
        """Probe PROC from now on (call once it answered its first health check); None: pause."""
        with self._lock:
            self._proc = proc
            self._failed = 0

    def close(self) -> None:
        self._stop.set()
        self.watch(None)

    def _run(self) -> None:
        wait = self.period_s
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.wait(wait):
                started = time.monotonic()
                with self._lock:
                    proc = self._proc
                if proc is None or proc.poll() is not None:
                    wait = self.period_s
                    continue
                try:
                    client.get(self.health_url)
                    ok = True
                except httpx.HTTPError:
                    ok = False
                self._count(proc, ok)
                # probes start every period_s: a probe that timed out is not followed by a full pause
                wait = max(0.0, self.period_s - (time.monotonic() - started))

    def _count(self, proc: subprocess.Popen[bytes], ok: bool) -> None:
        with self._lock:
            if proc is not self._proc:
                return  # restarted or stopped meanwhile: this answer was about the old process
            self._failed = 0 if ok else self._failed + 1
            self.answered += ok
            if self._failed < self.failures:
                return
            self._proc = None  # until the supervisor restarted it and calls watch() again
        reason = (
            f"{self.name} hung: /healthz did not answer within {self.timeout_s:g}s {self.failures} times "
            f"in a row; killed (SIGKILL)"
        )
        self.on_hung(reason)  # before the kill: the supervisor must see the reason with the exit
        with contextlib.suppress(ProcessLookupError):  # it exited on its own meanwhile
            os.killpg(proc.pid, signal.SIGKILL)
