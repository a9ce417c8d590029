"""`kubectl sequence ...` runs our CLI: pip installs the `kubectl-sequence` entry point on PATH."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import REPO


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl client not installed")
def test_kubectl_finds_and_runs_the_plugin() -> None:
    assert shutil.which("kubectl-sequence"), "pip install should put kubectl-sequence on PATH"
    result = subprocess.run(
        ["kubectl", "sequence", "validate", "examples/mesh-arb"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    broken = subprocess.run(
        ["kubectl", "sequence", "render", "tests/configs/broken/01_typo_symbols.toml"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert broken.returncode == 2 and broken.stdout == ""
    assert "did you mean `symbols`?" in broken.stderr
