"""The execution graph engine through its venue port: triggers, sizings, recipes, execution, lifecycle.

Paper venues (tests/graph_venues.py) ack and fill orders; a manual clock drives timers.
"""

from __future__ import annotations

from typing import Any

import pytest

from sequence_coordinator.graphs import AdmissionError, GraphStateError

from .graph_venues import (
    SCALE,
    edge,
    make,
    market,
    node,
    parent_child,
    passive,
    px,
    run_for,
    setup,
    the_order,
)


def test_roots_start_and_children_wait() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_full_fill")).graph_id
    venues.deliver()
    s = engine.status(gid)
    assert s.nodes["parent"].status == "active" and len(s.nodes["parent"].orders) == 1
    assert s.nodes["child"].status == "pending" and not s.nodes["child"].orders
    assert s.status == "active"


def test_on_accepted_fires_once_when_the_venue_acks() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_accepted", node("sell", "ETH-USD-PERP", 0.5))).graph_id
    assert engine.status(gid).edges["parent->child"].fire_count == 0  # placed, not yet acked
    venues.deliver()
    s = engine.status(gid)
    assert s.edges["parent->child"].fired and s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].target_qty_1e8 == px(0.5)
    venues.fill(the_order(venues, "parent"), 1.0, 99.95)
    assert engine.status(gid).edges["parent->child"].fire_count == 1


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
    s = engine.status(gid)
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
    assert not engine.status(gid).edges["parent->child"].fired
    venues.fill(cid, 0.01, 99.95)
    s = engine.status(gid)
    assert s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].target_qty_1e8 == px(1.0)


def test_on_fill_ratio_fires_once_when_the_ratio_is_crossed() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_fill_ratio", condition={"fill_ratio_gte": 0.5})).graph_id
    venues.deliver()
    cid = the_order(venues, "parent")
    venues.fill(cid, 0.4, 99.95)
    assert not engine.status(gid).edges["parent->child"].fired
    venues.fill(cid, 0.2, 99.95)
    assert engine.status(gid).edges["parent->child"].fire_count == 1
    assert engine.status(gid).nodes["child"].target_qty_1e8 == px(0.6)
    venues.fill(cid, 0.4, 99.95)
    assert engine.status(gid).edges["parent->child"].fire_count == 1


def test_on_fill_with_a_fill_ratio_is_accepted_with_a_warning_and_fires_on_every_fill() -> None:
    engine, venues, _ = setup()
    passive(venues)
    result = engine.submit(parent_child("on_fill", condition={"fill_ratio_gte": 0.9}))
    assert any("ignores condition.fill_ratio_gte" in w for w in result.warnings)
    venues.deliver()
    cid = the_order(venues, "parent")
    venues.fill(cid, 0.1, 99.95)
    venues.fill(cid, 0.1, 99.95)
    assert engine.status(result.graph_id).edges["parent->child"].fire_count == 2


def test_on_timeout_fires_exactly_ms_after_the_source_activates() -> None:
    engine, venues, clock = setup()
    passive(venues)
    gid = engine.submit(parent_child({"on_timeout": {"ms": 5000}}, sizing="residual")).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "parent"), 0.3, 99.95)
    assert engine.next_wakeup_ms() is not None
    clock.advance(4999)
    engine.poll()
    assert not engine.status(gid).edges["parent->child"].fired
    clock.advance(1)
    engine.poll()
    s = engine.status(gid)
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
    s = engine.status(gid)
    assert s.nodes["parent"].status == "cancelled"
    assert s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].status in ("active", "completed")


