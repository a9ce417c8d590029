"""The SDK against a cluster: the AlgoDeployment custom resources, as `sequence deploy` and the
lifecycle verbs use them (cluster.py). Blocking Kubernetes calls; the asyncio twin runs them in a
thread (sdk_core.Blocking).

`deploy_algo` server-side applies a bundle ConfigMap and an AlgoDeployment (field manager
`sequence`); the operator pushes the bundle to every edge of the venue and reports in the
resource's status, which is what the calls read. Edge-only facts (latency, logs) come from the
edges, through the API server's pod proxy for managed edges.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, cast
from urllib.parse import quote

from pydantic import ValidationError

from sequence_wire import edge_api as edge

from .cluster import DEPLOY_LABEL, FIELD_MANAGER, PROJECT_LABEL, ClusterTarget, group_shape
from .local.target import TargetError
from .models import API_VERSION, GROUP, VERSION, AlgoDeploymentSpec, spec_dump
from .render.render import BUNDLE_KEY, bundle_configmap_name, resource_name


def algo_name(target: ClusterTarget, name: str) -> str:
    """The AlgoDeployment's name for a deploy_algo NAME: `<project>-<name>` in a project."""
    return resource_name(target.project_name, name) if target.project_name else name


def venues(target: ClusterTarget) -> list[str]:
    """The venues of the namespace's VenueEdges (the project's, when it has a name)."""
    selector = f"{PROJECT_LABEL}={target.project_name}" if target.project_name else None
    found = cast(
        dict[str, Any],
        target.custom.list_namespaced_custom_object(
            GROUP, VERSION, target.namespace, "venueedges", label_selector=selector
        ),
    )
    return sorted({item["spec"]["venue"] for item in found.get("items", [])})


def algo_objects(
    target: ClusterTarget, name: str, wasm_bytes: bytes, spec_fields: dict[str, Any]
) -> list[dict[str, Any]]:
    """The bundle ConfigMap and the AlgoDeployment of a deploy_algo call (the spec validated first:
    bad risk limits or symbols fail here, and nothing is applied)."""
    sha = hashlib.sha256(wasm_bytes).hexdigest()
    owner = target.project_name or name
    bundle_cm = bundle_configmap_name(owner, sha)
    try:
        spec = AlgoDeploymentSpec.model_validate(
            {
                **spec_fields,
                "bundle": {
                    "config_map": {"name": bundle_cm, "key": BUNDLE_KEY},
                    "sha256": sha,
                    "size_bytes": len(wasm_bytes),
                },
            }
        )
    except ValidationError as exc:
        raise TargetError(f"deploy {name}: {exc}") from None
    labels = {"app.kubernetes.io/managed-by": FIELD_MANAGER, DEPLOY_LABEL: name}
    if target.project_name:
        labels[PROJECT_LABEL] = target.project_name
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": bundle_cm,
            "namespace": target.namespace,
            "labels": {**labels, "app.kubernetes.io/component": "bundle"},
            "annotations": {"sequence.dev/sha256": sha},
        },
        "binaryData": {BUNDLE_KEY: base64.b64encode(wasm_bytes).decode()},
    }
    algo = {
        "apiVersion": API_VERSION,
        "kind": "AlgoDeployment",
        "metadata": {
            "name": algo_name(target, name),
            "namespace": target.namespace,
            "labels": {**labels, "app.kubernetes.io/component": "algo", "sequence.dev/venue": spec.venue},
        },
        "spec": spec_dump(spec),
    }
    return [configmap, algo]


