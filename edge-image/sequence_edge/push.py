"""The body of `PUT /v1/deployments/{id}` (docs/edge-api.md) and its validation.

Every problem becomes a PushError with a CamelCase reason and a message saying what to fix;
the control API answers it with 4xx and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sequence.models.common import MeshLabel, Sha256, Symbol
from sequence.models.specs import RiskLimits, WasmLimits

MAX_BUNDLE_BYTES = 32 << 20
DEPLOYMENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(/[A-Za-z0-9][A-Za-z0-9._-]{0,62})?$")


class PushError(Exception):
    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle: str | None = Field(default=None, description="base64 of the .wasm (or the .so, runtime native)")
    bundle_url: str | None = Field(default=None, description="http(s) URL the edge downloads the bundle from")
    sha256: Sha256
    runtime: Literal["wasm", "native"] = "wasm"
    symbols: list[Symbol] = Field(min_length=1, max_length=16)
    label: MeshLabel | None = None
    mesh_group: str | None = Field(default=None, max_length=253)
    peers: list[MeshLabel] = Field(default_factory=list, max_length=64)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    wasm: WasmLimits = Field(default_factory=WasmLimits)
    state: Literal["Stopped", "Running", "Paused"] = "Stopped"
    max_symbols: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="symbols the algorithm may have, seq.subscribe included (default: the symbols given)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> PushRequest:
        if (self.bundle is None) == (self.bundle_url is None):
            raise ValueError("give exactly one of bundle (base64) or bundle_url")
        if self.bundle_url is not None and not re.match(r"^https?://", self.bundle_url):
            raise ValueError(f"bundle_url must be an http:// or https:// URL, got {self.bundle_url!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"symbols must be unique, got {self.symbols}")
        if self.max_symbols is not None and self.max_symbols < len(self.symbols):
            raise ValueError(
                f"max_symbols ({self.max_symbols}) is below the {len(self.symbols)} symbols given"
            )
        return self


def check_deployment_id(deployment_id: str) -> None:
    if not DEPLOYMENT_ID_RE.match(deployment_id):
        raise PushError(
            "BadDeploymentId",
            f"deployment id {deployment_id!r} must be a name or namespace/name of letters, digits, '.', "
            "'_' and '-' (URL-encode the '/' as %2F)",
        )


def parse_push(body: Any) -> PushRequest:
    """Validate a decoded JSON body; PushError(UnknownField / InvalidPush). Whether the edge runs
    `runtime: native` is the edge's decision (algo/bundles.py)."""
    if not isinstance(body, dict):
        raise PushError("InvalidPush", f"the push body must be a JSON object, got {type(body).__name__}")
    try:
        req = PushRequest.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        unknown = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
        if unknown:
            raise PushError("UnknownField", f"unknown field(s) in the push: {', '.join(unknown)}") from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:5]
        )
        raise PushError("InvalidPush", problems) from None
    return req


def decode_bundle(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PushError("BadBase64", "bundle is not valid base64 (standard alphabet, with padding)") from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise PushError("BundleTooLarge", f"bundle is {len(data)} bytes; the limit is {MAX_BUNDLE_BYTES}")
    return data


def verify_sha256(data: bytes, expected: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise PushError(
            "Sha256Mismatch",
            f"bundle bytes hash to sha256 {got}, but the push says {expected}; nothing was changed",
        )
