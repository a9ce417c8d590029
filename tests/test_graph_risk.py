"""Graph risk layers (admission, pre-trade, runtime) and failure actions, through the venue port."""

from __future__ import annotations

from typing import Any

import pytest

from sequence_coordinator.graphs import AccountSnapshot, AdmissionError, GraphStateError

from .graph_venues import (
    ManualClock,
    Order,
    PaperVenues,
    edge,
    make,
    node,
    passive,
    px,
    run_for,
    setup,
    the_order,
)


def test_admission_refuses_notional_leverage_and_concurrency_and_places_nothing() -> None:
    engine, venues, _ = setup()
    with pytest.raises(AdmissionError, match="exceeds max_notional_usd"):
        engine.submit(
            {"nodes": {"n": node("buy", "ETH-USD", 10.0)}, "risk": {"admission": {"max_notional_usd": 500}}}
        )
    with pytest.raises(AdmissionError, match="no account equity"):
        engine.submit(
            {"nodes": {"n": node("buy", "ETH-USD", 1.0)}, "risk": {"admission": {"max_leverage": 2}}}
        )
    venues.venues["kraken"].account = AccountSnapshot(equity_usd=100.0, available_usd=100.0)
    with pytest.raises(AdmissionError, match=r"leverage 3\.00x"):
        engine.submit(
            {"nodes": {"n": node("buy", "ETH-USD", 3.0)}, "risk": {"admission": {"max_leverage": 2}}}
        )
    assert venues.placed == []
    passive(venues)
    limit = {"admission": {"max_concurrent_graphs": 2}}
    engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0, limit_price=90.0)}, "risk": limit})
    engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0, limit_price=90.0)}, "risk": limit})
    with pytest.raises(AdmissionError, match="max_concurrent_graphs 2 reached"):
        engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0, limit_price=90.0)}, "risk": limit})
    assert len(venues.placed) == 2


def test_pre_trade_balance_check_refuses_the_node() -> None:
    engine, venues, _ = setup()
    venues.venues["kraken"].account = AccountSnapshot(equity_usd=50.0, available_usd=50.0)
    gid = engine.submit(
        {"nodes": {"n": node("buy", "ETH-USD", 1.0)}, "risk": {"pre_trade": {"require_balance_check": True}}}
    ).graph_id
    s = engine.status(gid)
    assert s.nodes["n"].status == "rejected" and "balance check" in (s.nodes["n"].reason or "")
    assert venues.placed == [] and s.status == "aborted"


def _hedge_graph(action: str, **runtime: float) -> dict[str, Any]:
    return {
        "nodes": {
            "spot": node("buy", "ETH-USD", 10.0, limit_price=99.95),
            "hedge": node("sell", "ETH-USD-PERP", limit_price=90.0),
            "later": node("buy", "ETH-USD", 1.0),
        },
        "edges": [
            edge("spot", "hedge", "on_fill", sizing={"linear_hedge": -1.0}),
            edge("hedge", "later", "on_full_fill"),
        ],
        "risk": {"runtime": runtime, "failure": {"on_runtime_breach": action}},
    }


def test_unhedged_breach_with_cancel_all_open_aborts_and_cancels_everything() -> None:
    engine, venues, _ = setup()
    passive(venues)
    venues.quote("kraken", "ETH-USD-PERP", 99.95, 100.05)
    gid = engine.submit(_hedge_graph("cancel_all_open", max_unhedged_qty=5.0)).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "spot"), 4.0, 99.95)  # 4 unhedged: within the limit
    assert engine.status(gid).status == "partial_fill"
    venues.fill(the_order(venues, "spot"), 2.0, 99.95)  # 6 unhedged
    venues.deliver()
    s = engine.status(gid)
    assert s.status == "aborted" and "max_unhedged_qty" in (s.reason or "")
    assert venues.open_orders() == []
    assert s.nodes["later"].status == "skipped"


def test_loss_breach_with_pause_graph_pauses_and_resume_continues() -> None:
    engine, venues, clock = setup()
    passive(venues)
    venues.quote("kraken", "ETH-USD-PERP", 99.95, 100.05)
    gid = engine.submit(_hedge_graph("pause_graph", max_loss_usd=50.0)).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "spot"), 5.0, 99.95)
    venues.quote("kraken", "ETH-USD", 80.0, 80.1)  # 5 long marked at 80: -$100
    s = engine.status(gid)
    assert s.status == "paused" and "max_loss_usd" in (s.reason or "")
    assert venues.open_orders() == []
    placed = len(venues.placed)
    run_for(engine, venues, clock, 1_000)
    assert len(venues.placed) == placed  # nothing is placed while paused
    engine.resume(gid)
    venues.deliver()
    s = engine.status(gid)
    assert s.status == "partial_fill"
    assert {o.cid.split("-")[1] for o in venues.open_orders()} == {"spot", "hedge"}
    with pytest.raises(GraphStateError, match="not paused"):
        engine.resume(gid)


