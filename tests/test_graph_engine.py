"""The execution graph engine, driven through its venue port with paper venues and a manual clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sequence_coordinator.graphs import AccountSnapshot, AdmissionError, GraphJournal, GraphStateError
from sequence_wire.graphs import client_order_id, order_id_u64

from .graph_venues import SCALE, ManualClock, Order, PaperVenues, make, px, run_for


def node(side: str, symbol: str, qty: float = 0.0, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"side": side, "symbol": symbol, **kw}
    if qty:
        out["qty"] = qty
    else:
        out["derived"] = True
    return out


def edge(src: str, dst: str, trigger: Any, **kw: Any) -> dict[str, Any]:
    return {"from": src, "to": dst, "trigger": trigger, **kw}


def market(venues: PaperVenues, mid: float = 100.0, symbols: tuple[str, ...] = ("ETH-USD",)) -> None:
    for symbol in symbols:
        venues.quote("kraken", symbol, mid - 0.05, mid + 0.05)


def setup(**kw: Any):  # type: ignore[no-untyped-def]
    engine, venues, clock = make(**kw)
    market(venues)
    return engine, venues, clock


def passive(venues: PaperVenues) -> None:
    """Orders rest until the test fills them."""
    for v in venues.venues.values():
        v.auto_fill = False


def parent_child(trigger: Any, child: dict[str, Any] | None = None, **edge_kw: Any) -> dict[str, Any]:
    return {
        "nodes": {
            "parent": node("buy", "ETH-USD", 1.0, limit_price=99.95),
            "child": child or node("sell", "ETH-USD-PERP"),
        },
        "edges": [edge("parent", "child", trigger, **edge_kw)],
    }


def status(engine, gid):  # type: ignore[no-untyped-def]
    return engine.status(gid)


def the_order(venues: PaperVenues, node_name: str) -> str:
    (cid,) = [o.cid for o in venues.open_orders() if f"-{node_name}-" in o.cid]
    return cid


# ------------------------------------------------------------------ triggers


def test_roots_start_and_children_wait() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_full_fill")).graph_id
    venues.deliver()
    s = status(engine, gid)
    assert s.nodes["parent"].status == "active" and len(s.nodes["parent"].orders) == 1
    assert s.nodes["child"].status == "pending" and not s.nodes["child"].orders
    assert s.status == "active"


def test_on_accepted_fires_once_when_the_venue_acks() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_accepted", node("sell", "ETH-USD-PERP", 0.5))).graph_id
    assert status(engine, gid).edges["parent->child"].fire_count == 0  # placed, not yet acked
    venues.deliver()
    s = status(engine, gid)
    assert s.edges["parent->child"].fired and s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].target_qty_1e8 == px(0.5)
    venues.fill(the_order(venues, "parent"), 1.0, 99.95)
    assert status(engine, gid).edges["parent->child"].fire_count == 1


def test_on_first_fill_is_one_shot_and_on_fill_repeats() -> None:
    engine, venues, _ = setup()
    passive(venues)
    spec = {
        "nodes": {
            "parent": node("buy", "ETH-USD", 1.0, limit_price=99.95),
            "first": node("sell", "ETH-USD-PERP"),
            "every": node("sell", "ETH-USD-PERP"),
        },
        "edges": [edge("parent", "first", "on_first_fill"), edge("parent", "every", "on_fill")],
    }
    gid = engine.submit(spec).graph_id
    venues.deliver()
    cid = the_order(venues, "parent")
    for _ in range(3):
        venues.fill(cid, 0.2, 99.95)
    s = status(engine, gid)
    assert s.edges["parent->first"].fire_count == 1
    assert s.nodes["first"].target_qty_1e8 == px(0.2)  # sized at the one firing
    assert s.edges["parent->every"].fire_count == 3
    assert s.nodes["every"].target_qty_1e8 == px(0.6)


def test_on_full_fill_fires_only_at_100_percent() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_full_fill")).graph_id
    venues.deliver()
    cid = the_order(venues, "parent")
    venues.fill(cid, 0.99, 99.95)
    assert not status(engine, gid).edges["parent->child"].fired
    venues.fill(cid, 0.01, 99.95)
    s = status(engine, gid)
    assert s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].target_qty_1e8 == px(1.0)


def test_on_fill_ratio_fires_once_when_the_ratio_is_crossed() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_fill_ratio", condition={"fill_ratio_gte": 0.5})).graph_id
    venues.deliver()
    cid = the_order(venues, "parent")
    venues.fill(cid, 0.4, 99.95)
    assert not status(engine, gid).edges["parent->child"].fired
    venues.fill(cid, 0.2, 99.95)
    assert status(engine, gid).edges["parent->child"].fire_count == 1
    assert status(engine, gid).nodes["child"].target_qty_1e8 == px(0.6)
    venues.fill(cid, 0.4, 99.95)
    assert status(engine, gid).edges["parent->child"].fire_count == 1


def test_on_fill_with_a_fill_ratio_is_accepted_with_a_warning_and_fires_on_every_fill() -> None:
    engine, venues, _ = setup()
    passive(venues)
    result = engine.submit(parent_child("on_fill", condition={"fill_ratio_gte": 0.9}))
    assert any("ignores condition.fill_ratio_gte" in w for w in result.warnings)
    venues.deliver()
    cid = the_order(venues, "parent")
    venues.fill(cid, 0.1, 99.95)
    venues.fill(cid, 0.1, 99.95)
    assert status(engine, result.graph_id).edges["parent->child"].fire_count == 2


def test_on_timeout_fires_exactly_ms_after_the_source_activates() -> None:
    engine, venues, clock = setup()
    passive(venues)
    gid = engine.submit(parent_child({"on_timeout": {"ms": 5000}}, sizing="residual")).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "parent"), 0.3, 99.95)
    assert engine.next_wakeup_ms() is not None
    clock.advance(4999)
    engine.poll()
    assert not status(engine, gid).edges["parent->child"].fired
    clock.advance(1)
    engine.poll()
    s = status(engine, gid)
    assert s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].target_qty_1e8 == px(0.7)  # residual: 1.0 - 0.3


def test_on_cancel_fires_when_the_venue_cancels_the_parent() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_cancel", node("sell", "ETH-USD", 0.25))).graph_id
    venues.deliver()
    cid = the_order(venues, "parent")
    venues.orders[cid].open = False
    venues.events.append((cid, "cancel", {"reason": "KILL_SWITCH"}))
    venues.deliver()
    s = status(engine, gid)
    assert s.nodes["parent"].status == "cancelled"
    assert s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].status in ("active", "completed")


def test_on_cancel_does_not_fire_when_the_parent_fills_and_the_child_is_skipped() -> None:
    engine, venues, _ = setup()
    gid = engine.submit(parent_child("on_cancel", node("sell", "ETH-USD", 0.25))).graph_id
    venues.quote("kraken", "ETH-USD", 99.90, 99.95)  # the limit buy fills
    s = status(engine, gid)
    assert s.nodes["parent"].status == "completed"
    assert not s.edges["parent->child"].fired
    assert s.nodes["child"].status == "skipped"
    assert s.status == "completed"


def test_on_done_fires_on_any_terminal_state() -> None:
    engine, venues, _ = setup()
    spec = parent_child("on_done", node("sell", "ETH-USD", 0.25))
    spec["risk"] = {"pre_trade": {"max_node_notional_usd": 50}}  # the parent ($100) is refused
    gid = engine.submit(spec).graph_id
    venues.deliver()
    s = status(engine, gid)
    assert s.nodes["parent"].status == "rejected" and "max_node_notional_usd" in (
        s.nodes["parent"].reason or ""
    )
    assert s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].status == "completed"  # 0.25 at $100 is within the $50 gate
    assert s.status == "aborted"


# ------------------------------------------------------------------ sizings


def _size(sizing: Any, child_symbol: str = "ETH-USD-PERP", side: str = "sell") -> int:
    engine, venues, _ = setup()
    venues.quote("kraken", "ETH-USD-PERP", 199.95, 200.05)
    passive(venues)
    spec = parent_child("on_first_fill", node(side, child_symbol), **({"sizing": sizing} if sizing else {}))
    gid = engine.submit(spec).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "parent"), 0.4, 100.0)
    return status(engine, gid).nodes["child"].target_qty_1e8


def test_each_sizing_gives_its_quantity() -> None:
    assert _size(None) == px(0.4)  # derived default: the parent's filled qty
    assert _size("parent_filled_qty") == px(0.4)
    assert _size("incremental_fill") == px(0.4)
    assert _size({"linear_hedge": -2.0}) == px(0.8)
    assert _size({"linear_hedge": 0.5}, side="buy") == px(0.2)
    assert _size("residual") == px(0.6)
    assert _size({"fixed": 0.25}) == px(0.25)
    # $40 filled x 3 = $120, capped at $100, at the perp's $200 mid: 0.5
    assert _size({"scaled_notional": {"multiplier": 3.0, "cap_usd": 100.0}}) == px(0.5)
    assert _size({"scaled_notional": {"multiplier": 3.0}}) == px(0.6)


def test_incremental_fill_adds_only_the_fill_since_the_last_firing() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_fill", sizing="incremental_fill")).graph_id
    venues.deliver()
    cid = the_order(venues, "parent")
    targets = []
    for qty in (0.1, 0.3, 0.2):
        venues.fill(cid, qty, 99.95)
        targets.append(status(engine, gid).nodes["child"].target_qty_1e8)
    assert targets == [px(0.1), px(0.4), px(0.6)]


def test_linear_hedge_that_contradicts_the_child_side_is_refused() -> None:
    engine, venues, _ = setup()
    with pytest.raises(AdmissionError, match=r"linear_hedge -1.0 from 'parent' \(buy\) gives a sell"):
        engine.submit(parent_child("on_fill", node("buy", "ETH-USD-PERP"), sizing={"linear_hedge": -1.0}))
    assert venues.placed == []


# ------------------------------------------------------------------ recipes


def test_streaming_hedge_follows_every_fill_at_minus_one_and_ends_flat() -> None:
    engine, venues, clock = setup()
    venues.quote("kraken", "ETH-USD-PERP", 100.00, 100.10)
    venues.venues["kraken"].auto_fill = False
    spec = {
        "nodes": {
            "spot": node("buy", "ETH-USD", 100.0, limit_price=99.95),
            "hedge": node("sell", "ETH-USD-PERP", perp=True),
        },
        "edges": [edge("spot", "hedge", "on_fill", sizing={"linear_hedge": -1.0})],
    }
    gid = engine.submit(spec).graph_id
    venues.deliver()
    spot = the_order(venues, "spot")
    for qty in (10.0, 25.0, 5.0, 60.0):
        venues.fill(spot, qty, 99.95)
        for order in venues.open_orders("ETH-USD-PERP"):  # the perp book takes the hedge
            venues.fill(order.cid, (order.qty - order.filled) / SCALE, 100.0)
        run_for(engine, venues, clock, 200)
        s = status(engine, gid)
        assert s.nodes["hedge"].filled_qty_1e8 == s.nodes["spot"].filled_qty_1e8
    s = status(engine, gid)
    assert s.nodes["spot"].filled_qty_1e8 == px(100.0)
    assert s.edges["spot->hedge"].fire_count == 4
    assert s.status == "completed"
    assert sum(o.filled if o.side == "buy" else -o.filled for o in venues.orders.values()) == 0


def test_bracket_take_profit_rests_after_the_full_fill_and_the_stop_fires_below_the_offset() -> None:
    engine, venues, _ = setup()
    market(venues, 70_000.0, ("BTC-USD",))
    spec = {
        "nodes": {
            "entry": node("buy", "BTC-USD", 0.1),
            "tp": node("sell", "BTC-USD", limit_price=80_000.0),
            "sl": node("sell", "BTC-USD"),
        },
        "edges": [
            edge("entry", "tp", "on_full_fill"),
            edge(
                "entry", "sl", {"on_price": {"symbol": "BTC-USD", "direction": "below", "offset_pct": -5.0}}
            ),
        ],
        "risk": {"runtime": {"max_loss_usd": 2000}, "failure": {"on_runtime_breach": "cancel_all_open"}},
    }
    gid = engine.submit(spec).graph_id
    venues.deliver()
    s = status(engine, gid)
    assert s.nodes["entry"].status == "completed" and s.nodes["entry"].avg_price == 70_000.05
    (tp,) = s.nodes["tp"].orders
    assert tp.status == "live" and tp.price_1e8 == px(80_000.0) and tp.qty_1e8 == px(0.1)
    assert s.nodes["sl"].status == "pending"
    venues.quote("kraken", "BTC-USD", 66_600.0, 66_600.2)  # mid 66600.1 > 95% of 70000.05
    assert status(engine, gid).nodes["sl"].status == "pending"
    venues.quote("kraken", "BTC-USD", 66_400.0, 66_400.2)  # below the stop level
    s = status(engine, gid)
    assert s.edges["entry->sl"].fire_count == 1
    assert s.nodes["sl"].filled_qty_1e8 == px(0.1) and s.nodes["sl"].status == "completed"
    assert s.nodes["tp"].orders[0].status == "cancelled"  # one-cancels-other
    assert s.nodes["tp"].status == "completed" and s.nodes["tp"].filled_qty_1e8 == 0
    assert s.status == "completed"
    assert venues.open_orders() == []


def test_bracket_take_profit_filling_skips_the_stop() -> None:
    engine, venues, _ = setup()
    market(venues, 70_000.0, ("BTC-USD",))
    spec = {
        "nodes": {
            "entry": node("buy", "BTC-USD", 0.1),
            "tp": node("sell", "BTC-USD", limit_price=80_000.0),
            "sl": node("sell", "BTC-USD"),
        },
        "edges": [
            edge("entry", "tp", "on_full_fill"),
            edge(
                "entry", "sl", {"on_price": {"symbol": "BTC-USD", "direction": "below", "offset_pct": -5.0}}
            ),
        ],
    }
    gid = engine.submit(spec).graph_id
    venues.quote("kraken", "BTC-USD", 80_000.0, 80_000.5)
    s = status(engine, gid)
    assert s.nodes["tp"].status == "completed" and s.nodes["tp"].avg_price == 80_000.0
    assert s.nodes["sl"].status == "skipped"
    assert s.status == "completed"
    assert s.pnl_usd == pytest.approx(0.1 * (80_000.0 - 70_000.05))


def test_twap_spaces_ten_slices_by_the_interval_and_fills_the_target() -> None:
    engine, venues, clock = setup()
    passive(venues)
    t0 = clock.ms
    gid = engine.submit(
        {"nodes": {"twap": node("buy", "ETH-USD", 1.0, twap={"slices": 10, "interval_ms": 30_000})}}
    ).graph_id
    s = status(engine, gid)
    assert [sl.start_ms - t0 for sl in s.nodes["twap"].slices] == [i * 30_000 for i in range(10)]
    assert sum(sl.target_qty_1e8 for sl in s.nodes["twap"].slices) == px(1.0)
    venues.venues["kraken"].auto_fill = True  # crossing orders fill; passive ones wait
    run_for(engine, venues, clock, 10 * 30_000 + 100, step_ms=250)
    s = status(engine, gid)
    assert s.status == "completed" and s.nodes["twap"].filled_qty_1e8 == px(1.0)
    assert [sl.status for sl in s.nodes["twap"].slices] == ["completed"] * 10
    first_order_at = {}
    for o in venues.placed:
        first_order_at.setdefault(o.cid.split("-s")[1].split("-")[0], o.at_ms)
    assert sorted(t - t0 for t in first_order_at.values()) == [i * 30_000 for i in range(10)]
    assert len({o.cid for o in venues.placed}) == len(venues.placed)


# ------------------------------------------------------------------ execution


def test_a_node_starts_passive_at_the_touch_and_crosses_as_the_horizon_runs_out() -> None:
    engine, venues, clock = setup()
    passive(venues)
    gid = engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0, horizon_ms=10_000)}}).graph_id
    venues.deliver()
    assert venues.placed[0].price == px(99.95) and venues.placed[0].tif == "gtc"  # joins the bid
    run_for(engine, venues, clock, 5_000)
    live = venues.open_orders()[0]
    assert px(99.95) < live.price < px(100.05)  # halfway: inside the spread
    venues.venues["kraken"].auto_fill = True
    run_for(engine, venues, clock, 5_100)
    last = venues.placed[-1]
    assert last.tif == "ioc" and last.price == px(100.05)
    assert status(engine, gid).status == "completed"


def test_a_node_never_pays_past_max_slippage_and_expires_instead() -> None:
    engine, venues, clock = setup()
    gid = engine.submit(
        {"nodes": {"n": node("buy", "ETH-USD", 1.0, horizon_ms=1_000, urgency="urgent", max_slippage_bps=2)}}
    ).graph_id
    venues.deliver()
    cap = px(100.0 * 1.0002)
    assert all(o.price is not None and o.price <= cap for o in venues.placed)
    assert status(engine, gid).nodes["n"].filled_qty_1e8 == 0  # the ask (100.05) is past the cap (100.02)
    venues.quote("kraken", "ETH-USD", 100.5, 100.6)  # the market runs away
    run_for(engine, venues, clock, 1_100)
    assert all(o.price is not None and o.price <= cap for o in venues.placed)
    s = status(engine, gid)
    assert s.nodes["n"].status == "expired" and s.status == "expired"


def test_sor_routes_to_the_venue_with_the_best_price_for_the_side() -> None:
    engine, venues, _ = setup()
    venues.quote("coinbase", "ETH-USD", 99.97, 100.02)
    engine.submit({"nodes": {"b": node("buy", "ETH-USD", 1.0), "s": node("sell", "ETH-USD", 1.0)}})
    by_node = {o.cid.split("-")[1]: o for o in venues.placed}
    assert by_node["b"].venue == "coinbase" and by_node["b"].price == px(100.02)
    assert by_node["s"].venue == "coinbase" and by_node["s"].price == px(99.97)


def test_a_sandbox_graph_only_uses_paper_venues() -> None:
    engine, venues, _ = setup()
    venues.quote("coinbase", "ETH-USD", 99.97, 100.02)
    engine.on_venue_up("coinbase", paper=False)
    engine.submit({"nodes": {"b": node("buy", "ETH-USD", 1.0)}})
    assert [o.venue for o in venues.placed] == ["kraken"]
    with pytest.raises(AdmissionError, match="venue 'coinbase' is live but the graph is sandbox"):
        engine.submit({"nodes": {"b": node("buy", "ETH-USD", 1.0, venue="coinbase")}})


# ------------------------------------------------------------------ risk


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
    s = status(engine, gid)
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
    assert status(engine, gid).status == "partial_fill"
    venues.fill(the_order(venues, "spot"), 2.0, 99.95)  # 6 unhedged
    venues.deliver()
    s = status(engine, gid)
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
    s = status(engine, gid)
    assert s.status == "paused" and "max_loss_usd" in (s.reason or "")
    assert venues.open_orders() == []
    placed = len(venues.placed)
    run_for(engine, venues, clock, 1_000)
    assert len(venues.placed) == placed  # nothing is placed while paused
    engine.resume(gid)
    venues.deliver()
    s = status(engine, gid)
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
    s = status(engine, gid)
    assert any("max_drawdown_usd" in b for b in s.breaches)
    assert s.status == "partial_fill" and venues.open_orders()


def test_cancel_pending_stops_nodes_that_have_not_started() -> None:
    engine, venues, _ = setup()
    passive(venues)
    venues.quote("kraken", "ETH-USD-PERP", 99.95, 100.05)
    gid = engine.submit(_hedge_graph("cancel_pending", max_unhedged_qty=1.0)).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "spot"), 2.0, 99.95)
    s = status(engine, gid)
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
    s = status(engine, gid)
    assert s.status == "paused" and "disconnected" in (s.reason or "")
    assert s.nodes["n"].orders[0].status == "pending_cancel"  # could not reach the venue
    venues.venues["kraken"].up = True
    engine.on_venue_up("kraken")
    venues.deliver()
    assert status(engine, gid).nodes["n"].orders[0].status == "cancelled"  # the cancel went out again
    assert status(engine, gid).status == "paused"  # until someone resumes it


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
    s = status(engine, gid)
    assert s.status == "aborted"
    assert [o.venue for o in venues.open_orders()] == ["kraken"]  # coinbase cancelled; kraken unreachable
    assert s.nodes["b"].orders[0].status == "cancelled"


# ------------------------------------------------------------------ lifecycle


def test_cancel_cancels_open_orders_and_aborts() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_full_fill")).graph_id
    venues.deliver()
    s = engine.cancel(gid, "changed my mind")
    venues.deliver()
    assert s.status == "aborted" and s.reason == "cancelled: changed my mind"
    assert venues.open_orders() == []
    assert status(engine, gid).nodes["child"].status == "skipped"
    with pytest.raises(GraphStateError, match="already aborted"):
        engine.cancel(gid)


def test_amend_retunes_a_running_node() -> None:
    engine, venues, clock = setup()
    passive(venues)
    gid = engine.submit(
        {"nodes": {"n": node("buy", "ETH-USD", 1.0, horizon_ms=600_000, urgency="low")}}
    ).graph_id
    venues.deliver()
    assert venues.open_orders()[0].price == px(99.95)
    clock.advance(200)
    s = engine.amend_node(gid, "n", {"urgency": "urgent", "max_slippage_bps": 10, "horizon_ms": 1_000})
    venues.deliver()
    engine.poll()
    venues.deliver()
    assert s.nodes["n"].urgency == "urgent" and s.nodes["n"].max_slippage_bps == 10
    assert venues.placed[-1].price == px(100.05)  # now crossing
    with pytest.raises(Exception, match="at least one of"):
        engine.amend_node(gid, "n", {})
    with pytest.raises(Exception, match="no node 'x'"):
        engine.amend_node(gid, "x", {"urgency": "low"})


def test_submit_with_a_known_client_id_returns_the_running_graph() -> None:
    engine, venues, _ = setup()
    passive(venues)
    first = engine.submit(
        {"client_id": "proj/g", "nodes": {"n": node("buy", "ETH-USD", 1.0, limit_price=90.0)}}
    )
    again = engine.submit(
        {"client_id": "proj/g", "nodes": {"n": node("buy", "ETH-USD", 1.0, limit_price=90.0)}}
    )
    assert again.graph_id == first.graph_id and len(venues.placed) == 1
    assert engine.status(first.graph_id).client_id == "proj/g"


def test_metadata_is_kept_with_the_graph_and_listed() -> None:
    engine, venues, _ = setup()
    meta = {"strategy": {"name": "basis", "version": 2}, "tags": ["a", "b"]}
    gid = engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0)}, "metadata": meta}).graph_id
    venues.deliver()
    assert engine.status(gid).metadata == meta
    assert [g.graph_id for g in engine.list_graphs().graphs] == [gid]
    assert engine.list_graphs(include_finished=False).graphs == []  # it completed at once


def test_an_invalid_graph_is_refused_with_its_problems() -> None:
    engine, venues, _ = setup()
    with pytest.raises(AdmissionError) as info:
        engine.submit({"nodes": {"a": node("buy", "ETH-USD", 1.0)}, "edges": [edge("a", "zz", "on_fill")]})
    assert info.value.problems == ["edges[0].to: edge refers to unknown node 'zz'"]
    with pytest.raises(AdmissionError, match="unknown trigger 'on_flil'"):
        engine.submit({"nodes": {"a": node("buy", "ETH-USD", 1.0)}, "edges": [edge("a", "a", "on_flil")]})
    assert venues.placed == []


# ------------------------------------------------------------------ ids and the journal


def test_client_order_ids_are_deterministic() -> None:
    a = client_order_id("graph_1", "spot", 0, 3, 2)
    assert a == client_order_id("graph_1", "spot", 0, 3, 2)
    assert a.endswith("-spot-s3-a2") and a.startswith("g")
    assert client_order_id("graph_1", "a node with spaces", 4, 0, 0).endswith("-n4-s0-a0")
    assert order_id_u64(a) == order_id_u64(a) != order_id_u64(client_order_id("graph_2", "spot", 0, 3, 2))


def test_restart_mid_twap_resumes_from_the_journal_without_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "graphs.db"
    engine, venues, clock = setup(journal=GraphJournal(path))
    gid = engine.submit(
        {
            "client_id": "p/twap",
            "nodes": {"twap": node("buy", "ETH-USD", 1.0, twap={"slices": 10, "interval_ms": 30_000})},
        }
    ).graph_id
    run_for(engine, venues, clock, 4 * 30_000 + 10_000, step_ms=250)
    assert 4 <= sum(sl.status == "completed" for sl in status(engine, gid).nodes["twap"].slices) < 10
    assert venues.open_orders()  # the fifth slice rests at the bid
    del engine  # kill -9: nothing is flushed or closed
    restarted, venues, clock = make(journal=GraphJournal(path), clock=clock, venues=venues)
    venues.deliver()
    assert restarted.status(gid).status == "partial_fill"
    run_for(restarted, venues, clock, 6 * 30_000, step_ms=250)
    s = restarted.status(gid)
    assert s.status == "completed" and s.nodes["twap"].filled_qty_1e8 == px(1.0)
    assert len(s.nodes["twap"].slices) == 10
    assert venues.duplicates == []
    assert len({o.cid for o in venues.placed}) == len(venues.placed)
    assert sum(o.filled for o in venues.placed) == px(1.0)


def test_an_order_is_in_the_journal_before_the_venue_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "graphs.db"
    seen_in_journal: list[bool] = []

    class CheckingVenues(PaperVenues):
        def place(self, venue: str, client_order_id: str, *args: Any) -> None:
            reader = GraphJournal(path)
            journaled = {o.client_order_id for g in reader.load() for n in g.nodes.values() for o in n.orders}
            reader.close()
            seen_in_journal.append(client_order_id in journaled)
            super().place(venue, client_order_id, *args)

    clock = ManualClock()
    venues = CheckingVenues(clock)
    venues.venues["kraken"].quotes["ETH-USD"] = (px(99.95), px(100.05))
    engine, venues, clock = make(journal=GraphJournal(path), clock=clock, venues=venues)
    engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0, twap={"slices": 3, "interval_ms": 1000})}})
    run_for(engine, venues, clock, 3_500)
    assert len(seen_in_journal) >= 3 and all(seen_in_journal)


def test_fills_made_while_the_engine_was_down_are_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "graphs.db"
    engine, venues, clock = setup(journal=GraphJournal(path))
    passive(venues)
    gid = engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0, limit_price=99.95)}}).graph_id
    venues.deliver()
    (resting,) = venues.open_orders()
    del engine
    venues._fill(resting, px(0.4), px(99.95))  # traded while nobody listened
    venues.events.clear()
    restarted, venues, clock = make(journal=GraphJournal(path), clock=clock, venues=venues)
    venues.deliver()  # the cancel's answer carries the 0.4 filled
    run_for(restarted, venues, clock, 200)
    s = restarted.status(gid)
    assert s.nodes["n"].filled_qty_1e8 == px(0.4)
    assert [o.status for o in s.nodes["n"].orders] == ["cancelled", "live"]
    assert s.nodes["n"].orders[1].qty_1e8 == px(0.6) and s.nodes["n"].orders[1].attempt == 1
    assert venues.duplicates == []


def test_the_graphs_of_a_sequence_toml_run_in_the_engine() -> None:
    from sequence.project import load_project
    from sequence_wire.graphs import GraphSubmitRequest

    project = load_project(Path(__file__).parent / "configs" / "good" / "Sequence.toml")
    engine, venues, _ = setup()
    market(venues, 65_000.0, ("BTC-USD",))
    market(venues, 100.0, ("ETH-USD-PERP",))
    venues.venues["kraken"].account = AccountSnapshot(equity_usd=1e7, available_usd=1e7)
    ids = {}
    for name, graph in project.config.graph.items():
        body = GraphSubmitRequest.model_validate({**graph.model_dump(), "client_id": f"full/{name}"})
        result = engine.submit(body)
        ids[name] = result.graph_id
        assert result.status in ("active", "partial_fill"), name
        if name == "hedge":
            assert any("'late' has a fixed qty" in w for w in result.warnings)
    venues.deliver()
    bracket = engine.status(ids["bracket"])
    assert bracket.client_id == "full/bracket"
    assert bracket.nodes["entry"].status == "completed" and bracket.nodes["tp"].status == "active"
    assert bracket.nodes["tp"].orders[0].price_1e8 == px(80_000.0)


def test_a_twap_slice_shortfall_carries_into_the_next_slice() -> None:
    engine, venues, clock = setup()
    gid = engine.submit(
        {
            "nodes": {
                "t": node("buy", "ETH-USD", 1.0, max_slippage_bps=10, twap={"slices": 2, "interval_ms": 1000})
            }
        }
    ).graph_id
    venues.quote("kraken", "ETH-USD", 100.5, 100.6)  # past the cap for all of slice 0
    run_for(engine, venues, clock, 1_050)
    slices = engine.status(gid).nodes["t"].slices
    assert [s.status for s in slices] == ["expired", "active"]
    assert slices[0].filled_qty_1e8 == 0 and slices[1].target_qty_1e8 == px(1.0)
    venues.quote("kraken", "ETH-USD", 99.95, 100.05)
    run_for(engine, venues, clock, 1_000)
    s = engine.status(gid)
    assert s.nodes["t"].filled_qty_1e8 == px(1.0) and s.status == "completed"


def test_urgency_and_policy_set_how_far_into_the_spread_an_order_goes() -> None:
    from sequence_coordinator.graphs.execution import aggression

    assert [aggression("low", "sor", f, False) for f in (0, 0.5, 1)] == [0, 0.25, 1]
    assert [aggression("normal", "sor", f, False) for f in (0, 0.5, 1)] == [0, 0.5, 1]
    assert [aggression("high", "sor", f, False) for f in (0, 0.25, 0.5)] == [0.5, 0.75, 1]
    assert aggression("urgent", "sor", 0, False) == 1
    assert aggression("urgent", "passive", 0.9, False) == 0
    assert aggression("low", "aggressive", 0, False) == 1
    assert aggression("normal", "sor", None, False) == 1  # no horizon, no limit: a market order
    assert aggression("normal", "sor", None, True) == 0  # no horizon, a limit: rests


def test_on_price_above_fires_once_from_the_fill_price() -> None:
    engine, venues, _ = setup()
    spec = {
        "nodes": {"entry": node("buy", "ETH-USD", 1.0), "take": node("sell", "ETH-USD")},
        "edges": [
            edge(
                "entry", "take", {"on_price": {"symbol": "ETH-USD", "direction": "above", "offset_pct": 2.0}}
            )
        ],
    }
    gid = engine.submit(spec).graph_id
    venues.deliver()  # filled at 100.05: fires at a mid >= 102.051
    venues.quote("kraken", "ETH-USD", 101.9, 102.1)
    assert not engine.status(gid).edges["entry->take"].fired
    venues.quote("kraken", "ETH-USD", 102.1, 102.2)
    s = engine.status(gid)
    assert s.edges["entry->take"].fire_count == 1 and s.nodes["take"].filled_qty_1e8 == px(1.0)
    assert s.status == "completed"


def test_the_engine_and_the_wire_models_never_import_the_control_plane() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sequence_coordinator.graphs, sequence_wire.graphs; "
        "bad = sorted(m for m in sys.modules if m == 'sequence' or m.startswith(('sequence.', 'sequence_edge'))); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_finished_graphs_are_forgotten_after_a_while(tmp_path: Path) -> None:
    engine, venues, clock = setup(journal=GraphJournal(tmp_path / "g.db"))
    done = engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0)}}).graph_id
    venues.deliver()
    passive(venues)
    running = engine.submit({"nodes": {"n": node("buy", "ETH-USD", 1.0, limit_price=90.0)}}).graph_id
    clock.advance(60_000)
    assert engine.forget_finished(clock.ms) == 1
    assert [g.graph_id for g in engine.list_graphs().graphs] == [running]
    assert [g.graph_id for g in GraphJournal(tmp_path / "g.db").load()] == [running]
    with pytest.raises(Exception, match=f"no graph '{done}'"):
        engine.status(done)


def test_a_bracket_restarted_mid_way_keeps_its_stop_reference_and_edges(tmp_path: Path) -> None:
    path = tmp_path / "graphs.db"
    engine, venues, clock = setup(journal=GraphJournal(path))
    market(venues, 70_000.0, ("BTC-USD",))
    spec = {
        "nodes": {
            "entry": node("buy", "BTC-USD", 0.1),
            "tp": node("sell", "BTC-USD", limit_price=80_000.0),
            "sl": node("sell", "BTC-USD"),
        },
        "edges": [
            edge("entry", "tp", "on_full_fill"),
            edge(
                "entry", "sl", {"on_price": {"symbol": "BTC-USD", "direction": "below", "offset_pct": -5.0}}
            ),
        ],
    }
    gid = engine.submit(spec).graph_id
    venues.deliver()
    before = engine.status(gid)
    del engine
    restarted, venues, clock = make(journal=GraphJournal(path), clock=clock, venues=venues)
    venues.deliver()
    run_for(restarted, venues, clock, 200)
    after = restarted.status(gid)
    assert after.edges == before.edges and after.nodes["entry"] == before.nodes["entry"]
    assert [(o.attempt, o.status) for o in after.nodes["tp"].orders] == [(0, "cancelled"), (1, "live")]
    venues.quote("kraken", "BTC-USD", 66_400.0, 66_400.2)  # 5% under the entry's 70,000.05
    s = restarted.status(gid)
    assert s.nodes["sl"].filled_qty_1e8 == px(0.1) and s.status == "completed"
    assert venues.duplicates == [] and venues.open_orders() == []


def _example_graphs() -> dict[str, dict[str, Any]]:
    from sequence.project import load_project

    project = load_project(Path(__file__).parents[1] / "examples" / "graphs" / "Sequence.toml")
    return {
        name: {**g.model_dump(), "client_id": f"graphs/{name}"} for name, g in project.config.graph.items()
    }


def _example_market(venues: PaperVenues) -> None:
    venues.quote("kraken", "BTC-USD", 64_999.0, 65_001.0)
    venues.quote("coinbase", "BTC-USD", 64_998.0, 65_002.0)
    venues.quote("kraken", "ETH-USD", 2_999.9, 3_000.1)
    venues.quote("kraken", "ETH-USD-PERP", 3_000.9, 3_001.1)


def test_example_twap_completes_with_ten_slices() -> None:
    engine, venues, clock = make()
    _example_market(venues)
    gid = engine.submit(_example_graphs()["twap"]).graph_id
    run_for(engine, venues, clock, 31_000, step_ms=100)
    s = engine.status(gid)
    assert s.status == "completed" and s.nodes["twap"].filled_qty_1e8 == px(1.0)
    assert len(s.nodes["twap"].slices) == 10
    assert {o.cid.split("-s")[1].split("-")[0] for o in venues.placed} == {str(i) for i in range(10)}


def test_example_streaming_hedge_ends_flat() -> None:
    engine, venues, clock = make()
    _example_market(venues)
    venues.venues["kraken"].auto_fill = False
    gid = engine.submit(_example_graphs()["hedge"]).graph_id
    venues.deliver()
    for qty in (3.0, 5.0, 4.0):  # the spot order is hit passively three times
        venues.fill(the_order(venues, "spot"), qty, 2_999.9)
        for order in venues.open_orders("ETH-USD-PERP"):
            venues.fill(order.cid, (order.qty - order.filled) / SCALE, 3_000.9)
    venues.venues["kraken"].auto_fill = True
    run_for(engine, venues, clock, 31_000, step_ms=500)
    s = engine.status(gid)
    assert s.nodes["spot"].filled_qty_1e8 == px(20.0)
    assert s.nodes["perp"].filled_qty_1e8 == px(20.0) and s.status == "completed"
    assert s.edges["spot->perp"].fire_count >= 4


def test_example_bracket_and_breakout() -> None:
    engine, venues, _ = make()
    _example_market(venues)
    examples = _example_graphs()
    bracket = engine.submit(examples["bracket"]).graph_id
    breakout = engine.submit(examples["breakout"]).graph_id
    venues.deliver()
    s = engine.status(bracket)
    assert s.nodes["entry"].status == "completed" and s.metadata == {"recipe": "bracket"}
    assert s.nodes["tp"].orders[0].price_1e8 == px(66_950.0) and s.nodes["tp"].orders[0].status == "live"
    assert engine.status(breakout).nodes["entry"].status == "pending"
    venues.quote("kraken", "ETH-USD", 3_031.0, 3_031.2)  # 1% over the probe's 3,000.1
    b = engine.status(breakout)
    assert b.nodes["entry"].filled_qty_1e8 == px(2.0) and b.status == "completed"
    venues.quote("kraken", "BTC-USD", 63_600.0, 63_601.0)  # 2% under the entry
    venues.quote("coinbase", "BTC-USD", 63_599.0, 63_602.0)
    s = engine.status(bracket)
    assert s.nodes["sl"].filled_qty_1e8 == px(0.1) and s.status == "completed"


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
    assert starts[:2] == [0, 1000] and starts[2:] == [12_000, 13_000]
    run_for(engine, venues, clock, 3_000)
    s = engine.status(gid)
    assert s.status == "completed" and s.nodes["t"].filled_qty_1e8 == px(1.0)
