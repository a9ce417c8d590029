"""The ExecutionGraph reconciler's pure parts: the client id it submits with, what counts as a spec
change a running graph cannot take, and how engine states read in status and in Argo CD.
The reconciler itself runs against KMock or a real cluster in tests/operator/test_graphs.py."""

from __future__ import annotations

import pytest

from sequence.models import ExecutionGraphSpec, ExecutionGraphStatus
from sequence.reconcilers.graphs import LIFECYCLE, client_id, spec_hash, submit_body
from sequence.render.argocd import HEALTH_BY_STATE

SPEC = {
    "nodes": {
        "spot": {"side": "buy", "symbol": "ETH-USD", "qty": 2.0, "urgency": "low"},
        "perp": {"side": "sell", "symbol": "ETH-USD-PERP", "perp": True, "derived": True},
    },
    "edges": [{"from": "spot", "to": "perp", "trigger": "on_fill", "sizing": {"linear_hedge": -1.0}}],
    "metadata": {"desk": "basis"},
}


def spec(**node_changes: object) -> ExecutionGraphSpec:
    data = {**SPEC, "nodes": {**SPEC["nodes"], "spot": {**SPEC["nodes"]["spot"], **node_changes}}}  # type: ignore[dict-item]
    return ExecutionGraphSpec.model_validate(data)


def test_client_id_is_namespace_slash_name_and_stays_within_the_engines_limit() -> None:
    assert client_id("trading", "graphs-twap") == "trading/graphs-twap"
    long_a, long_b = "a" * 200 + "x", "a" * 200 + "y"  # Kubernetes names go up to 253 characters
    ids = {client_id("trading", long_a), client_id("trading", long_b)}
    assert len(ids) == 2 and all(len(i) <= 128 and i.startswith("trading/aaa") for i in ids)


def test_only_execution_parameters_leave_the_spec_hash_unchanged() -> None:
    base = spec_hash(spec())
    assert spec_hash(spec(urgency="urgent", max_slippage_bps=15.0, horizon_ms=60_000)) == base
    assert spec_hash(spec(qty=3.0)) != base
    assert spec_hash(spec(limit_price=2600.0)) != base
    camel = ExecutionGraphSpec.model_validate({**SPEC, "sandbox": True})  # a default spelled out
    assert spec_hash(camel) == base


def test_the_submitted_body_carries_the_objects_uid_next_to_the_users_metadata() -> None:
    body = submit_body(spec(), "0b3c-uid")
    assert body["metadata"] == {"desk": "basis", "sequence.dev/uid": "0b3c-uid"}
    assert body["nodes"]["perp"]["derived"] is True and body["edges"][0]["sizing"] == {"linear_hedge": -1.0}


@pytest.mark.parametrize(
    ("engine", "health"),
    [
        ("pending", "Progressing"),
        ("active", "Progressing"),
        ("partial_fill", "Progressing"),
        ("completed", "Healthy"),
        ("paused", "Suspended"),
        ("aborted", "Degraded"),
        ("expired", "Degraded"),
    ],
)
def test_every_engine_state_has_a_lifecycle_state_and_an_argo_cd_health(engine: str, health: str) -> None:
    state = LIFECYCLE[engine]
    assert HEALTH_BY_STATE["ExecutionGraph"][state] == health
    ExecutionGraphStatus.model_validate({"lifecycleState": state, "status": engine})  # the CRD accepts both
