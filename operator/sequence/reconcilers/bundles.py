"""Algorithm bundles: read from a ConfigMap or an https URL, verified against spec.bundle.sha256.

Bytes are only ever handed to an edge after their sha256 matched the spec, so the cache is
content-addressed: one entry per sha256, shared by every AlgoDeployment that uses the bundle,
evicted least-recently-used beyond a byte budget.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import OrderedDict
from typing import Any

import aiohttp

from . import api


class BundleError(Exception):
    """The bundle cannot be obtained or does not match; `reason` is the status/condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class BundleCache:
    def __init__(self, budget_bytes: int = 256 * 1024 * 1024) -> None:
        self.budget = budget_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, sha256: str) -> bytes | None:
        data = self._entries.get(sha256)
        if data is not None:
            self._entries.move_to_end(sha256)
        return data

    def put(self, sha256: str, data: bytes) -> None:
        if sha256 in self._entries or len(data) > self.budget:
            return
        self._entries[sha256] = data
        self._size += len(data)
        while self._size > self.budget:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)


def verify(data: bytes, expected: str, source: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise BundleError(
            "BundleSha256Mismatch",
            f"{source} hashes to sha256 {actual[:16]}..., spec.bundle.sha256 is {expected[:16]}...; "
            "rebuild and re-render, or fix the sha256",
        )
    return data


async def _from_configmap(kube: api.KubeApi, namespace: str, ref: dict[str, Any]) -> bytes:
    name, key = ref["name"], ref.get("key") or "bundle.wasm"
    configmap = await kube.get(api.path("v1", "configmaps", namespace, name))
    if configmap is None:
        raise BundleError("BundleNotFound", f"ConfigMap {namespace}/{name} does not exist")
    binary = (configmap.get("binaryData") or {}).get(key)
    if binary is not None:
        try:
            return base64.b64decode(binary, validate=True)
        except binascii.Error as exc:
            raise BundleError("BundleInvalid", f"ConfigMap {name} key {key}: not base64: {exc}") from exc
    text = (configmap.get("data") or {}).get(key)
    if text is not None:
        return str(text).encode()
    keys = sorted({*(configmap.get("binaryData") or {}), *(configmap.get("data") or {})})
    raise BundleError(
        "BundleNotFound", f"ConfigMap {name} has no key {key!r} (keys: {', '.join(keys) or 'none'})"
    )


async def _from_url(http: aiohttp.ClientSession, url: str, limit: int, timeout: float) -> bytes:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status != 200:
                raise BundleError("BundleDownloadFailed", f"GET {url}: HTTP {response.status}")
            data = await response.content.read(limit + 1)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise BundleError("BundleDownloadFailed", f"GET {url}: {exc or type(exc).__name__}") from exc
    if len(data) > limit:
        raise BundleError("BundleTooLarge", f"{url} is larger than {limit} bytes")
    return data


async def fetch(
    kube: api.KubeApi,
    http: aiohttp.ClientSession,
    cache: BundleCache,
    namespace: str,
    bundle: dict[str, Any],
    limit: int,
    timeout: float,
) -> bytes:
    """The verified bytes of spec.bundle (camelCase dict as in the object)."""
    sha = bundle["sha256"]
    cached = cache.get(sha)
    if cached is not None:
        return cached
    if bundle.get("configMap"):
        source = f"ConfigMap {bundle['configMap']['name']}"
        data = await _from_configmap(kube, namespace, bundle["configMap"])
    elif bundle.get("url"):
        source = bundle["url"]
        data = await _from_url(http, bundle["url"], limit, timeout)
    elif bundle.get("oci"):
        raise BundleError(
            "BundleSourceUnsupported",
            "oci:// bundles are not supported by this operator yet; use a ConfigMap (sequence render) or an "
            "https URL",
        )
    else:
        raise BundleError("BundleSourceMissing", "spec.bundle needs one of configMap, url or oci")
    if len(data) > limit:
        raise BundleError("BundleTooLarge", f"{source} holds {len(data)} bytes, more than {limit}")
    cache.put(sha, verify(data, sha, source))
    return data
