"""Argo CD integration: the Lua health checks, the config-management plugin and the example Application.

The health scripts run under Lua 5.1 (gopher-lua, which Argo CD embeds, implements Lua 5.1) in a sandbox
that mirrors Argo CD's: only the base, table and package libraries and a reduced `os`, no `string`
library and no string methods. The object is handed over the way Argo CD's `decodeValue` does it: maps
become tables with string keys, lists become 1-based tables (nil items dropped), every number is a double.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

ROOT = Path(__file__).resolve().parents[1]
ARGOCD = ROOT / "charts" / "argocd"
HEALTH = ARGOCD / "health"
KINDS = ("AlgoDeployment", "ExecutionGraph", "MeshGroup", "VenueEdge")
ARGO_HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# The rules of the design: lifecycleState -> Argo CD health status, per kind.
RULES: dict[str, dict[str, str]] = {
    "AlgoDeployment": {
        "Running": "Healthy",
        "Deploying": "Progressing",
        "Pending": "Progressing",
        "Stopped": "Suspended",
        "Paused": "Suspended",
        "Degraded": "Degraded",
        "Failed": "Degraded",
        "Deleting": "Progressing",
    },
    "ExecutionGraph": {
        "Active": "Progressing",
        "Pending": "Progressing",
        "PartialFill": "Progressing",
        "Completed": "Healthy",
        "Paused": "Suspended",
        "Aborted": "Degraded",
        "Expired": "Degraded",
        "Refused": "Degraded",
        "Lost": "Degraded",
    },
    "MeshGroup": {"Ready": "Healthy", "Pending": "Progressing", "Degraded": "Degraded", "Failed": "Degraded"},
    "VenueEdge": {"Ready": "Healthy", "Pending": "Progressing", "Degraded": "Degraded", "Failed": "Degraded"},
}
RULE_CASES = [(kind, state, health) for kind, table in RULES.items() for state, health in table.items()]

# Argo CD (util/lua/lua.go) opens package, base, table and a "safe" os with only time/date.
SANDBOX = """
local safe_os = { time = os.time, date = os.date }
debug.setmetatable("", nil)
string, io, math, coroutine, debug = nil, nil, nil, nil, nil
os = safe_os
"""


def to_lua(runtime: Any, value: Any) -> Any:
    """Convert a decoded JSON value the way Argo CD's decodeValue builds Lua values."""
    if isinstance(value, dict):
        table = runtime.table()
        for key, item in value.items():
            converted = to_lua(runtime, item)
            if converted is not None:
                table[key] = converted
        return table
    if isinstance(value, list):
        table = runtime.table()
        index = 1
        for item in value:
            converted = to_lua(runtime, item)
            if converted is not None:  # gopher-lua's Append ignores nil
                table[index] = converted
                index += 1
        return table
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return None


