"""Pre-trade risk (risk.pyx): each limit on its own, then through the OMS (kill switch, resets)."""

from __future__ import annotations

import pytest

from sequence_edge.algo import abi
from sequence_edge.engine import Engine
from sequence_edge.orders.risk import RiskChecker

F = abi.to_fixed
BUY, SELL = abi.SIDE_BUY, abi.SIDE_SELL
SEC = 1_000_000_000


def check(risk: dict, **order) -> str | None:
    base = {"side": BUY, "qty_1e8": F(1), "px_1e8": F(100), "mid_1e8": F(100)}
    return RiskChecker(risk).check(**{**base, **order})


def test_no_limits_accept_anything() -> None:
    assert check({}, qty_1e8=F(1e6), px_1e8=F(1e6)) is None


def test_max_order_qty() -> None:
    assert check({"max_order_qty": 1.0}, qty_1e8=F(1)) is None
    assert check({"max_order_qty": 1.0}, qty_1e8=F(1) + 1) == "MAX_ORDER_QTY"


def test_max_notional_counts_price_times_quantity() -> None:
    assert check({"max_notional": 1000}, qty_1e8=F(10), px_1e8=F(100)) is None
    assert check({"max_notional": 1000}, qty_1e8=F(10), px_1e8=F(100.01)) == "MAX_NOTIONAL"
    # 1 BTC at 65000 overflows 64 bits in 1e8 x 1e8: computed in 128 bits
    assert check({"max_notional": 64000}, qty_1e8=F(1), px_1e8=F(65000), mid_1e8=F(65000)) == "MAX_NOTIONAL"


def test_max_position_counts_the_resting_orders_on_the_same_side() -> None:
    lim = {"max_position": 1.0}
    assert check(lim, qty_1e8=F(0.5), position_1e8=F(0.5)) is None
    assert check(lim, qty_1e8=F(0.5), position_1e8=F(0.5), open_buy_1e8=F(0.1)) == "MAX_POSITION"
    assert check(lim, side=SELL, qty_1e8=F(1.5), position_1e8=F(0.5)) is None  # ends at -1
    assert check(lim, side=SELL, qty_1e8=F(1), position_1e8=0, open_sell_1e8=F(0.2)) == "MAX_POSITION"
    assert check(lim, qty_1e8=F(1.5), position_1e8=-F(0.5), open_sell_1e8=F(5)) is None  # sells don't count


def test_max_open_orders_applies_to_orders_that_can_rest() -> None:
    lim = {"max_open_orders": 2}
    assert check(lim, open_orders=1) is None
    assert check(lim, open_orders=2) == "MAX_OPEN_ORDERS"
    assert check(lim, open_orders=2, rests=False) is None  # IOC / market never rest
    assert check({}, open_orders=256) == "MAX_OPEN_ORDERS"  # the hard cap without a limit


def test_price_band_around_mid() -> None:
    lim = {"price_band_bps": 100}
    assert check(lim, px_1e8=F(101), mid_1e8=F(100)) is None
    assert check(lim, px_1e8=F(101.01), mid_1e8=F(100)) == "PRICE_BAND"
    assert check(lim, px_1e8=F(98.99), mid_1e8=F(100)) == "PRICE_BAND"


