"""Limits on what a Sequence.toml or a push may hold, and the one-line error form for any input."""

from __future__ import annotations

import base64
import hashlib
import importlib
from pathlib import Path
from typing import Any

import pytest

from sequence.models.specs import MAX_FIXED_LIMIT, RiskLimits
from sequence.project import ConfigError, Problem, format_loc, load_project, one_line
from sequence.toml_lines import LineIndex, scan_nesting
from sequence_edge.push import parse_push
from sequence_wire.errors import RequestError

from .conftest import REPO

WASM = (REPO / "tests" / "configs" / "good" / "algo.wasm").read_bytes()
PROJECT = (
    '[project]\nname = "p"\n\n[deploy.mm]\nvenue = "kraken"\nsymbols = ["BTC-USD"]\nbundle = "algo.wasm"\n'
)


def _push(risk: dict[str, Any]) -> dict[str, Any]:
    return {
        "bundle": base64.b64encode(WASM).decode(),
        "sha256": hashlib.sha256(WASM).hexdigest(),
        "symbols": ["BTC-USD"],
        "risk": risk,
    }


@pytest.mark.parametrize(
    ("risk", "says"),
    [
        ({"max_position": 1e-9}, "rounds to 0 in fixed point"),
        ({"max_notional": 1e11}, "too large"),
        ({"max_loss": "Infinity"}, "finite"),
        ({"maxOrderQty": float("inf")}, "finite"),
        ({"price_band_bps": float("nan")}, "greater than 0"),
        ({"max_open_orders": 10**30}, "too large"),
    ],
)
def test_edge_refuses_limits_it_cannot_hold(risk: dict[str, Any], says: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_push(_push(risk))
    assert caught.value.reason == "InvalidPush"
    assert 400 <= caught.value.status < 500
    assert "risk." in caught.value.message and says in caught.value.message


def test_edge_accepts_the_extremes_it_can_hold() -> None:
    req = parse_push(_push({"max_position": 1e-8, "max_notional": MAX_FIXED_LIMIT}))
    assert req.risk.max_position == 1e-8
    assert req.risk.max_notional == MAX_FIXED_LIMIT


def test_bound_is_the_edges_own() -> None:
    """Everything the model accepts the edge's risk engine holds; one step further it refuses."""
    risk = importlib.import_module("sequence_edge.orders.risk")  # always built: a missing module must fail
    checker = risk.RiskChecker(RiskLimits(max_notional=MAX_FIXED_LIMIT).model_dump())
    assert checker is not None
    with pytest.raises(ValueError, match="too large"):
        risk.RiskChecker({"max_notional": MAX_FIXED_LIMIT + 1})


def test_tiny_limit_would_have_switched_the_check_off() -> None:
    """Why 1e-9 is refused: at 1e8 scale it is 0, which the edge reads as 'no limit'."""
    risk = importlib.import_module("sequence_edge.orders.risk")  # always built: a missing module must fail
    order = {"side": 1, "qty_1e8": 10**12, "px_1e8": 10**10, "mid_1e8": 10**10}
    assert risk.RiskChecker({"max_position": 1e-9}).check(**order) is None
    assert risk.RiskChecker({"max_position": 1e-8}).check(**order) == "MAX_POSITION"
    with pytest.raises(ValueError, match="rounds to 0"):
        RiskLimits(max_position=1e-9)


def _errors(tmp_path: Path, text: str | bytes) -> list[str]:
    (tmp_path / "algo.wasm").write_bytes(WASM)
    target = tmp_path / "Sequence.toml"
    target.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    return [str(p) for p in caught.value.problems]


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, PROJECT.encode() + b'label = "\xff"\n')
    assert line.endswith(":8: file: not valid UTF-8 (byte 0xff at column 10)")


def test_deep_dotted_key_is_refused(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, PROJECT + ".".join(["k"] * 40) + " = 1\n")
    assert ":8: deploy.mm.k.k" in line and line.endswith("nesting deeper than 32")


def test_unclosed_array_points_at_its_opening(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, PROJECT + "peers = [\n  'a',\n  'b',\n")
    assert ":8: TOML syntax error:" in line and "never closed" in line


def test_over_long_path_never_reaches_the_file_system(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, PROJECT.replace("algo.wasm", "a/" * 600 + "algo.wasm"))
    assert line.endswith(":7: deploy.mm.bundle: path is 1209 characters; at most 1024")


def test_messages_are_one_line() -> None:
    assert one_line("a\nb\rc\x1b[31m\u2028\u202e\x85") == "a\\nb\\rc\\x1b[31m\\u2028\\u202e\\x85"
    assert one_line("plain ünïcødé €") == "plain ünïcødé €"
    problem = Problem("f.toml", 3, format_loc(("deploy", "x:\ny")), "unknown key `x:\ny`")
    assert str(problem) == 'f.toml:3: deploy."x\\u003a\\ny": unknown key `x:\\ny`'
    assert len(str(problem).splitlines()) == 1


def test_scan_nesting_ignores_brackets_in_strings_and_comments() -> None:
    text = "a = \"[[[[\"  # [[[[\nb = '''\n[[[[\n'''\nc = [[[\n1]]]\n"
    assert scan_nesting(text, 2) == (5, None)
    assert scan_nesting(text, 3) == (None, None)
    assert scan_nesting('a = 1\nb = """\nopen', 3) == (None, 2)


def test_quoted_keys_with_escapes_have_lines() -> None:
    index = LineIndex('[t]\n"a\\u0041\\nb" = 1\n')
    assert index.line_of(("t", "aA\nb")) == 2
    assert index.path_at(2) == ("t", "aA\nb")


def test_oversized_file_is_refused_without_parsing(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, PROJECT + "# padding\n" * 120_000)
    assert line.endswith(":1: file: larger than 1048576 bytes")


def test_long_echoed_value_is_cut(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, PROJECT.replace('venue = "kraken"', 'venue = "' + "v" * 4000 + '"'))
    assert ":5: deploy.mm.venue: " in line and line.endswith("...") and len(line) < 1200


def test_long_block_name_is_cut_in_the_field(tmp_path: Path) -> None:
    lines = _errors(tmp_path, PROJECT.replace("[deploy.mm]", "[deploy." + "m" * 300 + "]"))
    assert lines and all(len(line.split(": ")[1]) < 90 for line in lines), lines
    assert ':4: deploy."' + "m" * 64 + '...": invalid block name' in lines[0]