def apply(target: ClusterTarget, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Server-side apply OBJECTS in order; the last one as the API server returned it."""
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError

    dynamic = DynamicClient(target.api_client)
    result: dict[str, Any] = {}
    for obj in objects:
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        try:
            applied = dynamic.server_side_apply(
                resource,
                body=obj,
                name=obj["metadata"]["name"],
                namespace=target.namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        except DynamicApiError as exc:
            raise TargetError(f"applying {obj['kind']}/{obj['metadata']['name']}: {exc.summary()}") from None
        result = applied.to_dict()
    return result


def get(target: ClusterTarget, name: str) -> dict[str, Any]:
    """The AlgoDeployment NAME (its name, deploy name or label), with its status."""
    return target.select(name)[0]


def row(algo: dict[str, Any]) -> dict[str, Any]:
    """algo_status's answer: the CLI's status row, plus the symbols and each edge's instance."""
    status = algo.get("status") or {}
    return {
        **ClusterTarget._row(algo),
        "symbols": list(algo["spec"].get("symbols") or []),
        "pushed_to": status.get("pushedTo", 0),
        "capable_edges": status.get("capableEdges", 0),
        "instances": list(status.get("edges") or []),
        "generation": algo["metadata"].get("generation"),
        "observed_generation": status.get("observedGeneration"),
    }


def set_state(target: ClusterTarget, name: str, state: str) -> dict[str, Any]:
    """Patch spec.state of NAME's AlgoDeployment (the operator starts or stops it on every edge)."""
    algo = get(target, name)
    return cast(
        dict[str, Any],
        target.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            target.namespace,
            "algodeployments",
            algo["metadata"]["name"],
            {"spec": {"state": state}},
        ),
    )


def delete(target: ClusterTarget, name: str) -> dict[str, Any]:
    """Delete NAME's AlgoDeployment: its finalizer runs on_shutdown and cancels leftovers on every edge."""
    algo = get(target, name)
    target.custom.delete_namespaced_custom_object(
        GROUP, VERSION, target.namespace, "algodeployments", algo["metadata"]["name"]
    )
    return {**row(algo), "state": "Deleting"}


def exists(target: ClusterTarget, name: str) -> bool:
    try:
        target.select(name)
    except TargetError:
        return False
    return True


def deployment_id(algo: dict[str, Any]) -> str:
    status = algo.get("status") or {}
    return str(status.get("deploymentId") or f"{algo['metadata']['namespace']}.{algo['metadata']['name']}")


def edge_statuses(target: ClusterTarget, algo: dict[str, Any]) -> list[edge.DeploymentStatus]:
    """Each edge's own status of the deployment (latency and the rest the resource does not carry)."""
    path = f"/v1/deployments/{quote(deployment_id(algo), safe='')}"
    found = []
    for instance in (algo.get("status") or {}).get("edges") or []:
        try:
            response = target._edge_get(instance, path)
        except Exception:
            continue
        code = getattr(response, "status_code", None) or getattr(response, "status", 0)
        if code == 200:
            body = response.json() if hasattr(response, "json") else json.loads(response.data)
            found.append(edge.DeploymentStatus.model_validate(body))
    return found


def all_edge_statuses(target: ClusterTarget) -> tuple[list[edge.DeploymentStatus], dict[str, str]]:
    """Every AlgoDeployment's edge statuses, and deployment id -> deploy name."""
    statuses: list[edge.DeploymentStatus] = []
    names: dict[str, str] = {}
    for algo in target.select(None):
        names[deployment_id(algo)] = (
            algo["metadata"].get("labels", {}).get(DEPLOY_LABEL) or algo["metadata"]["name"]
        )
        statuses += edge_statuses(target, algo)
    return statuses, names


def logs(target: ClusterTarget, name: str, n: int) -> list[dict[str, Any]]:
    """The last N lines of NAME from each of its edges, each with the `edge` it came from."""
    return [{**line, "edge": source.split("@", 1)[-1]} for source, line in target.logs(name, n, follow=False)]


def mesh(target: ClusterTarget, name: str) -> dict[str, Any]:
    """The MeshGroup status of NAME's group: every instance of the group and the links."""
    from kubernetes.client.exceptions import ApiException

    algo = get(target, name)
    dep_id = deployment_id(algo)
    group_name = algo["spec"].get("meshGroup")
    if not group_name:
        return {"deployment_id": dep_id, "mesh_group": None, "instances": [], "links": []}
    try:
        group = cast(
            dict[str, Any],
            target.custom.get_namespaced_custom_object(
                GROUP, VERSION, target.namespace, "meshgroups", group_name
            ),
        )
    except ApiException as exc:
        if exc.status == 404:
            return {"deployment_id": dep_id, "mesh_group": group_name, "instances": [], "links": []}
        raise TargetError(f"MeshGroup {group_name}: {exc.reason}") from None
    return {"deployment_id": dep_id, **group_shape(group)}
