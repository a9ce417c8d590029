"""A synchronous Kubernetes client for the operator tests: JSON dicts in and out.

Built on the official client's ApiClient and a kubeconfig file, so the same calls work against
KMock (plain HTTP on loopback) and a real cluster (whatever auth the kubeconfig uses).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import yaml

# What the tests (and the operator) touch: group/version/plural -> discovery info for KMock.
RESOURCES: dict[str, dict[str, Any]] = {
    "sequence.dev/v1alpha1/algodeployments": {
        "kind": "AlgoDeployment",
        "namespaced": True,
        "subresources": ["status"],
    },
    "sequence.dev/v1alpha1/meshgroups": {"kind": "MeshGroup", "namespaced": True, "subresources": ["status"]},
    "sequence.dev/v1alpha1/executiongraphs": {
        "kind": "ExecutionGraph",
        "namespaced": True,
        "subresources": ["status"],
    },
    "sequence.dev/v1alpha1/venueedges": {"kind": "VenueEdge", "namespaced": True, "subresources": ["status"]},
    "apps/v1/deployments": {"kind": "Deployment", "namespaced": True, "subresources": ["status"]},
    "v1/services": {"kind": "Service", "namespaced": True},
    "networking.k8s.io/v1/networkpolicies": {"kind": "NetworkPolicy", "namespaced": True},
    "v1/configmaps": {"kind": "ConfigMap", "namespaced": True},
    "v1/pods": {"kind": "Pod", "namespaced": True},
    "v1/secrets": {"kind": "Secret", "namespaced": True},
    "v1/events": {"kind": "Event", "namespaced": True},
    "v1/namespaces": {"kind": "Namespace", "namespaced": False},
    "apiextensions.k8s.io/v1/customresourcedefinitions": {
        "kind": "CustomResourceDefinition",
        "namespaced": False,
    },
}
PLURAL = {info["kind"]: name.rsplit("/", 1)[1] for name, info in RESOURCES.items()}
API_VERSION = {info["kind"]: name.rsplit("/", 1)[0] for name, info in RESOURCES.items()}


def kubeconfig_for(url: str, path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": url}}],
                "users": [{"name": "test", "user": {"token": "kmock"}}],
                "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "test"}}],
                "current-context": "kmock",
            }
        )
    )
    return path


class Kube:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=config)
        self.client = kubernetes.client.ApiClient(config)

    # ------------------------------------------------------------------ raw calls

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> tuple[int, Any]:
        method_, url, headers, payload, post = self.client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.client.call_api(method_, url, headers, payload, post, _request_timeout=30)
            response.read()
        except kubernetes.client.ApiException as exc:
            return exc.status, _json(exc.body)
        return response.status, _json(response.data)

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, data = self.call(method, path, body, **kw)
        if status >= 400:
            raise AssertionError(f"{method} {path}: HTTP {status}: {data}")
        return data

    def path(
        self, kind: str, name: str | None = None, namespace: str | None = None, subresource: str | None = None
    ) -> str:
        api_version = API_VERSION[kind]
        parts = ["/api" if "/" not in api_version else "/apis", api_version]
        if RESOURCES[f"{api_version}/{PLURAL[kind]}"]["namespaced"]:
            parts += ["namespaces", namespace or self.namespace]
        parts.append(PLURAL[kind])
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)

    # ------------------------------------------------------------------ objects

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = json.loads(json.dumps(obj))
        obj.setdefault("metadata", {}).setdefault("namespace", self.namespace)
        return self.ok("POST", self.path(obj["kind"]), obj)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        status, data = self.call("GET", self.path(kind, name))
        if status == 404:
            return None
        assert status < 400, f"GET {kind} {name}: HTTP {status}: {data}"
        return data

    def list(self, kind: str) -> list[dict[str, Any]]:
        return self.ok("GET", self.path(kind)).get("items") or []

    def patch(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.ok("PATCH", self.path(kind, name), body, content_type="application/merge-patch+json")

    def delete(self, kind: str, name: str) -> None:
        status, data = self.call("DELETE", self.path(kind, name))
        assert status < 400 or status == 404, f"DELETE {kind} {name}: HTTP {status}: {data}"

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.list("Event") if (e.get("involvedObject") or {}).get("name") == name]

    def wait_event(self, name: str, reason: str, timeout: float = 30) -> dict[str, Any]:
        """The first Event on object NAME with REASON (kopf posts them asynchronously)."""
        return self.wait(
            f"Event {reason} on {name}",
            lambda: next((e for e in self.events(name) if e.get("reason") == reason), None),
            timeout,
        )

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 30, every: float = 0.2) -> Any:
        """Poll PROBE until it returns something truthy; fail with WHAT and the last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")

    def wait_status(
        self, kind: str, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            return obj if obj and check(obj.get("status") or {}) else None

        try:
            return self.wait(what, probe, timeout)
        except AssertionError as exc:
            obj = self.get(kind, name)
            raise AssertionError(f"{exc}\nlast {kind} {name}: {json.dumps(obj, indent=1)[:6000]}") from None

    def wait_gone(self, kind: str, name: str, timeout: float = 30) -> None:
        self.wait(f"{kind} {name} to be deleted", lambda: self.get(kind, name) is None, timeout)


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def _json(raw: Any) -> Any:
    if raw is None or raw == b"" or raw == "":
        return {}
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return {"raw": str(raw)[:2000]}
