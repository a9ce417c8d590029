"""The SDK's graph calls (`seq.graph()...submit()`, graph_status, amend_order, graph_cancel,
graph_resume, graphs) against a real `sequence up` session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sequence import Node, Policy, SequenceGraphError, Trigger, connect

from .graph_session import live, start
from .mesh_support import wait_until
from .test_up import UpSession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpSession, Path]]:
    run, project = start(tmp_path_factory.mktemp("graph-sdk"))
    yield run, project
    run.kill()


@pytest.fixture
def seq_env(up: tuple[UpSession, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[UpSession, Path]:
    run, _ = up
    monkeypatch.setenv("SEQUENCE_STATE_DIR", run.env["SEQUENCE_STATE_DIR"])
    return up


def test_builder_submits_to_the_session_and_the_graph_calls_follow_it(
    seq_env: tuple[UpSession, Path],
) -> None:
    run, project = seq_env
    seq = connect(project=project)
    submitted = (
        seq.graph()
        .node("spot", Node.buy("BTC-USD", 0.01).policy(Policy.SOR).limit_price(48_000.0))
        .node("hedge", Node.sell("BTC-USD", 0).derived())
        .edge("spot", "hedge", Trigger.fill_pct(0.5))
        .risk(lambda r: r.max_notional_usd(500_000))
        .client_id("sdk/probe")
        .submit()
    )
    assert submitted.graph_id.startswith("graph_") and submitted.client_id == "sdk/probe"
    wait_until(lambda: live(run, "sdk/probe", "spot"), 60, "the spot bid resting")

    status = seq.graph_status(submitted.graph_id)
    assert status.nodes["spot"].status == "active" and status.nodes["hedge"].status == "pending"
    assert status.edges["spot->hedge"].trigger == "on_fill_ratio" and not status.edges["spot->hedge"].fired
    assert submitted.graph_id in {g.graph_id for g in seq.graphs()}

    amended = seq.amend_order(submitted.graph_id, "spot", urgency="low", max_slippage_bps=10)
    assert (amended.nodes["spot"].urgency, amended.nodes["spot"].max_slippage_bps) == ("low", 10)

    with pytest.raises(SequenceGraphError) as refused:
        seq.graph_resume(submitted.graph_id)  # it is not paused
    assert refused.value.reason == "GraphStateError" and refused.value.status == 409

    cancelled = seq.graph_cancel(submitted.graph_id, "done")
    assert cancelled.status == "aborted"
    assert submitted.graph_id not in {g.graph_id for g in seq.graphs(include_finished=False)}


def test_graph_errors_are_clear_and_change_nothing(seq_env: tuple[UpSession, Path]) -> None:
    run, project = seq_env
    seq = connect(project=project)
    before = len(seq.graphs())
    with pytest.raises(SequenceGraphError) as missing:
        seq.graph_status("graph_nope")
    assert missing.value.reason == "GraphNotFound"
    with pytest.raises(SequenceGraphError, match="at least one of urgency"):
        seq.amend_order("graph_nope", "spot")
    with pytest.raises(ValueError, match="hedge"):  # checked before anything is sent
        seq.graph().node("spot", Node.buy("BTC-USD", 0.01)).edge("spot", "hedge", Trigger.ON_FILL).submit()
    with pytest.raises(SequenceGraphError) as too_big:
        seq.graph().node("spot", Node.buy("BTC-USD", 50)).risk(lambda r: r.max_notional_usd(1_000)).submit()
    assert too_big.value.reason == "AdmissionError" and "max_notional_usd" in str(too_big.value)
    assert len(seq.graphs()) == before

    edge_only = connect(url=run.state()["edges"]["kraken"], token=run.token())
    with pytest.raises(SequenceGraphError, match="no coordinator"):
        edge_only.graph_status("graph_nope")
