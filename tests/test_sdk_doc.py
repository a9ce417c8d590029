"""docs/sdk.md's examples run as written: every ```python block marked `# example:` runs, in the
page's order, as its own script in examples/market-maker against a real `sequence up` session;
and `mypy --strict` accepts them (the package ships py.typed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EXAMPLES
from .test_up import UpSession, session  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "sdk.md"
MARKET_MAKER = EXAMPLES / "market-maker"


def examples() -> list[tuple[str, str]]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    found = [(m.group(1), block) for block in blocks if (m := re.match(r"# example: (\S+)\n", block))]
    assert [name for name, _ in found] == ["trade.py", "trade_async.py", "legacy.py"], found
    return found


@pytest.mark.slow
def test_the_docs_examples_run_against_a_session(
    tmp_path: Path,
    session: Callable[..., UpSession],  # noqa: F811
) -> None:
    run = session(str(MARKET_MAKER))
    env = {**run.env, "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "KUBECONFIG": "/nonexistent"}
    outputs = {}
    for name, code in examples():
        script = tmp_path / name
        script.write_text(code)
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=MARKET_MAKER,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, f"{name}:\n{result.stderr}"
        outputs[name] = result.stdout
    first = outputs["trade.py"].splitlines()[0].split()
    assert first[0] == "market-maker-my-mm" and first[1] in ("Loaded", "Stopped") and first[2] == "1/1", first
    assert outputs["trade_async.py"].split()[:2] == ["Running", "market-maker"], outputs["trade_async.py"]
    assert "BTC-USD mm" in outputs["legacy.py"] and "market-maker-mm" in outputs["legacy.py"]
    assert set(run.state()["deployments"]) == {"mm"}  # the examples undeployed what they deployed


def test_the_docs_examples_type_check_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    for name, code in examples():
        (tmp_path / name).write_text(code)
    env = {**os.environ, "MYPYPATH": os.pathsep.join(str(REPO / d) for d in ("operator", "wire"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            # the package itself is checked by the repository's own mypy run (with its
            # overrides); here only the examples' use of it counts, as for an installed package
            "--follow-imports=silent",
            *(str(tmp_path / n) for n, _ in examples()),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
