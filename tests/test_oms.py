"""The paper OMS (oms.pyx) driven through the Engine's record path, without an algo attached.

Book used by most tests (BTC-USD): bids 100 x 2, 99 x 3; asks 101 x 1, 102 x 4.
"""

from __future__ import annotations

import pytest

from sequence_edge.algo import abi
from sequence_edge.engine import Engine

F = abi.to_fixed
BUY, SELL = abi.SIDE_BUY, abi.SIDE_SELL
LIMIT, MARKET, IOC, POST = abi.ORDER_LIMIT, abi.ORDER_MARKET, abi.ORDER_IOC, abi.ORDER_POST_ONLY


@pytest.fixture
def engine() -> Engine:
    eng = Engine(maker_fee_bps=1.0, taker_fee_bps=5.0, trace_salt=1234)
    eng.add_book("BTC-USD")
    eng.snapshot("BTC-USD", [(F(100), F(2)), (F(99), F(3))], [(F(101), F(1)), (F(102), F(4))])
    return eng


@pytest.fixture
def acct(engine: Engine):
    return engine.open_account("d1", ["BTC-USD"])


def fills(events):
    return [e for kind, e in events if kind == "fill"]


def rejects(events):
    return [e["reason"] for kind, e in events if kind == "reject"]


def test_limit_buy_walks_the_asks_level_by_level_and_rests_the_rest(acct) -> None:
    acct.place(BUY, LIMIT, 1, F(102), F(6))
    got = fills(acct.drain_events())
    assert [(f["px_1e8"], f["qty_1e8"], f["maker"]) for f in got] == [
        (F(101), F(1), False),
        (F(102), F(4), False),
    ]
    assert not any(f["final"] for f in got)
    [rest] = acct.open_orders()
    assert (rest["px_1e8"], rest["filled_1e8"], rest["qty_1e8"]) == (F(102), F(5), F(6))
    assert rest["queue_ahead_1e8"] == 0  # a new price level on the bid side
    assert acct.position() == (F(5), F(101.8))


def test_limit_that_fills_completely_marks_the_last_fill_final_and_does_not_rest(acct) -> None:
    acct.place(BUY, LIMIT, 1, F(102), F(3))
    got = fills(acct.drain_events())
    assert [f["final"] for f in got] == [False, True]
    assert acct.open_orders() == []


def test_market_order_fills_what_is_there_and_refuses_the_rest(acct) -> None:
    acct.place(SELL, MARKET, 7, 0, F(6))
    events = acct.drain_events()
    assert [(f["px_1e8"], f["qty_1e8"]) for f in fills(events)] == [(F(100), F(2)), (F(99), F(3))]
    assert fills(events)[-1]["final"]
    assert rejects(events) == ["NO_LIQUIDITY"]
    assert acct.position()[0] == -F(5)
    assert acct.n_open == 0


def test_ioc_fills_up_to_its_price_then_expires(acct, engine) -> None:
    acct.place(BUY, IOC, 3, F(101), F(2))
    events = acct.drain_events()
    assert [(f["px_1e8"], f["qty_1e8"], f["final"]) for f in fills(events)] == [(F(101), F(1), True)]
    assert rejects(events) == []
    assert acct.open_orders() == []
    [order] = engine.traces.orders(acct.serial)
    assert order["state"] == "expired"
    assert engine.traces.trace(order["order_ref"])["events"][-1]["event"] == "expire"


def test_post_only_is_refused_when_it_would_take_and_rests_otherwise(acct) -> None:
    acct.place(BUY, POST, 1, F(101), F(1))
    assert rejects(acct.drain_events()) == ["WOULD_CROSS"]
    acct.place(BUY, POST, 2, F(100.5), F(1))
    assert acct.drain_events() == []
    assert [o["order_id"] for o in acct.open_orders()] == [2]


