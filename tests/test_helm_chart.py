"""The sequence-operator Helm chart, rendered offline with helm-python-sdk.

helm-python-sdk binds Helm's own Go SDK (libhelm_c, shipped in the wheel) with ctypes: rendering here is
`helm template`, including values.schema.json validation, without a helm binary or a cluster. Every
rendered object is validated against the Kubernetes OpenAPI schemas (kubernetes-validate, strict mode) for
the oldest Kubernetes the chart supports and the newest the validator knows.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART_DIR = ROOT / "charts" / "sequence-operator"
RELEASE = "seq"
RELEASE_NAMESPACE = "sequence-system"
FULLNAME = "seq-sequence-operator"
KUBE_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

# Custom resources the validator cannot know; checked by the assertions below instead.
NOT_IN_KUBERNETES_OPENAPI = {("monitoring.coreos.com/v1", "ServiceMonitor")}

CUSTOM_VALUES: dict[str, Any] = {
    "watch": {"namespaces": ["trading", "research"]},
    "imagePullSecrets": [{"name": "regcred"}],
    "operator": {
        "logLevel": "debug",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "control", "effect": "NoSchedule"}
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "node-role", "operator": "In", "values": ["control"]}]}
                    ]
                }
            }
        },
        "podAnnotations": {"example.com/team": "trading-infra"},
        "priorityClassName": "system-cluster-critical",
    },
    "edgeDefaults": {
        "image": {"repository": "registry.example.com/seq/edge", "tag": "1.2.3", "pullPolicy": "Always"},
        "resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
        "nodeSelector": {"sequence.dev/colocated": "ny4"},
        "tolerations": [{"key": "sequence.dev/colocated", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "trading-critical",
        "createSandboxEdges": False,
    },
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}}},
    "argocd": {"cmpSidecar": {"enabled": True, "namespace": "gitops"}},
    "networkPolicy": {"metricsNamespace": "monitoring"},
}

# What the operator may do inside a namespace it serves: exactly these (apiGroup, resource) -> verbs.
NAMESPACED_PERMISSIONS: dict[tuple[str, str], set[str]] = {
    **{
        ("sequence.dev", plural): {"get", "list", "watch", "create", "patch", "delete"}
        for plural in ("algodeployments", "meshgroups", "executiongraphs", "venueedges")
    },
    **{
        ("sequence.dev", f"{plural}/status"): {"get", "patch"}
        for plural in ("algodeployments", "meshgroups", "executiongraphs", "venueedges")
    },
    **{
        ("sequence.dev", f"{plural}/finalizers"): {"update"}
        for plural in ("algodeployments", "meshgroups", "executiongraphs", "venueedges")
    },
    ("apps", "deployments"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "services"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "configmaps"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "pods"): {"get", "list", "watch"},  # watched for the edge-pod index
    ("", "secrets"): {"get", "create"},
    ("networking.k8s.io", "networkpolicies"): {"get", "create", "patch", "delete"},
    ("", "events"): {"create", "patch"},
}
CRD_READ = {("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"}}
NAMESPACE_DISCOVERY = {("", "namespaces"): {"list", "watch"}}


class Rendered:
    """The objects and the NOTES of one `helm template`."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.notes = ""
        self.objects: list[dict[str, Any]] = []
        for path, text in sorted(manifests.items()):
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            self.objects.extend(doc for doc in yaml.safe_load_all(text) if doc)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None, namespace: str | None = None) -> dict[str, Any]:
        found = [
            obj
            for obj in self.of_kind(kind)
            if (name is None or obj["metadata"]["name"] == name)
            and (namespace is None or obj["metadata"].get("namespace") == namespace)
        ]
        assert len(found) == 1, f"expected one {kind} {name or ''} {namespace or ''}, found {len(found)}"
        return found[0]

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment", FULLNAME)

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.deployment["spec"]["template"]["spec"]["containers"]
        return container

    def settings(self) -> dict[str, Any]:
        configmap = self.one("ConfigMap", f"{FULLNAME}-settings")
        return yaml.safe_load(configmap["data"]["settings.yaml"])


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> Rendered:
    return Rendered(chart.render(values, name=RELEASE, namespace=RELEASE_NAMESPACE, is_install=True))


