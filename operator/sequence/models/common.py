"""Building blocks shared by the Sequence.toml model and the CRD models.

The base models and the symbol type live in the `sequence_wire` leaf package
(the data plane uses them too) and are re-exported here.

Spec models use snake_case names in Python and in Sequence.toml, and camelCase
aliases in Kubernetes objects (the API convention). `load_project` validates
by name; the CRD generator and the renderer use the aliases.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema

from sequence_wire.common import (
    SYMBOL_PATTERN,
    NonNegativeFloat,
    PositiveFloat,
    SpecModel,
    Symbol,
    WireModel,
)

__all__ = [  # re-exported from sequence_wire.common
    "SYMBOL_PATTERN",
    "NonNegativeFloat",
    "PositiveFloat",
    "SpecModel",
    "Symbol",
    "WireModel",
]

GROUP = "sequence.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"  # mesh label: at most 32 bytes (ABI MAX_LABEL)
SHA256_PATTERN = r"^[0-9a-f]{64}$"


def _dns_label(value: str) -> str:
    if len(value) > 63 or not re.match(DNS_LABEL_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a valid name: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


# The friendly validators give the error users see; WithJsonSchema carries the
# same rule into the CRD's OpenAPI schema for the API server.
DnsName = Annotated[
    str,
    AfterValidator(_dns_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS_LABEL_PATTERN}),
]


def _mesh_label(value: str) -> str:
    if not re.match(LABEL_PATTERN, value):
        raise ValueError(f"{value!r} is not a mesh label: 1-32 characters of letters, digits, '_', '.', '-'")
    return value


MeshLabel = Annotated[
    str,
    AfterValidator(_mesh_label),
    WithJsonSchema({"type": "string", "maxLength": 32, "pattern": LABEL_PATTERN}),
]


def _sha256(value: str) -> str:
    if not re.match(SHA256_PATTERN, value):
        raise ValueError(f"{value!r} is not a sha256: expected 64 lowercase hex digits")
    return value


Sha256 = Annotated[
    str, AfterValidator(_sha256), WithJsonSchema({"type": "string", "pattern": SHA256_PATTERN})
]


class Resources(SpecModel):
    """Kubernetes resource requests/limits, e.g. {cpu = "1", memory = "512Mi"}."""

    requests: dict[str, str] = Field(default_factory=dict, description="Resource requests (cpu, memory)")
    limits: dict[str, str] = Field(default_factory=dict, description="Resource limits (cpu, memory)")


class Condition(SpecModel):
    type: Literal["Ready", "Reconciling", "Degraded"]
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=128, description="CamelCase machine-readable reason")
    message: str = Field(default="", max_length=1024, description="Human-readable explanation")
    last_transition_time: str = Field(description="RFC 3339 time of the last status change")
    observed_generation: int | None = Field(default=None, ge=0)


class ErrorInfo(SpecModel):
    """The last error, bounded so a chatty failure cannot bloat the object."""

    reason: str = Field(max_length=128)
    message: str = Field(max_length=1024)
    time: str | None = Field(default=None, description="RFC 3339")
    edge: str | None = Field(default=None, description="Edge that reported it, if any")


class StatusBase(SpecModel):
    observed_generation: int | None = Field(default=None, ge=0)
    lifecycle_state: str | None = None
    conditions: list[Condition] = Field(default_factory=list, max_length=8)
    error: ErrorInfo | None = None
    # kopf keeps its progress in annotations (see sequence.reconcilers), but if
    # a handler ever returns a value kopf writes it under status.<handler>; the
    # CRD preserves unknown fields under `kopf` so nothing is silently dropped.
    kopf: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
