"""Async client for the edge control API (docs/edge-api.md) and the coordinator's mesh API.

Every call has a timeout. Failures are one of two kinds the reconcilers treat differently:
`EdgeUnreachable` (connect error, timeout, 5xx: try again later, the edge may come back) and
`EdgeRejected` (a 4xx with the edge's own reason: the request itself is wrong, retrying the
same request will not help).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp

from .metrics import EDGE_CALLS as CALLS


class EdgeError(Exception):
    reason = "EdgeError"

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint
        self.message = message


class EdgeUnreachable(EdgeError):
    reason = "EdgeUnreachable"


class EdgeRejected(EdgeError):
    def __init__(self, endpoint: str, status: int, reason: str, message: str) -> None:
        super().__init__(endpoint, f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason or "Rejected"
        self.detail = message


def base_url(endpoint: str) -> str:
    return endpoint.rstrip("/") if "://" in endpoint else f"http://{endpoint}"


class ControlClient:
    """JSON over HTTP to one edge or coordinator; one shared aiohttp session for all of them."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: str, timeout: float) -> None:
        self.session = session
        self.endpoint = endpoint
        self.timeout = timeout
        self._base = base_url(endpoint)

    async def call(
        self, method: str, url_path: str, body: Any = None, timeout: float | None = None
    ) -> tuple[int, Any]:
        """(status, parsed JSON); 404 is returned, not raised, so callers can tell 'absent'."""
        try:
            async with self.session.request(
                method,
                self._base + url_path,
                json=body,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as response:
                text = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            CALLS.labels("unreachable").inc()
            raise EdgeUnreachable(self.endpoint, _describe(exc)) from exc
        data = _parse(text)
        if status >= 500:
            CALLS.labels("unreachable").inc()
            raise EdgeUnreachable(self.endpoint, f"HTTP {status}: {_error_message(data, text)}")
        if status >= 400 and status != 404:
            CALLS.labels("rejected").inc()
            error = data.get("error", {}) if isinstance(data, dict) else {}
            raise EdgeRejected(
                self.endpoint,
                status,
                str(error.get("reason") or "Rejected"),
                str(error.get("message") or text)[:1024],
            )
        CALLS.labels("ok").inc()
        return status, data


class EdgeClient(ControlClient):
    async def info(self) -> dict[str, Any]:
        """GET /v1/edge: edge_id, venue, mode, feed health, hosted deployments."""
        data = await self._ok("GET", "/v1/edge")
        return data

    async def deployment(self, deployment_id: str) -> dict[str, Any] | None:
        status, data = await self.call("GET", f"/v1/deployments/{deployment_id}")
        return None if status == 404 else data

    async def push(
        self, deployment_id: str, body: dict[str, Any], bundle: bytes, timeout: float
    ) -> dict[str, Any]:
        payload = {**body, "bundle": base64.b64encode(bundle).decode()}
        data = await self._ok("PUT", f"/v1/deployments/{deployment_id}", payload, timeout)
        return data

    async def start(self, deployment_id: str) -> dict[str, Any]:
        data = await self._ok("POST", f"/v1/deployments/{deployment_id}/start")
        return data

    async def stop(self, deployment_id: str) -> dict[str, Any]:
        data = await self._ok("POST", f"/v1/deployments/{deployment_id}/stop")
        return data

    async def pause(self, deployment_id: str) -> dict[str, Any]:
        data = await self._ok("POST", f"/v1/deployments/{deployment_id}/pause")
        return data

    async def resume(self, deployment_id: str) -> dict[str, Any]:
        data = await self._ok("POST", f"/v1/deployments/{deployment_id}/resume")
        return data

    async def remove(self, deployment_id: str) -> bool:
        """DELETE: on_shutdown, cancel leftovers, remove. False if the edge did not have it."""
        status, _ = await self.call("DELETE", f"/v1/deployments/{deployment_id}")
        return status != 404

    async def _ok(self, method: str, url_path: str, body: Any = None, timeout: float | None = None) -> Any:
        status, data = await self.call(method, url_path, body, timeout)
        if status == 404:
            raise EdgeRejected(self.endpoint, 404, "NotFound", f"{method} {url_path}: not found")
        return data


class CoordinatorClient(ControlClient):
    async def put_group(self, group: str, table: dict[str, Any]) -> dict[str, Any]:
        status, data = await self.call("PUT", f"/v1/mesh/{group}", table)
        if status == 404:
            raise EdgeRejected(self.endpoint, 404, "NotFound", "the coordinator has no mesh API")
        return data if isinstance(data, dict) else {}

    async def get_group(self, group: str) -> dict[str, Any] | None:
        status, data = await self.call("GET", f"/v1/mesh/{group}")
        return None if status == 404 else data

    async def delete_group(self, group: str) -> None:
        try:
            await self.call("DELETE", f"/v1/mesh/{group}")
        except EdgeRejected as exc:
            if exc.status != 405:  # a coordinator without DELETE drops the group on restart
                raise


def _parse(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _error_message(data: Any, text: str) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message", ""))[:512]
    return text[:512]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
