"""What the operator creates in the cluster: edge and coordinator Deployments/Services, sandbox edges."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import (
    MARKET_MAKER,
    Cluster,
    Coordinator,
    Operator,
    algo,
    bundle_configmap,
    closed_port_endpoint,
    unique,
    venue_edge,
)
from .kube import Kube, condition

pytestmark = pytest.mark.usefixtures("operator")


def owner_uids(obj: dict[str, Any]) -> set[str]:
    return {ref["uid"] for ref in obj["metadata"].get("ownerReferences") or []}


def test_managed_venue_edge_gets_locked_down_edge_pods_and_a_headless_service(
    kube: Kube, operator: Operator
) -> None:
    name = unique("kraken")
    edge = kube.create(venue_edge(name, "kraken", replicas=2, feed={"kind": "sim", "sim": {"seed": 7}}))

    deployment = kube.wait("edge Deployment", lambda: kube.get("Deployment", f"edge-{name}"))
    service = kube.wait("edge Service", lambda: kube.get("Service", f"edge-{name}"))

    for child in (deployment, service):
        refs = child["metadata"]["ownerReferences"]
        assert [(r["kind"], r["name"], r["uid"], r["controller"]) for r in refs] == [
            ("VenueEdge", name, edge["metadata"]["uid"], True)
        ]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:5] == ["edge", "--venue", "kraken", "--port", "7070"]
    flags = dict(zip(args[1::2], args[2::2], strict=False))
    assert flags["--mode"] == "sandbox" and flags["--feed"] == "sim" and flags["--seed"] == "7"
    assert flags["--edge-id"] == "$(POD_NAME)" and flags["--bind"] == "0.0.0.0"
    # Every edge joins the namespace's coordinator and shares the namespace's venue table.
    assert flags["--coordinator"] == f"sequence-coordinator.{kube.namespace}.svc:7172"
    venues = flags["--venues"].split(",")
    assert "kraken" in venues and venues == sorted(venues)
    assert container["image"] == "registry.example.com/sequence-edge:test"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert pod["nodeSelector"] == {"sequence.dev/colocated": "true"}
    assert pod["tolerations"] == [
        {"key": "sequence.dev/colocated", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["priorityClassName"] == "trading-critical"
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    for probe in ("readinessProbe", "livenessProbe"):
        # A real API server adds its defaults (scheme: HTTP): compare what the operator set.
        http_get = container[probe]["httpGet"]
        assert (http_get["path"], http_get["port"]) == ("/healthz", "control")
    assert container["ports"][0]["containerPort"] == 7070
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]

    # Status from the first reconcile: no pods yet (KMock runs none), so Pending and why.
    status = kube.wait_status(
        "VenueEdge", name, lambda s: s.get("lifecycleState") == "Pending", "VenueEdge Pending"
    )["status"]
    assert status["desiredEdges"] == 2 and status["readyEdges"] == 0 and status["edgesSummary"] == "0/2"
    ready = condition(status, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "WaitingForEdges"
    assert status["observedGeneration"] == edge["metadata"]["generation"]
    assert "edge-" in kube.wait_event(name, "Created")["message"]


def operator_write(obj: dict[str, Any]) -> tuple[Any, ...]:
    """What changes when the operator writes OBJ: its generation (the spec) and, on a real API
    server, the time and fields of the operator's own server-side apply (managedFields)."""
    mine = [m for m in obj["metadata"].get("managedFields") or [] if m.get("manager") == "sequence-operator"]
    return obj["metadata"]["generation"], [(m["operation"], m["time"], m["fieldsV1"]) for m in mine]


def test_reconcile_is_idempotent_and_restores_a_deleted_child(kube: Kube, operator: Operator) -> None:
    name = unique("coinbase")
    kube.create(venue_edge(name, "coinbase"))
    first = kube.wait("edge Deployment", lambda: kube.get("Deployment", f"edge-{name}"))
    # Several poll passes later the operator rewrote nothing: its server-side apply of an unchanged
    # configuration is a no-op (the Deployment controller still writes the Deployment's status).
    kube.wait_status("VenueEdge", name, lambda s: s.get("lifecycleState") == "Pending", "status")
    settled = operator_write(kube.get("Deployment", f"edge-{name}"))
    operator.wait_passes("VenueEdge", 4)
    assert operator_write(kube.get("Deployment", f"edge-{name}")) == settled
    assert settled[0] == first["metadata"]["generation"]

    # A drifted field is put back, and a deleted child comes back (level-triggered).
    kube.patch("Deployment", f"edge-{name}", {"spec": {"replicas": 5}})
    kube.wait("replicas restored", lambda: kube.get("Deployment", f"edge-{name}")["spec"]["replicas"] == 1)
    kube.delete("Deployment", f"edge-{name}")
    kube.wait(
        "Deployment re-created",
        lambda: (
            (d := kube.get("Deployment", f"edge-{name}")) is not None
            and d["metadata"]["uid"] != first["metadata"]["uid"]
        ),
    )


