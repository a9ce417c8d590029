"""The trading journal (orders/journal.pyx, journal.py, durable.py): write, reopen, torn tails,
batch flushes, and an edge that restarts on the same state dir."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import pytest

from sequence_edge.algo import abi
from sequence_edge.edge import Edge, EdgeConfig
from sequence_edge.engine import Engine
from sequence_edge.journal import StateDir, StateDirError, file_name, read_frames
from sequence_edge.orders import journal as cjournal
from sequence_edge.push import parse_push
from sequence_wire.errors import RequestError

F = abi.to_fixed
BUY, SELL, LIMIT = abi.SIDE_BUY, abi.SIDE_SELL, abi.ORDER_LIMIT
REPO = Path(__file__).resolve().parents[1]
MM = (REPO / "examples/market-maker/market_maker.wasm").read_bytes()


def trading_engine(salt: int = 77) -> Engine:
    eng = Engine(maker_fee_bps=1.0, taker_fee_bps=5.0, trace_salt=salt)
    eng.add_book("BTC-USD")
    eng.snapshot("BTC-USD", [(F(100), F(2)), (F(99), F(3))], [(F(101), F(1)), (F(102), F(4))])
    return eng


def trade(acct) -> None:
    """Two taker fills (position 3 @ 101.67), one resting bid, one reject, one cancel."""
    acct.place(BUY, LIMIT, 1, F(102), F(3))
    acct.place(BUY, LIMIT, 2, F(99), F(1))
    acct.place(BUY, LIMIT, 3, F(98), F(1))
    acct.cancel(3)
    acct.place(BUY, LIMIT, 2, F(99), F(1))  # duplicate id: rejected
    acct.drain_events()


def test_a_checkpoint_restores_positions_pnl_resting_orders_and_counters(tmp_path: Path) -> None:
    eng = trading_engine()
    acct = eng.open_account("d1", ["BTC-USD"])
    cjournal.enable(acct)
    trade(acct)
    batch = cjournal.take_batch(acct, eng.traces.issued)
    saved = cjournal.read_batch(batch)
    assert [e["event"] for e in saved["events"]] == [
        "accept", "fill", "fill", "accept", "accept", "cancel", "reject"
    ]  # fmt: skip
    assert sum(e["qty_1e8"] for e in saved["events"] if e["event"] == "fill") == acct.position()[0] == F(3)

    again = trading_engine()
    again.traces.resume(eng.traces.issued)
    restored = again.open_account("d1", ["BTC-USD"])
    cjournal.restore(restored, batch, keep_risk=True)
    assert restored.position() == acct.position()
    assert restored.pnl()["realized_1e8"] == acct.pnl()["realized_1e8"]
    assert restored.pnl()["fees_1e8"] == acct.pnl()["fees_1e8"] != 0
    assert restored.open_orders() == acct.open_orders()
    assert (restored.n_orders, restored.n_fills, restored.n_rejects, restored.n_cancels) == (
        acct.n_orders, acct.n_fills, acct.n_rejects, acct.n_cancels,
    )  # fmt: skip
    assert restored.algo_state_open_orders() == acct.algo_state_open_orders()
    # the resting order keeps its ref, and its trace says it was restored
    ref = restored.open_orders()[0]["order_ref"]
    assert ref == acct.open_orders()[0]["order_ref"]
    assert [e["event"] for e in again.traces.trace(ref)["events"]] == ["restored"]
    # and it still trades: the queue ahead of it at 99 (3) goes, then the level trades away
    for qty in (0, 2, 0):
        again.apply("BTC-USD", BUY, F(99), F(qty))
    assert restored.position()[0] == F(4)
    # the same client id is still taken (the restored order holds it)
    restored.place(BUY, LIMIT, 2, F(97), F(1))
    assert [e["reason"] for k, e in restored.drain_events() if k == "reject"] == ["DUPLICATE_ID"]


def test_kill_switch_and_token_bucket_carry_over_only_with_keep_risk() -> None:
    eng = trading_engine()
    acct = eng.open_account("d1", ["BTC-USD"], risk={"max_loss": 0.5})
    cjournal.enable(acct)
    acct.place(BUY, LIMIT, 1, F(101), F(1))
    eng.apply("BTC-USD", BUY, F(100), 0)  # bid 100 gone: mid falls to 100, PnL -1.5 -> tripped
    assert acct.killed
    batch = cjournal.take_batch(acct, eng.traces.issued)
    for keep in (True, False):
        other = trading_engine()
        restored = other.open_account("d1", ["BTC-USD"], risk={"max_loss": 0.5})
        cjournal.restore(restored, batch, keep_risk=keep)
        assert restored.killed is keep
        restored.place(SELL, LIMIT, 9, F(101), F(1))
        got = [e["reason"] for k, e in restored.drain_events() if k == "reject"]
        assert got == (["KILL_SWITCH"] if keep else [])


def test_flush_writes_one_batch_per_account_that_changed_and_nothing_when_idle(tmp_path: Path) -> None:
    state = StateDir(tmp_path, fsync_ms=0)
    eng = trading_engine()
    acct, idle = eng.open_account("d1", ["BTC-USD"]), eng.open_account("d2", ["BTC-USD"])
    for dep_id, a in (("d1", acct), ("d2", idle)):
        state.open(dep_id).write_meta({"deployment_id": dep_id, "sha256": "0" * 64, "symbols": ["BTC-USD"]})
        cjournal.enable(a)
    accounts = {"d1": acct, "d2": idle}
    assert state.flush(accounts, eng.traces.issued) == 2  # the first checkpoint of each
    size = (tmp_path / "d1.journal").stat().st_size
    for i in range(50):  # book updates that fill nothing: no write
        eng.apply("BTC-USD", BUY, F(98), F(1 + i % 3))
    assert state.flush(accounts, eng.traces.issued) == 0
    assert (tmp_path / "d1.journal").stat().st_size == size
    trade(acct)  # several fills and order events between two flushes: one batch
    assert state.flush(accounts, eng.traces.issued) == 1
    frames, _ = read_frames((tmp_path / "d1.journal").read_bytes())
    assert [k for k, _ in frames] == [1, 2, 2]
    assert len(cjournal.read_batch(frames[-1][1])["events"]) == 7
    state.close()


def test_reopen_ignores_and_cuts_a_torn_or_corrupt_last_record(tmp_path: Path) -> None:
    state = StateDir(tmp_path, fsync_ms=0)
    eng = trading_engine()
    acct = eng.open_account("d1", ["BTC-USD"])
    state.open("d1").write_meta({"deployment_id": "d1", "sha256": "a" * 64, "symbols": ["BTC-USD"]})
    cjournal.enable(acct)
    acct.place(BUY, LIMIT, 1, F(102), F(3))
    state.flush({"d1": acct}, eng.traces.issued)
    good_size = (tmp_path / "d1.journal").stat().st_size
    acct.place(SELL, LIMIT, 2, F(100), F(1))
    state.flush({"d1": acct}, eng.traces.issued)
    state.close()
    path = tmp_path / "d1.journal"
    data = path.read_bytes()

    for broken in (data[:-5], data[:-40] + bytes(40)):  # torn write; corrupted tail (bad CRC)
        path.write_bytes(broken)
        reopened = StateDir(tmp_path, fsync_ms=0)
        found = reopened.open("d1").recovered
        assert found is not None and found.torn_bytes > 0
        assert cjournal.read_batch(found.batch)["positions"][0][0] == F(3)  # the first batch
        assert path.stat().st_size == good_size  # cut at the last complete record
        reopened.close()


def test_the_state_dir_belongs_to_one_edge_and_refs_are_never_reused(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    with pytest.raises(StateDirError, match="in use by another edge"):
        StateDir(tmp_path)
    salt = state.start_refs(1234)
    eng = Engine(trace_salt=salt)
    eng.traces.resume(state.ref_floor)
    eng.add_book("BTC-USD")
    acct = eng.open_account("d1", ["BTC-USD"])
    state.open("d1").write_meta({"deployment_id": "d1", "sha256": "a" * 64, "symbols": ["BTC-USD"]})
    cjournal.enable(acct)
    acct.place(BUY, LIMIT, 1, F(1), F(1))  # stale book: rejected, but it took a ref
    state.flush({"d1": acct}, eng.traces.issued)
    issued = eng.traces.issued
    state.close()
    again = StateDir(tmp_path)
    assert salt == 1234 and again.start_refs(999) == salt  # the first salt stays
    assert again.ref_floor >= issued
    assert json.loads((tmp_path / "edge.json").read_text())["ref_salt"] == salt
    assert file_name("team/mm") == "team~mm.journal"
    again.close()


# ---------------------------------------------------------------- an edge restarting on its state dir


def push_body(sha_of: bytes, state: str = "Running") -> dict:
    return {
        "bundle": base64.b64encode(sha_of).decode(),
        "sha256": hashlib.sha256(sha_of).hexdigest(),
        "symbols": ["BTC-USD"],
        "params": {"spread_bps": "2", "qty": "0.01", "max_position": "0.05"},
        "risk": {"max_order_qty": 0.05, "max_position": 0.2, "max_orders_per_sec": 1000},
        "state": state,
    }


def run_until(edge: Edge, cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        edge.step()
        time.sleep(0.001)


def test_an_edge_restarted_on_its_state_dir_continues_where_it_was(tmp_path: Path) -> None:
    config = EdgeConfig(
        venue="kraken", seed=5, symbols=["BTC-USD"], updates_per_sec=20000, state_dir=str(tmp_path)
    )
    edge = Edge(config)
    req = parse_push(push_body(MM))
    edge.push("mm", req, MM)
    run_until(edge, lambda: edge.status("mm").fills >= 5 and edge.deployments["mm"].account.n_open > 0)
    before = edge.status("mm")
    open_before = edge.orders("mm", open_only=True)
    next_id = edge.host.status("mm")["next_id"]
    ids_before = {o.order_id for o in edge.orders("mm", open_only=False)}
    edge.close()

    edge = Edge(config)
    assert edge.edge_info().journal.dir == str(tmp_path.resolve())
    edge.push("mm", req, MM)
    after = edge.status("mm")
    assert after.restored.same_bundle is True
    for key in ("position", "realized_pnl", "fees", "fills", "orders"):
        assert getattr(after, key) == getattr(before, key), key
    assert [(o.order_ref, o.order_id, o.px, o.qty) for o in edge.orders("mm", open_only=True)] == [
        (o.order_ref, o.order_id, o.px, o.qty) for o in open_before
    ]
    assert edge.host.status("mm")["next_id"] >= next_id
    run_until(edge, lambda: edge.status("mm").orders > before.orders + 3)
    new_ids = {o.order_id for o in edge.orders("mm", open_only=False)} - {o.order_id for o in open_before}
    assert new_ids and not new_ids & ids_before  # client order ids continue, never reused
    edge.remove("mm")
    assert not (tmp_path / "mm.journal").exists()  # removed: the next push starts flat
    edge.close()


def test_a_tripped_kill_switch_survives_a_restart_unless_another_bundle_is_pushed(tmp_path: Path) -> None:
    config = EdgeConfig(
        venue="kraken", seed=6, symbols=["BTC-USD"], updates_per_sec=20000, state_dir=str(tmp_path)
    )
    body = push_body(MM)
    body["risk"]["max_loss"] = 1e-6  # the first fill's fee trips it
    req = parse_push(body)
    edge = Edge(config)
    edge.push("mm", req, MM)
    run_until(edge, lambda: edge.status("mm").kill_switch is not None)
    position = edge.status("mm").position
    edge.push("mm", req, MM)  # a re-push of a hosted deployment resets it, as before
    assert edge.status("mm").kill_switch is None
    run_until(edge, lambda: edge.status("mm").kill_switch is not None)
    position = edge.status("mm").position
    edge.close()

    edge = Edge(config)
    edge.push("mm", req, MM)  # the restart's re-push: same bundle, still tripped
    status = edge.status("mm")
    assert status.kill_switch is not None and status.restored.kill_switch is True
    assert status.position == position
    edge.close()

    raw = (REPO / "examples/abi-raw/raw_algo.wasm").read_bytes()
    edge = Edge(config)
    other = parse_push({**push_body(raw), "risk": body["risk"], "state": "Stopped"})
    edge.push("mm", other, raw)  # another bundle: a hot swap across the restart
    status = edge.status("mm")
    assert status.restored.same_bundle is False
    assert status.kill_switch is None and status.position == position
    lines = [line["message"] for line in edge.deployments["mm"].logs.tail(5)]
    assert any("restored from the journal" in m and "kill switch reset" in m for m in lines), lines
    edge.close()


def test_an_unreadable_journal_refuses_the_push_with_a_reason_and_changes_nothing(tmp_path: Path) -> None:
    config = EdgeConfig(venue="kraken", seed=5, symbols=["BTC-USD"], state_dir=str(tmp_path))
    edge = Edge(config)
    (tmp_path / "mm.journal").write_bytes(b"not a journal at all")
    with pytest.raises(RequestError) as refused:
        edge.push("mm", parse_push(push_body(MM)), MM)
    assert refused.value.status == 409 and "move the file away" in str(refused.value)
    assert edge.deployments == {} and edge.edge_info().deployments == []
    (tmp_path / "mm.journal").unlink()
    assert edge.push("mm", parse_push(push_body(MM)), MM) is True  # moved away: a flat start
    assert edge.status("mm").restored is None
    edge.close()
