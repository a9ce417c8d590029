"""Base models and field types shared by every wire format.

`SpecModel` fragments are snake_case in Python, Sequence.toml and the HTTP
APIs, and camelCase in Kubernetes objects (both spellings validate).
`WireModel` fragments keep one spelling everywhere.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

SYMBOL_PATTERN = r"^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}(-PERP)?$"


def _symbol(value: str) -> str:
    if not re.match(SYMBOL_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a symbol of the form BASE-QUOTE or BASE-QUOTE-PERP (e.g. BTC-USD)"
        )
    return value


# The friendly validator gives the error users see; WithJsonSchema carries the
# same rule into the CRD's OpenAPI schema for the API server.
Symbol = Annotated[
    str, AfterValidator(_symbol), WithJsonSchema({"type": "string", "pattern": SYMBOL_PATTERN})
]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class SpecModel(BaseModel):
    """A spec fragment: snake_case in Python/TOML, camelCase in Kubernetes."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        use_enum_values=True,
    )


class WireModel(BaseModel):
    """A fragment whose keys are a wire format: same spelling everywhere."""

    model_config = ConfigDict(extra="forbid")