@pytest.fixture(scope="module")
def default(chart: helm.Chart) -> Rendered:
    return render(chart)


@pytest.fixture(scope="module")
def custom(chart: helm.Chart) -> Rendered:
    return render(chart, copy.deepcopy(CUSTOM_VALUES))


def permissions(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def named_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return number


# --- every object is valid Kubernetes -----------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("which", ["default", "custom"])
def test_every_rendered_object_is_valid_kubernetes(
    which: str, kube_version: str, request: pytest.FixtureRequest
) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    validated = 0
    for obj in rendered.objects:
        if (obj["apiVersion"], obj["kind"]) in NOT_IN_KUBERNETES_OPENAPI:
            continue  # a Prometheus Operator CRD: test_service_monitor checks its shape
        kubernetes_validate.validate(obj, kube_version, strict=True)
        validated += 1
    assert validated >= 7
    identities = [
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in rendered.objects
    ]
    assert len(identities) == len(set(identities)), "two rendered objects share kind/namespace/name"


@pytest.mark.parametrize("which", ["default", "custom"])
def test_namespaced_objects_name_their_namespace(which: str, request: pytest.FixtureRequest) -> None:
    # `helm template | kubectl apply` and Argo CD must not depend on the current kubectl namespace.
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
    for obj in request.getfixturevalue(which).objects:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace"), (
                f"{obj['kind']}/{obj['metadata']['name']} has no namespace"
            )


def test_chart_lints_clean() -> None:
    report = helm.lint(CHART_DIR, strict=True, namespace=RELEASE_NAMESPACE)
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


def test_crds_shipped_with_the_chart() -> None:
    with helm.Chart.load(CHART_DIR) as loaded:
        crds = loaded.crds
    if not crds:
        pytest.skip(
            "charts/sequence-operator/crds/ is empty: CRDs not generated yet (`sequence crds --write`)"
        )
    expected = {
        "AlgoDeployment": ("algodeployments", "algo"),
        "MeshGroup": ("meshgroups", "seqmesh"),
        "ExecutionGraph": ("executiongraphs", "xg"),
        "VenueEdge": ("venueedges", "seqedge"),
    }
    kinds = {}
    for entry in crds:
        crd = yaml.safe_load(entry["data"])
        for kube_version in KUBE_VERSIONS:
            kubernetes_validate.validate(crd, kube_version, strict=True)
        names = crd["spec"]["names"]
        plural, short = expected[names["kind"]]
        assert crd["metadata"]["name"] == f"{plural}.sequence.dev"
        assert crd["spec"]["group"] == "sequence.dev"
        assert crd["spec"]["scope"] == "Namespaced"
        assert names["plural"] == plural
        assert short in names["shortNames"]
        assert "sequence" in names["categories"]
        served = [v for v in crd["spec"]["versions"] if v["served"]]
        assert [v["name"] for v in served] == ["v1alpha1"]
        assert served[0]["subresources"]["status"] == {}
        kinds[names["kind"]] = crd
        # the chart's copy and crds/ are written together by `sequence crds --write`
        top_level = ROOT / "crds" / PurePosixPath(entry["filename"]).name
        assert yaml.safe_load(top_level.read_text()) == crd, f"{top_level} differs from the chart's copy"
    assert set(kinds) == set(expected)


# --- the operator Deployment --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "custom"])
def test_operator_runs_once_and_is_replaced_not_rolled(which: str, request: pytest.FixtureRequest) -> None:
    spec = request.getfixturevalue(which).deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("which", ["default", "custom"])
def test_operator_pod_is_locked_down(which: str, request: pytest.FixtureRequest) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = rendered.container
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a read-only root filesystem needs a writable /tmp"


