"""docs/abi.md must state exactly the ABI that abi.py (the source of truth) defines.

Someone writing an algorithm from the page alone relies on every offset, size, type, export
signature, import signature and code in it; these tests parse the page's tables and compare
them with abi.py, so the two cannot drift.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from sequence_edge.algo import abi

DOC = Path(__file__).resolve().parents[1] / "docs" / "abi.md"
HEADING = re.compile(r"^### (\w+) \((\d+) bytes\)\s*$")


def doc_text() -> str:
    return DOC.read_text()


def rows(lines: list[str]) -> list[list[str]]:
    """Cells of the table rows in `lines` (header and separator rows excluded)."""
    out = []
    for line in lines:
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        out.append([c.strip() for c in line.strip("|").split("|")])
    return out


def table_after(marker: str) -> list[list[str]]:
    """Rows of the first table that follows the line containing `marker`."""
    lines = doc_text().splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    table: list[str] = []
    for line in lines[start + 1 :]:
        if line.strip().startswith("|"):
            table.append(line)
        elif table:
            break
    return rows(table)


def struct_sections() -> dict[str, tuple[int, list[list[str]]]]:
    """`### Name (N bytes)` -> (N, rows of its `| offset | size | type | field | meaning |` table)."""
    sections: dict[str, tuple[int, list[list[str]]]] = {}
    lines = doc_text().splitlines()
    for i, line in enumerate(lines):
        m = HEADING.match(line)
        if not m:
            continue
        body: list[str] = []
        for nxt in lines[i + 1 :]:
            if nxt.startswith("#"):
                break
            body.append(nxt)
        table = rows(body)
        assert table and table[0] == ["offset", "size", "type", "field", "meaning"], (
            f"### {m[1]}: the first table must have columns offset | size | type | field | meaning"
        )
        field_rows = [r for r in table[1:] if r[0].isdigit()]
        sections[m[1]] = (int(m[2]), field_rows)
    return sections


def test_every_abi_struct_is_documented_with_its_size() -> None:
    sections = struct_sections()
    assert sorted(sections) == sorted(s.name for s in abi.STRUCTS)
    for s in abi.STRUCTS:
        assert sections[s.name][0] == s.size, s.name
    assert sections["L2Book"][0] == 656


@pytest.mark.parametrize("struct_def", abi.STRUCTS, ids=lambda s: s.name)
def test_struct_table_matches_abi_py(struct_def: abi.Struct) -> None:
    _, table = struct_sections()[struct_def.name]
    documented = [(int(r[0]), int(r[1]), r[2], r[3].strip("`")) for r in table]
    expected = [(f.offset, f.size, f.ctype, f.name) for f in struct_def.fields]
    assert documented == expected
    assert all(r[4] for r in table), f"{struct_def.name}: every field needs a meaning"


def wasm_types(signature: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`(i32 symbol_idx) -> ()` -> (("i32",), ())."""
    m = re.fullmatch(r"`?\((.*)\) -> \((.*)\)`?|`?\((.*)\) -> (\w+)`?", signature.strip())
    assert m, f"unparseable signature {signature!r}"
    params, results = (m[1], m[2]) if m[1] is not None or m[2] is not None else (m[3], m[4])

    def types(text: str) -> tuple[str, ...]:
        return tuple(part.split()[0] for part in text.split(",") if part.strip())

    return types(params), types(results)


def test_exports_table_lists_every_export_with_its_signature() -> None:
    table = {r[0].strip("`"): r for r in table_after("| export | wasm signature |")}
    assert set(abi.REQUIRED_EXPORTS) | set(abi.OPTIONAL_EXPORTS) <= set(table)
    for name in abi.REQUIRED_EXPORTS:
        assert table[name][2] == "yes", name
    for name in abi.OPTIONAL_EXPORTS:
        assert table[name][2] == "no", name
    for name, signature in abi.EXPORTS.items():
        assert wasm_types(table[name][1]) == signature, name


def test_imports_table_lists_every_seq_import_with_its_signature() -> None:
    assert f"## Host imports (module `{abi.IMPORT_MODULE}`)" in doc_text()
    table = {r[0].strip("`"): r for r in table_after("| import | wasm signature |")}
    assert set(table) == set(abi.IMPORTS)
    for name, (params, results, _doc) in abi.IMPORTS.items():
        assert wasm_types(table[name][1]) == (params, results), name