def test_queue_ahead_is_consumed_before_a_resting_order_fills(acct, engine) -> None:
    acct.place(BUY, LIMIT, 1, F(100), F(1))  # joins 2 BTC at 100
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(2)
    engine.apply("BTC-USD", BUY, F(100), F(3))  # growth queues behind us
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(2)
    engine.apply("BTC-USD", BUY, F(100), F(1.5))  # 1.5 gone: all of it ahead of us
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(0.5)
    assert acct.drain_events() == []
    engine.apply("BTC-USD", BUY, F(100), F(0.7))  # 0.8 gone: 0.5 ahead, 0.3 reaches us
    [f] = fills(acct.drain_events())
    assert (f["px_1e8"], f["qty_1e8"], f["maker"], f["final"]) == (F(100), F(0.3), True, False)
    engine.apply("BTC-USD", BUY, F(100), 0)  # the level is wiped out: the rest fills
    [f] = fills(acct.drain_events())
    assert (f["qty_1e8"], f["final"]) == (F(0.7), True)
    assert acct.open_orders() == []


def test_opposite_side_trading_through_fills_the_whole_remainder(acct, engine) -> None:
    acct.place(BUY, LIMIT, 1, F(100), F(1.5))  # 2 BTC ahead
    engine.apply("BTC-USD", BUY, F(100), 0)  # bids at 100 gone: 2 ahead consumed, nothing reaches us
    assert fills(acct.drain_events()) == []
    engine.apply("BTC-USD", SELL, F(99.5), F(0.1))  # an ask below our bid
    [f] = fills(acct.drain_events())
    assert (f["px_1e8"], f["qty_1e8"], f["maker"], f["final"]) == (F(100), F(1.5), True, True)


def test_touch_fills_only_after_the_queue_is_gone(acct, engine) -> None:
    acct.place(SELL, LIMIT, 1, F(101), F(2))  # 1 BTC ahead at 101
    engine.apply("BTC-USD", SELL, F(101), 0)  # the ask level at 101 goes: the queue ahead with it
    assert acct.open_orders()[0]["queue_ahead_1e8"] == 0
    assert fills(acct.drain_events()) == []
    engine.apply("BTC-USD", BUY, F(101), F(0.4))  # a bid touches our price: 0.4 trades with us
    [f] = fills(acct.drain_events())
    assert (f["px_1e8"], f["qty_1e8"], f["maker"]) == (F(101), F(0.4), True)
    assert acct.open_orders()[0]["filled_1e8"] == F(0.4)


def test_a_snapshot_can_only_shrink_the_queue_ahead(acct, engine) -> None:
    acct.place(BUY, LIMIT, 1, F(100), F(1))  # 2 BTC ahead
    engine.snapshot("BTC-USD", [(F(100), F(0.5))], [(F(101), F(1))])
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(0.5)
    engine.snapshot("BTC-USD", [(F(100), F(5))], [(F(101), F(1))])
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(0.5)


def test_cancel_and_cancel_of_an_unknown_order(acct) -> None:
    acct.place(BUY, LIMIT, 1, F(99), F(1))
    acct.cancel(1)
    acct.cancel(1)
    [(kind, rej)] = acct.drain_events()
    assert (kind, rej["reason"], rej["order_id"], rej["action_kind"]) == (
        "reject",
        "UNKNOWN_ORDER",
        1,
        abi.ACTION_CANCEL,
    )
    assert acct.open_orders() == [] and acct.n_cancels == 1


def test_cancel_all_per_symbol_and_everything(engine) -> None:
    engine.add_book("ETH-USD")
    engine.snapshot("ETH-USD", [(F(3000), F(10))], [(F(3001), F(10))])
    acct = engine.open_account("two", ["BTC-USD", "ETH-USD"])
    acct.place(BUY, LIMIT, 1, F(99), F(1), symbol_idx=0)
    acct.place(BUY, LIMIT, 2, F(2990), F(1), symbol_idx=1)
    acct.place(SELL, LIMIT, 3, F(3010), F(1), symbol_idx=1)
    acct.cancel_all(1)
    assert [o["order_id"] for o in acct.open_orders()] == [1]
    acct.cancel_all(7)
    assert rejects(acct.drain_events()) == ["UNKNOWN_SYMBOL"]
    acct.cancel_all()
    assert acct.open_orders() == []
    assert acct.n_cancels == 3