@pytest.mark.parametrize("which", ["default", "custom"])
def test_operator_probes_and_ports(which: str, request: pytest.FixtureRequest) -> None:
    container = request.getfixturevalue(which).container
    for probe in ("livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] == "/healthz"
        assert named_port(container, http["port"]) == 8080
    assert {p["containerPort"] for p in container["ports"]} == {8080, 9090}
    assert named_port(container, "metrics") == 9090


def test_default_operator_watches_all_namespaces(default: Rendered) -> None:
    container = default.container
    assert container["image"] == "ghcr.io/sequence-k8s/sequence-operator:0.1.0"  # tag = appVersion
    assert container["args"] == ["operator", "--all-namespaces"]


def test_namespaced_operator_gets_one_flag_per_namespace(custom: Rendered) -> None:
    assert custom.container["args"] == ["operator", "--namespace=trading", "--namespace=research"]


def test_operator_finds_its_settings_file(default: Rendered) -> None:
    container = default.container
    env = {e["name"]: e for e in container["env"]}
    settings_path = PurePosixPath(env["SEQUENCE_OPERATOR_SETTINGS"]["value"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(settings_path.parent))
    pod = default.deployment["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    configmap = default.one("ConfigMap", volume["configMap"]["name"], RELEASE_NAMESPACE)
    assert settings_path.name in configmap["data"]
    assert env["SEQUENCE_OPERATOR_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_settings_carry_the_edge_defaults(default: Rendered, custom: Rendered) -> None:
    edge = default.settings()["edgeDefaults"]
    assert edge["image"] == "ghcr.io/sequence-k8s/sequence-edge:0.1.0"
    assert edge["createSandboxEdges"] is True
    assert edge["controlPort"] == 7070
    assert default.settings()["coordinatorDefaults"] == {
        "image": "ghcr.io/sequence-k8s/sequence-edge:0.1.0",
        "imagePullPolicy": "IfNotPresent",
        "port": 7171,
    }

    edge = custom.settings()["edgeDefaults"]
    wanted = CUSTOM_VALUES["edgeDefaults"]
    assert edge["image"] == "registry.example.com/seq/edge:1.2.3"
    assert edge["imagePullPolicy"] == "Always"
    assert edge["imagePullSecrets"] == [{"name": "regcred"}]
    assert edge["resources"] == wanted["resources"]
    assert edge["nodeSelector"] == wanted["nodeSelector"]
    assert edge["tolerations"] == wanted["tolerations"]
    assert edge["priorityClassName"] == "trading-critical"
    assert edge["createSandboxEdges"] is False
    assert custom.settings()["coordinatorDefaults"]["image"] == "registry.example.com/seq/edge:1.2.3"


def test_numeric_edge_quantities_reach_the_operator_as_strings(chart: helm.Chart) -> None:
    # `cpu: 2` is valid Kubernetes YAML; the operator's settings model takes quantities as strings.
    values = {
        "edgeDefaults": {"resources": {"requests": {"cpu": 2, "memory": "1Gi"}, "limits": {"cpu": 0.5}}}
    }
    resources = render(chart, values).settings()["edgeDefaults"]["resources"]
    assert resources == {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "0.5", "memory": "1Gi"}}


def test_settings_change_restarts_the_operator(default: Rendered, custom: Rendered) -> None:
    def checksum(rendered: Rendered) -> str:
        return rendered.deployment["spec"]["template"]["metadata"]["annotations"]["checksum/settings"]

    assert re.fullmatch(r"[0-9a-f]{64}", checksum(default))
    assert checksum(default) != checksum(custom)


def test_custom_scheduling_reaches_the_operator_pod(custom: Rendered) -> None:
    pod = custom.deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["example.com/team"] == "trading-infra"
    spec = pod["spec"]
    assert spec["nodeSelector"] == CUSTOM_VALUES["operator"]["nodeSelector"]
    assert spec["tolerations"] == CUSTOM_VALUES["operator"]["tolerations"]
    assert spec["affinity"] == CUSTOM_VALUES["operator"]["affinity"]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert {e["name"]: e.get("value") for e in custom.container["env"]}["SEQUENCE_LOG_LEVEL"] == "debug"


# --- RBAC ---------------------------------------------------------------------------------------------------


def all_rules(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        rule for obj in rendered.of_kind("ClusterRole") + rendered.of_kind("Role") for rule in obj["rules"]
    ]


@pytest.mark.parametrize("which", ["default", "custom"])
def test_rbac_has_no_wildcards_and_secrets_are_get_or_create_only(
    which: str, request: pytest.FixtureRequest
) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    for rule in all_rules(rendered):
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
    granted = permissions(all_rules(rendered))
    # get by name and create the namespace token; never list, watch, patch or delete a Secret
    assert granted[("", "secrets")] == {"get", "create"}
    assert ("coordination.k8s.io", "leases") not in granted
    assert not any(verbs & {"escalate", "bind", "impersonate"} for verbs in granted.values())


def test_cluster_wide_rbac(default: Rendered) -> None:
    assert default.of_kind("Role") == [] and default.of_kind("RoleBinding") == []
    operator_role = default.one("ClusterRole", FULLNAME)
    assert permissions(operator_role["rules"]) == NAMESPACED_PERMISSIONS
    reader = default.one("ClusterRole", f"{FULLNAME}-crd-reader")
    assert permissions(reader["rules"]) == {**CRD_READ, **NAMESPACE_DISCOVERY}
    for name in (FULLNAME, f"{FULLNAME}-crd-reader"):
        binding = default.one("ClusterRoleBinding", name)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": name,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NAMESPACE}
        ]
    default.one("ServiceAccount", FULLNAME, RELEASE_NAMESPACE)


def test_namespaced_rbac_grants_only_the_watched_namespaces(custom: Rendered) -> None:
    assert [role["metadata"]["name"] for role in custom.of_kind("ClusterRole")] == [f"{FULLNAME}-crd-reader"]
    reader = custom.one("ClusterRole", f"{FULLNAME}-crd-reader")
    assert permissions(reader["rules"]) == CRD_READ, "namespace list/watch is only for cluster-wide mode"
    assert [b["metadata"]["name"] for b in custom.of_kind("ClusterRoleBinding")] == [f"{FULLNAME}-crd-reader"]

    assert sorted(r["metadata"]["namespace"] for r in custom.of_kind("Role")) == ["research", "trading"]
    for namespace in ("trading", "research"):
        role = custom.one("Role", FULLNAME, namespace)
        assert permissions(role["rules"]) == NAMESPACED_PERMISSIONS
        binding = custom.one("RoleBinding", FULLNAME, namespace)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": FULLNAME,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NAMESPACE}
        ]


def test_rbac_covers_the_resources_of_the_generated_crds(default: Rendered) -> None:
    crd_files = sorted((CHART_DIR / "crds").glob("*.yaml"))
    if not crd_files:
        pytest.skip(
            "charts/sequence-operator/crds/ is empty: CRDs not generated yet (`sequence crds --write`)"
        )
    granted = permissions(default.one("ClusterRole", FULLNAME)["rules"])
    for path in crd_files:
        crd = yaml.safe_load(path.read_text())
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        assert {"get", "list", "watch", "patch"} <= granted[(group, plural)]
        assert {"get", "patch"} <= granted[(group, f"{plural}/status")]


def test_rbac_can_be_left_to_the_cluster_admin(chart: helm.Chart) -> None:
    rendered = render(chart, {"rbac": {"create": False}})
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} & {
        o["kind"] for o in rendered.objects
    }


