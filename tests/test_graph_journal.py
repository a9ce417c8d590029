"""Graph durability: deterministic order ids, the journal, restarts without duplicate orders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sequence_coordinator.graphs import GraphJournal
from sequence_wire.graphs import client_order_id, order_id_u64

from .graph_venues import ManualClock, PaperVenues, edge, make, market, node, passive, px, run_for, setup


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
    assert 4 <= sum(sl.status == "completed" for sl in engine.status(gid).nodes["twap"].slices) < 10
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
