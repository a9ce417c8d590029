"""Operator settings: the Helm chart's settings ConfigMap (settings.yaml), validated.

The chart writes camelCase keys (healthPort, metricsPort, edgeDefaults, coordinatorDefaults);
the timing keys below it does not write have defaults suited to production and are set short in
tests. Unknown keys are errors: a typo in a values file must not silently fall back to a default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ..version import __version__

SETTINGS_ENV = "SEQUENCE_OPERATOR_SETTINGS"


class _Settings(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, extra="forbid")


class EdgeDefaults(_Settings):
    image: str = f"ghcr.io/sequence-k8s/sequence-edge:{__version__}"
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: list[dict[str, str]] = Field(default_factory=list)
    resources: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    )
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    priority_class_name: str = ""
    create_sandbox_edges: bool = True
    control_port: int = Field(default=7070, ge=1, le=65535)


class CoordinatorDefaults(_Settings):
    image: str = f"ghcr.io/sequence-k8s/sequence-edge:{__version__}"
    image_pull_policy: str = "IfNotPresent"
    port: int = Field(default=7171, ge=1, le=65535)
    # Where edges connect (`sequence coordinator --mesh-port`); not in the chart, which has no need to change it.
    mesh_port: int = Field(default=7172, ge=1, le=65535)
    # host:port of the coordinator's control API; "" = the namespace's Service
    # (<name>.<namespace>.svc:<port>). Set when the operator runs outside the cluster.
    endpoint: str = ""


class NetworkPolicySettings(_Settings):
    """Who may reach the pods the operator creates (reconcilers/netpol.py)."""

    # false: the operator creates no NetworkPolicies (a cluster without a policy-enforcing network plugin).
    enabled: bool = True
    # Where the operator's pods run and their labels: the only clients of edge and coordinator
    # control ports. "" = any namespace (pods with these labels); the chart sets its release namespace.
    operator_namespace: str = ""
    operator_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {
            "app.kubernetes.io/name": "sequence-operator",
            "app.kubernetes.io/component": "operator",
        }
    )
    # Prometheus's namespace: may reach the control ports for /metrics (the metrics token scopes it
    # to /metrics). "" = no scraping from outside the operator.
    metrics_namespace: str = ""


class OperatorSettings(_Settings):
    health_port: int = Field(default=8080, ge=1, le=65535)
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="0 disables /metrics")
    edge_defaults: EdgeDefaults = Field(default_factory=EdgeDefaults)
    coordinator_defaults: CoordinatorDefaults = Field(default_factory=CoordinatorDefaults)
    network_policies: NetworkPolicySettings = Field(default_factory=NetworkPolicySettings)
    # How often every object is re-read from its edges/coordinator (status is written only on change).
    poll_interval: float = Field(default=5.0, gt=0, le=3600)
    # Fast-moving status numbers (heartbeat and last-seen times, unrealised PnL, feed lag, link
    # latencies) are rewritten at most this often on their own; any other change is written at once.
    # The live values are in /metrics.
    status_refresh_interval: float = Field(default=60.0, gt=0, le=86400)
    # One edge/coordinator control call (connect + response) may take at most this long.
    edge_timeout: float = Field(default=3.0, gt=0, le=300)
    # Pushing a bundle uploads it: allow longer than a status call.
    push_timeout: float = Field(default=30.0, gt=0, le=600)
    # Deleting an AlgoDeployment waits at most this long per edge, then releases the finalizer.
    delete_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Largest bundle the operator accepts from a ConfigMap or URL (a ConfigMap caps at ~1 MiB anyway).
    max_bundle_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # Kubernetes watch requests: the server closes them after this, the client gives up after that.
    watch_server_timeout: int = Field(default=300, gt=0)
    watch_client_timeout: int = Field(default=330, gt=0)
    # kopf's own log lines about an object at this level and above also become Events on it
    # (kopf settings.posting.level). The operator's Events (Pushed, Started, ...) are always posted.
    event_level: str = Field(default="WARNING", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")


class SettingsError(Exception):
    pass


def load_settings(path: str | Path | None = None) -> OperatorSettings:
    """Read settings from PATH, else $SEQUENCE_OPERATOR_SETTINGS, else defaults."""
    path = path or os.environ.get(SETTINGS_ENV) or None
    if path is None:
        return OperatorSettings()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise SettingsError(f"cannot read operator settings {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return OperatorSettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"{path}: invalid operator settings: {problems}") from exc