def test_existing_service_account_must_be_named(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"serviceAccount\.name is required"):
        render(chart, {"serviceAccount": {"create": False}})
    rendered = render(chart, {"serviceAccount": {"create": False, "name": "sequence-bot"}})
    assert rendered.of_kind("ServiceAccount") == []
    assert rendered.deployment["spec"]["template"]["spec"]["serviceAccountName"] == "sequence-bot"
    binding = rendered.one("ClusterRoleBinding", FULLNAME)
    assert binding["subjects"][0]["name"] == "sequence-bot"


# --- metrics ------------------------------------------------------------------------------------------------


def test_metrics_service_reaches_the_operator(default: Rendered) -> None:
    service = default.one("Service", f"{FULLNAME}-metrics", RELEASE_NAMESPACE)
    pod_labels = default.deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics"
    assert named_port(default.container, port["targetPort"]) == 9090


def test_service_monitor_is_off_by_default(default: Rendered) -> None:
    assert default.of_kind("ServiceMonitor") == []


def test_service_monitor(custom: Rendered) -> None:
    monitor = custom.one("ServiceMonitor", FULLNAME, RELEASE_NAMESPACE)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    service = custom.one("Service", f"{FULLNAME}-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s"


# --- Argo CD plugin sidecar ---------------------------------------------------------------------------------


def sidecar_patch(notes: str) -> dict[str, Any]:
    match = re.search(r"# --- begin sequence-cmp-patch.yaml ---\n(.*?)# --- end", notes, re.S)
    assert match, "NOTES.txt does not contain the repo-server patch"
    return yaml.safe_load(match.group(1))


def test_cmp_sidecar_is_off_by_default(default: Rendered) -> None:
    assert all(
        o["kind"] != "ConfigMap" or o["metadata"]["name"].endswith("-settings") for o in default.objects
    )
    assert "sequence-cmp-patch.yaml" not in default.notes


def test_cmp_plugin_configmap_is_the_argocd_plugin(custom: Rendered) -> None:
    configmap = custom.one("ConfigMap", f"{FULLNAME}-argocd-cmp", "gitops")
    shipped = (ROOT / "charts" / "argocd" / "plugin.yaml").read_text()
    assert configmap["data"]["plugin.yaml"] == shipped
    assert (CHART_DIR / "files" / "argocd-plugin.yaml").read_text() == shipped


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_notes_patch_makes_a_valid_repo_server_sidecar(custom: Rendered, kube_version: str) -> None:
    patch = sidecar_patch(custom.notes)
    assert "kubectl -n gitops patch deployment argocd-repo-server --patch-file" in custom.notes
    pod_patch = patch["spec"]["template"]["spec"]
    (sidecar,) = pod_patch["containers"]
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["image"] == "ghcr.io/sequence-k8s/sequence-operator:0.1.0"
    assert sidecar["securityContext"]["runAsUser"] == 999
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    config = mounts["/home/argocd/cmp-server/config/plugin.yaml"]
    assert config["subPath"] == "plugin.yaml"
    volumes = {v["name"]: v for v in pod_patch["volumes"]}
    assert volumes[config["name"]]["configMap"]["name"] == f"{FULLNAME}-argocd-cmp"
    assert {mounts["/var/run/argocd"]["name"], mounts["/home/argocd/cmp-server/plugins"]["name"]} == {
        "var-files",
        "plugins",
    }

    # What argocd-repo-server looks like after the strategic merge: containers and volumes appended by name.
    repo_server_pod = {
        "containers": [
            {
                "name": "argocd-repo-server",
                "image": "quay.io/argoproj/argocd:v2.13.0",
                "volumeMounts": [
                    {"name": "var-files", "mountPath": "/var/run/argocd"},
                    {"name": "plugins", "mountPath": "/home/argocd/cmp-server/plugins"},
                ],
            },
            *pod_patch["containers"],
        ],
        "volumes": [
            {"name": "var-files", "emptyDir": {}},
            {"name": "plugins", "emptyDir": {}},
            *pod_patch["volumes"],
        ],
    }
    labels = {"app.kubernetes.io/name": "argocd-repo-server"}
    patched = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "argocd-repo-server", "namespace": "gitops"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": repo_server_pod},
        },
    }
    kubernetes_validate.validate(patched, kube_version, strict=True)


