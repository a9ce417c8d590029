"""Synchronous clients for the edge control API (docs/edge-api.md) and the
coordinator's topology API (docs/mesh.md), used by `sequence up` and the CLI verbs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(f"{reason}: {message}" if reason else message)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            err = response.json().get("error", {})
            raise ApiError(response.status_code, err.get("reason", ""), err.get("message", response.text))
        except ValueError:
            raise ApiError(response.status_code, "", response.text) from None
    return response.json() if response.content else None


class EdgeClient:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def info(self) -> dict[str, Any]:
        return _check(self.http.get("/v1/edge"))

    def push(self, deployment_id: str, bundle: bytes, sha256: str, **config: Any) -> dict[str, Any]:
        body = {"bundle": base64.b64encode(bundle).decode(), "sha256": sha256, **config}
        return _check(self.http.put(f"/v1/deployments/{deployment_id}", json=body))

    def push_url(self, deployment_id: str, url: str, sha256: str, **config: Any) -> dict[str, Any]:
        body = {"bundle_url": url, "sha256": sha256, **config}
        return _check(self.http.put(f"/v1/deployments/{deployment_id}", json=body))

    def orders(self, deployment_id: str, open_only: bool = False) -> list[dict[str, Any]]:
        return _check(
            self.http.get(
                f"/v1/deployments/{deployment_id}/orders", params={"open": "1" if open_only else "0"}
            )
        )

    def start(self, deployment_id: str) -> dict[str, Any]:
        return _check(self.http.post(f"/v1/deployments/{deployment_id}/start"))

    def stop(self, deployment_id: str) -> dict[str, Any]:
        return _check(self.http.post(f"/v1/deployments/{deployment_id}/stop"))

    def pause(self, deployment_id: str) -> dict[str, Any]:
        return _check(self.http.post(f"/v1/deployments/{deployment_id}/pause"))

    def resume(self, deployment_id: str) -> dict[str, Any]:
        return _check(self.http.post(f"/v1/deployments/{deployment_id}/resume"))

    def remove(self, deployment_id: str) -> dict[str, Any]:
        return _check(self.http.delete(f"/v1/deployments/{deployment_id}"))

    def status(self, deployment_id: str) -> dict[str, Any]:
        return _check(self.http.get(f"/v1/deployments/{deployment_id}"))

    def deployments(self) -> list[dict[str, Any]]:
        return _check(self.http.get("/v1/deployments"))

    def trace(self, order_ref: str) -> dict[str, Any]:
        return _check(self.http.get(f"/v1/orders/{order_ref}/trace"))

    def logs(self, deployment_id: str, tail: int = 100, follow: bool = False) -> Iterator[dict[str, Any]]:
        params = {"tail": str(tail), **({"follow": "1"} if follow else {})}
        timeout = httpx.Timeout(5.0, read=None) if follow else self.http.timeout
        with self.http.stream(
            "GET", f"/v1/deployments/{deployment_id}/logs", params=params, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                _check(response)
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def close(self) -> None:
        self.http.close()


class CoordinatorClient:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def mesh(self, group: str) -> dict[str, Any]:
        return _check(self.http.get(f"/v1/mesh/{group}"))

    def set_routes(self, group: str, members: list[dict[str, Any]]) -> dict[str, Any]:
        return _check(self.http.put(f"/v1/mesh/{group}", json={"members": members}))

    def close(self) -> None:
        self.http.close()
