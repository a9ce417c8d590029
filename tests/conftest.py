from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


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
