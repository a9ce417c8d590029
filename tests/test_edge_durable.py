"""`sequence edge --state-dir`: kill -9 a trading edge, start it again on the same state dir, push
the deployment again (as the supervisor and the operator do): it continues from its journal."""

from __future__ import annotations

import signal
from pathlib import Path

from sequence_edge.journal import BATCH, read_frames
from sequence_edge.orders import journal as cjournal

from .test_edge_process import MM, MM_RISK, EdgeProcess, wait_for

PARAMS = {"spread_bps": "2", "qty": "0.01", "max_position": "0.05"}
FAST = ("--venue", "kraken", "--symbols", "BTC-USD", "--seed", "11", "--updates-per-sec", "5000")


def journaled(state_dir: Path, dep_id: str) -> dict:
    frames, _end = read_frames((state_dir / f"{dep_id}.journal").read_bytes())
    return cjournal.read_batch([p for kind, p in frames if kind == BATCH][-1])


def test_kill_9_mid_trading_then_restart_continues_from_the_journal(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    edge = EdgeProcess(tmp_path, *FAST, "--state-dir", str(state_dir))
    info = edge.http.get("/v1/edge").json()
    assert info["journal"]["dir"] == str(state_dir.resolve())
    assert edge.push("mm", MM, params=PARAMS, risk=MM_RISK).status_code == 201
    wait_for(lambda: edge.status("mm")["fills"] >= 5 and edge.status("mm")["open_orders"] > 0, 90, "fills")
    seen = edge.status("mm")
    before = edge.http.get("/v1/deployments/mm/orders").json()
    edge.proc.send_signal(signal.SIGKILL)
    edge.proc.wait()
    edge.log.close()

    saved = journaled(state_dir, "mm")
    # everything a client saw before the kill was in the journal already
    assert saved["n_fills"] >= seen["fills"] and saved["n_orders"] >= seen["orders"]
    assert saved["n_fills"] > 0

    edge = EdgeProcess(tmp_path, *FAST, "--state-dir", str(state_dir))
    try:
        resp = edge.push("mm", MM, params=PARAMS, risk=MM_RISK, state="Stopped")
        assert resp.status_code == 201, resp.text
        restored = resp.json()  # the status right after the restore, before anything traded
        assert restored["fills"] == saved["n_fills"]
        assert restored["orders"] == saved["n_orders"]
        assert restored["position"]["BTC-USD"] == saved["positions"][0][0] / 1e8
        assert restored["realized_pnl"] == saved["realized_pnl_1e8"] / 1e8
        assert restored["fees"] == saved["fees_1e8"] / 1e8
        assert restored["restored"]["next_id"] == saved["next_id"]
        assert restored["open_orders"] == len(saved["orders"]) > 0
        # the resting orders are back with their client ids and refs (and may fill from here on: a
        # stopped deployment's resting orders still trade), their traces starting with `restored`
        for o in saved["orders"]:
            trace = edge.http.get(f"/v1/orders/P-{o['ref']:08x}/trace").json()
            assert trace["order_id"] == o["order_id"]
            assert trace["events"][0]["event"] == "restored"

        # trading again: new client order ids and refs, none used before the kill
        assert edge.http.post("/v1/deployments/mm/start").status_code == 200
        wait_for(lambda: edge.status("mm")["orders"] >= saved["n_orders"] + 3, 90, "new orders")
        after = edge.http.get("/v1/deployments/mm/orders").json()
        restored_ids = {o["order_id"] for o in saved["orders"]}
        new = [o for o in after if o["order_id"] not in restored_ids]
        assert new
        assert min(o["order_id"] for o in new) >= saved["next_id"]
        assert not {o["order_id"] for o in new} & {o["order_id"] for o in before}
        assert not {o["order_ref"] for o in new} & {o["order_ref"] for o in before}
        assert edge.status("mm")["fills"] >= saved["n_fills"]

        # removing the deployment drops its journal: the next push starts flat
        assert edge.http.delete("/v1/deployments/mm").status_code == 200
        fresh = edge.push("mm", MM, params=PARAMS, risk=MM_RISK, state="Stopped").json()
        assert (fresh["fills"], fresh["orders"], fresh["restored"]) == (0, 0, None)
    finally:
        edge.stop()


def test_a_second_edge_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    edge = EdgeProcess(tmp_path, *FAST, "--state-dir", str(state_dir))
    try:
        import subprocess

        from .test_edge_process import free_port, sequence_cli

        other = subprocess.run(
            [*sequence_cli(), "edge", "--bind", "127.0.0.1", "--port", str(free_port()), *FAST,
             "--state-dir", str(state_dir)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert other.returncode != 0
        assert "in use by another edge process" in other.stderr
    finally:
        edge.stop()
