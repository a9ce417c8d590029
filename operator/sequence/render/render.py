"""Sequence.toml -> Kubernetes objects (what `sequence render` prints and Argo CD applies).

Deterministic: the same input gives byte-identical output (no timestamps, no
random names; bundle ConfigMaps are named by content hash so a new build
rolls out as a spec change and the operator hot-swaps it).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import yaml

from ..models import (
    API_VERSION,
    AlgoDeploymentSpec,
    BundleRef,
    MeshGroupSpec,
    VenueEdgeSpec,
    spec_dump,
)
from ..models.resources import ConfigMapRef, MeshMember
from ..project import Project

BUNDLE_KEY = "bundle.wasm"
REPLAY_KEY = "recording"  # the operator mounts it under the file's own name


def resource_name(project: str, block: str) -> str:
    """Kubernetes name of a deploy/graph block: `<project>-<block>` (DNS label, <= 63)."""
    name = f"{project}-{block}"
    if len(name) > 63:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


def bundle_configmap_name(project: str, sha256: str) -> str:
    return f"{project}-bundle-{sha256[:12]}"


def _labels(project: str, component: str, **extra: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "sequence",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": project,
        "app.kubernetes.io/managed-by": "sequence",
        "sequence.dev/project": project,
        **extra,
    }


def _metadata(project: Project, name: str, component: str, **extra: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if project.config.project.namespace:
        meta["namespace"] = project.config.project.namespace
    meta["labels"] = _labels(project.name, component, **extra)
    return meta


def _object(kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def _configmap(
    project: Project, name: str, component: str, key: str, data: bytes, **annotations: str
) -> dict[str, Any]:
    meta = _metadata(project, name, component)
    meta["annotations"] = {"sequence.dev/sha256": hashlib.sha256(data).hexdigest(), **annotations}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "binaryData": {key: base64.b64encode(data).decode()},
    }


def _bundle_configmaps(project: Project) -> list[dict[str, Any]]:
    """One ConfigMap per distinct local bundle (two deployments of the same .wasm, e.g. one per venue, share it)."""
    by_sha = {b.sha256: b for b in project.bundles.values()}
    return [
        _configmap(
            project,
            bundle_configmap_name(project.name, sha),
            "bundle",
            BUNDLE_KEY,
            by_sha[sha].data,
            **{"sequence.dev/source": by_sha[sha].path.name},
        )
        for sha in sorted(by_sha)
    ]


def _venue_edges(project: Project) -> list[dict[str, Any]]:
    objects = []
    for venue_name, venue in project.config.venue.items():
        replay_cm = None
        if venue.feed.replay:
            data = (project.root / venue.feed.replay.file).read_bytes()
            replay_cm = f"{project.name}-replay-{hashlib.sha256(data).hexdigest()[:12]}"
            objects.append(_configmap(project, replay_cm, "replay", REPLAY_KEY, data))
        spec = VenueEdgeSpec(
            venue=venue_name,
            mode=venue.mode,
            feed=venue.feed,
            replay_config_map=replay_cm,
            credentials_secret=venue.credentials,
            dry_run=venue.dry_run,
            orders_endpoint=venue.orders_endpoint,
            replicas=venue.replicas,
            resources=venue.resources,
            external=venue.external,
            state_volume=venue.state_volume,
            allow_native=venue.allow_native,
            project=project.name,
        )
        meta = _metadata(project, venue_name, "venue-edge", **{"sequence.dev/venue": venue_name})
        objects.append(_object("VenueEdge", meta, spec_dump(spec)))
    return objects


def _mesh_group(project: Project) -> list[dict[str, Any]]:
    cfg = project.config
    # The namespace's coordinator runs while a MeshGroup exists, and the graph engine lives in it:
    # a project with graphs and no algorithm still gets one (with no members).
    if not cfg.deploy and not cfg.graph:
        return []
    members = [
        MeshMember(
            deployment=resource_name(project.name, name),
            label=cfg.label_of(name),
            venue=block.venue,
            peers=block.peers,
        )
        for name, block in cfg.deploy.items()
    ]
    meta = _metadata(project, project.name, "mesh-group")
    return [_object("MeshGroup", meta, spec_dump(MeshGroupSpec(members=members)))]


def _bundle_ref(project: Project, name: str) -> BundleRef:
    block = project.config.deploy[name]
    local = project.bundles.get(name)
    if local:
        return BundleRef(
            config_map=ConfigMapRef(name=bundle_configmap_name(project.name, local.sha256), key=BUNDLE_KEY),
            sha256=local.sha256,
            size_bytes=len(local.data),
        )
    if block.bundle.startswith("oci://"):
        return BundleRef(oci=block.bundle, sha256=block.sha256 or "")
    return BundleRef(url=block.bundle, sha256=block.sha256 or "")


def algo_spec(project: Project, name: str) -> AlgoDeploymentSpec:
    """The AlgoDeployment spec of deploy block NAME (also what `sequence up` pushes to its edges)."""
    cfg = project.config
    block = cfg.deploy[name]
    return AlgoDeploymentSpec(
        venue=block.venue,
        label=cfg.label_of(name),
        mesh_group=project.name,
        symbols=block.symbols,
        runtime=block.runtime,
        bundle=_bundle_ref(project, name),
        state=block.state.capitalize(),  # type: ignore[arg-type]  # stopped/running/paused
        peers=block.peers,
        risk=block.risk,
        wasm=block.wasm,
        params=block.params,
    )


def _algo_deployments(project: Project) -> list[dict[str, Any]]:
    objects = []
    for name, block in project.config.deploy.items():
        meta = _metadata(
            project,
            resource_name(project.name, name),
            "algo",
            **{"sequence.dev/deploy": name, "sequence.dev/venue": block.venue},
        )
        objects.append(_object("AlgoDeployment", meta, spec_dump(algo_spec(project, name))))
    return objects


def _execution_graphs(project: Project) -> list[dict[str, Any]]:
    return [
        _object(
            "ExecutionGraph",
            _metadata(
                project, resource_name(project.name, name), "execution-graph", **{"sequence.dev/graph": name}
            ),
            spec_dump(graph),
        )
        for name, graph in project.config.graph.items()
    ]


def render_objects(project: Project) -> list[dict[str, Any]]:
    return [
        *_bundle_configmaps(project),
        *_venue_edges(project),
        *_mesh_group(project),
        *_algo_deployments(project),
        *_execution_graphs(project),
    ]


# libyaml's emitter is ~10x faster than the pure-Python one; the output is the same.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, width=120, explicit_start=True)


def render(project: Project) -> str:
    return to_yaml(render_objects(project))