def test_drawdown_breach_with_do_nothing_is_recorded_and_the_graph_carries_on() -> None:
    engine, venues, _ = setup()
    passive(venues)
    venues.quote("kraken", "ETH-USD-PERP", 99.95, 100.05)
    gid = engine.submit(_hedge_graph("do_nothing", max_drawdown_usd=10.0)).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "spot"), 5.0, 99.95)
    venues.quote("kraken", "ETH-USD", 110.0, 110.1)  # +$50
    venues.quote("kraken", "ETH-USD", 90.0, 90.1)  # down $100 from the peak
    s = engine.status(gid)
    assert any("max_drawdown_usd" in b for b in s.breaches)
    assert s.status == "partial_fill" and venues.open_orders()


def test_cancel_pending_stops_nodes_that_have_not_started() -> None:
    engine, venues, _ = setup()
    passive(venues)
    venues.quote("kraken", "ETH-USD-PERP", 99.95, 100.05)
    gid = engine.submit(_hedge_graph("cancel_pending", max_unhedged_qty=1.0)).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "spot"), 2.0, 99.95)
    s = engine.status(gid)
    assert s.nodes["later"].status == "skipped" and "not started" in (s.nodes["later"].reason or "")
    assert s.nodes["spot"].status == "partial_fill" and s.nodes["hedge"].status == "active"
    assert {o.cid.split("-")[1] for o in venues.open_orders()} == {"spot", "hedge"}


def test_on_disconnect_pauses_a_graph_working_on_the_lost_venue() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(
        {"nodes": {"n": node("buy", "ETH-USD", 1.0, venue="kraken", limit_price=99.0)}}
    ).graph_id
    venues.deliver()
    venues.venues["kraken"].up = False
    engine.on_venue_down("kraken")
    s = engine.status(gid)
    assert s.status == "paused" and "disconnected" in (s.reason or "")
    assert s.nodes["n"].orders[0].status == "pending_cancel"  # could not reach the venue
    venues.venues["kraken"].up = True
    engine.on_venue_up("kraken")
    venues.deliver()
    assert engine.status(gid).nodes["n"].orders[0].status == "cancelled"  # the cancel went out again
    assert engine.status(gid).status == "paused"  # until someone resumes it


def test_on_disconnect_cancel_all_open_aborts() -> None:
    engine, venues, _ = setup()
    passive(venues)
    venues.quote("coinbase", "ETH-USD", 99.90, 100.10)
    spec = {
        "nodes": {
            "a": node("buy", "ETH-USD", 1.0, venue="kraken", limit_price=99.0),
            "b": node("buy", "ETH-USD", 1.0, venue="coinbase", limit_price=99.0),
        },
        "risk": {"failure": {"on_disconnect": "cancel_all_open"}},
    }
    gid = engine.submit(spec).graph_id
    venues.deliver()
    venues.venues["kraken"].up = False
    engine.on_venue_down("kraken")
    venues.deliver()
    s = engine.status(gid)
    assert s.status == "aborted"
    assert [o.venue for o in venues.open_orders()] == ["kraken"]  # coinbase cancelled; kraken unreachable
    assert s.nodes["b"].orders[0].status == "cancelled"


def test_three_venue_rejects_in_a_row_reject_the_node_after_backing_off() -> None:
    clock = ManualClock()

    class Refusing(PaperVenues):
        """Every order is refused, as the edge's pre-trade risk does past a position limit."""

        def place(self, venue: str, client_order_id: str, *args: Any) -> None:
            self.placed.append(Order(venue, client_order_id, "ETH-USD", "buy", 0, None, "gtc", self.clock.ms))
            self.events.append((client_order_id, "reject", {"reason": "MAX_POSITION"}))

    refusing = Refusing(clock)
    refusing.venues["kraken"].quotes["ETH-USD"] = (px(99.95), px(100.05))
    engine, venues, clock = make(clock=clock, venues=refusing)
    gid = engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0)}}).graph_id
    run_for(engine, venues, clock, 1_000, step_ms=10)
    s = engine.status(gid)
    assert [o.attempt for o in s.nodes["n"].orders] == [0, 1, 2]
    times = [o.at_ms - venues.placed[0].at_ms for o in venues.placed]
    assert times[1] >= 100 and times[2] - times[1] >= 200
    assert s.nodes["n"].status == "rejected" and "MAX_POSITION" in (s.nodes["n"].reason or "")
    assert s.status == "aborted"


def test_resume_moves_the_twap_schedule_by_the_time_spent_paused() -> None:
    engine, venues, clock = setup()
    t0 = clock.ms
    gid = engine.submit(
        {"nodes": {"t": node("buy", "ETH-USD", 1.0, venue="kraken", twap={"slices": 4, "interval_ms": 1000})}}
    ).graph_id
    run_for(engine, venues, clock, 1_500)  # slice 0 done, slice 1 working
    engine.on_venue_down("kraken")  # on_disconnect: pause_graph
    assert engine.status(gid).status == "paused"
    clock.advance(10_000)
    engine.on_venue_up("kraken")
    engine.resume(gid)
    venues.deliver()
    starts = [sl.start_ms - t0 for sl in engine.status(gid).nodes["t"].slices]
    assert starts == [0, 11_000, 12_000, 13_000]  # slice 1 was working: it resumes half-way
    run_for(engine, venues, clock, 3_000)
    s = engine.status(gid)
    assert s.status == "completed" and s.nodes["t"].filled_qty_1e8 == px(1.0)
