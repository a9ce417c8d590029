"""The edge-wide kill switch on a paper (sandbox) edge: engaging cancels every resting order of
every deployment and refuses new ones with KILL_SWITCH, survives a push, shows in /v1/edge and
/metrics, and releasing lets the algorithm trade again; EdgeClient drives it."""

from __future__ import annotations

from pathlib import Path

from sequence.client import EdgeClient

from .conftest import TEST_TOKEN
from .test_edge_process import MM, MM_RISK, EdgeProcess, wait_for

PARAMS = {"spread_bps": "2", "qty": "0.01", "max_position": "0.05"}
FAST = ("--venue", "kraken", "--symbols", "BTC-USD", "--seed", "5", "--updates-per-sec", "2000")


def test_kill_switch_cancels_refuses_survives_a_push_and_releases(tmp_path: Path) -> None:
    edge = EdgeProcess(tmp_path, *FAST)
    client = EdgeClient(f"http://127.0.0.1:{edge.port}", token=TEST_TOKEN)
    try:
        assert edge.push("mm", MM, params=PARAMS, risk=MM_RISK).status_code == 201
        wait_for(lambda: edge.status("mm")["open_orders"] > 0, 60, "resting quotes")
        assert client.info().kill_switch.engaged is False and client.info().gateway is None

        status = client.kill_switch(True, "drill")
        assert status.engaged and status.reason == "drill" and status.cancelled >= 1 and status.since
        assert edge.status("mm")["open_orders"] == 0
        wait_for(lambda: edge.status("mm")["rejects_by_reason"].get("KILL_SWITCH", 0) >= 1, 30, "refusals")
        assert edge.status("mm")["open_orders"] == 0
        assert edge.metric("sequence_edge_kill_switch_engaged", venue="kraken") == 1.0
        logs = edge.http.get("/v1/deployments/mm/logs", params={"tail": 100}).text
        assert "edge kill switch engaged (drill)" in logs

        # a push (hot swap) does not release it
        assert edge.push("mm", MM, params=PARAMS, risk=MM_RISK).status_code == 200
        refused = edge.status("mm")["rejects_by_reason"].get("KILL_SWITCH", 0)
        wait_for(
            lambda: edge.status("mm")["rejects_by_reason"].get("KILL_SWITCH", 0) > refused, 30, "refusals"
        )
        assert edge.status("mm")["open_orders"] == 0 and client.info().kill_switch.engaged

        assert client.kill_switch(False).engaged is False
        wait_for(lambda: edge.status("mm")["open_orders"] > 0, 60, "quotes after the release")
        assert edge.metric("sequence_edge_kill_switch_engaged", venue="kraken") == 0.0
    finally:
        client.close()
        edge.stop()
