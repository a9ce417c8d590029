"""The local supervisor's hung-process probe (sequence/local/liveness.py) against real processes:
a stopped HTTP server is killed after the configured number of unanswered probes; one that
answers, even with an error status, is left alone."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from sequence.local.liveness import LivenessProbe

from .mesh_support import wait_until
from .test_edge_process import free_port


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/healthz"  # 404: an answer all the same

    def answers() -> bool:
        try:
            httpx.get(url, timeout=1.0)
            return True
        except httpx.HTTPError:
            return False

    wait_until(answers, 30, "the HTTP server")
    yield proc, url
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    proc.wait()


def test_a_stopped_process_is_killed_with_the_reason(server: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = server
    reasons: list[str] = []
    probe = LivenessProbe("edge/test", url, reasons.append, period_s=0.2, timeout_s=0.3, failures=3)
    try:
        probe.watch(proc)
        proc.send_signal(signal.SIGSTOP)
        wait_until(lambda: proc.poll() is not None, 30, "the stopped process to be killed")
        assert proc.returncode == -signal.SIGKILL
        assert reasons == [
            "edge/test hung: /healthz did not answer within 0.3s 3 times in a row; killed (SIGKILL)"
        ]
    finally:
        probe.close()


def test_a_process_that_answers_is_left_alone(server: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = server
    reasons: list[str] = []
    probe = LivenessProbe("edge/test", url, reasons.append, period_s=0.05, timeout_s=1.0, failures=2)
    try:
        probe.watch(proc)
        wait_until(lambda: probe.answered >= 5, 30, "five answered probes")
        assert proc.poll() is None and reasons == []
    finally:
        probe.close()