def run_script(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.execute(SANDBOX)
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute(script)
    assert lua51.lua_type(result) == "table", "a health script must return a table"
    return dict(result.items())


def health(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    result = run_script((HEALTH / f"{kind}.lua").read_text(), obj)
    assert result.get("status") in ARGO_HEALTH_STATUSES, result
    assert isinstance(result.get("message"), str) and result["message"], result
    return result


def resource(kind: str, generation: int | None = 3, status: dict[str, Any] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "mm", "namespace": "trading", "uid": "0d6c5a1e"}
    if generation is not None:
        metadata["generation"] = generation
    obj: dict[str, Any] = {"apiVersion": "sequence.dev/v1alpha1", "kind": kind, "metadata": metadata}
    obj["spec"] = {"venue": "sim"}
    if status is not None:
        obj["status"] = status
    return obj


def condition(kind: str, status: str, message: str, reason: str = "Reconciled") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-02T03:04:05Z",
        "observedGeneration": 3,
    }


def settled(state: str, **extra: Any) -> dict[str, Any]:
    """A status the operator wrote after observing generation 3."""
    return {"observedGeneration": 3, "lifecycleState": state, **extra}


# --- the sandbox itself -------------------------------------------------------------------------------------


def test_sandbox_has_no_string_library_like_argocd() -> None:
    # Otherwise a script calling string.format would pass here and fail inside Argo CD.
    with pytest.raises(lua51.LuaError):
        run_script('return { status = string.format("%s", "Healthy") }', {})
    with pytest.raises(lua51.LuaError):
        run_script('return { status = ("Healthy"):lower() }', {})


def test_objects_reach_lua_like_argocd_passes_them() -> None:
    script = """
    return {
      status = "Healthy",
      message = tostring(obj.metadata.generation) .. "|" .. tostring(#obj.status.conditions)
        .. "|" .. obj.status.conditions[1].type .. "|" .. tostring(obj.status.missing),
    }
    """
    status = {"conditions": [condition("Ready", "True", "ok"), None], "missing": None}
    result = run_script(script, resource("AlgoDeployment", generation=12, status=status))
    assert result["message"] == "12|1|Ready|nil"


# --- the rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "state", "expected"), RULE_CASES)
def test_lifecycle_state_maps_to_health(kind: str, state: str, expected: str) -> None:
    message = f"{kind} mm is {state.lower()} on 2/2 edges"
    status = settled(state, conditions=[condition("Ready", "True", message)])
    result = health(kind, resource(kind, status=status))
    assert result == {"status": expected, "message": message}


@pytest.mark.parametrize("kind", KINDS)
def test_no_status_yet_is_progressing(kind: str) -> None:
    assert health(kind, resource(kind)) == {
        "status": "Progressing",
        "message": "waiting for the operator to report status",
    }
    assert health(kind, resource(kind, status={}))["status"] == "Progressing"


@pytest.mark.parametrize("kind", KINDS)
def test_stale_observed_generation_is_progressing(kind: str) -> None:
    healthy_state = next(state for state, verdict in RULES[kind].items() if verdict == "Healthy")
    status = settled(healthy_state, conditions=[condition("Ready", "True", "all good")])
    result = health(kind, resource(kind, generation=4, status=status))
    assert result == {"status": "Progressing", "message": "waiting for the operator to observe generation 4"}


@pytest.mark.parametrize("kind", KINDS)
def test_missing_observed_generation_is_progressing(kind: str) -> None:
    status = {"lifecycleState": "Failed", "error": {"reason": "X", "message": "boom", "time": "t"}}
    result = health(kind, resource(kind, generation=7, status=status))
    assert result == {"status": "Progressing", "message": "waiting for the operator to observe generation 7"}


@pytest.mark.parametrize("kind", KINDS)
def test_object_without_generation_is_judged_by_state(kind: str) -> None:
    # Objects built by hand (or by a client that strips metadata) carry no generation: nothing to wait for.
    failed = "Refused" if kind == "ExecutionGraph" else "Failed"  # a graph's failure is its refusal
    status = settled(failed, error={"reason": "ImagePull", "message": "edge image not found", "time": "t"})
    assert health(kind, resource(kind, generation=None, status=status)) == {
        "status": "Degraded",
        "message": "edge image not found",
    }
    no_metadata = {"apiVersion": "sequence.dev/v1alpha1", "kind": kind, "status": status}
    assert health(kind, no_metadata)["status"] == "Degraded"


def test_newer_observed_generation_than_metadata_is_not_waiting() -> None:
    status = settled("Running", observedGeneration=9)
    assert (
        health("AlgoDeployment", resource("AlgoDeployment", generation=3, status=status))["status"]
        == "Healthy"
    )


# --- messages -----------------------------------------------------------------------------------------------


def test_message_comes_from_error_when_there_are_no_conditions() -> None:
    status = settled(
        "Failed", error={"reason": "PushRejected", "message": "edge rejected bundle", "time": "t"}
    )
    assert health("AlgoDeployment", resource("AlgoDeployment", status=status)) == {
        "status": "Degraded",
        "message": "edge rejected bundle",
    }


def test_ready_condition_message_wins_over_error_message() -> None:
    status = settled(
        "Degraded",
        conditions=[
            condition("Degraded", "True", "1 edge down"),
            condition("Ready", "False", "1/2 edges running"),
        ],
        error={"reason": "EdgeDown", "message": "edge sim-1 unreachable", "time": "t"},
    )
    result = health("AlgoDeployment", resource("AlgoDeployment", status=status))
    assert result == {"status": "Degraded", "message": "1/2 edges running"}


def test_empty_ready_message_falls_back_to_error_then_to_state() -> None:
    status = settled(
        "Refused",
        conditions=[condition("Ready", "False", "")],
        error={"reason": "X", "message": "coordinator refused graph", "time": "t"},
    )
    assert health("ExecutionGraph", resource("ExecutionGraph", status=status))["message"] == (
        "coordinator refused graph"
    )
    bare = settled("Paused", conditions=[condition("Reconciling", "False", "idle")])
    assert health("ExecutionGraph", resource("ExecutionGraph", status=bare)) == {
        "status": "Suspended",
        "message": "ExecutionGraph is Paused",
    }


@pytest.mark.parametrize(
    "odd_status",
    [
        pytest.param({"conditions": {"type": "Ready", "message": "a map, not a list"}}, id="conditions-map"),
        pytest.param({"conditions": ["Ready", 3, True]}, id="conditions-scalars"),
        pytest.param({"conditions": [{"type": "Ready", "message": 42}]}, id="message-number"),
        pytest.param({"conditions": [], "error": "a string, not an object"}, id="error-string"),
        pytest.param({"conditions": None, "error": None}, id="nulls"),
    ],
)
def test_odd_condition_and_error_fields_do_not_break_the_script(odd_status: dict[str, Any]) -> None:
    status = settled("Ready", **odd_status)
    assert health("VenueEdge", resource("VenueEdge", status=status)) == {
        "status": "Healthy",
        "message": "VenueEdge is Ready",
    }


def test_missing_lifecycle_state_is_progressing() -> None:
    status = {"observedGeneration": 3, "conditions": [condition("Ready", "Unknown", "first reconcile")]}
    assert health("MeshGroup", resource("MeshGroup", status=status)) == {
        "status": "Progressing",
        "message": "waiting for the operator to report a lifecycle state",
    }
    numeric = settled("Ready", lifecycleState=5)
    assert health("MeshGroup", resource("MeshGroup", status=numeric))["status"] == "Progressing"


def test_unknown_lifecycle_state_is_reported_not_guessed() -> None:
    status = settled("Running")  # a VenueEdge is never Running
    assert health("VenueEdge", resource("VenueEdge", status=status)) == {
        "status": "Unknown",
        "message": "unknown lifecycleState Running",
    }


def test_lifecycle_states_of_the_generated_crds_are_all_mapped() -> None:
    crd_files = sorted((ROOT / "charts" / "sequence-operator" / "crds").glob("*.yaml"))
    if not crd_files:
        pytest.skip(
            "charts/sequence-operator/crds/ is empty: CRDs not generated yet (`sequence crds --write`)"
        )
    declared: dict[str, set[str]] = {}
    for path in crd_files:
        crd = yaml.safe_load(path.read_text())
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            status_schema = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
            states = status_schema["lifecycleState"].get("enum")
            if states:
                declared.setdefault(kind, set()).update(states)
    if not declared:
        pytest.skip("the CRDs declare status.lifecycleState without an enum: nothing to cross-check")
    for kind, states in declared.items():
        assert states == set(RULES[kind]), f"{kind}: CRD lifecycle states {sorted(states)} vs health rules"


# --- shipped copies of the scripts --------------------------------------------------------------------------


def test_argocd_cm_patch_carries_exactly_the_health_scripts() -> None:
    patch = yaml.safe_load((ARGOCD / "argocd-cm-health-patch.yaml").read_text())
    expected = {
        f"resource.customizations.health.sequence.dev_{k}": (HEALTH / f"{k}.lua").read_text() for k in KINDS
    }
    assert patch == {"data": expected}


def test_argo_cd_chart_values_carry_the_scripts_and_the_plugin() -> None:
    values = yaml.safe_load((ARGOCD / "argo-cd-values.yaml").read_text())
    for kind in KINDS:
        key = f"resource.customizations.health.sequence.dev_{kind}"
        assert values["configs"]["cm"][key] == (HEALTH / f"{kind}.lua").read_text()
    (plugin_cm,) = values["extraObjects"]
    assert yaml.safe_load(plugin_cm["data"]["plugin.yaml"]) == yaml.safe_load(
        (ARGOCD / "plugin.yaml").read_text()
    )
    (sidecar,) = values["repoServer"]["extraContainers"]
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["securityContext"]["runAsUser"] == 999
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    assert mounts["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == "plugin.yaml"
    volumes = {v["name"]: v for v in values["repoServer"]["volumes"]}
    plugin_volume = volumes[mounts["/home/argocd/cmp-server/config/plugin.yaml"]["name"]]
    assert plugin_volume["configMap"]["name"] == plugin_cm["metadata"]["name"]


# --- plugin and Application ---------------------------------------------------------------------------------


def load_plugin() -> dict[str, Any]:
    return yaml.safe_load((ARGOCD / "plugin.yaml").read_text())


def test_plugin_generates_with_sequence_render() -> None:
    plugin = load_plugin()
    assert plugin["apiVersion"] == "argoproj.io/v1alpha1"
    assert plugin["kind"] == "ConfigManagementPlugin"
    assert plugin["spec"]["generate"]["command"][:2] == ["sequence", "render"]
    assert plugin["spec"]["generate"]["command"] == ["sequence", "render", "."]
    assert "args" not in plugin["spec"]["generate"]
    assert "init" not in plugin["spec"], "an init step would run before render on every refresh"


def test_plugin_is_discovered_by_sequence_toml() -> None:
    discover = load_plugin()["spec"]["discover"]
    assert list(discover) == ["fileName"], "only fileName: Argo CD evaluates just the first discovery rule"
    assert Path(discover["fileName"]).name == "Sequence.toml"
    assert not Path(discover["fileName"]).is_absolute()


def test_plugin_documents_why_render_exits_two() -> None:
    text = (ARGOCD / "plugin.yaml").read_text()
    assert "exits with\n    # status 2 and prints nothing on stdout" in text


def test_example_application_uses_the_plugin_with_prune_self_heal_and_ssa() -> None:
    app = yaml.safe_load((ARGOCD / "application-example.yaml").read_text())
    plugin = load_plugin()
    assert app["kind"] == "Application"
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert (
        app["spec"]["source"]["plugin"]["name"] == f"{plugin['metadata']['name']}-{plugin['spec']['version']}"
    )
    automated = app["spec"]["syncPolicy"]["automated"]
    assert automated == {"prune": True, "selfHeal": True}
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]


def test_health_scripts_are_generated_from_one_template() -> None:
    """charts/argocd/health/*.lua and both installers are `sequence crds --write` output."""
    from sequence.render.argocd import HEALTH_BY_STATE, rendered

    for path, text in rendered().items():
        assert path.read_text() == text, f"{path} drifted: run `sequence crds --write`"
    assert set(HEALTH_BY_STATE) == {"AlgoDeployment", "ExecutionGraph", "MeshGroup", "VenueEdge"}


def test_installers_pick_up_a_changed_script() -> None:
    from sequence.render.argocd import INSTALLERS, _embed, health_scripts

    scripts = health_scripts()
    changed = {**scripts, "VenueEdge": scripts["VenueEdge"].replace('"Healthy"', '"Healthy" -- changed')}
    for path in INSTALLERS:
        text = _embed(path.read_text(), changed)
        assert '"Healthy" -- changed' in text
        assert text.count("-- changed") == scripts["VenueEdge"].count('"Healthy"')
        assert _embed(text, scripts) == path.read_text()  # and back, byte for byte