def test_children_are_applied_server_side_and_keep_what_others_set(
    kube: Kube, operator: Operator, cluster: Cluster
) -> None:
    """The operator owns the fields it applies (field manager sequence-operator): a field it stops
    setting is removed, a field someone else added stays."""
    name = unique("bybit")
    kube.create(venue_edge(name, "bybit", stateVolume="bybit-journal"))
    deployment = f"edge-{name}"

    def strategy() -> Any:
        return kube.get("Deployment", deployment)["spec"]["strategy"]

    def state_volume() -> dict[str, Any]:
        pod = kube.get("Deployment", deployment)["spec"]["template"]["spec"]
        return next(v for v in pod["volumes"] if v["name"] == "state")

    kube.wait("edge Deployment", lambda: kube.get("Deployment", deployment))
    assert strategy() == {"type": "Recreate"}
    assert state_volume()["persistentVolumeClaim"] == {"claimName": "bybit-journal"}
    # Someone else's annotation (another field manager): not the operator's, so it stays.
    kube.patch("Deployment", deployment, {"metadata": {"annotations": {"desk.example.com/owner": "rates"}}})

    kube.patch("VenueEdge", name, {"spec": {"stateVolume": None}})
    kube.wait("the journal back on an emptyDir", lambda: "emptyDir" in state_volume())
    assert "persistentVolumeClaim" not in state_volume()
    assert strategy()["type"] == "RollingUpdate"
    operator.wait_passes("VenueEdge", 2)
    current = kube.get("Deployment", deployment)
    assert current["metadata"]["annotations"]["desk.example.com/owner"] == "rates"
    if cluster.real:  # KMock keeps no managedFields
        [mine] = [m for m in current["metadata"]["managedFields"] if m["manager"] == "sequence-operator"]
        assert mine["operation"] == "Apply"

    # And back: Recreate is valid again only because the operator owned rollingUpdate and drops it.
    kube.patch("VenueEdge", name, {"spec": {"stateVolume": "bybit-journal"}})
    kube.wait("Recreate again", lambda: strategy() == {"type": "Recreate"})


def test_external_venue_edge_creates_nothing_and_reports_its_endpoints(
    kube: Kube, operator: Operator
) -> None:
    name = unique("ext")
    endpoint = closed_port_endpoint()
    kube.create(venue_edge(name, "kraken", external=[endpoint]))
    status = kube.wait_status("VenueEdge", name, lambda s: bool(s.get("endpoints")), "endpoints in status")[
        "status"
    ]
    assert status["managed"] is False
    assert [(e["endpoint"], e["reachable"]) for e in status["endpoints"]] == [(endpoint, False)]
    assert status["lifecycleState"] == "Pending"
    assert (
        "unreachable" in condition(status, "Ready")["message"]
        or "cannot connect" in condition(status, "Ready")["message"]
    )
    assert kube.get("Deployment", f"edge-{name}") is None
    assert kube.get("Service", f"edge-{name}") is None