def test_on_cancel_does_not_fire_when_the_parent_fills_and_the_child_is_skipped() -> None:
    engine, venues, _ = setup()
    gid = engine.submit(parent_child("on_cancel", node("sell", "ETH-USD", 0.25))).graph_id
    venues.quote("kraken", "ETH-USD", 99.90, 99.95)  # the limit buy fills
    s = engine.status(gid)
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
    s = engine.status(gid)
    assert s.nodes["parent"].status == "rejected" and "max_node_notional_usd" in (
        s.nodes["parent"].reason or ""
    )
    assert s.edges["parent->child"].fire_count == 1
    assert s.nodes["child"].status == "completed"  # 0.25 at $100 is within the $50 gate
    assert s.status == "aborted"


def _size(sizing: Any, child_symbol: str = "ETH-USD-PERP", side: str = "sell") -> int:
    engine, venues, _ = setup()
    venues.quote("kraken", "ETH-USD-PERP", 199.95, 200.05)
    passive(venues)
    spec = parent_child("on_first_fill", node(side, child_symbol), **({"sizing": sizing} if sizing else {}))
    gid = engine.submit(spec).graph_id
    venues.deliver()
    venues.fill(the_order(venues, "parent"), 0.4, 100.0)
    return engine.status(gid).nodes["child"].target_qty_1e8


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
        targets.append(engine.status(gid).nodes["child"].target_qty_1e8)
    assert targets == [px(0.1), px(0.4), px(0.6)]


def test_linear_hedge_that_contradicts_the_child_side_is_refused() -> None:
    engine, venues, _ = setup()
    with pytest.raises(AdmissionError, match=r"linear_hedge -1.0 from 'parent' \(buy\) gives a sell"):
        engine.submit(parent_child("on_fill", node("buy", "ETH-USD-PERP"), sizing={"linear_hedge": -1.0}))
    assert venues.placed == []


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
        s = engine.status(gid)
        assert s.nodes["hedge"].filled_qty_1e8 == s.nodes["spot"].filled_qty_1e8
    s = engine.status(gid)
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
    s = engine.status(gid)
    assert s.nodes["entry"].status == "completed" and s.nodes["entry"].avg_price == 70_000.05
    (tp,) = s.nodes["tp"].orders
    assert tp.status == "live" and tp.price_1e8 == px(80_000.0) and tp.qty_1e8 == px(0.1)
    assert s.nodes["sl"].status == "pending"
    venues.quote("kraken", "BTC-USD", 66_600.0, 66_600.2)  # mid 66600.1 > 95% of 70000.05
    assert engine.status(gid).nodes["sl"].status == "pending"
    venues.quote("kraken", "BTC-USD", 66_400.0, 66_400.2)  # below the stop level
    s = engine.status(gid)
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
    s = engine.status(gid)
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
    s = engine.status(gid)
    assert [sl.start_ms - t0 for sl in s.nodes["twap"].slices] == [i * 30_000 for i in range(10)]
    assert sum(sl.target_qty_1e8 for sl in s.nodes["twap"].slices) == px(1.0)
    venues.venues["kraken"].auto_fill = True  # crossing orders fill; passive ones wait
    run_for(engine, venues, clock, 10 * 30_000 + 100, step_ms=250)
    s = engine.status(gid)
    assert s.status == "completed" and s.nodes["twap"].filled_qty_1e8 == px(1.0)
    assert [sl.status for sl in s.nodes["twap"].slices] == ["completed"] * 10
    first_order_at = {}
    for o in venues.placed:
        first_order_at.setdefault(o.cid.split("-s")[1].split("-")[0], o.at_ms)
    assert sorted(t - t0 for t in first_order_at.values()) == [i * 30_000 for i in range(10)]
    assert len({o.cid for o in venues.placed}) == len(venues.placed)


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
    assert engine.status(gid).status == "completed"