def test_rate_limit_is_a_token_bucket_with_a_one_second_burst() -> None:
    risk = RiskChecker({"max_orders_per_sec": 4})
    order = {"side": BUY, "qty_1e8": F(1), "px_1e8": F(100)}
    t = 10 * SEC
    assert [risk.check(**order, now_ns=t) for _ in range(5)] == [None] * 4 + ["RATE_LIMIT"]
    assert risk.check(**order, now_ns=t + SEC // 8) == "RATE_LIMIT"  # half a token back
    assert risk.check(**order, now_ns=t + SEC // 4) is None  # one token back
    assert risk.check(**order, now_ns=t + SEC // 4) == "RATE_LIMIT"
    assert [risk.check(**order, now_ns=t + 100 * SEC) for _ in range(5)] == [None] * 4 + ["RATE_LIMIT"]


def test_an_order_refused_for_another_reason_keeps_its_token() -> None:
    risk = RiskChecker({"max_orders_per_sec": 1, "max_order_qty": 1})
    assert risk.check(side=BUY, qty_1e8=F(2), px_1e8=F(100)) == "MAX_ORDER_QTY"
    assert risk.check(side=BUY, qty_1e8=F(1), px_1e8=F(100)) is None


def test_max_loss_trips_the_kill_switch_for_good() -> None:
    risk = RiskChecker({"max_loss": 100})
    assert risk.check(side=BUY, qty_1e8=F(1), px_1e8=F(100), pnl_1e8=-F(100)) is None
    assert risk.check(side=BUY, qty_1e8=F(1), px_1e8=F(100), pnl_1e8=-F(100.01)) == "MAX_LOSS"
    assert risk.killed
    assert risk.check(side=BUY, qty_1e8=F(1), px_1e8=F(100), pnl_1e8=F(50)) == "KILL_SWITCH"


@pytest.mark.parametrize(
    ("risk", "message"),
    [
        ({"max_order_qty": -1}, "max_order_qty must be a positive number"),
        ({"max_open_orders": 1.5}, "max_open_orders must be an integer"),
        ({"max_lots": 3}, "unknown risk limit"),
        ({"max_notional": "10"}, "max_notional must be a positive number"),
    ],
)
def test_bad_limits_are_refused_with_the_field_named(risk: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RiskChecker(risk)


# ---------------------------------------------------------------- through the OMS


@pytest.fixture
def engine() -> Engine:
    eng = Engine(taker_fee_bps=0.0)
    eng.add_book("BTC-USD")
    eng.snapshot("BTC-USD", [(F(100), F(5)), (F(99), F(5))], [(F(101), F(5)), (F(110), F(5))])
    return eng


def reasons(acct) -> list[str]:
    return [e["reason"] for kind, e in acct.drain_events() if kind == "reject"]


def test_market_order_notional_uses_the_worst_price_it_would_reach(engine) -> None:
    acct = engine.open_account("m", ["BTC-USD"], risk={"max_notional": 700})
    acct.place(BUY, abi.ORDER_MARKET, 1, 0, F(6))  # reaches the 110 level: 6 x 110 = 660 <= 700
    assert reasons(acct) == []
    acct.place(BUY, abi.ORDER_MARKET, 2, 0, F(6.5))  # 6.5 x 110 = 715
    assert reasons(acct) == ["MAX_NOTIONAL"]


def test_open_orders_and_position_limits_see_the_accounts_orders(engine) -> None:
    acct = engine.open_account("p", ["BTC-USD"], risk={"max_open_orders": 2, "max_position": 1.0})
    acct.place(BUY, abi.ORDER_LIMIT, 1, F(99), F(0.6))
    acct.place(BUY, abi.ORDER_LIMIT, 2, F(98), F(0.6))  # 0.6 resting + 0.6 > 1
    acct.place(SELL, abi.ORDER_LIMIT, 3, F(105), F(0.6))
    acct.place(SELL, abi.ORDER_LIMIT, 4, F(106), F(0.1))
    assert reasons(acct) == ["MAX_POSITION", "MAX_OPEN_ORDERS"]


def test_kill_switch_cancels_resting_orders_and_refuses_everything_until_a_new_push(engine) -> None:
    acct = engine.open_account("k", ["BTC-USD"], risk={"max_loss": 30})
    acct.place(BUY, abi.ORDER_LIMIT, 1, F(101), F(5))  # long 5 @ 101, mid 100.5
    acct.place(SELL, abi.ORDER_LIMIT, 2, F(108), F(1))
    assert acct.n_open == 1 and not acct.killed
    engine.apply("BTC-USD", BUY, F(100), 0)
    engine.apply("BTC-USD", BUY, F(99), 0)
    engine.apply("BTC-USD", BUY, F(95), F(1))  # mid (95+101)/2 = 98: loss 15
    assert not acct.killed
    engine.apply("BTC-USD", SELL, F(101), 0)  # mid (95+110)/2 = 102.5: a gain
    engine.apply("BTC-USD", BUY, F(80), F(1))
    engine.apply("BTC-USD", BUY, F(95), 0)  # mid (80+110)/2 = 95: loss 30 -> not beyond
    assert not acct.killed
    engine.apply("BTC-USD", BUY, F(79), F(1))
    engine.apply("BTC-USD", BUY, F(80), 0)  # mid 94.5: loss 32.5 -> trips on the mark
    assert acct.killed
    assert acct.n_open == 0 and acct.n_cancelled_by_edge == 1
    acct.drain_events()
    acct.place(SELL, abi.ORDER_LIMIT, 3, F(109), F(1))
    acct.cancel(3)
    acct.cancel_all()
    assert reasons(acct) == ["KILL_SWITCH"] * 3
    assert acct.kill_info()["max_loss"] == 30.0
    acct.set_limits({"max_loss": 1000})  # what a re-push does
    acct.place(SELL, abi.ORDER_LIMIT, 4, F(109), F(1))
    assert reasons(acct) == [] and acct.n_open == 1


def test_the_order_that_finds_the_loss_gets_max_loss(engine) -> None:
    acct = engine.open_account("l", ["BTC-USD"], risk={"max_loss": 1})
    acct.place(BUY, abi.ORDER_MARKET, 1, 0, F(1))
    acct.drain_events()
    acct.set_limits({"max_loss": 0.1})  # spread cost 0.5 > 0.1, but nothing marked since
    acct.place(BUY, abi.ORDER_LIMIT, 2, F(99), F(1))
    acct.place(BUY, abi.ORDER_LIMIT, 3, F(99), F(1))
    assert reasons(acct) == ["MAX_LOSS", "KILL_SWITCH"]


def test_cancels_are_never_rate_limited(engine) -> None:
    acct = engine.open_account("r", ["BTC-USD"], risk={"max_orders_per_sec": 2})
    acct.place(BUY, abi.ORDER_LIMIT, 1, F(99), F(1))
    acct.place(BUY, abi.ORDER_LIMIT, 2, F(98), F(1))
    acct.place(BUY, abi.ORDER_LIMIT, 3, F(97), F(1))
    acct.cancel(1)
    acct.cancel(2)
    assert reasons(acct) == ["RATE_LIMIT"]
    assert acct.n_open == 0


def test_a_fill_beyond_max_loss_trips_the_switch_after_matching_with_orders_resting(engine) -> None:
    acct = engine.open_account("f", ["BTC-USD"], risk={"max_loss": 1})
    for i, px in enumerate((99.5, 99.4, 99.3, 99.2), start=1):  # inside the spread, above the 99 bid
        acct.place(BUY, abi.ORDER_LIMIT, i, F(px), F(1))
    assert acct.n_open == 4
    engine.apply("BTC-USD", BUY, F(100), 0)
    engine.apply("BTC-USD", SELL, F(99.1), F(1))  # an ask through all four bids: they fill in one pass
    assert acct.position() == (F(4), F(99.35))
    assert acct.pnl()["unrealized_1e8"] == F(4 * (99.05 - 99.35))  # beyond max_loss 1
    assert acct.killed and acct.n_open == 0
    acct.place(BUY, abi.ORDER_LIMIT, 9, F(80), F(1), symbol_idx=5)  # even a malformed order
    assert reasons(acct)[-1] == "KILL_SWITCH"
