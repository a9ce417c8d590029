"""Value types shared by the wire formats and the Sequence.toml/CRD models (Symbol lives in
`common` with the base models and is re-exported here).

Each is a `str` with a friendly validator (the error users see) and a JSON-schema pattern that
carries the same rule into OpenAPI (the CRDs).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from .common import SYMBOL_PATTERN, Symbol

__all__ = [
    "DEPLOYMENT_ID_PATTERN",
    "DEPLOYMENT_ID_RE",
    "LABEL_PATTERN",
    "SHA256_PATTERN",
    "SYMBOL_PATTERN",
    "MeshLabel",
    "Sha256",
    "Symbol",
    "param_text",
]

LABEL_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"  # mesh label: at most 32 bytes (ABI MAX_LABEL)
SHA256_PATTERN = r"^[0-9a-f]{64}$"
DEPLOYMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(/[A-Za-z0-9][A-Za-z0-9._-]{0,62})?$"
DEPLOYMENT_ID_RE = re.compile(DEPLOYMENT_ID_PATTERN)


def _mesh_label(value: str) -> str:
    if not re.match(LABEL_PATTERN, value):
        raise ValueError(f"{value!r} is not a mesh label: 1-32 characters of letters, digits, '_', '.', '-'")
    return value


def _lower_hex(value: object) -> object:
    # "64 hex digits" either case; stored and compared lowercase, as hashlib prints it
    return value.lower() if isinstance(value, str) else value


def _sha256(value: str) -> str:
    if not re.match(SHA256_PATTERN, value):
        raise ValueError(f"{value!r} is not a sha256: expected 64 hex digits")
    return value


MeshLabel = Annotated[
    str,
    AfterValidator(_mesh_label),
    WithJsonSchema({"type": "string", "maxLength": 32, "pattern": LABEL_PATTERN}),
]
Sha256 = Annotated[
    str,
    BeforeValidator(_lower_hex),
    AfterValidator(_sha256),
    WithJsonSchema({"type": "string", "pattern": SHA256_PATTERN}),
]


def param_text(value: str | int | float | bool) -> str:
    """A deployment parameter as the algorithm reads it (`seq.param`): strings as written,
    booleans `true`/`false`, numbers in plain decimal notation (`0.00001`, never `1e-05`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return format(Decimal(repr(value)), "f")  # repr: the shortest digits that round-trip
    return value
