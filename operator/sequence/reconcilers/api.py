"""A small async Kubernetes REST client for the reconcilers' own reads and writes.

kopf keeps its API session private, so the reconcilers use this one: the same credentials
(a kopf ConnectionInfo from the login handler), aiohttp, JSON in and out. Children are written by
server-side apply (`apply`, field manager `sequence-operator`, see kube.py); status by merge patch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import kopf

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: the body is sent as JSON
# Who owns the fields the operator applies (metadata.managedFields), and the name `kubectl` shows.
FIELD_MANAGER = "sequence-operator"


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def path(
    api_version: str,
    plural: str,
    namespace: str | None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """/api/v1/namespaces/ns/pods/name or /apis/group/version/... for any resource."""
    parts = ["/api" if "/" not in api_version else "/apis", api_version]
    if namespace:
        parts += ["namespaces", namespace]
    parts.append(plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def matches_labels(obj: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


class KubeApi:
    """One aiohttp session to the API server; re-logs in once on HTTP 401 (rotated tokens)."""

    def __init__(self, login: Callable[[], kopf.ConnectionInfo | None], timeout: float = 30.0) -> None:
        self._login = login
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._info: kopf.ConnectionInfo | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def use(self, info: kopf.ConnectionInfo) -> None:
        async with self._lock:
            await self._close_session()
            self._info = info

    async def close(self) -> None:
        async with self._lock:
            await self._close_session()

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get_session(self) -> tuple[aiohttp.ClientSession, str]:
        async with self._lock:
            if self._info is None:
                info = self._login()
                if info is None:
                    raise KubeError(401, "NoCredentials", "no Kubernetes credentials found")
                self._info = info
            if self._session is None:
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=64, ssl=self._info.as_ssl_context()),
                    headers=self._info.as_http_headers(),
                    timeout=self._timeout,
                )
            return self._session, self._info.server.rstrip("/")

    async def request(
        self,
        method: str,
        url_path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        return (
            await self.request_with_status(
                method, url_path, body=body, params=params, content_type=content_type
            )
        )[1]

    async def request_with_status(
        self,
        method: str,
        url_path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, Any]]:
        for attempt in (1, 2):
            session, server = await self._get_session()
            async with session.request(
                method,
                server + url_path,
                json=body,
                params=params,
                headers={"Content-Type": content_type} if body is not None else None,
            ) as response:
                if response.status == 401 and attempt == 1:
                    async with self._lock:  # credentials rotated: log in again, retry once
                        await self._close_session()
                        self._info = None
                    continue
                payload = await _json(response)
                if response.status >= 400:
                    raise KubeError(
                        response.status,
                        str(payload.get("reason") or response.reason or "Error"),
                        str(payload.get("message") or payload)[:1024],
                    )
                return response.status, payload
        raise KubeError(401, "Unauthorized", "the API server refused the credentials twice")

    async def get(self, url_path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", url_path)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, url_path: str, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())} if labels else None
        items = (await self.request("GET", url_path, params=params)).get("items") or []
        # Filter here too: the selector is an optimisation, the match is the contract.
        return [item for item in items if not labels or matches_labels(item, labels)]

    async def create(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", url_path, body=body)

    async def patch(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", url_path, body=body, content_type=MERGE_PATCH)

    async def apply(self, url_path: str, body: dict[str, Any]) -> bool:
        """Server-side apply BODY as the operator's field manager; True when it created the object.

        `force`: the operator is the only writer of its children, so a field another manager took
        (someone's `kubectl edit`) is taken back rather than reported as a conflict every pass. An
        apply that changes nothing is not written to etcd (the resourceVersion stays).
        """
        status, _ = await self.request_with_status(
            "PATCH",
            url_path,
            body=body,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type=APPLY_PATCH,
        )
        return status == 201

    async def delete(self, url_path: str) -> bool:
        """Delete; False if it was already gone."""
        try:
            await self.request("DELETE", url_path, body={"propagationPolicy": "Background"})
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {"message": (await response.text())[:1024]}
    return data if isinstance(data, dict) else {"message": str(data)[:1024]}