def test_reject_reason_table_matches_abi_py() -> None:
    table = table_after("| code | name | the host refused")
    assert {int(r[0]): r[1].strip("`") for r in table} == abi.REJECT_REASONS


def test_send_error_codes_match_abi_py() -> None:
    table = {int(r[0]): r[1].strip("`") for r in table_after("| code | name | when |")}
    expected = {abi.SEND_OK: "SEND_OK"} | {
        code: name
        for name, code in vars(abi).items()
        if name.startswith("SEND_ERR_") and isinstance(code, int)
    }
    assert table == expected


def test_constants_match_abi_py() -> None:
    text = doc_text()
    for name in (
        "ABI_VERSION",
        "MAX_LEVELS",
        "MAX_ACTIONS",
        "MAX_SENDS",
        "MAX_PAYLOAD",
        "MAX_LABEL",
        "MAX_SYMBOLS",
        "MAX_OPEN_ORDERS",
        "FIXED_SCALE",
    ):
        assert f"| `{name}` | {getattr(abi, name)} |" in text, name
    group_rows = table_after("| group | name | value |")
    documented: dict[str, int] = {}
    for _group, name, value in group_rows:
        names = re.findall(r"`(\w+)`", name.split(" — ")[0])
        values = [int(v, 0) for v in value.split("/")]
        documented.update(zip(names, values, strict=True))
    for prefix in ("SIDE_", "ACTION_", "ORDER_", "FILL_FLAG_", "BOOK_FLAG_", "LOG_"):
        for name, value in vars(abi).items():
            if name.startswith(prefix) and isinstance(value, int):
                assert documented.get(name) == value, name


def test_fixed_point_examples_are_correct() -> None:
    table = table_after("| natural value | `*_1e8` integer |")
    assert len(table) >= 3
    for natural, integer, encoded in table:
        value = int(integer.replace("_", ""))
        fmt = "<q" if value < 0 else "<Q"
        assert struct.pack(fmt, value).hex(" ") == encoded.strip("`"), natural
        number = float(re.match(r"-?[\d.]+", natural)[0])
        assert abi.to_fixed(number) == value, natural


def resolve(path: str) -> int:
    """Offset inside the IoBlock of a dotted path like `book.bids[0].px_1e8`."""
    by_name = {s.name: s for s in abi.STRUCTS}
    current, offset = abi.IO_BLOCK, 0
    for part in path.split("."):
        m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
        assert m, path
        f = next(f for f in current.fields if f.name == m[1])
        offset += f.offset
        type_name = f.ctype.split("[")[0]
        if m[2] is not None:
            element = by_name[type_name]
            offset += int(m[2]) * element.size
            current = element
        elif type_name in by_name:
            current = by_name[type_name]
    return offset


def test_handy_absolute_offsets_are_correct() -> None:
    paragraph = doc_text().split("Handy absolute offsets inside the IoBlock:")[1].split("\n\n")[0]
    pairs = re.findall(r"`([\w.\[\]]+)`\s+(\d+)", paragraph)
    assert len(pairs) >= 6
    for path, offset in pairs:
        assert resolve(path) == int(offset), path


def test_version_rule_states_the_exact_error() -> None:
    text = doc_text()
    assert f"AbiMismatch {{ got: N, expected: {abi.ABI_VERSION} }}" in text
    assert abi.NATIVE_VTABLE_SYMBOL in text


def test_native_capability_bits_match_the_header_and_sdk() -> None:
    table = {r[0].strip("`"): int(r[1]) for r in table_after("| capability | bit | callback |")}
    header = (DOC.parents[1] / "sdk" / "include" / "sequence_algo.h").read_text()
    sdk = (DOC.parents[1] / "sdk" / "src" / "abi.rs").read_text()
    c_names = {name: re.sub(r"(?<!^)([A-Z])", r"_\1", name).upper() for name in abi.CAPABILITIES}
    assert c_names["OnUnsubscribed"] == "ON_UNSUBSCRIBED"
    assert table == abi.CAPABILITIES
    for name, bit in table.items():
        shift = bit.bit_length() - 1
        assert bit == 1 << shift
        assert f"#define SEQ_CAP_{c_names[name]} (1u << {shift})" in header, name
        assert f"pub const {name}: u32 = 1 << {shift};" in sdk, name