def test_a_node_never_pays_past_max_slippage_and_expires_instead() -> None:
    engine, venues, clock = setup()
    gid = engine.submit(
        {"nodes": {"n": node("buy", "ETH-USD", 1.0, horizon_ms=1_000, urgency="urgent", max_slippage_bps=2)}}
    ).graph_id
    venues.deliver()
    cap = px(100.0 * 1.0002)
    assert all(o.price is not None and o.price <= cap for o in venues.placed)
    assert engine.status(gid).nodes["n"].filled_qty_1e8 == 0  # the ask (100.05) is past the cap (100.02)
    venues.quote("kraken", "ETH-USD", 100.5, 100.6)  # the market runs away
    run_for(engine, venues, clock, 1_100)
    assert all(o.price is not None and o.price <= cap for o in venues.placed)
    s = engine.status(gid)
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


def test_cancel_cancels_open_orders_and_aborts() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_full_fill")).graph_id
    venues.deliver()
    s = engine.cancel(gid, "changed my mind")
    venues.deliver()
    assert s.status == "aborted" and s.reason == "cancelled: changed my mind"
    assert venues.open_orders() == []
    assert engine.status(gid).nodes["child"].status == "skipped"
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


def test_sor_works_from_nbbo_updates_too() -> None:
    engine, venues, _ = make(names=("kraken", "coinbase"))
    engine.on_nbbo("SOL-USD", px(150.0), "kraken", px(150.2), "coinbase", px(5), px(5))
    venues.venues["coinbase"].quotes["SOL-USD"] = (0, px(150.2))
    gid = engine.submit(
        {"nodes": {"b": node("buy", "SOL-USD", 2.0), "s": node("sell", "SOL-USD", 1.0, limit_price=150.0)}}
    ).graph_id
    by_node = {o.cid.split("-")[1]: o for o in venues.placed}
    assert (by_node["b"].venue, by_node["b"].price) == ("coinbase", px(150.2))
    assert (by_node["s"].venue, by_node["s"].price) == ("kraken", px(150.0))
    venues.deliver()
    assert engine.status(gid).nodes["b"].status == "completed"


def test_amend_applies_to_a_pending_node_and_refuses_a_finished_one() -> None:
    engine, venues, _ = setup()
    passive(venues)
    gid = engine.submit(parent_child("on_full_fill", node("sell", "ETH-USD", 1.0))).graph_id
    venues.deliver()
    s = engine.amend_node(gid, "child", {"horizon_ms": 5_000, "urgency": "high"})
    assert s.nodes["child"].status == "pending" and s.nodes["child"].horizon_ms == 5_000
    venues.fill(the_order(venues, "parent"), 1.0, 99.95)
    child = next(o for o in venues.placed if "-child-" in o.cid)
    assert px(99.95) < child.price < px(100.05)  # high urgency starts mid-spread
    with pytest.raises(GraphStateError, match="node 'parent' is completed") as info:
        engine.amend_node(gid, "parent", {"urgency": "low"})
    assert info.value.http_status == 409


def test_a_resting_limit_stays_on_its_venue_while_the_best_touch_flips() -> None:
    engine, venues, clock = setup()
    market(venues, 100.0)
    venues.quote("coinbase", "ETH-USD", 99.99, 100.01)
    take_profit = node("sell", "ETH-USD", 1.0, policy="sor", limit_price=103.0)
    engine.submit({"nodes": {"tp": take_profit}})
    (first,) = venues.open_orders("ETH-USD")
    for bid in (100.02, 99.98, 100.03, 99.97):  # the best bid flips between the two venues
        venues.quote("kraken" if bid > 100 else "coinbase", "ETH-USD", bid, bid + 0.02)
        run_for(engine, venues, clock, 300)
    assert [o.cid for o in venues.open_orders("ETH-USD")] == [first.cid]  # never moved
    assert len(venues.placed) == 1
    venues.quote("coinbase", "ETH-USD", 103.5, 103.6)  # now it would fill at coinbase: it moves
    run_for(engine, venues, clock, 300)
    assert venues.placed[-1].venue == "coinbase" and engine.status(
        engine.list_graphs().graphs[0].graph_id
    ).nodes["tp"].filled_qty_1e8 == px(1.0)
