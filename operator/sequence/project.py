"""Load a Sequence.toml: parse, validate, check bundles, and report every
problem as `file:line: field.path: message`."""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .models import SequenceFile, project_problems, project_warnings
from .toml_lines import LineIndex

FILE_NAME = "Sequence.toml"
WASM_HEADER = b"\0asm\x01\0\0\0"  # magic + binary format version 1
MAX_CONFIGMAP_BUNDLE = 768 * 1024  # base64 in a ConfigMap must stay under the 1 MiB object limit

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Bundle:
    path: Path
    data: bytes
    sha256: str


@dataclass(frozen=True)
class Project:
    path: Path  # the Sequence.toml file
    config: SequenceFile
    bundles: dict[str, Bundle]  # deploy block name -> local bundle (remote bundles are absent)
    warnings: tuple[Problem, ...] = ()  # accepted settings that have no effect

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.config.project.name


def resolve_path(path: str | Path = ".") -> Path:
    p = Path(path)
    return p / FILE_NAME if p.is_dir() else p


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f'."{part}"' if out else f'"{part}"'
    return out


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated down to the model/dict/list type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _fields_at(loc: Loc) -> list[str]:
    """Valid keys of the table at `loc` in a Sequence.toml, for 'did you mean'."""
    current: Any = SequenceFile
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for name, f in current.model_fields.items() if part in (name, f.alias)),
                None,
            )
            if field is None:
                return []
            current = field.annotation
        elif origin is dict:
            current = typing.get_args(current)[1]
        elif origin is list:
            current = typing.get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _message(error: Any) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        msg = f"unknown key `{key}`"
        close = difflib.get_close_matches(key, _fields_at(loc[:-1]), n=1, cutoff=0.6)
        if close:
            msg += f"; did you mean `{close[0]}`?"
        else:
            known = _fields_at(loc[:-1])
            if known:
                msg += f" (valid keys: {', '.join(known)})"
        return loc, msg
    if kind == "missing":
        return loc, "required key is missing"
    if loc and loc[-1] == "[key]":
        return loc[:-1], f"invalid block name: {error['msg'].removeprefix('Value error, ')}"
    msg = error["msg"].removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        msg += f" (got {type(error.get('input')).__name__.replace('str', 'string')} {error.get('input')!r})"
    return loc, msg


def _problems_from_validation(exc: ValidationError, file: str, index: LineIndex) -> list[Problem]:
    seen: set[tuple[Loc, str]] = set()
    problems = []
    errors = exc.errors()
    # `symbol = [...]` yields both "unknown key symbol" and "symbols missing";
    # the first (with its suggestion) says it all.
    suggested = {
        (*e["loc"][:-1], close[0])
        for e in errors
        if e["type"] == "extra_forbidden"
        and (close := difflib.get_close_matches(str(e["loc"][-1]), _fields_at(tuple(e["loc"][:-1])), 1, 0.6))
    }
    for error in errors:
        if error["type"] == "missing" and tuple(error["loc"]) in suggested:
            continue
        loc, msg = _message(error)
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        # A missing top-level table has no line of its own: point at the top.
        problems.append(Problem(file, index.line_of(loc) or 1, format_loc(loc), msg))
    return problems


def _load_bundle(root: Path, name: str, block: Any) -> tuple[Bundle | None, Loc | None, str | None]:
    path = (root / block.bundle).resolve()
    if not path.is_file():
        return (
            None,
            ("deploy", name, "bundle"),
            f"bundle {block.bundle!r} not found (looked at {path}); build it first",
        )
    data = path.read_bytes()
    native_ok = block.runtime == "native" and data.startswith(b"\x7fELF")
    if not data.startswith(WASM_HEADER) and not native_ok:
        return (
            None,
            ("deploy", name, "bundle"),
            (f"{block.bundle!r} is not a WebAssembly module (expected \\0asm version 1 header)"),
        )
    digest = hashlib.sha256(data).hexdigest()
    if block.sha256 and block.sha256 != digest:
        return None, ("deploy", name, "sha256"), f"sha256 does not match {block.bundle!r} (file has {digest})"
    if len(data) > MAX_CONFIGMAP_BUNDLE:
        return (
            None,
            ("deploy", name, "bundle"),
            (
                f"{block.bundle!r} is {len(data)} bytes; bundles over {MAX_CONFIGMAP_BUNDLE} bytes "
                "cannot ride in a ConfigMap: publish it and use an https:// or oci:// bundle with sha256"
            ),
        )
    return Bundle(path, data, digest), None, None


def load_project(path: str | Path = ".", *, check_files: bool = True) -> Project:
    """Parse and validate a Sequence.toml (or the one in a directory)."""
    file_path = resolve_path(path)
    shown = str(file_path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(shown, None, "", f"cannot read: {exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(m.group(1)) if m else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        col = f" (column {m.group(2)})" if m else ""
        raise ConfigError([Problem(shown, line, "", f"TOML syntax error: {reason}{col}")]) from None
    index = LineIndex(text)
    try:
        config = SequenceFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from_validation(exc, shown, index)) from None

    problems = [
        Problem(shown, index.line_of(loc), format_loc(loc), msg) for loc, msg in project_problems(config)
    ]
    bundles: dict[str, Bundle] = {}
    if check_files:
        for name, block in config.deploy.items():
            if block.is_remote:
                continue
            bundle, loc, msg = _load_bundle(file_path.parent, name, block)
            if bundle:
                bundles[name] = bundle
            elif loc and msg:
                problems.append(Problem(shown, index.line_of(loc), format_loc(loc), msg))
        for name, venue in config.venue.items():
            if venue.feed.replay and not (file_path.parent / venue.feed.replay.file).is_file():
                loc = ("venue", name, "feed", "replay", "file")
                problems.append(
                    Problem(
                        shown,
                        index.line_of(loc),
                        format_loc(loc),
                        f"replay file {venue.feed.replay.file!r} not found",
                    )
                )
    if problems:
        raise ConfigError(problems)
    warnings = tuple(
        Problem(shown, index.line_of(loc), format_loc(loc), f"warning: {msg}")
        for loc, msg in project_warnings(config)
    )
    return Project(file_path, config, bundles, warnings)
