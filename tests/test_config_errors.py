"""Every broken Sequence.toml gives exit 2, nothing on stdout, and one line naming file:line and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import REPO, run_cli

BROKEN = sorted((REPO / "tests" / "configs" / "broken").glob("*.toml"))


def _expectation(path: Path) -> tuple[str, str, str]:
    m = re.match(r"# expect: (\S+) (\S+) \| ?(.*)$", path.read_text().splitlines()[0])
    assert m, f"{path.name} lacks an '# expect: LINE FIELD | TEXT' header"
    line, field, text = m.groups()
    return line, "" if field == "-" else field, text


def test_corpus_is_large_enough() -> None:
    assert len(BROKEN) >= 25


@pytest.mark.parametrize("command", ["render", "validate"])
@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_file_is_rejected_with_location(path: Path, command: str) -> None:
    line, field, text = _expectation(path)
    rel = path.relative_to(REPO)
    result = run_cli(command, str(rel))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    prefix = f"{rel}:{line}: " + (f"{field}: " if field else "")
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    assert text in lines[0]


def test_directory_without_sequence_toml(tmp_path: Path) -> None:
    result = run_cli("render", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Sequence.toml" in result.stderr and "no such file" in result.stderr


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "Sequence.toml").write_text(
        '[project]\nname = "p"\n\n[deploy.a]\nvenue = "kraken"\nsymbols = ["btc"]\nbundle = "x.wasm"\n'
        "[deploy.a.risk]\nmax_loss = -5\n"
    )
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 2
    assert ":6: deploy.a.symbols[0]:" in result.stderr
    assert ":9: deploy.a.risk.max_loss:" in result.stderr


def test_on_fill_with_a_fill_ratio_is_accepted_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "Sequence.toml").write_text(
        '[project]\nname = "p"\n\n[graph.g.nodes.spot]\nside = "buy"\nsymbol = "ETH-USD"\nqty = 2.0\n\n'
        '[graph.g.nodes.hedge]\nside = "sell"\nsymbol = "ETH-USD-PERP"\nderived = true\n\n'
        '[[graph.g.edges]]\nfrom = "spot"\nto = "hedge"\ntrigger = "on_fill"\n'
        "condition = { fill_ratio_gte = 0.5 }\n"
    )
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert ":18: graph.g.edges[0].condition: warning: on_fill fires on every fill" in line
    rendered = run_cli("render", str(tmp_path))
    assert rendered.returncode == 0 and rendered.stderr == ""
    assert "fill_ratio_gte: 0.5" in rendered.stdout
