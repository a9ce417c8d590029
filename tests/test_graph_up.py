"""`sequence up --start` on examples/graphs with real processes: the file's graphs are submitted to
the session's coordinator, run on the paper edges, and the `--json` summary reports each one in the
GraphStatusResponse shape; a coordinator killed with SIGKILL mid-TWAP is restarted by the
supervisor, reloads its journal, and the TWAP still completes with exactly 10 slices and no client
order id sent twice at any edge."""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sequence_wire.graphs import GraphStatusResponse

from .mesh_support import wait_until
from .test_up import UpSession, session  # noqa: F401 (the fixture)

EXAMPLE = "examples/graphs"
ONE_BTC = 100_000_000
LOT = 1_000_000  # 0.01 ETH: the hedge may trail the spot by less than this
FINISHED = ("completed", "aborted", "expired")

pytestmark = pytest.mark.slow


def graphs(run: UpSession) -> dict[str, dict[str, Any]]:
    """client_id -> the coordinator's GraphStatusResponse of every graph of the session."""
    try:
        listing = run.get(str(run.state()["coordinator_url"]), "/v1/graphs")
    except (AssertionError, httpx.HTTPError):  # the coordinator is restarting
        return {}
    return {g["client_id"]: g for g in listing["graphs"]}


def twap(run: UpSession) -> dict[str, Any]:
    return dict(graphs(run).get("graphs/twap", {}).get("nodes", {}).get("twap", {}))


def slices_done(node: dict[str, Any]) -> int:
    return sum(1 for s in node.get("slices", []) if s["status"] == "completed")


def tp_working(run: UpSession) -> bool:
    bracket = graphs(run).get("graphs/bracket", {}).get("nodes", {})
    exits = [bracket.get("tp", {}), bracket.get("sl", {})]
    return any(any(o["status"] == "live" for o in n.get("orders", [])) for n in exits)


def test_the_recipes_run_under_sequence_up_and_the_summary_shows_each_graph(
    session: Callable[..., UpSession],  # noqa: F811
) -> None:
    run = session(EXAMPLE, "--start")
    wait_until(lambda: len(graphs(run)) == 4, 90, "the four graphs submitted")

    def done() -> bool:
        g = graphs(run)
        finished = all(g.get(f"graphs/{n}", {}).get("status") == "completed" for n in ("twap", "hedge"))
        return finished and tp_working(run)

    wait_until(done, 150, "the TWAP and the hedge completed, the bracket's exit working")
    summary = run.finish(terminate=True)

    shown = summary["graphs"]
    assert set(shown) == {"bracket", "twap", "hedge", "breakout"}
    for name, status in shown.items():
        GraphStatusResponse.model_validate(status)  # exactly the API's shape (extra keys refused)
        assert status["client_id"] == f"graphs/{name}"

    node = shown["twap"]["nodes"]["twap"]
    assert shown["twap"]["status"] == "completed"
    assert len(node["slices"]) == 10  # what one slice leaves carries into the next
    assert node["filled_qty_1e8"] == node["target_qty_1e8"] == ONE_BTC
    assert sum(s["filled_qty_1e8"] for s in node["slices"]) == ONE_BTC
    assert {o["slice"] for o in node["orders"] if o["filled_qty_1e8"]} <= set(range(10))

    hedge = shown["hedge"]
    spot, perp = hedge["nodes"]["spot"], hedge["nodes"]["perp"]
    assert (spot["side"], perp["side"]) == ("buy", "sell")  # -1x: the opposite side
    assert spot["filled_qty_1e8"] == 20 * ONE_BTC
    assert abs(perp["filled_qty_1e8"] - spot["filled_qty_1e8"]) < LOT
    assert hedge["edges"]["spot->perp"]["fired"] and hedge["edges"]["spot->perp"]["fire_count"] >= 1

    bracket = shown["bracket"]["nodes"]
    assert bracket["entry"]["status"] == "completed"
    # an exit is working: an order resting, or being moved to the venue with the better price
    working = ("live", "pending_new", "pending_cancel")
    exits = [bracket["tp"], bracket["sl"]]
    assert any(n["status"] in ("active", "partial_fill") for n in exits)
    assert any(o["status"] in working for n in exits for o in n["orders"])
    assert "bracket" in summary["graphs_cancelled_at_shutdown"]  # it was still running at the end

    # the coordinator journaled the graphs in the session's state dir
    assert (Path(summary["logs"]) / "state" / "coordinator" / "graphs.sqlite").is_file()


def test_coordinator_kill9_mid_twap_under_sequence_up_completes_10_slices_without_duplicate_orders(
    session: Callable[..., UpSession],  # noqa: F811
) -> None:
    run = session(EXAMPLE, "--start")
    wait_until(lambda: 2 <= slices_done(twap(run)) <= 6, 120, "the TWAP part-way through")
    graph_id = wait_until(lambda: graphs(run).get("graphs/twap", {}).get("graph_id"), 30, "the TWAP's id")
    old_pid = run.state()["processes"]["coordinator"]
    os.kill(old_pid, signal.SIGKILL)

    wait_until(lambda: run.state()["processes"]["coordinator"] != old_pid, 60, "the coordinator restarted")
    wait_until(lambda: twap(run).get("status") in FINISHED, 120, "the TWAP finished after the restart")
    after = wait_until(lambda: graphs(run).get("graphs/twap"), 30, "the TWAP's status")
    assert after["graph_id"] == graph_id  # the same graph, reloaded from the journal
    assert after["status"] == "completed"
    node = after["nodes"]["twap"]
    assert len(node["slices"]) == 10 and node["filled_qty_1e8"] == ONE_BTC

    sent: collections.Counter[str] = collections.Counter()
    for venue, url in run.state()["edges"].items():
        ids = [o["client_order_id"] for o in run.get(url, "/v1/graph-orders")["orders"]]
        assert len(ids) == len(set(ids)), f"{venue} got a client order id twice"
        sent.update(ids)
    assert sent and max(sent.values()) == 1  # and no id went to two edges
    filled = {o["client_order_id"] for o in node["orders"] if o["filled_qty_1e8"]}
    assert filled and filled <= set(sent)  # every order that filled the TWAP was sent once

    summary = run.finish(terminate=True)
    assert summary["processes"]["coordinator"]["restarts"] >= 1
    assert summary["graphs"]["twap"]["status"] == "completed"
