"""docs/edge-api.md and the coordinator section of docs/mesh.md against the wire models, so the
docs cannot drift from what the servers send: every documented field exists in its model and every
model field is documented; required push fields are marked; every error reason a server can return
is listed on its page, and the servers raise no other."""

from __future__ import annotations

import ast
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from sequence_wire import coordinator_api, edge_api
from sequence_wire.base import OpenReply
from sequence_wire.errors import COORDINATOR_REASONS, EDGE_REASONS, REASONS

REPO = Path(__file__).resolve().parents[1]
EDGE_DOC = (REPO / "docs/edge-api.md").read_text()
MESH_DOC = (REPO / "docs/mesh.md").read_text()
MESH_API = MESH_DOC[MESH_DOC.index("## HTTP API") : MESH_DOC.index("## Wire protocol")]
MARKED = re.compile(r"<!-- model: (\w+) -->\s*```json\n(.*?)```", re.S)


def examples(doc: str) -> dict[str, tuple[Any, str]]:
    """model name -> (the JSON example, its raw text with comments)."""
    found = {}
    for name, raw in MARKED.findall(doc):
        text = "\n".join(re.sub(r"\s*//.*$", "", line) for line in raw.splitlines())
        found[name] = (json.loads(text), raw)
    return found


EDGE_EXAMPLES = examples(EDGE_DOC)
MESH_EXAMPLES = examples(MESH_API)


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside `M`, `M | None` or `list[M]`, if any (not inside dict values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            model = nested_model(arg)
            if model is not None:
                return model
    return None


def mismatches(model: type[BaseModel], example: Any, where: str) -> list[str]:
    if not isinstance(example, dict) or not example:  # {} means "as above"
        return []
    generated = model.model_config.get("alias_generator") is not None  # camelCase for Kubernetes only
    fields = {(name if generated else f.alias or name): f for name, f in model.model_fields.items()}
    problems = [
        f"{where}.{key}: documented, not in {model.__name__}"
        for key in example
        if key not in fields and not issubclass(model, OpenReply)  # open: adapter settings ride along
    ]
    problems += [
        f"{where}.{key}: in {model.__name__}, not documented" for key in fields if key not in example
    ]
    for key, field in fields.items():
        inner = nested_model(field.annotation)
        value = example.get(key)
        if inner is None or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            problems += mismatches(inner, item, f"{where}.{key}")
    return problems


def reply_models(module: types.ModuleType) -> set[str]:
    """Top-level request/response models of a module: not only nested inside another."""
    models = {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__
    }
    nested = {
        inner.__name__
        for obj in models.values()
        for f in obj.model_fields.values()
        if (inner := nested_model(f.annotation)) is not None
    }
    return set(models) - nested


@pytest.mark.parametrize(
    ("module", "found"),
    [(edge_api, EDGE_EXAMPLES), (coordinator_api, MESH_EXAMPLES)],
    ids=["edge-api.md", "mesh.md"],
)
def test_every_model_has_an_example_that_matches_it_field_for_field(
    module: types.ModuleType, found: dict[str, tuple[Any, str]]
) -> None:
    assert reply_models(module) <= set(found), "models without an example in the doc"
    problems = []
    for name, (example, _raw) in found.items():
        model = getattr(module, name)
        problems += mismatches(model, example, name)
    assert problems == []


def test_the_examples_are_valid_bodies() -> None:
    for found, module in ((EDGE_EXAMPLES, edge_api), (MESH_EXAMPLES, coordinator_api)):
        for name, (example, _raw) in found.items():
            if name == "RemoveResult":
                continue  # its status is "as above"
            body = dict(example)
            if name == "PushRequest":
                body.pop("bundle_url")  # the example shows both keys; a push gives one
                body["sha256"] = "ab" * 32  # the example says "<64 hex digits>"
            getattr(module, name).model_validate(body)


def test_required_push_fields_are_marked_required() -> None:
    _example, raw = EDGE_EXAMPLES["PushRequest"]
    lines = {m.group(1): line for line in raw.splitlines() if (m := re.match(r'\s*"(\w+)":', line))}
    for name, field in edge_api.PushRequest.model_fields.items():
        if field.is_required():
            assert "required" in lines[name], f"{name} is required but not marked so"
        elif name in lines:
            assert "required" not in lines[name], f"{name} is optional but marked required"


def listed_reasons(text: str) -> set[str]:
    paragraph = text[text.index("Error reasons") :].split("\n\n")[0]
    return set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", paragraph))


def test_every_reason_the_edge_can_return_is_listed_and_only_those() -> None:
    assert listed_reasons(EDGE_DOC) == set(EDGE_REASONS)


def test_every_reason_the_coordinator_can_return_is_listed_and_only_those() -> None:
    assert listed_reasons(MESH_API) == set(COORDINATOR_REASONS)


def raised_reasons(package: Path) -> set[str]:
    """Literal reasons of RequestError(...) in a package's sources."""
    reasons = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "RequestError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                reasons.add(node.args[0].value)
    return reasons


def test_the_servers_raise_only_reasons_of_their_vocabulary() -> None:
    shared = raised_reasons(REPO / "wire/sequence_wire")
    assert shared | raised_reasons(REPO / "edge-image/sequence_edge") <= set(EDGE_REASONS)
    assert shared | raised_reasons(REPO / "edge-image/sequence_coordinator") <= set(COORDINATOR_REASONS)
    from sequence_edge.algo import host

    bundle_errors = {
        name.removesuffix("Error")
        for name, obj in vars(host).items()
        if isinstance(obj, type) and issubclass(obj, host.BundleError) and obj is not host.BundleError
    }
    assert bundle_errors and bundle_errors <= set(EDGE_REASONS)  # edge.push names them this way
    assert set(REASONS) == set(EDGE_REASONS) | set(COORDINATOR_REASONS)
