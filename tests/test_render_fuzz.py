"""Mutated Sequence.toml files never break the render/validate error contract.

Every variant of the example projects (byte flips, deleted or repeated lines, swapped values,
deep nesting, null bytes, huge numbers, unicode, truncation) must either render (exit 0, YAML on
stdout) or fail the way Argo CD relies on: exit 2, nothing on stdout, and every stderr line one
`file:line: field: message`. The seed is fixed, so a failure names a variant that reproduces.
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sequence.cli.main import cli

from .conftest import REPO, run_cli

SEED = 20261201
VARIANTS = 600
SUBPROCESS_EVERY = 60  # every 60th variant also goes through a real `sequence render` process
ERROR_LINE = re.compile(r"^[^:\n]+:\d+: [^:\n]+: .+$")
SOURCES = [
    REPO / "examples" / "market-maker" / "Sequence.toml",
    REPO / "examples" / "mesh-arb" / "Sequence.toml",
    REPO / "tests" / "configs" / "good" / "Sequence.toml",
]
NASTY_VALUES = [
    "1e-9",
    "1e11",
    "inf",
    "-inf",
    "nan",
    "0",
    "-0.0",
    "99999999999999999999999999",
    "-9223372036854775809",
    "1e400",
    '"\\u0000"',
    '"a\\nb\\rc\\u2028d\\u001b[31m"',
    '"ünïcødé-€-𝄞"',
    '"\\u202eevil"',
    '"' + "x" * 5000 + '"',
    '"' + "/".join(["d" * 300] * 2) + '"',
    '"' + "a/" * 600 + 'b.wasm"',
    '"a:b: c"',
    "[]",
    "{}",
    '["A-B", 1, true]',
    "true",
    "1979-05-27T07:32:00Z",
    "[" * 40 + "]" * 40,
    "[" * 3000 + "]" * 3000,
    "{a=" * 40 + "1" + "}" * 40,
    "{a=" * 800 + "1" + "}" * 800,
    "[" * 50,
    '"unterminated',
    '"""multi\nline',
]
NASTY_KEYS = ['"a:b\\nc"', '"\\u0000"', '"' + "k" * 5000 + '"', "a." * 60 + "z", '"tab\\there"', "ключ"]
NASTY_BYTES = [b"\x00", b"\xff", b"\xc3", b"\r", b"\n", b"\x1c", b"\x85", b"[", b"{", b'"', b"=", b"#"]


