"""Building blocks shared by the Sequence.toml model and the CRD models.

The base models and the value types (symbol, mesh label, sha256) live in the
`sequence_wire` leaf package (the data plane uses them too) and are re-exported here.

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
from sequence_wire.types import MeshLabel, Sha256

__all__ = [  # re-exported from sequence_wire
    "SYMBOL_PATTERN",
    "MeshLabel",
    "NonNegativeFloat",
    "PositiveFloat",
    "Sha256",
    "SpecModel",
    "Symbol",
    "WireModel",
]

GROUP = "sequence.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def _dns_label(value: str) -> str:
    if len(value) > 63 or not re.match(DNS_LABEL_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a valid name: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


# The friendly validators give the error users see; WithJsonSchema carries the
# same rule into the CRD's OpenAPI schema for the API server. Symbol, MeshLabel and Sha256 are the
# wire formats' own types (sequence_wire): the edge checks a push with the same rules.
DnsName = Annotated[
    str,
    AfterValidator(_dns_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS_LABEL_PATTERN}),
]


class Resources(SpecModel):
    """Kubernetes resource requests/limits of the edge container, e.g. {cpu = "1", memory = "512Mi"}."""

    requests: dict[str, str] = Field(
        default_factory=dict,
        description="What the scheduler reserves for the container, by resource name (cpu, memory) in "
        'Kubernetes quantities ("500m", "512Mi"). Empty: the operator\'s edgeDefaults.resources '
        "(1 CPU, 512Mi).",
    )
    limits: dict[str, str] = Field(
        default_factory=dict,
        description="The most the container may use, by resource name (cpu, memory). CPU above the limit "
        "is throttled (the feed lags); memory above it gets the pod killed and restarted. Empty: the "
        "operator's edgeDefaults.resources (1Gi memory).",
    )


class Condition(SpecModel):
    """One standard condition: Ready, Reconciling or Degraded, each present from the first pass on."""

    type: Literal["Ready", "Reconciling", "Degraded"] = Field(
        description="Ready: the object does what its spec asks. Reconciling: the operator is still "
        "working towards the spec. Degraded: something is wrong (the reason says what)."
    )
    status: Literal["True", "False", "Unknown"] = Field(
        description="Whether the condition holds: True, False, or Unknown before the first check."
    )
    reason: str = Field(
        max_length=128,
        description="Why, as one CamelCase word for tools and alerts (e.g. Running, NoEdges, "
        "EdgeUnreachable); at most 128 characters.",
    )
    message: str = Field(
        default="",
        max_length=1024,
        description='The same for people, e.g. "running on 2/2 edges"; at most 1024 characters.',
    )
    last_transition_time: str = Field(
        description="RFC 3339 time the status last changed; a new reason or message does not move it."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the spec this condition was computed from; lower than the "
        "object's generation means the newest spec has not been looked at yet.",
    )


class ErrorInfo(SpecModel):
    """The last error, bounded so a chatty failure cannot bloat the object."""

    reason: str = Field(
        max_length=128,
        description="CamelCase cause (e.g. BundleSha256Mismatch, PushRejected); at most 128 characters.",
    )
    message: str = Field(
        max_length=1024,
        description="What went wrong and what to do, for people; cut at 1024 characters.",
    )
    time: str | None = Field(
        default=None, description="RFC 3339 time the error was first seen; the same error again keeps it."
    )
    edge: str | None = Field(
        default=None, description="Edge id that reported the error; absent when it is not about one edge."
    )


class StatusBase(SpecModel):
    """Written by the operator on every pass; never edit it by hand."""

    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the spec the operator last reconciled; when it is lower than "
        "metadata.generation the newest change has not been acted on yet.",
    )
    lifecycle_state: str | None = Field(default=None, description="Where the object is in its lifecycle.")
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        description="Ready, Reconciling and Degraded, each with a reason and a message; keyed by type.",
    )
    error: ErrorInfo | None = Field(
        default=None,
        description="The last error, if the object is Degraded or Failed; cleared once it is healthy again.",
    )
    # kopf keeps its progress in annotations (see sequence.reconcilers), but if
    # a handler ever returns a value kopf writes it under status.<handler>; the
    # CRD preserves unknown fields under `kopf` so nothing is silently dropped.
    kopf: dict[str, Any] | None = Field(
        default=None,
        description="Reserved for the operator framework's bookkeeping; normally absent. Ignore it.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