def test_algo_without_a_venue_edge_gets_a_shared_sandbox_edge(kube: Kube, operator: Operator) -> None:
    venue = unique("binance")  # a venue no other test uses
    name = unique("algo")
    kube.create(
        algo(
            name,
            venue,
            {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256},
        )
    )

    sandbox = kube.wait("sandbox VenueEdge", lambda: kube.get("VenueEdge", venue))
    # What the operator wrote (a real API server adds the schema's defaults: replicas, feed.sim, ...).
    assert {k: sandbox["spec"][k] for k in ("venue", "mode")} == {"venue": venue, "mode": "sandbox"}
    assert sandbox["spec"]["feed"]["kind"] == "sim"
    assert "ownerReferences" not in sandbox["metadata"]  # shared by every algo of the venue
    assert sandbox["metadata"]["labels"]["sequence.dev/default-sandbox"] == "true"
    # The sandbox edge is managed: its Deployment appears like any other.
    kube.wait("sandbox edge Deployment", lambda: kube.get("Deployment", f"edge-{venue}"))

    status = kube.wait_status(
        "AlgoDeployment", name, lambda s: s.get("lifecycleState") == "Pending", "algo Pending"
    )["status"]
    ready = condition(status, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "NoEdges"
    assert status["capableEdges"] == 0 and status["edgesSummary"] == "0/0"
    assert venue in kube.wait_event(name, "SandboxEdgeCreated")["message"]


def test_deleting_a_project_in_file_order_creates_nothing(kube: Kube, operator: Operator) -> None:
    """`kubectl delete -f rendered.yaml` deletes the VenueEdge before the AlgoDeployment. Polls in
    between must not bring back the sandbox VenueEdge or its Deployment and Service."""
    venue = unique("bitstamp")
    name = unique("algo")
    kube.create(
        algo(
            name,
            venue,
            {"configMap": {"name": bundle_configmap(kube, MARKET_MAKER)}, "sha256": MARKET_MAKER.sha256},
        )
    )
    kube.wait("sandbox edge Deployment", lambda: kube.get("Deployment", f"edge-{venue}"))
    kube.delete("VenueEdge", venue)
    kube.wait_gone("VenueEdge", venue)
    kube.delete("Deployment", f"edge-{venue}")  # the garbage collector's part (KMock has none)
    kube.delete("Service", f"edge-{venue}")
    operator.wait_passes("AlgoDeployment", 4)
    operator.wait_passes("VenueEdge", 2)
    assert kube.get("VenueEdge", venue) is None
    assert kube.get("Deployment", f"edge-{venue}") is None
    assert kube.get("Service", f"edge-{venue}") is None
    assert condition(kube.get("AlgoDeployment", name)["status"], "Ready")["status"] == "False"
    kube.delete("AlgoDeployment", name)
    kube.wait_gone("AlgoDeployment", name, timeout=60)
    operator.wait_passes("VenueEdge", 2)
    assert kube.get("VenueEdge", venue) is None and kube.get("Deployment", f"edge-{venue}") is None


def test_coordinator_lives_while_a_mesh_group_exists(
    kube: Kube, operator: Operator, coordinator: Coordinator
) -> None:
    members = [
        {"deployment": "arb-maker", "label": "maker", "venue": "kraken", "peers": ["hedger"]},
        {"deployment": "arb-hedger", "label": "hedger", "venue": "coinbase", "peers": []},
    ]
    first, second = unique("arb"), unique("arb")
    a = kube.create(
        {
            "apiVersion": "sequence.dev/v1alpha1",
            "kind": "MeshGroup",
            "metadata": {"name": first},
            "spec": {"members": members},
        }
    )
    deployment = kube.wait("coordinator Deployment", lambda: kube.get("Deployment", "sequence-coordinator"))
    service = kube.wait("coordinator Service", lambda: kube.get("Service", "sequence-coordinator"))
    assert a["metadata"]["uid"] in owner_uids(deployment) and a["metadata"]["uid"] in owner_uids(service)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "coordinator" and "--mesh-port" in container["args"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    # graphs survive a coordinator container restart: its journal is on a volume, not in the container
    state_dir = container["args"][container["args"].index("--state-dir") + 1]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == state_dir]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mount["name"]]

    # The routing table is in the (real) coordinator, and the status says so.
    status = kube.wait_status("MeshGroup", first, lambda s: s.get("lifecycleState") == "Ready", "mesh Ready")[
        "status"
    ]
    assert status["coordinator"] == coordinator.endpoint
    assert condition(status, "Ready")["reason"] == "RoutingTableLoaded"
    code, topology = coordinator.group(first)
    assert code == 200 and topology["routing_table"] is True
    assert sorted(topology["missing_labels"]) == ["hedger", "maker"]  # no edge has registered them yet
    assert status["instanceCount"] == 0

    b = kube.create(
        {
            "apiVersion": "sequence.dev/v1alpha1",
            "kind": "MeshGroup",
            "metadata": {"name": second},
            "spec": {"members": [dict(members[0], peers=[])]},
        }
    )
    kube.wait(
        "second owner",
        lambda: (
            owner_uids(kube.get("Deployment", "sequence-coordinator"))
            == {a["metadata"]["uid"], b["metadata"]["uid"]}
        ),
    )

    kube.delete("MeshGroup", first)
    kube.wait_gone("MeshGroup", first)
    kube.wait("table of the deleted group dropped", lambda: coordinator.group(first)[0] == 404)
    assert kube.get("Deployment", "sequence-coordinator") is not None  # the other group still needs it
    kube.wait(
        "stale owner removed",
        lambda: owner_uids(kube.get("Deployment", "sequence-coordinator")) == {b["metadata"]["uid"]},
    )

    kube.delete("MeshGroup", second)
    kube.wait_gone("Deployment", "sequence-coordinator")
    kube.wait_gone("Service", "sequence-coordinator")


