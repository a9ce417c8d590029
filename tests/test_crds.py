"""The CRDs in crds/ (and the chart's copy) are generated from the models and must not drift."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sequence.render.crdgen import CRD_DIRS, render_crds

from .conftest import run_cli


def test_crd_files_match_the_models() -> None:
    expected = render_crds()
    for directory in CRD_DIRS:
        on_disk = {p.name: p.read_text() for p in directory.glob("*.yaml")}
        assert on_disk == expected, f"{directory} drifted: run `sequence crds --write`"


def test_crds_command_prints_all_four() -> None:
    result = run_cli("crds")
    assert result.returncode == 0
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(d["spec"]["names"]["kind"] for d in docs) == [
        "AlgoDeployment",
        "ExecutionGraph",
        "MeshGroup",
        "VenueEdge",
    ]


def test_kubectl_get_sequence_and_columns() -> None:
    docs = {d["spec"]["names"]["kind"]: d for d in (yaml.safe_load(t) for t in render_crds().values())}
    shorts = {k: d["spec"]["names"]["shortNames"] for k, d in docs.items()}
    assert shorts == {
        "AlgoDeployment": ["algo"],
        "MeshGroup": ["seqmesh"],
        "ExecutionGraph": ["xg"],
        "VenueEdge": ["seqedge"],
    }
    for kind, doc in docs.items():
        spec = doc["spec"]
        assert spec["group"] == "sequence.dev" and spec["scope"] == "Namespaced"
        assert "sequence" in spec["names"]["categories"]
        (version,) = spec["versions"]
        assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert columns[0] == "State" and "Ready" in columns and columns[-1] == "Age", kind
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        for field in ("observedGeneration", "conditions", "lifecycleState", "error"):
            assert field in status, (kind, field)
        assert status["kopf"]["x-kubernetes-preserve-unknown-fields"] is True
        assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
        assert status["error"]["properties"]["message"]["maxLength"] == 1024
    algo_columns = {
        c["name"]: c["jsonPath"]
        for c in docs["AlgoDeployment"]["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert algo_columns["Venue"] == ".spec.venue"
    assert algo_columns["Edges"] == ".status.edgesSummary"
    algo_status = docs["AlgoDeployment"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "status"
    ]
    for field in ("deploymentId", "sizeBytes", "bundleSha256", "pushedTo", "capableEdges", "edges"):
        assert field in algo_status["properties"]


def test_schemas_are_structural() -> None:
    """No $ref, no nullable anyOf, no additionalProperties:false next to properties."""

    def walk(node, path="") -> None:
        if isinstance(node, dict):
            assert "$ref" not in node, path
            assert "anyOf" not in node and "oneOf" not in node, path
            assert "title" not in node, path
            if "properties" in node:
                assert "additionalProperties" not in node, path
                assert node.get("type") == "object", path
            if "type" not in node and "properties" not in node:
                assert node.get("x-kubernetes-preserve-unknown-fields") is True, path
            for key, value in node.items():
                if key in ("properties",):
                    for name, sub in value.items():
                        walk(sub, f"{path}.{name}")
                elif key in ("items", "additionalProperties"):
                    walk(value, f"{path}[]")

    for text in render_crds().values():
        doc = yaml.safe_load(text)
        walk(doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def _undescribed(node: object, path: str) -> list[str]:
    """Paths of properties (at any depth, inside array items and maps too) without a description."""
    if not isinstance(node, dict):
        return []
    missing = []
    for name, sub in (node.get("properties") or {}).items():
        if path.count(".") == 0 and name == "metadata":
            # The API server allows only `type: object` here; kubectl explain describes it itself.
            assert sub == {"type": "object"}, sub
            continue
        if not str(sub.get("description", "")).strip():
            missing.append(f"{path}.{name}")
        missing += _undescribed(sub, f"{path}.{name}")
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(node.get(key), dict):
            missing += _undescribed(node[key], path + suffix)
    return missing


def test_every_property_has_a_description() -> None:
    """`kubectl explain` on any field, spec or status, of every kind says what it is."""
    missing: list[str] = []
    for text in render_crds().values():
        doc = yaml.safe_load(text)
        schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert schema["description"].strip()
        missing += _undescribed(schema, doc["spec"]["names"]["kind"])
    assert not missing, f"{len(missing)} properties without a description:\n" + "\n".join(missing)


USER_FACING = (
    "operator",
    "edge-image",
    "wire",
    "crds",
    "charts",
    "docs",
    "README.md",
    "examples",
    "scripts",
    "sdk",
)
SKIP_DIRS = {"target", "__pycache__", ".git", "build"}


def test_user_facing_text_does_not_cite_internal_documents() -> None:
    """Users have no "seed 00x" documents: help, messages, docs and CRDs say what happens instead."""
    citations = re.compile(r"seed 00\d", re.IGNORECASE)
    root = Path(__file__).resolve().parents[1]
    found = []
    for top in USER_FACING:
        base = root / top
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for path in files:
            parts = path.relative_to(root).parts
            if SKIP_DIRS & set(parts) or any(part.endswith(".egg-info") for part in parts):
                continue  # build outputs, regenerated from the sources checked here
            try:
                text = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue  # binaries (bundles, compiled modules)
            found += [
                f"{path.relative_to(root)}:{n}"
                for n, line in enumerate(text.splitlines(), 1)
                if citations.search(line)
            ]
    assert not found, "cites seed documents:\n" + "\n".join(found)


def test_optional_status_fields_are_nullable_and_spec_fields_are_not() -> None:
    """A real API server prunes a null it was not told to keep (KMock kept them): every optional status
    field says `nullable: true`, so a status written with nulls reads back with the same keys."""
    from sequence.models import KINDS
    from sequence.render.crdgen import crd

    for kind in KINDS:
        schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        status = schema["status"]["properties"]
        assert status["observedGeneration"].get("nullable") is True, kind.kind
        assert status["lifecycleState"].get("nullable") is True, kind.kind
        assert "nullable" not in yaml.safe_dump(schema["spec"]), kind.kind
    edges = crd(KINDS[0])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    heartbeat = edges["properties"]["edges"]["items"]["properties"]["lastHeartbeat"]
    assert heartbeat.get("nullable") is True
