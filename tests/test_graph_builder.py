"""The Python graph builder gives the same wire form as a Sequence.toml graph, and runs in the engine."""

from __future__ import annotations

import pytest

from sequence_wire.graph_builder import FailureAction, GraphBuilder, Node, Policy, Sizing, Trigger, Urgency

from .graph_venues import PaperVenues, make, market, px


def test_the_builder_writes_the_wire_form() -> None:
    request = (
        GraphBuilder()
        .node("spot", Node.buy("ETH-USD", 200.0).policy(Policy.SOR))
        .node("hedge", Node.sell("ETH-USD-PERP", 200.0).perp().venue("hyperliquid"))
        .edge("spot", "hedge", Trigger.fill_pct(0.5))
        .risk(
            lambda r: (
                r.max_notional_usd(500_000)
                .max_leverage(3)
                .max_concurrent_graphs(5)
                .max_node_notional_usd(100_000)
                .require_balance_check()
                .max_slippage_bps(15)
                .max_unhedged_qty(5.0)
                .max_loss_usd(2_000)
                .max_drawdown_usd(5_000)
                .on_runtime_breach(FailureAction.CANCEL_ALL)
                .on_disconnect(FailureAction.PAUSE)
            )
        )
        .metadata({"desk": "basis"})
        .client_id("desk/basis-1")
        .build()
    )
    wire = request.model_dump(mode="json", by_alias=False, exclude_defaults=True)
    assert wire["edges"] == [
        {"from_": "spot", "to": "hedge", "trigger": "on_fill_ratio", "condition": {"fill_ratio_gte": 0.5}}
    ]
    assert wire["nodes"]["hedge"] == {
        "side": "sell",
        "symbol": "ETH-USD-PERP",
        "qty": 200.0,
        "venue": "hyperliquid",
        "perp": True,
    }
    assert request.risk.failure.on_runtime_breach == "cancel_all_open"
    assert request.risk.failure.on_disconnect == "pause_graph"
    assert request.risk.pre_trade.require_balance_check is True
    assert request.client_id == "desk/basis-1" and request.metadata == {"desk": "basis"}


def test_every_trigger_and_sizing_has_its_wire_form() -> None:
    builder = GraphBuilder().node("a", Node.buy("BTC-USD", 1.0))
    triggers = [
        Trigger.ON_ACCEPTED,
        Trigger.FIRST_FILL,
        Trigger.ON_FILL,
        Trigger.FULL_FILL,
        Trigger.fill_pct(0.25),
        Trigger.timeout(5_000),
        Trigger.ON_CANCEL,
        Trigger.ON_DONE,
        Trigger.on_price("BTC-USD", "below", -5.0),
    ]
    sizings = [
        Sizing.PARENT_FILLED_QTY,
        Sizing.INCREMENTAL_FILL,
        Sizing.linear_hedge(-1.0),
        Sizing.scaled_notional(0.5, cap_usd=10_000),
        Sizing.RESIDUAL,
        Sizing.fixed(0.25),
        None,
        Sizing.scaled_notional(2.0),
        Sizing.PARENT_FILLED_QTY,
    ]
    for i, (trigger, sizing) in enumerate(zip(triggers, sizings, strict=True)):
        builder.node(f"n{i}", Node.sell("BTC-USD", 0).derived())
        builder.edge_with("a", f"n{i}", trigger, lambda e, s=sizing: e.sizing(s))
    edges = builder.build().model_dump(mode="json", by_alias=False)["edges"]
    assert [e["trigger"] for e in edges] == [
        "on_accepted",
        "on_first_fill",
        "on_fill",
        "on_full_fill",
        "on_fill_ratio",
        {"on_timeout": {"ms": 5000}},
        "on_cancel",
        "on_done",
        {"on_price": {"symbol": "BTC-USD", "direction": "below", "offset_pct": -5.0}},
    ]
    assert [e["sizing"] for e in edges] == [
        "parent_filled_qty",
        "incremental_fill",
        {"linear_hedge": -1.0},
        {"scaled_notional": {"multiplier": 0.5, "cap_usd": 10000.0}},
        "residual",
        {"fixed": 0.25},
        None,
        {"scaled_notional": {"multiplier": 2.0}},
        "parent_filled_qty",
    ]


def test_a_bad_graph_is_refused_before_it_is_sent() -> None:
    sent: list[object] = []
    builder = GraphBuilder(submit=sent.append).node("a", Node.buy("BTC-USD", 1.0))
    with pytest.raises(ValueError, match="edge refers to unknown node 'b'"):
        builder.edge("a", "b", Trigger.ON_FILL).submit()
    with pytest.raises(ValueError, match="already in the graph"):
        builder.node("a", Node.sell("BTC-USD", 1.0))
    assert sent == []


def test_the_seed_recipes_built_in_python_run_in_the_engine() -> None:
    engine, venues, _ = make()
    market(venues, 70_000.0, ("BTC-USD",))
    market(venues, 100.0, ("ETH-USD", "ETH-USD-PERP"))
    bracket = (
        GraphBuilder(submit=engine.submit)
        .node("entry", Node.buy("BTC-USD", 0.1))
        .node("tp", Node.sell("BTC-USD", 0.0).derived().limit_price(80_000.0))
        .node("sl", Node.sell("BTC-USD", 0.0).derived())
        .edge("entry", "tp", Trigger.FULL_FILL)
        .edge("entry", "sl", Trigger.on_price("BTC-USD", "below", -5.0))
        .risk(lambda r: r.max_loss_usd(2_000.0).on_runtime_breach(FailureAction.CANCEL_ALL))
        .submit()
    )
    hedge = (
        GraphBuilder(submit=engine.submit)
        .node("spot", Node.buy("ETH-USD", 100.0).urgency(Urgency.URGENT))
        .node("hedge", Node.sell("ETH-USD-PERP", 0.0).perp().derived())
        .edge_with("spot", "hedge", Trigger.ON_FILL, lambda e: e.sizing(Sizing.linear_hedge(-1.0)))
        .submit()
    )
    twap = GraphBuilder(submit=engine.submit).node("twap", Node.buy("BTC-USD", 1.0).twap(10, 30_000)).submit()
    _settle(venues)
    assert engine.status(bracket.graph_id).nodes["tp"].status == "active"
    h = engine.status(hedge.graph_id)
    assert h.nodes["hedge"].filled_qty_1e8 == h.nodes["spot"].filled_qty_1e8 == px(100.0)
    assert len(engine.status(twap.graph_id).nodes["twap"].slices) == 10


def _settle(venues: PaperVenues) -> None:
    venues.deliver()
    assert venues.engine is not None
    venues.engine.poll()
    venues.deliver()