def test_cmp_sidecar_image_can_be_overridden(chart: helm.Chart) -> None:
    values = {"argocd": {"cmpSidecar": {"enabled": True, "image": {"repository": "example.com/tools/seq"}}}}
    (sidecar,) = sidecar_patch(render(chart, values).notes)["spec"]["template"]["spec"]["containers"]
    assert sidecar["image"] == "example.com/tools/seq:0.1.0"


# --- values.schema.json -------------------------------------------------------------------------------------


def schema() -> dict[str, Any]:
    return json.loads((CHART_DIR / "values.schema.json").read_text())


def test_schema_is_valid_and_accepts_the_defaults(chart: helm.Chart) -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema()).validate(defaults)
    jsonschema.Draft7Validator(schema()).validate(chart.merge_values(copy.deepcopy(CUSTOM_VALUES)))


WRONG_VALUES = [
    pytest.param({"watch": {"namespaces": "trading"}}, id="namespaces-not-a-list"),
    pytest.param({"watch": {"namespaces": ["Trading_Desk"]}}, id="namespace-not-a-dns-label"),
    pytest.param({"watch": {"namespaces": ["trading", "trading"]}}, id="namespace-twice"),
    pytest.param({"edgeDefault": {"createSandboxEdges": False}}, id="typo-top-level-key"),
    pytest.param({"edgeDefaults": {"createSandboxEdges": "yes"}}, id="bool-as-string"),
    pytest.param({"edgeDefaults": {"image": {"pullPolicy": "Sometimes"}}}, id="pull-policy"),
    pytest.param({"edgeDefaults": {"image": {"tag": 1.2}}}, id="tag-as-number"),
    pytest.param({"edgeDefaults": {"tolerations": [{"key": "x", "operator": "Maybe"}]}}, id="toleration-op"),
    pytest.param({"edgeDefaults": {"nodeSelect": {"a": "b"}}}, id="typo-nested-key"),
    pytest.param({"operator": {"resources": {"requests": {"cpu": "lots"}}}}, id="quantity"),
    pytest.param({"operator": {"logLevel": "verbose"}}, id="log-level"),
    pytest.param({"metrics": {"serviceMonitor": {"interval": 30}}}, id="interval-as-number"),
    pytest.param({"metrics": {"service": {"port": 70000}}}, id="port-range"),
    pytest.param({"argocd": {"cmpSidecar": {"enabled": "true"}}}, id="sidecar-flag-string"),
]