def test_amend_price_loses_priority_size_down_keeps_it_size_up_loses_it(acct, engine) -> None:
    acct.place(BUY, LIMIT, 1, F(100), F(2))
    engine.apply("BTC-USD", BUY, F(100), F(1.2))  # 0.8 of the 2 ahead consumed
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(1.2)
    acct.amend(1, F(100), F(1))  # size down: keeps its place
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(1.2)
    acct.amend(1, F(100), F(3))  # size up: to the back (the whole 1.2 BTC level is ahead)
    assert acct.open_orders()[0]["queue_ahead_1e8"] == F(1.2)
    acct.amend(1, F(99), F(3))  # new price: behind the 3 BTC at 99
    assert (acct.open_orders()[0]["px_1e8"], acct.open_orders()[0]["queue_ahead_1e8"]) == (F(99), F(3))
    acct.amend(1, F(101), F(3))  # crossing amend of a limit order takes liquidity
    [f] = fills(acct.drain_events())
    assert (f["px_1e8"], f["qty_1e8"], f["maker"]) == (F(101), F(1), False)
    acct.amend(42, F(100), F(1))
    acct.amend(1, F(101), F(1))  # not above what already filled
    assert rejects(acct.drain_events()) == ["UNKNOWN_ORDER", "INVALID_ACTION"]
    assert acct.n_amends == 4


def test_post_only_amend_that_would_cross_is_refused_and_leaves_the_order(acct) -> None:
    acct.place(BUY, POST, 1, F(100), F(1))
    acct.amend(1, F(101), F(1))
    assert rejects(acct.drain_events()) == ["WOULD_CROSS"]
    assert acct.open_orders()[0]["px_1e8"] == F(100)


def test_fees_positions_realized_and_unrealized_pnl(acct, engine) -> None:
    acct.place(BUY, LIMIT, 1, F(101), F(1))  # taker 1 @ 101: fee 5 bps of 101
    [f] = fills(acct.drain_events())
    assert f["fee_1e8"] == F(101 * 5e-4)
    mid = (100 + 101) / 2
    assert acct.pnl()["unrealized_1e8"] == F(mid - 101)
    acct.place(SELL, LIMIT, 2, F(101.5), F(3))  # rests as maker between bid and ask
    engine.snapshot("BTC-USD", [(F(100), F(2))], [(F(103), F(1))])
    engine.apply("BTC-USD", BUY, F(102), F(3))  # a bid through our ask: all 3 fill at 101.5, 1 bp
    [f] = fills(acct.drain_events())
    assert (f["px_1e8"], f["qty_1e8"], f["maker"], f["fee_1e8"]) == (
        F(101.5),
        F(3),
        True,
        F(3 * 101.5 * 1e-4),
    )
    fees = 101 * 5e-4 + 3 * 101.5 * 1e-4
    assert acct.position() == (-F(2), F(101.5))  # flipped: the 2 short opened at 101.5
    pnl = acct.pnl()
    assert pnl["fees_1e8"] == F(fees)
    assert pnl["realized_1e8"] == F(0.5 - fees)  # closed 1 @ 101.5 bought @ 101
    assert pnl["unrealized_1e8"] == F(-2 * ((102 + 103) / 2 - 101.5))


def test_negative_maker_fee_is_a_rebate(engine) -> None:
    engine.maker_fee_bps = -2.0
    acct = engine.open_account("rebate", ["BTC-USD"])
    acct.place(BUY, LIMIT, 1, F(100), F(1))
    engine.apply("BTC-USD", BUY, F(100), 0)
    engine.apply("BTC-USD", SELL, F(99.5), F(1))
    [f] = fills(acct.drain_events())
    assert f["fee_1e8"] == -F(100 * 2e-4)
    assert acct.pnl()["realized_1e8"] == F(100 * 2e-4)


