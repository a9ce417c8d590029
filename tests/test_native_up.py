"""`sequence up` with runtime = "native": the seed's MyStrategy built as a .so trades on a local
edge that allows native code; a venue without allow_native is refused by `sequence validate`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, sequence_cli
from .mesh_support import wait_until
from .native_support import CARGO, RUSTC, build_native_examples
from .test_up import UpSession

pytestmark = pytest.mark.skipif(
    not (CARGO.exists() and RUSTC.exists()), reason="Debian's cargo/rustc 1.63 are not installed"
)
EXAMPLE = REPO / "examples" / "native-strategy"


@pytest.fixture
def run(tmp_path: Path) -> Iterator[UpSession]:
    build_native_examples()
    session = UpSession(tmp_path, "examples/native-strategy", "--start", "--duration", "60")
    yield session
    session.kill()


def test_the_seed_strategy_trades_under_sequence_up(run: UpSession) -> None:
    status = wait_until(lambda: (s := run.status("mine"))["fills"] >= 1 and s, 90, "MyStrategy to fill")
    assert status["runtime"] == "native" and status["state"] == "Running"
    assert status["orders"] >= 1 and status["last_error"] is None
    table = run.cli("status")
    assert table.returncode == 0 and "mine" in table.stdout


def test_native_on_a_venue_without_allow_native_is_a_validation_error(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    text = (EXAMPLE / "Sequence.toml").read_text().replace("allow_native = true ", "")
    (project / "Sequence.toml").write_text(text.replace("../target/native/", ""))
    so = build_native_examples()["my_strategy"]
    shutil.copy(so, project / so.name)
    result = subprocess.run(
        [*sequence_cli(), "validate", str(project)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "deploy.mine.runtime" in result.stderr and "allow_native = true" in result.stderr
    assert "Traceback" not in result.stderr
