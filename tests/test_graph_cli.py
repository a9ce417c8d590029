"""`sequence graph submit|list|status|cancel|resume|amend` against a real `sequence up` session
(coordinator and edge processes): the answers, the table and JSON forms, and the errors."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from sequence_wire.graphs import GraphListResponse, GraphStatusResponse

from .graph_session import api_status, graph_cli, live, start, status_json
from .mesh_support import wait_until
from .test_up import UpSession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpSession, Path]]:
    run, project = start(tmp_path_factory.mktemp("graph-cli"))
    yield run, project
    run.kill()


def test_status_json_is_the_api_shape_and_the_table_shows_nodes_and_edges(up: tuple[UpSession, Path]) -> None:
    run, project = up
    status = status_json(run, project, "bid")
    assert GraphStatusResponse.model_validate(status).client_id == "gcli/bid"
    assert set(status) == set(GraphStatusResponse.model_fields)  # exactly the shape, nothing added
    bid = status["nodes"]["bid"]
    assert bid["status"] == "active" and bid["filled_qty_1e8"] == 0 and bid["target_qty_1e8"] == 1_000_000
    # the same graph by its graph id and by its client id
    assert status_json(run, project, status["graph_id"])["graph_id"] == status["graph_id"]
    assert status_json(run, project, "gcli/bid")["graph_id"] == status["graph_id"]

    table = graph_cli(run.env, project, "status", "bid")
    assert table.returncode == 0, table.stderr
    assert "Filled/Target" in table.stdout and "0/0.01" in table.stdout and "active" in table.stdout

    listing = graph_cli(run.env, project, "list", "-o", "json")
    assert listing.returncode == 0, listing.stderr
    graphs = GraphListResponse.model_validate_json(listing.stdout).graphs
    assert "gcli/bid" in {g.client_id for g in graphs}
    assert "gcli/bid" in graph_cli(run.env, project, "list").stdout


def test_submit_by_name_is_idempotent_and_a_json_file_submits_its_graph(up: tuple[UpSession, Path]) -> None:
    run, project = up
    bid_id = status_json(run, project, "bid")["graph_id"]
    again = graph_cli(run.env, project, "submit", "bid", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["graph_id"] == bid_id  # the running graph, not a second one

    submitted = graph_cli(run.env, project, "submit", "entry-exit.json")
    assert submitted.returncode == 0, submitted.stderr
    assert "gcli/entry-exit" in submitted.stdout

    wait_until(lambda: live(run, "gcli/entry-exit", "exit"), 60, "the entry filled and the exit resting")
    status = status_json(run, project, "entry-exit")
    assert status["nodes"]["entry"]["status"] == "completed"
    assert status["edges"]["entry->exit"]["fired"] and status["edges"]["entry->exit"]["fire_count"] == 1
    table = graph_cli(run.env, project, "status", "entry-exit").stdout
    assert "entry->exit" in table and "on_full_fill" in table and "yes" in table


def test_amend_then_pause_by_disconnect_resume_and_cancel(up: tuple[UpSession, Path]) -> None:
    run, project = up
    amended = graph_cli(
        run.env, project, "amend", "bid", "bid", "--urgency", "high", "--horizon-ms", "600000"
    )
    assert amended.returncode == 0, amended.stderr
    status = status_json(run, project, "bid")
    assert (status["nodes"]["bid"]["urgency"], status["nodes"]["bid"]["horizon_ms"]) == ("high", 600000)

    # the edge under the bid dies: on_disconnect pauses the graph; the supervisor restarts the edge
    os.kill(run.state()["processes"]["edge/kraken"], signal.SIGKILL)
    wait_until(lambda: api_status(run, "gcli/bid").get("status") == "paused", 60, "the graph paused")
    wait_until(lambda: run.state()["restarts"].get("edge/kraken"), 60, "the edge restarted")
    coordinator = run.state()["coordinator_url"]
    wait_until(lambda: "kraken" in run.get(coordinator, "/v1/graphs-engine")["venues"], 60, "kraken back")
    resumed = graph_cli(run.env, project, "resume", "bid", "-o", "json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] != "paused"

    cancelled = graph_cli(run.env, project, "cancel", "bid", "--reason", "test", "-o", "json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "aborted"
    refused = graph_cli(run.env, project, "resume", "bid")
    assert refused.returncode == 1 and "GraphStateError" in refused.stderr


def test_clear_errors(up: tuple[UpSession, Path], tmp_path: Path) -> None:
    run, project = up
    unknown = graph_cli(run.env, project, "status", "nope")
    assert unknown.returncode == 1 and "no graph 'nope'" in unknown.stderr and "gcli/bid" in unknown.stderr
    not_in_file = graph_cli(run.env, project, "submit", "nope")
    assert (
        not_in_file.returncode == 1
        and "no graph 'nope' in gcli's Sequence.toml (graphs: bid)" in not_in_file.stderr
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes": {"a": {"side": "buy", "symbol": "BTC-USD"}}, "edges": []}))
    invalid = graph_cli(run.env, project, "submit", str(bad))
    assert invalid.returncode == 2 and "bad.json" in invalid.stderr and invalid.stdout == ""
    no_amend = graph_cli(run.env, project, "amend", "bid", "bid")
    assert no_amend.returncode == 2 and "--urgency" in no_amend.stderr

    alone = {**run.env, "SEQUENCE_STATE_DIR": str(tmp_path / "empty"), "SEQUENCE_TARGET": "local"}
    none = graph_cli(alone, project, "list")  # no session at all: a state dir with nothing running
    assert none.returncode == 1 and "not running locally" in none.stderr
