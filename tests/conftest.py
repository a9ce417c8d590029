from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

# The control token of every edge, coordinator and `sequence up` the tests start (docs/security.md):
# set as SEQUENCE_TOKEN for the whole run, so subprocesses inherit it; clients send AUTH.
TEST_TOKEN = "test-" + secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


@pytest.fixture(autouse=True, scope="session")
def control_token() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEQUENCE_TOKEN", TEST_TOKEN)
        env.delenv("SEQUENCE_METRICS_TOKEN", raising=False)
        yield TEST_TOKEN


def sequence_cli() -> list[str]:
    """The installed console script (what users and Argo CD run)."""
    exe = shutil.which("sequence")
    return [exe] if exe else [sys.executable, "-m", "sequence"]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sequence_cli(), *args], capture_output=True, text=True, cwd=cwd or REPO, timeout=timeout
    )


@pytest.fixture
def repo() -> Path:
    return REPO
