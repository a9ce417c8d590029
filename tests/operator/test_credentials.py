"""The namespace's credential: the operator makes the `sequence-token` Secret, mounts it, and sends it.

This module leaves the Secret to the operator (no preset token), as in a fresh cluster namespace.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Edge, Operator, unique, venue_edge
from .kube import Kube

pytestmark = pytest.mark.usefixtures("operator")


@pytest.fixture(scope="module")
def namespace_token() -> str | None:
    return None  # the operator generates the namespace's Secret itself


def secret_tokens(kube: Kube) -> dict[str, str]:
    secret = kube.wait("sequence-token Secret", lambda: kube.get("Secret", "sequence-token"))
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def flags(args: list[str]) -> dict[str, str]:
    return {a: b for a, b in itertools.pairwise(args) if a.startswith("--")}


def test_operator_generates_one_secret_and_mounts_it_into_edge_and_coordinator_pods(kube: Kube) -> None:
    name = unique("kraken")
    kube.create(venue_edge(name, "kraken", feed={"kind": "sim", "sim": {"seed": 7}}))
    deployment = kube.wait("edge Deployment", lambda: kube.get("Deployment", f"edge-{name}"))
    tokens = secret_tokens(kube)
    assert set(tokens) == {"token", "metrics-token"}
    assert len(tokens["token"]) >= 43 and len(tokens["metrics-token"]) >= 43
    assert tokens["token"] != tokens["metrics-token"]
    secret = kube.get("Secret", "sequence-token")
    assert secret is not None and not secret["metadata"].get("ownerReferences")  # outlives any child

    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    edge_flags = flags(container["args"])
    assert edge_flags["--token-file"] == "/etc/sequence/token/token"
    assert edge_flags["--metrics-token-file"] == "/etc/sequence/token/metrics-token"
    assert edge_flags["--coordinator-token-file"] == "/etc/sequence/token/token"  # same token in HELLO
    volume = next(v for v in pod["volumes"] if v["name"] == "sequence-token")
    assert volume["secret"]["secretName"] == "sequence-token"
    assert {"name": "sequence-token", "mountPath": "/etc/sequence/token", "readOnly": True} in container[
        "volumeMounts"
    ]

    kube.create(
        {
            "apiVersion": "sequence.dev/v1alpha1",
            "kind": "MeshGroup",
            "metadata": {"name": unique("mesh")},
            "spec": {"members": [{"deployment": "d", "label": "solo", "venue": "kraken"}]},
        }
    )
    coordinator = kube.wait("coordinator", lambda: kube.get("Deployment", "sequence-coordinator"))
    cpod = coordinator["spec"]["template"]["spec"]
    (ccontainer,) = cpod["containers"]
    assert flags(ccontainer["args"])["--token-file"] == "/etc/sequence/token/token"
    assert flags(ccontainer["args"])["--metrics-token-file"] == "/etc/sequence/token/metrics-token"
    assert any(v.get("secret", {}).get("secretName") == "sequence-token" for v in cpod["volumes"])
    # created once: a second edge in the namespace finds the same Secret, tokens unchanged
    other = unique("binance")
    kube.create(venue_edge(other, "binance", feed={"kind": "sim", "sim": {"seed": 8}}))
    kube.wait("second edge Deployment", lambda: kube.get("Deployment", f"edge-{other}"))
    assert secret_tokens(kube) == tokens


def test_operator_calls_external_edges_with_the_namespace_token_and_only_that(
    kube: Kube, operator: Operator, edges: Callable[..., Edge], tmp_path: Path
) -> None:
    # what docs/security.md tells users of external edges: start them with the namespace's token
    kube.create(venue_edge(unique("bootstrap"), "kraken", feed={"kind": "sim", "sim": {"seed": 1}}))
    token = secret_tokens(kube)["token"]
    good_file, bad_file = tmp_path / "token", tmp_path / "other-token"
    good_file.write_text(token + "\n")
    bad_file.write_text("not-the-namespace-token-" + "x" * 20)
    good = edges("kraken", "--token-file", str(good_file))
    stranger = edges("kraken", "--token-file", str(bad_file))

    name = unique("external")
    kube.create(venue_edge(name, "kraken", external=[good.endpoint, stranger.endpoint]))

    def probed() -> dict[str, Any] | None:
        status = (kube.get("VenueEdge", name) or {}).get("status") or {}
        found = {e["endpoint"]: e for e in status.get("endpoints") or []}
        refused = "unknown bearer token" in json.dumps(status.get("conditions") or [])
        return status if found.get(good.endpoint, {}).get("reachable") and refused else None

    status = kube.wait("the good edge answering, the stranger refusing", probed)
    found = {e["endpoint"]: e for e in status["endpoints"]}
    assert found[good.endpoint]["reachable"] is True
    assert found[stranger.endpoint]["reachable"] is False
    assert status["lifecycleState"] == "Degraded"