def test_live_venue_edge_mounts_its_credentials_as_files(kube: Kube, operator: Operator) -> None:
    name = unique("live")
    kube.create(
        venue_edge(
            name, "kraken", mode="live", credentialsSecret="kraken-keys", dryRun=True, feed={"kind": "live"}
        )
    )
    deployment = kube.wait("edge Deployment", lambda: kube.get("Deployment", f"edge-{name}"))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert not container.get("envFrom")  # never environment variables
    (secret,) = [v for v in pod["volumes"] if v["name"] == "venue-credentials"]
    assert secret["secret"]["secretName"] == "kraken-keys" and secret["secret"]["defaultMode"] == 0o440
    args = container["args"]
    assert args[args.index("--mode") + 1] == "live" and "--dry-run" in args and "--credentials-dir" in args


def test_venue_edge_status_says_why_its_edge_pods_are_not_running(
    kube: Kube, operator: Operator, cluster: Cluster
) -> None:
    """The test settings name PriorityClass trading-critical, which no cluster here has: the
    ReplicaSet cannot create pods (FailedCreate). That reason, not only "not running yet", is in the
    VenueEdge's Ready condition. On KMock (no controllers) the test writes what the controller would."""
    name = unique("okx")
    kube.create(venue_edge(name, "okx"))
    deployment = kube.wait("edge Deployment", lambda: kube.get("Deployment", f"edge-{name}"))
    if not cluster.real:
        failure = 'pods "edge-x-1" is forbidden: no PriorityClass with name trading-critical was found'
        kube.ok(
            "PATCH",
            kube.path("Deployment", deployment["metadata"]["name"], subresource="status"),
            {
                "status": {
                    "conditions": [
                        {
                            "type": "ReplicaFailure",
                            "status": "True",
                            "reason": "FailedCreate",
                            "message": failure,
                        }
                    ]
                }
            },
            content_type="application/merge-patch+json",
        )
    status = kube.wait_status(
        "VenueEdge",
        name,
        lambda s: "PriorityClass" in condition(s, "Ready").get("message", ""),
        "the FailedCreate reason in Ready",
        timeout=90,
    )["status"]
    message = condition(status, "Ready")["message"]
    assert "FailedCreate" in message and "not running yet" in message


def test_pod_problems_name_image_pull_and_crash_loop() -> None:
    """What the VenueEdge condition says about pods, from their status as the kubelet writes it."""
    from sequence.reconcilers.edges import pod_problems

    pods = [
        {
            "metadata": {"name": "edge-a-1"},
            "status": {
                "containerStatuses": [
                    {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}}
                ]
            },
        },
        {
            "metadata": {"name": "edge-a-2"},
            "status": {
                "containerStatuses": [
                    {
                        "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}},
                    }
                ]
            },
        },
        {
            "metadata": {"name": "edge-a-3"},
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes",
                    }
                ]
            },
        },
        {"metadata": {"name": "edge-a-4"}, "status": {"containerStatuses": [{"state": {"running": {}}}]}},
    ]
    assert pod_problems(pods) == [
        "pod edge-a-1: ImagePullBackOff: pull access denied",
        "pod edge-a-2: CrashLoopBackOff (restarted 4 times; last exit code 2, Error)",
        "pod edge-a-3: Unschedulable: 0/3 nodes",
    ]


def test_a_second_project_cannot_take_a_venue_edge_over(kube: Kube, cluster: Cluster) -> None:
    """The API server runs the CRD's transition rule: spec.project of a VenueEdge cannot change.
    (KMock does not evaluate CEL: there tests/test_cel_rules.py checks the rule itself.)"""
    if not cluster.real:
        pytest.skip("CEL rules run only on a real API server")
    name = unique("kraken")
    kube.create(venue_edge(name, "kraken", external=[closed_port_endpoint()], project="mesh-arb"))
    status, answer = kube.call(
        "PATCH",
        kube.path("VenueEdge", name),
        {"spec": {"project": "market-maker"}},
        content_type="application/merge-patch+json",
    )
    assert status == 422 and "belongs to another project" in answer["message"]
    assert kube.get("VenueEdge", name)["spec"]["project"] == "mesh-arb"
    # Without a project (made by hand, or by the operator's sandbox default) it can be adopted.
    other = unique("coinbase")
    kube.create(venue_edge(other, "coinbase", external=[closed_port_endpoint()]))
    kube.patch("VenueEdge", other, {"spec": {"project": "mesh-arb"}})
