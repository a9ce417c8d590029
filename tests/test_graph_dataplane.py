"""Execution graphs on real processes: submitted over the coordinator's HTTP API, traded through
real edges' OMS and risk over the mesh connection, surviving edge and coordinator failures."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .graph_procs import SCALE, Coordinator, Edge, edge, node
from .mesh_support import wait_until

BTC, ETH = "BTC-USD", "ETH-USD"
# the sim markets hold still around BTC 50,000 and ETH 2,500 (tests/graph_procs.py); a node with
# no limit crosses at the far touch and fills at once. Limits stay inside the edge's default
# price band (5%).
TP_PRICE, BID_PRICE = 52_000.0, 48_000.0
# marketable limits 2% through the market: they take every level they need and fill at once
BTC_BUY, BTC_SELL = {"limit_price": 51_000.0}, {"limit_price": 49_000.0}
ETH_BUY, ETH_SELL = {"limit_price": 2_550.0}, {"limit_price": 2_450.0}


# coinbase's graph orders: at most 1,000,000 USD notional; wide quantity and position limits so
# that notional is what refuses the big order
GRAPH_RISK = '{"max_notional": 1000000, "max_order_qty": 100000, "max_position": 100000}'


@pytest.fixture(scope="module")
def venues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Coordinator, Edge, Edge]]:
    tmp = tmp_path_factory.mktemp("graphs")
    cc = Coordinator(tmp)
    kraken = Edge(tmp, cc, "kraken", seed=3)
    coinbase = Edge(tmp, cc, "coinbase", "--graph-risk", GRAPH_RISK, seed=4)
    try:
        wait_until(lambda: cc.venues_up("kraken", "coinbase"), 30, "both venues up in the graph engine")
        yield cc, kraken, coinbase
    finally:
        for proc in (kraken, coinbase, cc):
            proc.close()


def submitted(cc: Coordinator, graph: dict[str, Any]) -> str:
    resp = cc.submit(graph)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["graph_id"])


def settled(cc: Coordinator, graph_id: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        last.update(cc.graph(graph_id))
        return dict(last) if last["status"] in states else None

    try:
        return wait_until(check, timeout, f"graph {graph_id} in {states}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {json.dumps(last)[:3000]}") from None


def orders_of(status: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return list(status["nodes"][name]["orders"])


def edge_orders(e: Edge, status: dict[str, Any]) -> list[dict[str, Any]]:
    ids = {o["client_order_id"] for n in status["nodes"].values() for o in n["orders"]}
    return [o for o in e.graph_orders() if o["client_order_id"] in ids]


def test_triggers_fire_on_real_edges_hedge_accepted_and_timeout(
    venues: tuple[Coordinator, Edge, Edge],
) -> None:
    cc, kraken, coinbase = venues
    graph = {
        "nodes": {
            "entry": node("buy", BTC, 0.02, venue="kraken", **BTC_BUY),
            "hedge": node("sell", BTC, venue="coinbase", **BTC_SELL),
            "seen": node("buy", ETH, 0.01, venue="coinbase", **ETH_BUY),
            "late": node("sell", ETH, 0.01, venue="kraken", **ETH_SELL),
        },
        "edges": [
            edge("entry", "seen", "on_accepted"),
            edge("entry", "hedge", "on_fill", sizing={"linear_hedge": -1.0}),
            edge("entry", "late", {"on_timeout": {"ms": 300}}),
        ],
    }
    kraken_btc, coinbase_btc = kraken.position(BTC), coinbase.position(BTC)
    graph_id = submitted(cc, graph)
    g = settled(cc, graph_id, "completed")
    entry, hedge = g["nodes"]["entry"], g["nodes"]["hedge"]
    assert entry["filled_qty_1e8"] == 2_000_000
    assert hedge["filled_qty_1e8"] == entry["filled_qty_1e8"]  # -1x: the net is flat
    assert g["nodes"]["seen"]["filled_qty_1e8"] == g["nodes"]["late"]["filled_qty_1e8"] == 1_000_000
    assert g["edges"]["entry->hedge"]["fire_count"] >= 1
    assert g["edges"]["entry->seen"]["fired"] and g["edges"]["entry->late"]["fired"]
    # on the edges' own books: long on kraken, short the same on coinbase
    wait_until(lambda: kraken.position(BTC) - kraken_btc == 2_000_000, what="kraken long 0.02 BTC")
    wait_until(lambda: coinbase.position(BTC) - coinbase_btc == -2_000_000, what="coinbase short 0.02 BTC")
    filled = [o for o in edge_orders(kraken, g) + edge_orders(coinbase, g) if o["state"] == "filled"]
    assert {o["client_order_id"] for o in filled} >= {
        o["client_order_id"] for n in g["nodes"].values() for o in n["orders"] if o["status"] == "filled"
    }
    status = kraken.graph_status()
    assert status["fills"] >= 2 and status["acks"] >= 2 and status["account"] == ":graphs"
    edge_metrics = kraken.http.get("/metrics").text
    assert (
        'sequence_edge_graph_order_events_total{edge="kraken-0",kind="fills",venue="kraken"}' in edge_metrics
    )
    metrics = cc.http.get("/metrics").text
    sent = [line for line in metrics.splitlines() if line.startswith("sequence_graph_orders_sent_total ")]
    assert sent and float(sent[0].split()[1]) >= 4


def test_a_full_fill_places_the_bracket_take_profit(venues: tuple[Coordinator, Edge, Edge]) -> None:
    cc, kraken, _ = venues
    graph = {
        "nodes": {
            "entry": node("buy", BTC, 0.02, venue="kraken", **BTC_BUY),
            "take_profit": node("sell", BTC, venue="kraken", limit_price=TP_PRICE),
        },
        "edges": [edge("entry", "take_profit", "on_full_fill", sizing="parent_filled_qty")],
    }
    graph_id = submitted(cc, graph)

    def resting() -> list[dict[str, Any]]:
        g = cc.graph(graph_id)
        return [o for o in edge_orders(kraken, g) if o["state"] == "open" and o["side"] == "sell"]

    (tp,) = wait_until(resting, 30, "the take-profit resting on kraken")
    g = wait_until(lambda: (x := cc.graph(graph_id))["nodes"]["entry"]["status"] == "completed" and x)
    assert g["edges"]["entry->take_profit"]["fired"]
    assert tp["side"] == "sell" and tp["qty"] == 0.02 and tp["px"] == TP_PRICE
    assert tp["client_order_id"] == orders_of(g, "take_profit")[0]["client_order_id"]
    assert kraken.graph_status()["open"] >= 1

    resp = cc.http.post(f"/v1/graphs/{graph_id}/cancel", json={"reason": "test over"})
    assert resp.status_code == 200, resp.text
    g = settled(cc, graph_id, "aborted")
    wait_until(lambda: not resting(), what="the take-profit cancelled at the edge")
    assert cc.http.post(f"/v1/graphs/{graph_id}/cancel").json()["error"]["reason"] == "GraphStateError"


def test_twap_of_10_slices_completes_with_exactly_10_slices(venues: tuple[Coordinator, Edge, Edge]) -> None:
    cc, kraken, _ = venues
    twap = node("buy", ETH, 0.1, venue="kraken", twap={"slices": 10, "interval_ms": 100}, urgency="urgent")
    graph_id = submitted(cc, {"nodes": {"twap": twap}, "edges": []})
    g = settled(cc, graph_id, "completed")
    n = g["nodes"]["twap"]
    assert n["filled_qty_1e8"] == 10_000_000
    assert len(n["slices"]) == 10 and all(s["status"] == "completed" for s in n["slices"])
    assert [s["target_qty_1e8"] for s in n["slices"]] == [1_000_000] * 10
    starts = [s["start_ms"] for s in n["slices"]]
    assert all(b - a >= 100 for a, b in itertools.pairwise(starts))  # spaced by the interval
    at_edge = edge_orders(kraken, g)
    assert sum(round(o["filled"] * SCALE) for o in at_edge) == 10_000_000
    assert all(c == 1 for c in Counter(o["client_order_id"] for o in at_edge).values())


def test_admission_and_edge_risk_refuse(venues: tuple[Coordinator, Edge, Edge]) -> None:
    cc, kraken, coinbase = venues
    before = len(kraken.graph_orders()) + len(coinbase.graph_orders())
    big = {
        "nodes": {"a": node("buy", BTC, 5.0, venue="kraken")},
        "edges": [],
        "risk": {"admission": {"max_notional_usd": 10.0}},
    }
    resp = cc.submit(big)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["reason"] == "AdmissionError" and "notional" in err["message"]
    # a balance check against the edge's paper account (ACCOUNT frames): 1000 BTC is far beyond
    # its 100,000 USD of equity, 0.001 BTC is not
    broke = {
        "nodes": {"a": node("buy", BTC, 1000.0, venue="kraken")},
        "edges": [],
        "risk": {"pre_trade": {"require_balance_check": True}},
    }
    g = settled(cc, submitted(cc, broke), "aborted", "completed", "expired")
    assert g["nodes"]["a"]["status"] == "rejected" and g["nodes"]["a"]["filled_qty_1e8"] == 0
    assert "balance check" in g["nodes"]["a"]["reason"] and "available" in g["nodes"]["a"]["reason"]
    assert not g["nodes"]["a"]["orders"]  # refused before any order left
    small = {**broke, "nodes": {"a": node("buy", BTC, 0.001, venue="kraken", **BTC_BUY)}}
    assert settled(cc, submitted(cc, small), "completed")["nodes"]["a"]["filled_qty_1e8"] == 100_000
    before += 1  # that one traded
    bad = cc.submit({"nodes": {"a": {"side": "hold", "symbol": BTC, "qty": 1}}, "edges": []})
    assert bad.status_code == 422 and "side" in bad.json()["error"]["message"]
    assert cc.http.post("/v1/graphs", content=b"{nope").json()["error"]["reason"] == "BadJson"
    assert cc.http.get("/v1/graphs/graph_nope").status_code == 404
    assert len(kraken.graph_orders()) + len(coinbase.graph_orders()) == before  # nothing placed


def test_the_edge_risk_refuses_a_graph_order_with_its_reason(venues: tuple[Coordinator, Edge, Edge]) -> None:
    cc, _, coinbase = venues  # coinbase's graph orders are limited to 1,000,000 USD notional
    graph_id = submitted(cc, {"nodes": {"big": node("buy", BTC, 1000.0, venue="coinbase")}, "edges": []})

    def refused() -> list[dict[str, Any]]:
        return [o for o in orders_of(cc.graph(graph_id), "big") if o["status"] == "rejected"]

    rejected = wait_until(refused, 30, "the edge's risk to refuse the order")
    assert rejected[0]["reason"] == "MAX_NOTIONAL"
    at_edge = [o for o in coinbase.graph_orders() if o["client_order_id"] == rejected[0]["client_order_id"]]
    assert at_edge and at_edge[0]["state"] == "rejected"
    cc.http.post(f"/v1/graphs/{graph_id}/cancel")


def test_amend_and_list(venues: tuple[Coordinator, Edge, Edge]) -> None:
    cc, _kraken, _ = venues
    resting = node("buy", BTC, 0.01, venue="kraken", limit_price=BID_PRICE)
    graph_id = submitted(cc, {"client_id": "tests/amend", "nodes": {"bid": resting}, "edges": []})
    again = cc.submit({"client_id": "tests/amend", "nodes": {"bid": resting}, "edges": []})
    assert again.status_code == 200 and again.json()["graph_id"] == graph_id  # idempotent by client_id
    resp = cc.http.put(f"/v1/graphs/{graph_id}/nodes/bid", json={"urgency": "low", "horizon_ms": 60_000})
    assert resp.status_code == 200, resp.text
    assert resp.json()["nodes"]["bid"]["urgency"] == "low"
    assert cc.http.put(f"/v1/graphs/{graph_id}/nodes/nope", json={"urgency": "low"}).status_code == 404
    assert cc.http.put(f"/v1/graphs/{graph_id}/nodes/bid", json={}).status_code == 400
    running = cc.get("/v1/graphs", include_finished="0")["graphs"]
    assert graph_id in {g["graph_id"] for g in running}
    assert cc.http.post(f"/v1/graphs/{graph_id}/resume").status_code == 409  # not paused
    cc.http.post(f"/v1/graphs/{graph_id}/cancel")
    settled(cc, graph_id, "aborted")


def test_an_edge_killed_under_a_running_node_pauses_the_graph(tmp_path: Path) -> None:
    cc = Coordinator(tmp_path)
    kraken = Edge(tmp_path, cc, "kraken", seed=5)
    try:
        wait_until(lambda: cc.venues_up("kraken"), 30, "kraken up")
        resting = node("buy", BTC, 0.01, venue="kraken", limit_price=BID_PRICE)
        graph = {
            "nodes": {"bid": resting},
            "edges": [],
            "risk": {"failure": {"on_disconnect": "pause_graph"}},
        }
        graph_id = submitted(cc, graph)
        wait_until(lambda: [o for o in kraken.graph_orders() if o["state"] == "open"], what="the bid resting")
        kraken.kill()
        g = settled(cc, graph_id, "paused")
        assert any("kraken" in b and "disconnected" in b for b in g["breaches"])
        kraken.start()  # a fresh edge process: the old bid died with it
        wait_until(lambda: cc.venues_up("kraken"), 30, "kraken back")
        assert cc.http.post(f"/v1/graphs/{graph_id}/resume").status_code == 200
        wait_until(lambda: [o for o in kraken.graph_orders() if o["state"] == "open"], what="the bid again")
        g = cc.graph(graph_id)
        assert g["status"] in ("active", "pending", "partial_fill")
    finally:
        kraken.close()
        cc.close()


def test_coordinator_kill9_mid_twap_still_trades_exactly_10_slices(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cc = Coordinator(tmp_path, state_dir=state)
    kraken = Edge(tmp_path, cc, "kraken", seed=6)
    try:
        wait_until(lambda: cc.venues_up("kraken"), 30, "kraken up")
        twap = node(
            "buy", ETH, 0.1, venue="kraken", twap={"slices": 10, "interval_ms": 1000}, urgency="urgent"
        )
        graph_id = submitted(cc, {"nodes": {"twap": twap}, "edges": []})
        wait_until(
            lambda: (
                sum(s["status"] == "completed" for s in cc.graph(graph_id)["nodes"]["twap"]["slices"]) >= 3
            ),
            30,
            "three slices done",
        )
        cc.kill()
        cc.start()  # same ports, same --state-dir
        g = settled(cc, graph_id, "completed", timeout=60)
        n = g["nodes"]["twap"]
        assert len(n["slices"]) == 10 and n["filled_qty_1e8"] == 10_000_000
        # a slice whose whole window fell into the downtime carries its quantity to the next one
        assert all(s["status"] in ("completed", "expired") for s in n["slices"])
        assert sum(s["filled_qty_1e8"] for s in n["slices"]) == 10_000_000
        starts = [s["start_ms"] for s in n["slices"]]
        assert all(b - a == 1000 for a, b in itertools.pairwise(starts))  # the schedule survived
        at_edge = kraken.graph_orders()  # this edge only ever traded this graph
        ids = Counter(o["client_order_id"] for o in at_edge)
        assert ids and max(ids.values()) == 1, ids  # no client order id reached the edge twice
        assert not [o for o in at_edge if o["state"] == "rejected"]  # so no DUPLICATE_ID either
        assert sum(round(o["filled"] * SCALE) for o in at_edge) == 10_000_000
        assert kraken.position(ETH) == 10_000_000
    finally:
        kraken.close()
        cc.close()


def test_the_client_package_drives_a_graph_through_its_lifecycle(
    venues: tuple[Coordinator, Edge, Edge],
) -> None:
    from sequence.client import CoordinatorClient, Rejected
    from sequence_wire.graph_builder import GraphBuilder, Node

    cc, _kraken, _ = venues
    spec = GraphBuilder().node("bid", Node.buy(BTC, 0.01).venue("kraken").limit_price(BID_PRICE)).build()
    with CoordinatorClient(f"127.0.0.1:{cc.port}") as client:
        submitted_ = client.graph_submit(spec, client_id="tests/client")
        assert submitted_.status in ("pending", "active")
        assert client.graph_submit(spec, client_id="tests/client").graph_id == submitted_.graph_id
        amended = client.graph_amend(submitted_.graph_id, "bid", {"urgency": "low"})
        assert amended.nodes["bid"].urgency == "low"
        listed = client.graph_list(include_finished=False).graphs
        assert submitted_.graph_id in {g.graph_id for g in listed}
        with pytest.raises(Rejected) as refused:
            client.graph_resume(submitted_.graph_id)  # not paused
        assert refused.value.status == 409
        client.graph_cancel(submitted_.graph_id, reason="tests")
        done = wait_until(
            lambda: (s := client.graph_status(submitted_.graph_id)).status == "aborted" and s, 30, "aborted"
        )
        assert done.nodes["bid"].status == "cancelled"
