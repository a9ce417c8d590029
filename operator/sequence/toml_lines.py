"""Map a key path in a TOML document to the line that defines it.

tomllib gives values but no positions, and the errors users see must name
`file:line`. This scanner walks the text once, tracking table headers,
arrays of tables, dotted keys and one-line inline tables, and records the
first line of every key path. Lookups of a deeper path (an array element, a
key inside a multi-line value) fall back to the nearest recorded ancestor.
"""

from __future__ import annotations

import re
import tomllib

Path = tuple[str | int, ...]

_BARE = r"[A-Za-z0-9_-]+"
_KEY_PART = rf'(?:{_BARE}|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=\s*(.*)$")
_INLINE_KEY = re.compile(rf"(?:^|[{{,])\s*({_DOTTED})\s*=")


def _unquote(part: str) -> str:
    if part[:1] == '"' and "\\" in part:  # escapes: let the TOML parser decode them
        try:
            return str(tomllib.loads(f"k = {part}")["k"])
        except tomllib.TOMLDecodeError:
            return part[1:-1]
    return part[1:-1] if part[:1] in "\"'" else part


def _split_key(dotted: str) -> list[str]:
    return [_unquote(p) for p in re.findall(_KEY_PART, dotted)]


def _opens_multiline(value: str) -> str | None:
    """Return the closing token if `value` starts a multi-line string or array."""
    for quote in ('"""', "'''"):
        if value.startswith(quote) and value.count(quote) == 1:
            return quote
    if value.startswith("["):
        depth = 0
        in_str: str | None = None
        for ch in value:
            if in_str:
                if ch == in_str:
                    in_str = None
            elif ch in "\"'":
                in_str = ch
            elif ch == "#":
                break
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
        if depth > 0:
            return "]"
    return None


class LineIndex:
    def __init__(self, text: str) -> None:
        self.lines: dict[Path, int] = {}
        self._scan(text)

    def _record(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    def _scan(self, text: str) -> None:
        table: Path = ()
        array_counts: dict[Path, int] = {}
        closing: str | None = None
        depth = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            if closing is not None:  # inside a multi-line value
                if closing == "]":
                    depth += raw.count("[") - raw.count("]")
                    if depth <= 0:
                        closing = None
                elif closing in raw:
                    closing = None
                continue
            if m := _ARRAY_HEADER.match(raw):
                base = tuple(_split_key(m.group(1)))
                index = array_counts.get(base, 0)
                array_counts[base] = index + 1
                table = (*base, index)
                self._record(base, number)
                self._record(table, number)
                continue
            if m := _HEADER.match(raw):
                table = tuple(_split_key(m.group(1)))
                for i in range(1, len(table) + 1):
                    self._record(table[:i], number)
                continue
            if m := _ASSIGN.match(raw):
                key = (*table, *_split_key(m.group(1)))
                for i in range(len(table) + 1, len(key) + 1):
                    self._record(key[:i], number)
                value = m.group(2).strip()
                if value.startswith("{"):
                    for inner in _INLINE_KEY.finditer(value):
                        self._record((*key, *_split_key(inner.group(1))), number)
                closing = _opens_multiline(value)
                if closing == "]":
                    depth = value.count("[") - value.count("]")

    def path_at(self, line: int) -> Path:
        """The longest key path defined on `line`, else on the nearest line above it (or ())."""
        best: Path = ()
        best_line = 0
        for path, at in self.lines.items():
            if best_line < at <= line or (at == best_line and len(path) > len(best)):
                best, best_line = path, at
        return best

    def known_prefix(self, path: Path) -> Path:
        """The longest prefix of `path` that has a line of its own."""
        for end in range(len(path), 0, -1):
            if tuple(path[:end]) in self.lines:
                return tuple(path[:end])
        return ()

    def line_of(self, path: Path) -> int | None:
        """Line of the deepest recorded prefix of `path` (None if none is known)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def scan_nesting(text: str, limit: int) -> tuple[int | None, int | None]:
    """Where brackets and quotes go wrong, for errors the parser reports without a usable line.

    Returns (line where a value nested more than `limit` deep began, line of the innermost
    construct still open at the end of the text). Strings and comments are skipped so brackets
    inside them do not count; iterative, so any depth is safe.
    """
    stack: list[int] = []  # line of each open [ or {
    deep: int | None = None
    line = 1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch in "\"'":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else ch
            start = line
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                if text[j] == "\\" and quote[0] == '"' and text[j + 1 : j + 2] != "\n":
                    j += 1  # an escaped character, possibly a quote
                elif text[j] == "\n":
                    if len(quote) == 1:  # a one-line string ends at the newline (a syntax error)
                        break
                    line += 1
                j += 1
            if j >= n:
                return deep, start
            i = j + (len(quote) if text.startswith(quote, j) else 0)
            continue
        elif ch in "[{":
            stack.append(line)
            if len(stack) > limit and deep is None:
                deep = stack[0]
        elif ch in "]}" and stack:
            stack.pop()
        i += 1
    return deep, (stack[-1] if stack else None)