def test_duplicate_client_ids_are_refused_while_open_and_after(acct) -> None:
    acct.place(BUY, LIMIT, 5, F(99), F(1))
    acct.place(BUY, LIMIT, 5, F(98), F(1))
    acct.cancel(5)
    acct.place(BUY, LIMIT, 5, F(98), F(1))
    assert rejects(acct.drain_events()) == ["DUPLICATE_ID", "DUPLICATE_ID"]


def test_structural_rejects(engine, acct) -> None:
    acct.place(3, LIMIT, 1, F(100), F(1))  # side
    acct.place(BUY, 9, 2, F(100), F(1))  # order type
    acct.place(BUY, LIMIT, 3, F(100), 0)  # qty
    acct.place(BUY, LIMIT, 4, 0, F(1))  # price of a limit order
    acct.place(BUY, LIMIT, 0, F(100), F(1))  # order id 0
    acct.place(BUY, LIMIT, 5, F(100), F(1), symbol_idx=3)
    assert rejects(acct.drain_events()) == ["INVALID_ACTION"] * 5 + ["UNKNOWN_SYMBOL"]
    acct.detached_running = False
    acct.place(BUY, LIMIT, 6, F(100), F(1))
    assert rejects(acct.drain_events()) == ["NOT_RUNNING"]


def test_orders_on_a_stale_book_are_refused(engine) -> None:
    engine.add_book("SOL-USD")  # no snapshot yet
    acct = engine.open_account("sol", ["SOL-USD"])
    acct.place(BUY, LIMIT, 1, F(150), F(1))
    assert rejects(acct.drain_events()) == ["BOOK_STALE"]


def test_algo_state_mirrors_the_open_orders(acct, engine) -> None:
    acct.place(BUY, LIMIT, 1, F(99), F(1))
    acct.place(SELL, LIMIT, 2, F(103), F(2))
    assert acct.algo_state_open_orders() == [(1, F(99), F(1), 0), (2, F(103), F(2), 0)]
    acct.cancel(1)
    assert acct.algo_state_open_orders() == [(2, F(103), F(2), 0)]


def test_trace_records_the_lifecycle_with_nanosecond_timestamps(acct, engine) -> None:
    acct.place(BUY, LIMIT, 9, F(101), F(1.5))
    [order] = engine.traces.orders(acct.serial)
    ref = order["order_ref"]
    assert ref.startswith("P-") and len(ref) == 10
    acct.cancel(9)
    trace = engine.traces.trace(ref)
    assert trace["deployment_id"] == "d1" and trace["symbol"] == "BTC-USD" and trace["state"] == "cancelled"
    names = [e["event"] for e in trace["events"]]
    assert names == ["tick", "submit", "risk_checked", "ack", "fill", "cancel"]
    stamps = [e["ts_ns"] for e in trace["events"]]
    assert stamps == sorted(stamps) and stamps[0] > 1_600_000_000 * 10**9
    assert trace["events"][4]["qty"] == 1.0
    assert engine.traces.trace("P-00000000") is None
    with pytest.raises(ValueError, match="P-8f3a1b2c"):
        engine.traces.trace("8f3a1b2c")


def test_a_rejected_order_has_a_trace_ending_in_its_reason(acct, engine) -> None:
    acct.place(BUY, LIMIT, 1, F(100), F(1), symbol_idx=2)
    [order] = engine.traces.orders(acct.serial)
    trace = engine.traces.trace(order["order_ref"])
    assert trace["state"] == "rejected"
    assert trace["events"][-1] == {**trace["events"][-1], "event": "reject", "reason": "UNKNOWN_SYMBOL"}
