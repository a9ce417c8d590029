"""The CEL rules (x-kubernetes-validations) in the CRDs accept what render produces and refuse
what they are meant to refuse. Evaluated with cel-python, the same expression language the API
server runs."""

from __future__ import annotations

import celpy
import pytest

from sequence.models import KIND_BY_NAME
from sequence.render.crdgen import crd

from .test_render import GOOD, _render

ENV = celpy.Environment()


def rules(kind: str) -> dict[str, list[str]]:
    """{'' or field name: [rule, ...]} for a kind's spec."""
    spec = crd(KIND_BY_NAME[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    found = {"": [r["rule"] for r in spec.get("x-kubernetes-validations", [])]}
    for name, sub in spec["properties"].items():
        if "x-kubernetes-validations" in sub:
            found[name] = [r["rule"] for r in sub["x-kubernetes-validations"]]
    return found


def holds(rule: str, value: object, old: object = None) -> bool:
    """RULE on VALUE; a transition rule (oldSelf) sees OLD, or VALUE itself (an unchanged update)."""
    program = ENV.program(ENV.compile(rule))
    this = celpy.json_to_cel(value)
    return bool(program.evaluate({"self": this, "oldSelf": celpy.json_to_cel(old) if old else this}))


def all_hold(kind: str, spec: dict) -> bool:
    return all(
        holds(rule, spec if field == "" else spec[field])
        for field, field_rules in rules(kind).items()
        for rule in field_rules
        if field == "" or field in spec
    )


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return _render(GOOD)


def test_every_kind_with_rules_has_them() -> None:
    assert rules("VenueEdge")[""]
    assert rules("AlgoDeployment")["bundle"]
    assert rules("MeshGroup")[""]
    assert rules("ExecutionGraph")["edges"]


def test_rendered_objects_pass_every_rule(rendered: list[dict]) -> None:
    for obj in rendered:
        if obj["apiVersion"] != "v1":
            assert all_hold(obj["kind"], obj["spec"]), obj["metadata"]["name"]


def test_live_edge_needs_credentials_and_sandbox_refuses_them() -> None:
    assert not all_hold("VenueEdge", {"venue": "x", "mode": "live", "feed": {"kind": "sim"}})
    assert all_hold(
        "VenueEdge", {"venue": "x", "mode": "live", "feed": {"kind": "sim"}, "credentialsSecret": "k"}
    )
    assert not all_hold(
        "VenueEdge", {"venue": "x", "mode": "sandbox", "feed": {"kind": "sim"}, "credentialsSecret": "k"}
    )
    assert not all_hold("VenueEdge", {"venue": "x", "mode": "sandbox", "feed": {"kind": "replay"}})


def test_bundle_needs_exactly_one_source() -> None:
    sha = "0" * 64
    assert all_hold("AlgoDeployment", {"bundle": {"url": "https://a", "sha256": sha}})
    assert not all_hold("AlgoDeployment", {"bundle": {"sha256": sha}})
    assert not all_hold("AlgoDeployment", {"bundle": {"url": "https://a", "oci": "oci://b", "sha256": sha}})


def test_mesh_labels_unique_and_graph_edges_not_self_loops() -> None:
    member = {"deployment": "d", "venue": "v", "label": "maker"}
    assert all_hold("MeshGroup", {"members": [member, {**member, "label": "hedger"}]})
    assert not all_hold("MeshGroup", {"members": [member, member]})
    assert not all_hold("ExecutionGraph", {"edges": [{"from": "a", "to": "a", "trigger": "on_fill"}]})


def _schema(kind: str) -> dict:
    return crd(KIND_BY_NAME[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _without_each_optional(spec: dict, schema: dict, path: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """SPEC with one optional key (at any depth of nested objects) removed, for every such key."""
    variants = []
    required = set(schema.get("required", []))
    for key, sub in (schema.get("properties") or {}).items():
        if key not in spec:
            continue
        if key not in required:
            variants.append((".".join((*path, key)), {k: v for k, v in spec.items() if k != key}))
        if isinstance(spec[key], dict) and sub.get("properties"):
            for name, inner in _without_each_optional(spec[key], sub, (*path, key)):
                variants.append((name, {**spec, key: inner}))
    return variants


def evaluates(rule: str, value: object) -> bool:
    """Whether RULE yields a boolean on VALUE (a missing key is an evaluation error, as on the server)."""
    program = ENV.program(ENV.compile(rule))
    try:
        this = celpy.json_to_cel(value)
        result = program.evaluate({"self": this, "oldSelf": this})
    except celpy.CELEvalError:
        return False
    return isinstance(result, celpy.celtypes.BoolType)


def test_every_rule_evaluates_with_each_optional_field_absent(rendered: list[dict]) -> None:
    """The API server runs a rule on what the user sent (plus schema defaults): `no such key` is a
    refusal of a valid object. A VenueEdge without `feed` was refused this way."""
    specs: dict[str, list[dict]] = {}
    for obj in rendered:
        if obj["apiVersion"] != "v1":
            specs.setdefault(obj["kind"], []).append(obj["spec"])
    specs.setdefault("VenueEdge", []).append(
        {"venue": "x", "mode": "live", "credentialsSecret": "k", "feed": {"kind": "replay", "replay": {}}}
    )
    assert {"VenueEdge", "AlgoDeployment", "MeshGroup"} <= set(specs)
    checked = 0
    for kind, kind_specs in specs.items():
        for spec in kind_specs:
            for absent, variant in [("", spec), *_without_each_optional(spec, _schema(kind))]:
                for field_name, field_rules in rules(kind).items():
                    value = variant if field_name == "" else variant.get(field_name)
                    if value is None:
                        continue  # a field rule runs only when its field is there
                    for rule in field_rules:
                        assert evaluates(rule, value), f"{kind} without {absent or 'nothing'}: {rule}"
                        checked += 1
    assert checked > 20


def test_minimal_venue_edge_is_accepted() -> None:
    """Only the required `venue`: the defaults (sandbox, a sim feed) apply, every rule holds."""
    assert all_hold("VenueEdge", {"venue": "kraken"})
    assert all_hold("VenueEdge", {"venue": "kraken", "feed": {}})
    assert not all_hold("VenueEdge", {"venue": "kraken", "credentialsSecret": "k"})
    assert not all_hold("VenueEdge", {"venue": "kraken", "mode": "live"})
    assert not all_hold("VenueEdge", {"venue": "kraken", "feed": {"kind": "replay"}})


def test_a_venue_edge_cannot_change_project() -> None:
    """Two projects declaring VenueEdge kraken in one namespace: the second apply is refused."""
    (rule,) = [r for r in rules("VenueEdge")[""] if "oldSelf" in r]
    first = {"venue": "kraken", "project": "mesh-arb"}
    assert holds(rule, first, old=first)
    assert holds(rule, first, old={"venue": "kraken"})  # adopting an edge made before projects were recorded
    assert not holds(rule, {"venue": "kraken", "project": "market-maker"}, old=first)
    assert not holds(rule, {"venue": "kraken"}, old=first)


def test_rendered_venue_edges_name_their_project(rendered: list[dict]) -> None:
    edges = [o for o in rendered if o["kind"] == "VenueEdge"]
    assert edges and all(
        o["spec"]["project"] == o["metadata"]["labels"]["sequence.dev/project"] for o in edges
    )