@pytest.mark.parametrize("override", WRONG_VALUES)
def test_schema_rejects_wrong_values(chart: helm.Chart, override: dict[str, Any]) -> None:
    merged = chart.merge_values(copy.deepcopy(override))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema()).validate(merged)
    # and helm itself refuses to install with them
    with pytest.raises(helm.HelmValuesError):
        render(chart, copy.deepcopy(override))


# --- chart conventions ---------------------------------------------------------------------------------------


def test_chart_metadata_names_home_sources_maintainers_and_icon() -> None:
    meta = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert meta["home"].startswith("https://") and meta["icon"].startswith("https://")
    assert meta["sources"] and all(s.startswith("https://") for s in meta["sources"])
    assert meta["maintainers"] and all(m["name"] for m in meta["maintainers"])


def test_chart_readme_is_generated_from_the_values_comments() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chart_readme.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    readme = (CHART_DIR / "README.md").read_text()
    assert "| `operator.podSecurityContext` |" in readme and "| `metrics.podMonitor.enabled` |" in readme


def test_helm_test_hook_checks_the_operator_and_the_crds(default: Rendered) -> None:
    (pod,) = [p for p in default.of_kind("Pod") if p["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    script = pod["spec"]["containers"][0]["args"][0]
    assert f"{FULLNAME}-metrics.{RELEASE_NAMESPACE}.svc:9090" in script
    assert all(f'"{plural}"' in script for plural in ("algodeployments", "meshgroups", "venueedges"))
    assert pod["spec"]["restartPolicy"] == "Never"


def test_security_contexts_image_digest_and_extras_are_overridable(chart: helm.Chart) -> None:
    digest = "sha256:" + "ab" * 32
    rendered = render(
        chart,
        {
            "image": {
                "repository": "registry.local/op",
                "tag": "ignored",
                "digest": digest,
                "pullPolicy": "Always",
            },
            "edgeDefaults": {
                "image": {
                    "repository": "registry.local/edge",
                    "tag": "",
                    "digest": digest,
                    "pullPolicy": "Always",
                }
            },
            "operator": {
                # OpenShift assigns the ids: Helm merges maps, so null removes a default key.
                "podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None},
                "securityContext": {"capabilities": None, "runAsNonRoot": True},
                "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
                "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
                "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
            },
        },
    )
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    container = rendered.container
    assert container["image"] == f"registry.local/op@{digest}"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in container["env"]
    assert {"name": "ca", "configMap": {"name": "corp-ca"}} in pod["volumes"]
    assert {"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True} in container["volumeMounts"]
    assert rendered.settings()["edgeDefaults"]["image"] == f"registry.local/edge@{digest}"


def test_bad_digest_is_refused(chart: helm.Chart) -> None:
    with pytest.raises(Exception, match="digest"):
        render(chart, {"image": {"repository": "r", "tag": "", "digest": "latest", "pullPolicy": "Always"}})


def test_pod_monitor_scrapes_edges_and_coordinators(chart: helm.Chart) -> None:
    rendered = render(chart, {"metrics": {"podMonitor": {"enabled": True, "labels": {"release": "prom"}}}})
    monitor = rendered.one("PodMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    spec = monitor["spec"]
    (expression,) = spec["selector"]["matchExpressions"]
    assert set(expression["values"]) == {"venue-edge", "coordinator"}
    assert spec["namespaceSelector"] == {"any": True}
    assert spec["podMetricsEndpoints"][0]["port"] == "control"
    scoped = render(
        chart, {"watch": {"namespaces": ["trading"]}, "metrics": {"podMonitor": {"enabled": True}}}
    )
    assert scoped.one("PodMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["trading"]}
    assert not render(chart).of_kind("PodMonitor")


# --- network policies ---------------------------------------------------------------------------------------


def test_operator_pod_takes_metrics_only_from_the_metrics_namespace(
    default: Rendered, custom: Rendered
) -> None:
    pod_labels = default.deployment["spec"]["template"]["metadata"]["labels"]
    closed = default.one("NetworkPolicy", FULLNAME, RELEASE_NAMESPACE)["spec"]
    assert closed["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert closed["policyTypes"] == ["Ingress"] and closed["ingress"] == []  # no metricsNamespace: nobody
    (rule,) = custom.one("NetworkPolicy", FULLNAME, RELEASE_NAMESPACE)["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": "metrics"}]
    assert named_port(custom.container, "metrics") == 9090


def test_operator_learns_who_may_reach_its_children(default: Rendered, custom: Rendered) -> None:
    policies = custom.settings()["networkPolicies"]
    assert policies["enabled"] is True
    assert policies["operatorNamespace"] == RELEASE_NAMESPACE
    assert policies["metricsNamespace"] == "monitoring"
    pod_labels = custom.deployment["spec"]["template"]["metadata"]["labels"]
    assert policies["operatorPodLabels"].items() <= pod_labels.items()
    assert default.settings()["networkPolicies"]["metricsNamespace"] == ""


def test_network_policies_can_be_turned_off(chart: helm.Chart) -> None:
    rendered = render(chart, {"networkPolicy": {"enabled": False}})
    assert rendered.of_kind("NetworkPolicy") == []
    assert rendered.settings()["networkPolicies"]["enabled"] is False


def test_metrics_namespace_must_be_a_namespace_name(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmValuesError, match="metricsNamespace"):
        render(chart, {"networkPolicy": {"metricsNamespace": "Not A Namespace"}})
