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

from .models import (
    API_VERSION,
    AlgoDeploymentSpec,
    BundleRef,
    MeshGroupSpec,
    VenueEdgeSpec,
    spec_dump,
)
from .models.resources import ConfigMapRef, MeshMember
from .project import Project

BUNDLE_KEY = "bundle.wasm"
REPLAY_KEY = "replay.jsonl"


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


def render_objects(project: Project) -> list[dict[str, Any]]:
    cfg = project.config
    objects: list[dict[str, Any]] = []

    # One ConfigMap per distinct local bundle (seed 002 deploys one .wasm twice).
    for sha in sorted({b.sha256 for b in project.bundles.values()}):
        bundle = next(b for b in project.bundles.values() if b.sha256 == sha)
        meta = _metadata(project, bundle_configmap_name(project.name, sha), "bundle")
        meta["annotations"] = {"sequence.dev/sha256": sha, "sequence.dev/source": bundle.path.name}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta,
                "binaryData": {BUNDLE_KEY: base64.b64encode(bundle.data).decode()},
            }
        )

    for venue_name, venue in cfg.venue.items():
        replay_cm = None
        if venue.feed.replay:
            data = (project.root / venue.feed.replay.file).read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            replay_cm = f"{project.name}-replay-{sha[:12]}"
            meta = _metadata(project, replay_cm, "replay")
            meta["annotations"] = {"sequence.dev/sha256": sha}
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": meta,
                    "binaryData": {REPLAY_KEY: base64.b64encode(data).decode()},
                }
            )
        spec = VenueEdgeSpec(
            venue=venue_name,
            mode=venue.mode,
            feed=venue.feed,
            replay_config_map=replay_cm,
            credentials_secret=venue.credentials,
            replicas=venue.replicas,
            resources=venue.resources,
            external=venue.external,
        )
        objects.append(
            _object(
                "VenueEdge",
                _metadata(project, venue_name, "venue-edge", **{"sequence.dev/venue": venue_name}),
                spec_dump(spec),
            )
        )

    if cfg.deploy:
        members = [
            MeshMember(
                deployment=resource_name(project.name, name),
                label=cfg.label_of(name),
                venue=block.venue,
                peers=block.peers,
            )
            for name, block in cfg.deploy.items()
        ]
        objects.append(
            _object(
                "MeshGroup",
                _metadata(project, project.name, "mesh-group"),
                spec_dump(MeshGroupSpec(members=members)),
            )
        )

    for name, block in cfg.deploy.items():
        local = project.bundles.get(name)
        if local:
            ref = BundleRef(
                config_map=ConfigMapRef(
                    name=bundle_configmap_name(project.name, local.sha256), key=BUNDLE_KEY
                ),
                sha256=local.sha256,
                size_bytes=len(local.data),
            )
        elif block.bundle.startswith("oci://"):
            ref = BundleRef(oci=block.bundle, sha256=block.sha256 or "")
        else:
            ref = BundleRef(url=block.bundle, sha256=block.sha256 or "")
        spec = AlgoDeploymentSpec(
            venue=block.venue,
            label=cfg.label_of(name),
            mesh_group=project.name,
            symbols=block.symbols,
            runtime=block.runtime,
            bundle=ref,
            state="Running" if block.state == "running" else "Stopped",
            peers=block.peers,
            risk=block.risk,
            wasm=block.wasm,
            params=block.params,
        )
        meta = _metadata(
            project,
            resource_name(project.name, name),
            "algo",
            **{"sequence.dev/deploy": name, "sequence.dev/venue": block.venue},
        )
        objects.append(_object("AlgoDeployment", meta, spec_dump(spec)))

    for name, graph in cfg.graph.items():
        meta = _metadata(
            project, resource_name(project.name, name), "execution-graph", **{"sequence.dev/graph": name}
        )
        objects.append(_object("ExecutionGraph", meta, spec_dump(graph)))
    return objects


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False, width=120) for o in objects)


def render(project: Project) -> str:
    return to_yaml(render_objects(project))