@dataclass
class Variant:
    number: int
    source: Path
    steps: list[str]
    data: bytes


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _byte_flip(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    at = rng.randrange(len(data) or 1)
    new = rng.choice(NASTY_BYTES) if rng.random() < 0.5 else bytes([rng.randrange(256)])
    return f"byte {at} -> {new!r}", data[:at] + new + data[at + 1 :]


def _insert_bytes(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    at = rng.randrange(len(data) + 1)
    new = b"".join(rng.choice(NASTY_BYTES) for _ in range(rng.randint(1, 4)))
    return f"insert {new!r} at {at}", data[:at] + new + data[at:]


def _delete_span(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    at = rng.randrange(len(data) or 1)
    n = rng.randint(1, 40)
    return f"delete {n} bytes at {at}", data[:at] + data[at + n :]


def _truncate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    at = rng.randrange(len(data) or 1)
    return f"truncate at {at}", data[:at]


def _delete_line(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return f"delete line {i + 1}", b"\n".join(lines[:i] + lines[i + 1 :])


def _duplicate_line(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return f"duplicate line {i + 1}", b"\n".join(lines[: i + 1] + lines[i:])


def _swap_lines(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = _lines(data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return f"swap lines {i + 1} and {j + 1}", b"\n".join(lines)


def _assignments(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if b"=" in line and not line.lstrip().startswith(b"#")]


def _swap_values(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = _lines(data)
    spots = _assignments(lines)
    if len(spots) < 2:
        return "swap values (none)", data
    i, j = rng.sample(spots, 2)
    ki, vi = lines[i].split(b"=", 1)
    kj, vj = lines[j].split(b"=", 1)
    lines[i], lines[j] = ki + b"=" + vj, kj + b"=" + vi
    return f"swap values of lines {i + 1} and {j + 1}", b"\n".join(lines)


def _nasty_value(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = _lines(data)
    spots = _assignments(lines)
    if not spots:
        return "nasty value (none)", data
    i = rng.choice(spots)
    value = rng.choice(NASTY_VALUES)
    lines[i] = lines[i].split(b"=", 1)[0] + b"= " + value.encode()
    return f"line {i + 1} value -> {value[:30]!r}", b"\n".join(lines)


def _nasty_key(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = _lines(data)
    i = rng.randrange(len(lines) + 1)
    key = rng.choice(NASTY_KEYS)
    value = rng.choice(NASTY_VALUES[:12])
    lines.insert(i, f"{key} = {value}".encode())
    return f"insert key {key[:30]!r} at line {i + 1}", b"\n".join(lines)


def _deep_line(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = _lines(data)
    i = rng.randrange(len(lines) + 1)
    n = rng.choice([33, 100, 400, 2000])
    opener, closer = rng.choice([("[", "]"), ("{x=", "}")])
    lines.insert(i, f"deep = {opener * n}1{closer * n}".encode())
    return f"insert nesting {n} of {opener!r} at line {i + 1}", b"\n".join(lines)


MUTATIONS: list[Callable[[random.Random, bytes], tuple[str, bytes]]] = [
    _byte_flip,
    _insert_bytes,
    _delete_span,
    _truncate,
    _delete_line,
    _duplicate_line,
    _swap_lines,
    _swap_values,
    _nasty_value,
    _nasty_value,
    _nasty_key,
    _deep_line,
]


def _variants() -> list[Variant]:
    rng = random.Random(SEED)
    out = []
    for number in range(VARIANTS):
        source = SOURCES[number % len(SOURCES)]
        data = source.read_bytes()
        steps = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            step, data = rng.choice(MUTATIONS)(rng, data)
            steps.append(step)
        out.append(Variant(number, source, steps, data))
    return out


@pytest.fixture(scope="module")
def project_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """A writable copy of each source project, its local bundles present so good files render."""
    algo = REPO / "tests" / "configs" / "good" / "algo.wasm"
    dirs = {}
    for source in SOURCES:
        target = tmp_path_factory.mktemp(source.parent.name)
        for extra in source.parent.iterdir():
            if extra.is_file() and extra.suffix in (".wasm", ".csv"):
                shutil.copy(extra, target / extra.name)
        for bundle in re.findall(r'^bundle\s*=\s*"([^"/]+\.wasm)"', source.read_text(), re.M):
            if not (target / bundle).exists():
                shutil.copy(algo, target / bundle)
        dirs[source] = target
    return dirs


def _contract_breach(command: str, exit_code: int, stdout: str, stderr: str) -> str | None:
    if exit_code == 0 and command == "validate":
        # A valid file may still earn warnings, each in the one-line form.
        odd = [line for line in stderr.splitlines() if not (ERROR_LINE.match(line) and ": warning: " in line)]
        return None if not stdout and not odd else f"validate passed but printed {stdout + stderr!r}"
    if exit_code == 0:
        if not stdout or stderr:
            return f"exit 0 but stdout={len(stdout)} chars, stderr={stderr[:200]!r}"
        try:
            docs = [d for d in yaml.safe_load_all(stdout) if d is not None]
        except yaml.YAMLError as exc:
            return f"exit 0 but stdout is not YAML: {exc}"
        return None if docs else "exit 0 but no YAML documents"
    if exit_code != 2:
        return f"exit {exit_code}: {stderr[-300:]!r}"
    if stdout:
        return f"exit 2 but stdout is not empty: {stdout[:200]!r}"
    lines = stderr.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        return "exit 2 with nothing on stderr"
    for line in lines:
        if not ERROR_LINE.match(line) or line != line.strip("\r") or len(line.splitlines()) != 1:
            return f"stderr line breaks the one-line form: {line[:300]!r}"
        if "internal error" in line:
            return f"internal error: {line[:300]!r}"
    return None


def test_mutated_files_keep_the_error_contract(project_dirs: dict[Path, Path]) -> None:
    runner = CliRunner()
    variants = _variants()
    defects = []
    outcomes = {0: 0, 2: 0}
    checked_in_subprocess = 0
    for variant in variants:
        directory = project_dirs[variant.source]
        (directory / "Sequence.toml").write_bytes(variant.data)
        command = "validate" if variant.number % 4 == 3 else "render"
        result = runner.invoke(cli, [command, str(directory)])
        if result.exception and not isinstance(result.exception, SystemExit):
            breach: str | None = f"raised {result.exception!r}"
        else:
            breach = _contract_breach(command, result.exit_code, result.stdout, result.stderr)
        outcomes[result.exit_code] = outcomes.get(result.exit_code, 0) + 1
        if breach is None and variant.number % SUBPROCESS_EVERY == 0:
            # The real console script: same exit code and the same bytes on stdout and stderr.
            real = run_cli(command, str(directory))
            checked_in_subprocess += 1
            if (real.returncode, real.stdout, real.stderr) != (
                result.exit_code,
                result.stdout,
                result.stderr,
            ):
                breach = f"subprocess differs: exit {real.returncode}, stderr {real.stderr[:300]!r}"
        if breach:
            defects.append(
                f"variant {variant.number} of {variant.source.relative_to(REPO)} {variant.steps}: {breach}"
            )
    assert not defects, f"{len(defects)} of {len(variants)} variants broke the contract:\n" + "\n".join(
        defects[:20]
    )
    assert checked_in_subprocess == VARIANTS // SUBPROCESS_EVERY
    # The mutations must exercise both paths, or the test proves little.
    assert outcomes.get(0, 0) >= VARIANTS // 20, outcomes
    assert outcomes.get(2, 0) >= VARIANTS // 2, outcomes


def test_variants_are_deterministic() -> None:
    first, second = _variants(), _variants()
    assert [v.data for v in first] == [v.data for v in second]
    assert len({v.data for v in first}) > VARIANTS * 0.9
