"""Children the operator creates (edge and coordinator Deployments and Services) and how it writes them.

Builders are pure functions of the owner and the operator settings. `ensure` writes a child by
server-side apply with field manager `sequence-operator`: one PATCH that creates the object when it
is absent and otherwise sets exactly the fields the operator owns. The API server does the merge:
fields it defaults, and fields other controllers own (the Deployment's status, a HorizontalPod-
Autoscaler's replicas if someone adds one), are left alone; a field the operator applied before and
no longer sets (None in a builder) is removed; an apply that changes nothing is not written to etcd.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, cast

import kopf

from ..render.edge_spec import feed_args
from ..render.render import REPLAY_KEY  # the key `sequence render` stores the replay file under
from . import api, credentials
from .settings import OperatorSettings

EDGE_COMPONENT = "venue-edge"
COORDINATOR_COMPONENT = "coordinator"
COORDINATOR_NAME = "sequence-coordinator"
MANAGED_BY = "sequence-operator"
RUN_AS = 10001
REPLAY_MOUNT = "/etc/sequence/replay"


def child_name(prefix: str, name: str) -> str:
    """A DNS-1035 label (Service names must start with a letter), <= 63 characters."""
    full = f"{prefix}-{name}"
    if len(full) <= 63:
        return full
    return f"{full[:54].rstrip('-')}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"


def edge_selector(venue_edge: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": EDGE_COMPONENT, "sequence.dev/venue-edge": venue_edge}


def coordinator_selector() -> dict[str, str]:
    return {"app.kubernetes.io/component": COORDINATOR_COMPONENT, "app.kubernetes.io/name": "sequence"}


def _labels(component: str, **extra: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "sequence",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        **extra,
    }


def _owned(obj: dict[str, Any], owner: kopf.Body | dict[str, Any]) -> dict[str, Any]:
    # kopf.adopt() would also copy the owner's labels onto the child; with Argo CD's label tracking
    # (app.kubernetes.io/instance) that makes Argo CD prune the operator's children. So only the
    # owner reference and the namespace, which is what garbage collection needs.
    kopf.append_owner_reference(obj, owner=cast(kopf.Body, owner))
    kopf.adjust_namespace(obj, namespace=owner["metadata"]["namespace"])  # type: ignore[attr-defined]
    return obj


def _security() -> tuple[dict[str, Any], dict[str, Any]]:
    pod = {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    return pod, container


def _probe(port: str, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/healthz", "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


# A live venue's API keys (VenueEdge credentialsSecret), as files
VENUE_CREDENTIALS_MOUNT = "/var/run/sequence/venue-credentials"
# The edge's trading journal (sequence edge --state-dir): a PVC (spec.stateVolume) or an emptyDir.
STATE_MOUNT = "/var/lib/sequence/state"
# Liveness of an edge: a hung process (stopped, deadlocked, its loop blocked) stops answering
# /healthz; after 3 probes of 2 s in a row the kubelet kills and restarts the container (the
# journal restores its trading state). A healthy edge answers in microseconds.
ROLLING_UPDATE = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
EDGE_LIVENESS = {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3, "initialDelaySeconds": 10}


def edge_deployment(
    body: kopf.Body | dict[str, Any], settings: OperatorSettings, venues: list[str] | None = None
) -> dict[str, Any]:
    """The Deployment of edge pods for a managed VenueEdge (one pod = one edge process).

    VENUES is the namespace's venue table (every VenueEdge's venue, sorted): the edges of a project
    must agree on it because algorithms see venues as indexes into it (NBBO). Every edge also joins
    the namespace's coordinator; it trades the same when there is none (no MeshGroup).
    """
    from ..models import VenueEdgeSpec

    name = body["metadata"]["name"]
    namespace = body["metadata"].get("namespace", "default")
    spec = VenueEdgeSpec.model_validate(body.get("spec") or {})
    defaults = settings.edge_defaults
    port = defaults.control_port
    resources = spec.resources.model_dump(by_alias=True)
    if not (resources["requests"] or resources["limits"]):
        resources = defaults.resources
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    replay_file = None
    if spec.replay_config_map and spec.feed.replay is not None:
        # The file keeps its own name in the pod: the edge tells gzip from plain CSV by the suffix.
        filename = PurePosixPath(spec.feed.replay.file).name
        volumes.append(
            {
                "name": "replay",
                "configMap": {
                    "name": spec.replay_config_map,
                    "items": [{"key": REPLAY_KEY, "path": filename}],
                },
            }
        )
        mounts.append({"name": "replay", "mountPath": REPLAY_MOUNT, "readOnly": True})
        replay_file = f"{REPLAY_MOUNT}/{filename}"
    # $(POD_NAME) is expanded by the kubelet from the env below: each edge is named after its pod.
    args = [
        "edge",
        "--venue",
        spec.venue,
        "--port",
        str(port),
        "--bind",
        "0.0.0.0",
        "--edge-id",
        "$(POD_NAME)",
        "--mode",
        spec.mode,
    ]
    coordinator = settings.coordinator_defaults
    args += [
        "--coordinator",
        f"{COORDINATOR_NAME}.{namespace}.svc:{coordinator.mesh_port}",
        "--venues",
        ",".join(sorted(set(venues or []) | {spec.venue})),
    ]
    args += feed_args(spec.feed, replay_file)
    args += ["--state-dir", STATE_MOUNT]
    if spec.state_volume:
        volumes.append({"name": "state", "persistentVolumeClaim": {"claimName": spec.state_volume}})
    else:
        volumes.append({"name": "state", "emptyDir": {"sizeLimit": "1Gi"}})
    mounts.append({"name": "state", "mountPath": STATE_MOUNT})
    if spec.allow_native:
        args.append("--allow-native")
    if spec.mode == "live" and spec.credentials_secret:
        # the venue's API keys as files readable by the edge's user and group only (fsGroup: its own
        # group), never environment variables (a crash dump or /proc/<pid>/environ would show them)
        volumes.append(
            {
                "name": "venue-credentials",
                "secret": {
                    "secretName": spec.credentials_secret,
                    "defaultMode": 0o440,
                    "items": [{"key": k, "path": k} for k in ("api_key", "api_secret")],
                },
            }
        )
        mounts.append({"name": "venue-credentials", "mountPath": VENUE_CREDENTIALS_MOUNT, "readOnly": True})
        args += ["--credentials-dir", VENUE_CREDENTIALS_MOUNT]
        if spec.dry_run:
            args.append("--dry-run")
        if spec.orders_endpoint:
            args += ["--live-orders-endpoint", spec.orders_endpoint]
    # the namespace's Secret (credentials.py): the control and metrics tokens, also sent in HELLO
    args += credentials.token_args(coordinator=True)
    volumes.append(credentials.token_volume())
    mounts.append(credentials.token_mount())
    container: dict[str, Any] = {
        "name": "edge",
        "image": defaults.image,
        "imagePullPolicy": defaults.image_pull_policy,
        "args": args,
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [{"name": "control", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": _probe("control", 5),
        "livenessProbe": {**_probe("control", 10), **EDGE_LIVENESS},
        "resources": resources,
        "volumeMounts": mounts,
    }
    pod_security, container["securityContext"] = _security()
    labels = _labels(EDGE_COMPONENT, **{"sequence.dev/venue-edge": name, "sequence.dev/venue": spec.venue})
    pod_spec: dict[str, Any] = {
        "securityContext": pod_security,
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
        "nodeSelector": defaults.node_selector or None,
        "tolerations": defaults.tolerations or None,
        "priorityClassName": defaults.priority_class_name or None,
        "imagePullSecrets": defaults.image_pull_secrets or None,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": child_name("edge", name), "labels": labels},
        "spec": {
            "replicas": spec.replicas,
            # a journal on a claim is owned by one process: the old pod goes before the new one starts
            # Both spelled out: server-side apply then owns rollingUpdate and drops it on a switch to
            # Recreate (a defaulted rollingUpdate nobody owns would make that switch invalid).
            "strategy": {"type": "Recreate"} if spec.state_volume else ROLLING_UPDATE,
            "selector": {"matchLabels": edge_selector(name)},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
    return _owned(deployment, body)


def edge_service(body: kopf.Body | dict[str, Any], settings: OperatorSettings) -> dict[str, Any]:
    """Headless: one DNS record per edge pod, no load balancing (each edge is addressed on its own)."""
    name = body["metadata"]["name"]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": child_name("edge", name),
            "labels": _labels(EDGE_COMPONENT, **{"sequence.dev/venue-edge": name}),
        },
        "spec": {
            "clusterIP": "None",
            "selector": edge_selector(name),
            "ports": [
                {
                    "name": "control",
                    "port": settings.edge_defaults.control_port,
                    "targetPort": "control",
                    "protocol": "TCP",
                }
            ],
        },
    }
    return _owned(service, body)


def coordinator_objects(
    owners: list[dict[str, Any]], namespace: str, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """The namespace's coordinator Deployment + Service, owned by every MeshGroup in it.

    With several owners the garbage collector removes them only after the last MeshGroup is gone;
    the MeshGroup reconciler also deletes them itself at that point.
    """
    defaults = settings.coordinator_defaults
    labels = _labels(COORDINATOR_COMPONENT)
    pod_security, container_security = _security()
    refs = [
        {
            "apiVersion": o["apiVersion"],
            "kind": o["kind"],
            "name": o["metadata"]["name"],
            "uid": o["metadata"]["uid"],
            "controller": False,
            "blockOwnerDeletion": False,
        }
        for o in sorted(owners, key=lambda o: o["metadata"]["name"])
    ]
    meta = {"name": COORDINATOR_NAME, "namespace": namespace, "labels": labels, "ownerReferences": refs}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            # One coordinator per namespace: never two at once during a rollout.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": coordinator_selector()},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": pod_security,
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "coordinator",
                            "image": defaults.image,
                            "imagePullPolicy": defaults.image_pull_policy,
                            "args": [
                                "coordinator",
                                "--bind",
                                "0.0.0.0",
                                "--port",
                                str(defaults.port),
                                "--mesh-port",
                                str(defaults.mesh_port),
                                # the graph journal: a restarted container resumes every graph
                                "--state-dir",
                                STATE_MOUNT,
                                *credentials.token_args(),
                            ],
                            "ports": [
                                {"name": "control", "containerPort": defaults.port, "protocol": "TCP"},
                                {"name": "mesh", "containerPort": defaults.mesh_port, "protocol": "TCP"},
                            ],
                            "readinessProbe": _probe("control", 5),
                            "livenessProbe": {**_probe("control", 10), "initialDelaySeconds": 10},
                            "securityContext": container_security,
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "state", "mountPath": STATE_MOUNT},
                                credentials.token_mount(),
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        # outlives the container (a crash, kill -9, a failed liveness probe), not
                        # the pod: a rescheduled coordinator starts with no graphs
                        {"name": "state", "emptyDir": {"sizeLimit": "256Mi"}},
                        credentials.token_volume(),
                    ],
                    "imagePullSecrets": settings.edge_defaults.image_pull_secrets or None,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": dict(meta),
        "spec": {
            "selector": coordinator_selector(),
            "ports": [
                {"name": "control", "port": defaults.port, "targetPort": "control", "protocol": "TCP"},
                {"name": "mesh", "port": defaults.mesh_port, "targetPort": "mesh", "protocol": "TCP"},
            ],
        },
    }
    return [deployment, service]


PLURALS = {
    "Deployment": "deployments",
    "Service": "services",
    "ConfigMap": "configmaps",
    "NetworkPolicy": "networkpolicies",
}


def object_path(obj: dict[str, Any], with_name: bool = True) -> str:
    meta = obj["metadata"]
    return api.path(
        obj["apiVersion"], PLURALS[obj["kind"]], meta["namespace"], meta["name"] if with_name else None
    )


def without_nones(value: Any) -> Any:
    """Drop None fields at any depth: a field the builders leave None is one the operator does not
    own, so it is left out of the applied configuration (and removed if the operator applied it before)."""
    if isinstance(value, dict):
        return {k: without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nones(v) for v in value]
    return value


async def ensure(kube: api.KubeApi, obj: dict[str, Any], may_create: Callable[[], bool] | None = None) -> str:
    """Server-side apply OBJ. Returns "created" or "applied" (which may have changed nothing), or
    "skipped" when MAY_CREATE (asked just before the apply) says no: its owner is being deleted, and
    an apply of an absent object would create it. Deletion never creates."""
    if may_create is not None and not may_create():
        return "skipped"
    created = await kube.apply(object_path(obj), without_nones(obj))
    return "created" if created else "applied"
