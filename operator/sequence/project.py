"""Load a Sequence.toml: parse, validate, check bundles, and report every
problem as `file:line: field.path: message`."""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
import typing
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .models import SequenceFile, project_problems, project_warnings
from .toml_lines import LineIndex, scan_nesting

FILE_NAME = "Sequence.toml"
WASM_HEADER = b"\0asm\x01\0\0\0"  # magic + binary format version 1
MAX_CONFIGMAP_BUNDLE = 768 * 1024  # base64 in a ConfigMap must stay under the 1 MiB object limit
MAX_DEPTH = 32  # tables, arrays and inline tables inside one another; real files use about 5
MAX_STRING = 4096  # characters in one key or string value
MAX_PATH = 1024  # characters in a bundle or replay path
MAX_PATH_PART = 255  # bytes in one component of such a path (the usual file-system limit)
MAX_FILE_BYTES = 1 << 20  # a Sequence.toml is a few KiB; its resources must fit Kubernetes objects
MAX_SHOWN = 1000  # characters of one message shown (a long value echoed back is cut)
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

Loc = tuple[str | int, ...]


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped, so a message stays one line."""
    if text.isprintable():
        return text
    return "".join(
        _ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")
        else c
        for c in text
    )


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{one_line(self.file)}:{self.line}" if self.line else one_line(self.file)
        field, message = one_line(self.field), one_line(self.message)
        if len(message) > MAX_SHOWN:
            message = message[:MAX_SHOWN] + "..."
        return f"{where}: {field}: {message}" if field else f"{where}: {message}"


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
        elif re.fullmatch(r"[A-Za-z0-9_-]{1,64}", part):
            out += f".{part}" if out else part
        else:
            # Quoted keys may hold anything; keep the field one short token without ':' so
            # `file:line: field: message` still splits.
            shown = part if len(part) <= 64 else part[:64] + "..."
            quoted = shown.replace("\\", "\\\\").replace('"', '\\"').replace(":", "\\u003a")
            out += f'."{quoted}"' if out else f'"{quoted}"'
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
        problems.append(Problem(file, index.line_of(loc) or 1, format_loc(loc) or "file", msg))
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


def _read_text(file_path: Path, shown: str) -> str:
    try:
        with file_path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, "", "no such file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(shown, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([Problem(shown, 1, "file", f"larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                Problem(
                    shown, line, "file", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {column})"
                )
            ]
        ) from None
    if "\0" in text:
        at = text.index("\0")
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        field = format_loc(LineIndex(text).path_at(line)) or "file"
        raise ConfigError([Problem(shown, line, field, f"contains a null byte (column {column})")])
    return text


def _parse(text: str, shown: str) -> dict[str, Any]:
    """tomllib's result, or its error with a line: every TOML problem gets one."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        if m:
            message = f"TOML syntax error: {reason} (column {m.group(2)})"
            raise ConfigError([Problem(shown, int(m.group(1)), "", message)]) from None
        # At the end of the text: point at what was left open, else at the last line.
        _, unclosed = scan_nesting(text, MAX_DEPTH)
        if unclosed is not None:
            message = (
                f"TOML syntax error: {reason} (the bracket or quote opened on this line is never closed)"
            )
            raise ConfigError([Problem(shown, unclosed, "", message)]) from None
        last = len(text.rstrip().splitlines()) or 1
        raise ConfigError(
            [Problem(shown, last, "", f"TOML syntax error: {reason} (at the end of the file)")]
        ) from None
    except RecursionError:  # tomllib recurses once per [ or {: a few hundred levels exhaust the stack
        deep, _ = scan_nesting(text, MAX_DEPTH)
        line = deep or 1
        field = format_loc(LineIndex(text).path_at(line)) or "file"
        raise ConfigError([Problem(shown, line, field, f"nesting deeper than {MAX_DEPTH}")]) from None


