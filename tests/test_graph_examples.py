"""The graphs of Sequence.toml files (tests/configs/good, examples/graphs) run in the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sequence_coordinator.graphs import AccountSnapshot

from .graph_venues import SCALE, PaperVenues, make, market, px, run_for, setup, the_order


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
