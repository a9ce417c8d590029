"""Checking the body of `PUT /v1/deployments/{id}` (docs/edge-api.md): the shape is
`sequence_wire.edge_api.PushRequest`; this adds what only the edge can decide (its runtime, the
bundle URL schemes it accepts) and the bundle bytes themselves.

Every problem becomes a RequestError with a CamelCase reason and a message saying what to fix;
the control API answers it with 4xx and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from pydantic import ValidationError

from sequence_wire.edge_api import PushRequest
from sequence_wire.errors import RequestError, describe
from sequence_wire.types import DEPLOYMENT_ID_RE

__all__ = ["MAX_BUNDLE_BYTES", "PushRequest", "check_deployment_id", "decode_bundle", "parse_push"]

MAX_BUNDLE_BYTES = 32 << 20


def check_deployment_id(deployment_id: str) -> None:
    if not DEPLOYMENT_ID_RE.match(deployment_id):
        raise RequestError(
            "BadDeploymentId",
            f"deployment id {deployment_id!r} must be a name or namespace/name of letters, digits, '.', "
            "'_' and '-' (URL-encode the '/' as %2F)",
        )


def parse_push(body: Any, *, allow_http: bool = False) -> PushRequest:
    """Validate a decoded JSON body; RequestError(UnknownField / InvalidPush / UnsupportedRuntime).
    `bundle_url` must be https:// unless the edge runs with --allow-http-bundles."""
    if not isinstance(body, dict):
        raise RequestError("InvalidPush", f"the push body must be a JSON object, got {type(body).__name__}")
    risk, unlimited = body.get("risk"), False
    if isinstance(risk, dict) and "unlimited" in risk:
        if not isinstance(risk["unlimited"], bool):
            raise RequestError(
                "InvalidRisk", f"risk.unlimited must be true or false, got {risk['unlimited']!r}"
            )
        unlimited = risk["unlimited"]
        body = {**body, "risk": {k: v for k, v in risk.items() if k != "unlimited"}}
    try:
        req = PushRequest.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        unknown = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
        if unknown:
            raise RequestError(
                "UnknownField", f"unknown field(s) in the push: {', '.join(unknown)}"
            ) from None
        raise RequestError("InvalidPush", describe(exc)) from None
    if req.bundle_url is not None and req.bundle_url.startswith("http://") and not allow_http:
        raise RequestError(
            "BundleUrlRefused",
            f"bundle_url {req.bundle_url!r} is plain http: use https://, or start the edge with "
            "--allow-http-bundles to accept http:// (the sha256 still guards the bytes)",
        )
    req._risk_unlimited = unlimited
    if req.runtime != "wasm":
        raise RequestError(
            "UnsupportedRuntime",
            "this edge runs wasm bundles only (native .so algorithms are for first-party edges built with them)",
        )
    return req


def decode_bundle(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            "BadBase64", "bundle is not valid base64 (standard alphabet, with padding)"
        ) from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise RequestError("BundleTooLarge", f"bundle is {len(data)} bytes; the limit is {MAX_BUNDLE_BYTES}")
    return data


def verify_sha256(data: bytes, expected: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise RequestError(
            "Sha256Mismatch",
            f"bundle bytes hash to sha256 {got}, but the push says {expected}; nothing was changed",
        )
