"""The namespace's credential: one Secret the operator creates once and every edge and coordinator mounts.

`sequence-token` holds `token` (the control token: the operator, the CLI and the mesh HELLO) and
`metrics-token` (Prometheus may read /metrics with it and nothing else). The operator creates it
the first time it needs it in a namespace (creating edge or coordinator children, or calling an
external edge) and never changes it afterwards: an existing Secret, generated or brought by the
user, is used as it is. Rotation is explicit: delete the Secret, the operator makes a new one, then
restart the pods (they read their token files at start).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from typing import Any

from . import api

SECRET_NAME = "sequence-token"
TOKEN_KEY = "token"
METRICS_TOKEN_KEY = "metrics-token"
# Where edge and coordinator pods find the two files (`--token-file`, `--metrics-token-file`).
TOKEN_MOUNT = "/etc/sequence/token"
TOKEN_FILE = f"{TOKEN_MOUNT}/{TOKEN_KEY}"
METRICS_TOKEN_FILE = f"{TOKEN_MOUNT}/{METRICS_TOKEN_KEY}"
# A cached token is re-read after this long, so a Secret deleted for rotation is noticed (and
# recreated) without restarting the operator.
CACHE_SECONDS = 30.0
MIN_TOKEN_CHARS = 16


class CredentialError(Exception):
    """The namespace's Secret exists but does not hold a usable token."""


def secret_path(namespace: str, name: str | None = SECRET_NAME) -> str:
    return api.path("v1", "secrets", namespace, name)


def new_secret(namespace: str) -> dict[str, Any]:
    """A fresh Secret: two distinct 256-bit tokens (the metrics token must differ from the control one)."""
    control, metrics = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "sequence",
                "app.kubernetes.io/managed-by": "sequence-operator",
            },
        },
        "data": {TOKEN_KEY: _b64(control), METRICS_TOKEN_KEY: _b64(metrics)},
    }


def token_volume() -> dict[str, Any]:
    """The Secret as a pod volume: files `token` and `metrics-token`, readable by the pod's user and group (fsGroup)."""
    return {"name": "sequence-token", "secret": {"secretName": SECRET_NAME, "defaultMode": 0o440}}


def token_mount() -> dict[str, Any]:
    return {"name": "sequence-token", "mountPath": TOKEN_MOUNT, "readOnly": True}


def token_args(coordinator: bool = False) -> list[str]:
    """Server flags naming the mounted files; an edge also sends the token in its mesh HELLO."""
    args = ["--token-file", TOKEN_FILE, "--metrics-token-file", METRICS_TOKEN_FILE]
    return args + (["--coordinator-token-file", TOKEN_FILE] if coordinator else [])


def token_of(secret: dict[str, Any], with_metrics: bool = True) -> str:
    """The control token in SECRET (its `data`, base64 as the API server returns it).

    WITH_METRICS: the pods mount both keys as files and refuse to start without either, so a
    Secret the user made must have both, and distinct: refused here with the key named.
    """
    where = f"Secret {secret.get('metadata', {}).get('namespace')}/{SECRET_NAME}"
    token = _key(secret, TOKEN_KEY, where)
    if with_metrics and _key(secret, METRICS_TOKEN_KEY, where) == token:
        raise CredentialError(f"{where}: '{METRICS_TOKEN_KEY}' must differ from '{TOKEN_KEY}'")
    return token


def _key(secret: dict[str, Any], key: str, where: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    if not raw:
        raise CredentialError(f"{where} has no '{key}' key")
    try:
        token = base64.b64decode(raw, validate=True).decode("ascii").strip()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise CredentialError(f"{where}: '{key}' is not base64 of an ASCII token") from exc
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
        raise CredentialError(f"{where}: '{key}' must be {MIN_TOKEN_CHARS}+ printable characters, no spaces")
    return token


class NamespaceTokens:
    """The control token of each namespace, read from (or first written to) its Secret, cached."""

    def __init__(self, kube: api.KubeApi, ttl: float = CACHE_SECONDS) -> None:
        self.kube = kube
        self.ttl = ttl
        self._cache: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def token(self, namespace: str, create: bool = True) -> str:
        """NAMESPACE's token. Without CREATE (a teardown: the namespace may be terminating, when
        nothing can be created in it) a missing Secret is never written: the last token read is used,
        else CredentialError."""
        cached = self._cache.get(namespace)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            cached = self._cache.get(namespace)
            if cached is not None and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            secret = await (
                self._get_or_create(namespace) if create else self.kube.get(secret_path(namespace))
            )
            if secret is None:
                if cached is not None:
                    return cached[1]
                raise CredentialError(
                    f"no Secret {namespace}/{SECRET_NAME}: the namespace's token is unknown"
                )
            token = token_of(secret)
            self._cache[namespace] = (time.monotonic(), token)
            return token

    def forget(self, namespace: str) -> None:
        """Re-read on next use (an edge answered 401: the Secret may have been replaced)."""
        self._cache.pop(namespace, None)

    async def _get_or_create(self, namespace: str) -> dict[str, Any]:
        current = await self.kube.get(secret_path(namespace))
        if current is not None:
            return current
        try:
            return await self.kube.create(secret_path(namespace, None), new_secret(namespace))
        except api.KubeError as exc:
            if exc.status != 409:
                raise
        # created concurrently (another operator replica, the user): use theirs, never overwrite
        current = await self.kube.get(secret_path(namespace))
        if current is None:
            raise CredentialError(f"Secret {namespace}/{SECRET_NAME} vanished while it was being created")
        return current


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
