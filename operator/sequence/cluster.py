"""The CLI verbs against a Kubernetes cluster (the current kubeconfig context).

Lifecycle goes through the custom resources (the operator does the rest):
start/stop patch `spec.state`, undeploy deletes the AlgoDeployment (its
finalizer runs on_shutdown and cancels leftovers on every edge). Logs and
traces come from the edges themselves, through the API server's pod proxy
for managed edges and directly for external ones. `deploy` server-side
applies what `render` produces with field manager `sequence`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import quote

import httpx

from sequence_wire.auth import TOKEN_ENV

from .local.target import TargetError, interleave
from .models import GROUP, VERSION

FIELD_MANAGER = "sequence"
PROJECT_LABEL = "sequence.dev/project"
DEPLOY_LABEL = "sequence.dev/deploy"


def _load_kube(context: str | None) -> tuple[Any, str]:
    from kubernetes import client, config

    try:
        config.load_kube_config(context=context)
        contexts, active = config.list_kube_config_contexts()
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
        namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    except config.ConfigException as kube_exc:
        try:
            config.load_incluster_config()
        except config.ConfigException as exc:
            where = os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise TargetError(
                f"no Kubernetes configuration: kubeconfig {where}: {kube_exc}; in a pod: {exc}"
            ) from None
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            namespace = f.read().strip()
    return client.ApiClient(), namespace


class ClusterTarget:
    kind = "cluster"

    def __init__(self, project: str | None, namespace: str | None = None, context: str | None = None) -> None:
        from kubernetes import client

        self.api_client, default_ns = _load_kube(context)
        self.namespace = namespace or default_ns
        self.project_name = project
        self.custom = client.CustomObjectsApi(self.api_client)
        self._token: str | None = None

    @property
    def project(self) -> str:
        return self.project_name or f"namespace {self.namespace}"

    # ------------------------------------------------------------------ selection

    def _algos(self) -> list[dict[str, Any]]:
        selector = f"{PROJECT_LABEL}={self.project_name}" if self.project_name else None
        result = cast(
            dict[str, Any],
            self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "algodeployments", label_selector=selector
            ),
        )
        return sorted(result.get("items", []), key=lambda o: o["metadata"]["name"])

    def select(self, name: str | None) -> list[dict[str, Any]]:
        algos = self._algos()
        if name is None:
            return algos
        chosen = [
            a
            for a in algos
            if name
            in (
                a["metadata"]["name"],
                a["metadata"].get("labels", {}).get(DEPLOY_LABEL),
                a["spec"].get("label"),
            )
        ]
        if not chosen:
            known = ", ".join(a["metadata"]["name"] for a in algos) or "none"
            raise TargetError(f"no AlgoDeployment {name!r} in namespace {self.namespace} (found: {known})")
        return chosen

    def labels(self, name: str | None) -> set[str]:
        return {a["spec"].get("label", "") for a in self.select(name)}

    # ------------------------------------------------------------------ verbs

    @staticmethod
    def _row(algo: dict[str, Any]) -> dict[str, Any]:
        status = algo.get("status") or {}
        edges = status.get("edges") or []
        heartbeats = [e["lastHeartbeat"] for e in edges if e.get("lastHeartbeat")]
        error = status.get("error")
        return {
            "name": algo["metadata"]["name"],
            "deployment_id": status.get("deploymentId"),
            "venue": algo["spec"].get("venue", ""),
            "label": algo["spec"].get("label", ""),
            "state": status.get("lifecycleState") or "Pending",
            "orders": sum(e.get("orders", 0) for e in edges),
            "fills": sum(e.get("fills", 0) for e in edges),
            "rejects": sum(e.get("rejects", 0) for e in edges),
            "position": {"net": sum(e.get("position") or 0.0 for e in edges)} if edges else None,
            "realized_pnl": sum(e.get("pnl") or 0.0 for e in edges),
            "last_heartbeat": max(heartbeats) if heartbeats else None,
            "edges": f"{status.get('pushedTo', 0)}/{status.get('capableEdges', 0)}",
            "last_error": error,
        }

    def status(self, name: str | None) -> list[dict[str, Any]]:
        return [self._row(a) for a in self.select(name)]

    def _patch_state(self, name: str | None, state: str) -> list[dict[str, Any]]:
        rows = []
        for algo in self.select(name):
            patched = cast(
                dict[str, Any],
                self.custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    self.namespace,
                    "algodeployments",
                    algo["metadata"]["name"],
                    {"spec": {"state": state}},
                ),
            )
            rows.append({**self._row(patched), "state": f"{state} (requested)"})
        return rows

    def start(self, name: str | None) -> list[dict[str, Any]]:
        return self._patch_state(name, "Running")

    def stop(self, name: str | None) -> list[dict[str, Any]]:
        return self._patch_state(name, "Stopped")

    def pause(self, name: str | None) -> list[dict[str, Any]]:
        return self._patch_state(name, "Paused")

    def resume(self, name: str | None) -> list[dict[str, Any]]:
        return self._patch_state(name, "Running")

    def undeploy(self, name: str | None) -> list[dict[str, Any]]:
        rows = []
        for algo in self.select(name):
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "algodeployments", algo["metadata"]["name"]
            )
            rows.append({**self._row(algo), "state": "Deleting (the operator undeploys it from every edge)"})
        return rows

    def mesh(self) -> dict[str, Any]:
        groups = cast(
            dict[str, Any],
            self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "meshgroups"),
        )
        items = [
            g
            for g in groups.get("items", [])
            if not self.project_name or g["metadata"]["name"] == self.project_name
        ]
        if not items:
            raise TargetError(f"no MeshGroup for {self.project} in namespace {self.namespace}")
        return group_shape(items[0])

    # ------------------------------------------------------------------ edge access

    def token(self) -> str:
        """The namespace's control token: its `sequence-token` Secret (the operator makes it), read
        through the kubeconfig; $SEQUENCE_TOKEN when the Secret is absent or not readable."""
        if self._token is None:
            self._token = namespace_token(self.api_client, self.namespace)
        return self._token

    def _edge_get(self, edge: dict[str, Any], path: str, stream: bool = False) -> Any:
        """GET an edge's control API: pod proxy for managed edges, direct for external ones."""
        if edge.get("pod"):
            port = (edge.get("endpoint") or ":7070").rsplit(":", 1)[-1]
            url = f"/api/v1/namespaces/{self.namespace}/pods/{edge['pod']}:{port}/proxy{path}"
            # The API server takes `Authorization` for itself and does not forward it to the pod.
            request = self.api_client.param_serialize(
                "GET", url, header_params={"X-Sequence-Token": self.token()}, auth_settings=["BearerToken"]
            )
            # the unread urllib3 response: streamed line by line for `logs -f`
            return self.api_client.call_api(*request, _request_timeout=None if stream else 10).response
        headers = {"Authorization": f"Bearer {self.token()}"}
        return (
            httpx.stream("GET", f"http://{edge['endpoint']}{path}", timeout=None, headers=headers)
            if stream
            else httpx.get(f"http://{edge['endpoint']}{path}", timeout=10, headers=headers)
        )

    def _deployment_id(self, algo: dict[str, Any]) -> str:
        status = algo.get("status") or {}
        return quote(status.get("deploymentId") or f"{self.namespace}.{algo['metadata']['name']}", safe="")

    def logs(self, name: str | None, tail: int, follow: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        """(deployment@edge, log line); following several, their lines interleaved as they arrive."""
        streams = [
            self._edge_logs(algo, edge, tail, follow)
            for algo in self.select(name)
            for edge in (algo.get("status") or {}).get("edges") or []
        ]
        if not follow:
            for stream in streams:
                yield from stream
            return
        yield from interleave(streams)

    def _edge_logs(
        self, algo: dict[str, Any], edge: dict[str, Any], tail: int, follow: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        path = f"/v1/deployments/{self._deployment_id(algo)}/logs?tail={tail}" + (
            "&follow=1" if follow else ""
        )
        for line in _iter_lines(self._edge_get(edge, path, stream=follow)):
            if line.strip():
                yield f"{algo['metadata']['name']}@{edge.get('edgeId')}", json.loads(line)

    def orders(self, name: str | None, open_only: bool) -> list[dict[str, Any]]:
        """The orders of the selected AlgoDeployments on every edge they run on (`name` added)."""
        rows: list[dict[str, Any]] = []
        for algo in self.select(name):
            for edge in (algo.get("status") or {}).get("edges") or []:
                path = f"/v1/deployments/{self._deployment_id(algo)}/orders?open={1 if open_only else 0}"
                response = self._edge_get(edge, path)
                code = getattr(response, "status_code", None) or getattr(response, "status", 0)
                if code != 200:
                    raise TargetError(
                        f"{algo['metadata']['name']}: edge {edge.get('edgeId')} answered {code}"
                    )
                body = response.json() if hasattr(response, "json") else json.loads(response.data)
                rows.extend({**order, "name": algo["metadata"]["name"]} for order in body)
        return rows

    def trace(self, order_ref: str) -> dict[str, Any]:
        seen: set[str] = set()
        for algo in self._algos():
            for edge in (algo.get("status") or {}).get("edges") or []:
                key = edge.get("endpoint") or ""
                if key in seen:
                    continue
                seen.add(key)
                try:
                    response = self._edge_get(edge, f"/v1/orders/{quote(order_ref, safe='')}/trace")
                except Exception:  # 404 from the proxy, unreachable edge: try the next one
                    continue
                status_code = getattr(response, "status_code", None) or getattr(response, "status", 0)
                if status_code == 200:
                    body = response.json() if hasattr(response, "json") else json.loads(response.data)
                    return dict(body)
        raise TargetError(f"order {order_ref} not found on any edge in namespace {self.namespace}")


def group_shape(group: dict[str, Any]) -> dict[str, Any]:
    """A MeshGroup's status as the coordinator's topology: mesh_group, instances, links."""
    status = group.get("status") or {}
    return {
        "mesh_group": group["metadata"]["name"],
        "instances": [
            {
                "mesh_id": i.get("meshId"),
                "edge_id": i.get("edgeId"),
                "label": i.get("label"),
                "venue": i.get("venue"),
                "deployment": i.get("deployment"),
            }
            for i in status.get("instances") or []
        ],
        "links": [
            {
                "from": link.get("from"),
                "to": link.get("to"),
                "messages": link.get("messages", 0),
                "drops": link.get("drops", 0),
                "p50_us": link.get("p50Us"),
                "p99_us": link.get("p99Us"),
            }
            for link in status.get("links") or []
        ],
    }


def namespace_token(api_client: Any, namespace: str) -> str:
    """NAMESPACE's control token from its Secret (reconcilers/credentials.py), else $SEQUENCE_TOKEN."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from .reconcilers.credentials import SECRET_NAME, CredentialError, token_of

    why = ""
    try:
        secret = client.CoreV1Api(api_client).read_namespaced_secret(SECRET_NAME, namespace)
        return token_of(api_client.sanitize_for_serialization(secret), with_metrics=False)
    except ApiException as exc:
        why = {404: "it does not exist yet (the operator creates it)", 403: "reading it is forbidden"}.get(
            exc.status, f"the API server answered {exc.status} {exc.reason}"
        )
    except CredentialError as exc:
        why = str(exc)
    fallback = os.environ.get(TOKEN_ENV, "").strip()
    if fallback:
        return fallback
    raise TargetError(
        f"no token for namespace {namespace}: Secret {namespace}/{SECRET_NAME}: {why}; "
        f"get it read access (get on secrets) or set {TOKEN_ENV}"
    )


def _iter_lines(response: Any) -> Iterator[str]:
    if isinstance(response, httpx.Response):
        yield from response.text.splitlines()
    elif not hasattr(response, "stream"):  # httpx.stream(...): a context manager of the response
        with response as r:
            yield from r.iter_lines()
    else:  # urllib3 response from the pod proxy
        buffer = b""
        for chunk in response.stream(4096):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode()
        if buffer:
            yield buffer.decode()


def deploy(objects: list[dict[str, Any]], namespace: str | None, context: str | None = None) -> list[str]:
    """Server-side apply every rendered object (field manager `sequence`); returns 'kind/name' applied."""
    from kubernetes.dynamic import DynamicClient

    api_client, default_ns = _load_kube(context)
    dynamic = DynamicClient(api_client)
    applied = []
    for obj in objects:
        ns = obj["metadata"].get("namespace") or namespace or default_ns
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        body = {**obj, "metadata": {**obj["metadata"], "namespace": ns}}
        dynamic.server_side_apply(
            resource,
            body=body,
            name=obj["metadata"]["name"],
            namespace=ns,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return applied
