"""Faults under `sequence up` with real processes: an edge killed with SIGKILL mid-trading comes
back with its journaled trading state, and a hung (SIGSTOPped) edge is detected, killed,
restarted and reported."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sequence_edge.journal import BATCH, read_frames
from sequence_edge.orders import journal as cjournal

from .mesh_support import wait_until
from .test_up import UpSession, session  # noqa: F401 (the fixture)

MARKET_MAKER = "examples/market-maker"
EDGE = "edge/kraken"


def journaled(journal_dir: str, deployment_id: str) -> dict[str, Any]:
    frames, _end = read_frames((Path(journal_dir) / f"{deployment_id}.journal").read_bytes())
    return cjournal.read_batch([payload for kind, payload in frames if kind == BATCH][-1])


def orders(run: UpSession, deployment_id: str) -> list[dict[str, Any]]:
    return list(run.get(run.edge("kraken"), f"/v1/deployments/{deployment_id}/orders"))


def restored_status(run: UpSession) -> dict[str, Any] | None:
    try:
        status = run.status("mm")
    except (AssertionError, httpx.HTTPError):
        return None
    return status if status.get("restored") else None


def trading(run: UpSession) -> bool:
    status = run.status("mm")
    return bool(status["fills"] >= 3 and status["open_orders"] > 0)


def test_kill_9_of_an_edge_keeps_position_orders_pnl_and_never_reuses_an_order_id(
    session: Callable[..., UpSession],  # noqa: F811
) -> None:
    run = session(MARKET_MAKER, "--start", "--duration", "40")
    wait_until(lambda: trading(run), 60, "the market maker trading")
    info = run.edge_info("kraken")
    journal_dir = info["journal"]["dir"]
    dep_id = run.state()["deployments"]["mm"]["deployment_id"]
    seen = run.status("mm")
    before = orders(run, dep_id)
    old_pid = run.state()["processes"][EDGE]
    os.kill(old_pid, signal.SIGKILL)
    saved = journaled(journal_dir, dep_id)  # the file as the dead process left it
    assert saved["n_fills"] >= seen["fills"] > 0  # nothing anyone saw was lost

    status = wait_until(lambda: restored_status(run), 30, "the edge restarted and the deployment restored")
    restored = status["restored"]
    assert run.state()["processes"][EDGE] != old_pid
    assert restored["same_bundle"] is True
    assert restored["fills"] == saved["n_fills"] and restored["orders"] == saved["n_orders"]
    assert restored["next_id"] == saved["next_id"]
    assert restored["open_orders"] == len(saved["orders"])
    assert restored["position"] == {"BTC-USD": saved["positions"][0][0] / 1e8}
    assert restored["realized_pnl"] == saved["realized_pnl_1e8"] / 1e8
    assert status["fills"] >= saved["n_fills"]  # plus whatever traded since

    wait_until(
        lambda: run.status("mm")["orders"] >= saved["n_orders"] + 3, 30, "new orders after the restart"
    )
    after = orders(run, dep_id)
    for o in saved["orders"]:  # the resting orders came back with their ids and refs (read by ref:
        # the list holds only the last 500 orders, which a busy maker can fill in seconds)
        trace = run.get(run.edge("kraken"), f"/v1/orders/P-{o['ref']:08x}/trace")
        assert trace["order_id"] == o["order_id"]
        assert "restored" in [e["event"] for e in trace["events"]]
    kept = {f"P-{o['ref']:08x}" for o in saved["orders"]}
    new = [o for o in after if o["order_ref"] not in kept]
    assert new and min(o["order_id"] for o in new) >= saved["next_id"]
    assert not {o["order_id"] for o in new} & {o["order_id"] for o in before}
    assert not {o["order_ref"] for o in new} & {o["order_ref"] for o in before}

    shown = run.cli("status", "mm")
    assert shown.returncode == 0, shown.stderr
    summary = run.finish()
    assert summary["deployments"]["mm"]["fills"] >= saved["n_fills"]
    proc = summary["processes"][EDGE]
    assert proc["restarts"] == 1 and proc["restart_reasons"] == {"exited": 1}


def test_a_hung_edge_is_detected_killed_restarted_and_reported(session: Callable[..., UpSession]) -> None:  # noqa: F811
    run = session(MARKET_MAKER, "--start", "--duration", "45")
    wait_until(lambda: trading(run), 60, "the market maker trading")
    fills = run.status("mm")["fills"]
    old_pid = run.state()["processes"][EDGE]
    os.kill(old_pid, signal.SIGSTOP)  # alive, holding its port, answering nothing
    try:
        wait_until(lambda: run.state()["processes"][EDGE] != old_pid, 30, "the hung edge replaced")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(old_pid, signal.SIGCONT)
    status = wait_until(lambda: restored_status(run), 30, "the deployment restored on the new edge")
    assert status["fills"] >= fills
    listed = run.cli("status")
    assert listed.returncode == 0 and "hung" in listed.stdout, listed.stdout + listed.stderr

    summary = run.finish()
    proc = summary["processes"][EDGE]
    assert proc["restarts"] == 1 and proc["restart_reasons"] == {"hung": 1}
    assert any("hung: /healthz did not answer within 2s 3 times in a row" in e for e in proc["events"]), proc
    assert summary["deployments"]["mm"]["fills"] >= fills