def _document_problems(data: dict[str, Any], shown: str, index: LineIndex) -> list[Problem]:
    """Shape limits that hold for any key: depth, null bytes and length of keys and strings.

    Checked before validation so nothing downstream (pydantic, the renderer, the API server)
    ever sees a pathological document. Iterative: depth here is unbounded until refused.
    """
    found: dict[tuple[str, str], int] = {}

    def problem(path: Loc, message: str) -> None:
        shown_path = path[: max(1, min(len(path), MAX_DEPTH))]
        found.setdefault((format_loc(shown_path), message), index.line_of(path) or 1)

    stack: list[tuple[Loc, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:  # name the key whose value nests, not 33 levels of [0]
            problem(index.known_prefix(path) or path, f"nesting deeper than {MAX_DEPTH}")
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if "\0" in key:
                    problem((*path, key), "key contains a null byte")
                elif len(key) > MAX_STRING:
                    problem(path or (key[:64],), f"key is {len(key)} characters; at most {MAX_STRING}")
                else:
                    stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
        elif isinstance(value, str):
            if "\0" in value:
                problem(path, "contains a null byte")
            elif len(value) > MAX_STRING:
                problem(path, f"is {len(value)} characters; at most {MAX_STRING}")
    problems = [Problem(shown, line, field, message) for (field, message), line in found.items()]
    return sorted(problems, key=lambda p: (p.line or 0, p.field))


def _path_problem(value: str) -> str | None:
    """Why a local path cannot be a file name, before the file system is asked."""
    if len(value) > MAX_PATH:
        return f"path is {len(value)} characters; at most {MAX_PATH}"
    for part in value.split("/"):
        if len(part.encode("utf-8", "replace")) > MAX_PATH_PART:
            return f"path has a component of more than {MAX_PATH_PART} bytes"
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _local_paths(config: SequenceFile) -> list[tuple[Loc, str]]:
    paths: list[tuple[Loc, str]] = [
        (("deploy", name, "bundle"), block.bundle)
        for name, block in config.deploy.items()
        if not block.is_remote
    ]
    for name, venue in config.venue.items():
        if venue.feed.replay:
            paths.append((("venue", name, "feed", "replay", "file"), venue.feed.replay.file))
        live = venue.feed.live
        for key, value in (("markets_file", live and live.markets_file), ("cafile", live and live.cafile)):
            if value:
                paths.append((("venue", name, "feed", "live", key), value))
    return paths


def default_project_name(directory: Path) -> str | None:
    """The project name of a Sequence.toml without [project]: its directory's name made a DNS
    label (lower case, '_' and other characters as '-'), or None when nothing usable is left."""
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")[:63].strip("-")
    return name or None


def load_project(path: str | Path = ".", *, check_files: bool = True) -> Project:
    """Parse and validate a Sequence.toml (or the one in a directory)."""
    file_path = resolve_path(path)
    shown = str(file_path)
    text = _read_text(file_path, shown)
    data = _parse(text, shown)
    if "project" not in data and (default := default_project_name(file_path.parent)):
        data["project"] = {"name": default}  # a file without [project] is named after its directory
    index = LineIndex(text)
    if shape_problems := _document_problems(data, shown, index):
        raise ConfigError(shape_problems)
    try:
        config = SequenceFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from_validation(exc, shown, index)) from None

    located = list(project_problems(config))
    bad_paths = {loc for loc, value in _local_paths(config) if _path_problem(value)}
    located += [(loc, msg) for loc, value in _local_paths(config) if (msg := _path_problem(value))]
    bundles: dict[str, Bundle] = {}
    if check_files:
        for name, block in config.deploy.items():
            if block.is_remote or ("deploy", name, "bundle") in bad_paths:
                continue
            try:
                bundle, loc, msg = _load_bundle(file_path.parent, name, block)
            except OSError as exc:
                bundle, loc, msg = (
                    None,
                    ("deploy", name, "bundle"),
                    f"cannot read bundle: {exc.strerror or exc}",
                )
            if bundle:
                bundles[name] = bundle
            elif loc and msg:
                located.append((loc, msg))
        for name, venue in config.venue.items():
            loc = ("venue", name, "feed", "replay", "file")
            if venue.feed.replay and loc not in bad_paths:
                try:
                    found = (file_path.parent / venue.feed.replay.file).is_file()
                except OSError:
                    found = False
                if not found:
                    located.append((loc, f"replay file {venue.feed.replay.file!r} not found"))
        for loc, value in _local_paths(config):
            if loc[3:4] == ("live",) and loc not in bad_paths and not _is_file(file_path.parent / value):
                located.append((loc, f"{str(loc[4]).replace('_', ' ')} {value!r} not found"))
    # A problem whose key has no line of its own (a missing table) points at the top.
    problems = [
        Problem(shown, index.line_of(loc) or 1, format_loc(loc) or "file", msg) for loc, msg in located
    ]
    if problems:
        raise ConfigError(problems)
    warnings = tuple(
        Problem(shown, index.line_of(loc), format_loc(loc), f"warning: {msg}")
        for loc, msg in project_warnings(config)
    )
    return Project(file_path, config, bundles, warnings)


def project_identity(path: str | Path = ".") -> tuple[str | None, str | None]:
    """(name, namespace) of the project at PATH, or (None, None) when there is none. A file that
    does not validate still names its project (a venues-only file, to deploy from Python, has no
    deploy block): the CLI verbs and `sequence.connect()` pick their target with it."""
    file = resolve_path(path)
    if not file.is_file():
        return None, None
    try:
        project = load_project(file, check_files=False)
    except ConfigError:
        pass
    else:
        return project.name, project.config.project.namespace
    try:
        table = _parse(_read_text(file, str(file)), str(file)).get("project")
    except ConfigError:
        return None, None
    if not isinstance(table, dict):
        return default_project_name(file.parent), None
    name, namespace = table.get("name"), table.get("namespace")
    return (
        name if isinstance(name, str) else default_project_name(file.parent),
        namespace if isinstance(namespace, str) else None,
    )
