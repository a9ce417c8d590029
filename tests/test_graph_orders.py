"""The edge side of graph orders: ORDER frames into a real Edge's OMS and risk, events back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sequence_edge.edge import Edge, EdgeConfig
from sequence_edge.orders.graph_orders import GraphOrders
from sequence_wire import mesh as mp

from .mesh_support import wait_until

BTC = "BTC-USD"


class Wire:
    """The frames GraphOrders wrote to the coordinator, decoded."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, dict[str, Any]]] = []
        self.connected = True

    def send(self, frame: bytes) -> bool:
        if not self.connected:
            return False
        reader = mp.FrameReader()
        for frame_type, buf, start, end in reader.feed(frame):
            self.frames.append((frame_type, json.loads(buf[start:end])))
        return True

    def events(self, order_id: str | None = None) -> list[dict[str, Any]]:
        out = [ev for t, body in self.frames if t == mp.ORDER_EVENTS for ev in body["events"]]
        return [ev for ev in out if order_id is None or ev["id"] == order_id]

    def accounts(self) -> list[dict[str, Any]]:
        return [body for t, body in self.frames if t == mp.ACCOUNT]


@pytest.fixture
def edge() -> Iterator[Edge]:
    e = Edge(EdgeConfig(venue="kraken", seed=7, symbols=[BTC], updates_per_sec=2000, volatility_bps=5))
    try:
        wait_until(lambda: (e.step(), e.healthy())[1] and _touch(e), what="a valid book")
        yield e
    finally:
        e.close()


def _touch(e: Edge) -> tuple[int, int] | None:
    bids, asks = e.engine.book(BTC).top(1)
    return (bids[0][0], asks[0][0]) if bids and asks else None


def place(order_id: str, side: str, qty: int, price: int | None, tif: str = "gtc") -> dict[str, Any]:
    return {
        "op": "place",
        "id": order_id,
        "symbol": BTC,
        "side": side,
        "qty_1e8": qty,
        "price_1e8": price,
        "tif": tif,
    }


def make(edge: Edge, **kw: Any) -> tuple[GraphOrders, Wire]:
    wire = Wire()
    orders = GraphOrders(edge, wire.send, **kw)
    edge.graph_orders = orders
    return orders, wire


def test_a_crossing_order_is_acked_then_filled_and_the_account_follows(edge: Edge) -> None:
    orders, wire = make(edge, equity_usd=50_000.0)
    _bid, ask = _touch(edge) or (0, 0)
    orders.on_order(place("g1-a-s0-a0", "buy", 1_000_000, ask * 2))
    kinds = [ev["kind"] for ev in wire.events("g1-a-s0-a0")]
    assert kinds[0] == "ack" and "fill" in kinds
    fills = [ev for ev in wire.events("g1-a-s0-a0") if ev["kind"] == "fill"]
    assert sum(f["qty_1e8"] for f in fills) == 1_000_000 and fills[-1]["cum_filled_1e8"] == 1_000_000
    assert all(f["price_1e8"] >= ask for f in fills)  # took the offer, never paid the limit
    account = wire.accounts()[-1]
    assert account["positions_1e8"] == {BTC: 1_000_000} and account["equity_usd"] < 50_000.0  # fees
    assert edge.edge_info().graph_orders.fills == len(fills)


def test_a_duplicate_client_order_id_never_trades_twice(edge: Edge) -> None:
    orders, wire = make(edge)
    bid, _ = _touch(edge) or (0, 0)
    orders.on_order(place("g1-a-s0-a0", "buy", 1_000_000, bid // 2))
    orders.on_order(place("g1-a-s0-a0", "buy", 1_000_000, bid // 2))
    assert [ev["kind"] for ev in wire.events("g1-a-s0-a0")] == ["ack", "reject"]
    assert wire.events("g1-a-s0-a0")[1]["reason"] == "DUPLICATE_ID"
    assert len(edge.engine.account(":graphs").open_orders()) == 1
    rows = orders.orders(open_only=False)
    assert [r["client_order_id"] for r in rows] == ["g1-a-s0-a0"]


def test_a_resting_order_is_cancelled_with_its_cumulative_fill(edge: Edge) -> None:
    orders, wire = make(edge)
    bid, _ = _touch(edge) or (0, 0)
    orders.on_order(place("g1-b-s0-a0", "buy", 1_000_000, bid // 2))
    assert orders.orders(open_only=True)[0]["client_order_id"] == "g1-b-s0-a0"
    orders.on_order({"op": "cancel", "id": "g1-b-s0-a0"})
    assert wire.events("g1-b-s0-a0")[-1] == {"id": "g1-b-s0-a0", "kind": "cancel", "cum_filled_1e8": 0}
    orders.on_order({"op": "cancel", "id": "g1-b-s0-a0"})  # closed already: the venue says so
    assert wire.events("g1-b-s0-a0")[-1]["kind"] == "reject"
    assert wire.events("g1-b-s0-a0")[-1]["reason"] == "UNKNOWN_ORDER"
    assert not edge.engine.account(":graphs").open_orders()


def test_an_ioc_that_finds_nothing_is_closed_with_a_cancel(edge: Edge) -> None:
    orders, wire = make(edge)
    bid, _ = _touch(edge) or (0, 0)
    orders.on_order(place("g1-c-s0-a0", "buy", 1_000_000, bid // 2, "ioc"))
    events = wire.events("g1-c-s0-a0")
    assert [ev["kind"] for ev in events] == ["ack", "cancel"]
    assert events[1]["reason"] == "IOC_REMAINDER" and events[1]["cum_filled_1e8"] == 0


def test_edge_risk_and_bad_orders_are_refused_with_a_reason(edge: Edge) -> None:
    orders, wire = make(edge, risk={"max_order_qty": 0.5})
    bid, _ = _touch(edge) or (0, 0)
    orders.on_order(place("g1-d-s0-a0", "buy", 100_000_000, bid // 2))
    assert wire.events("g1-d-s0-a0") == [{"id": "g1-d-s0-a0", "kind": "reject", "reason": "MAX_ORDER_QTY"}]
    orders.on_order({**place("g1-e-s0-a0", "buy", 1, bid), "side": "hold"})
    assert wire.events("g1-e-s0-a0")[0]["reason"].startswith("INVALID_ORDER: side")
    orders.on_order({**place("g1-f-s0-a0", "buy", 1, bid), "symbol": "DOGE-USD"})
    # the sim feed starts a book for any symbol: refused until that book is valid
    assert wire.events("g1-f-s0-a0")[0]["reason"] == "BOOK_STALE"
    assert not edge.engine.account(":graphs").open_orders()


def test_resting_fills_flow_back_after_edge_steps(edge: Edge) -> None:
    orders, wire = make(edge)
    bid, ask = _touch(edge) or (0, 0)
    inside = (bid + ask) // 2  # inside the spread: a new level, nobody queued ahead
    assert bid < inside < ask
    orders.on_order(place("g1-g-s0-a0", "sell", 1_000_000, inside))
    assert [ev["kind"] for ev in wire.events("g1-g-s0-a0")] == ["ack"]
    edge.engine.apply(BTC, 1, inside, 5_000_000)  # a buyer arrives at our price: it trades with us
    orders.poll()  # what the edge runs after every step
    fills = [ev for ev in wire.events("g1-g-s0-a0") if ev["kind"] == "fill"]
    assert fills and fills[-1]["cum_filled_1e8"] == 1_000_000 and fills[-1]["price_1e8"] == inside
    assert edge.edge_info().graph_orders.open == 0


def test_events_made_while_the_coordinator_is_away_are_sent_on_reconnection(edge: Edge) -> None:
    orders, wire = make(edge)
    bid, _ = _touch(edge) or (0, 0)
    orders.on_order(place("g1-h-s0-a0", "buy", 1_000_000, bid // 2))
    wire.connected = False
    orders.on_order({"op": "cancel", "id": "g1-h-s0-a0"})  # its answer cannot leave now
    assert [ev["kind"] for ev in wire.events("g1-h-s0-a0")] == ["ack"]
    assert edge.edge_info().graph_orders.events_unsent == 1
    wire.connected = True
    orders.on_connected()
    assert [ev["kind"] for ev in wire.events("g1-h-s0-a0")] == ["ack", "cancel"]
    assert wire.accounts()  # and the account right after
    assert edge.edge_info().graph_orders.events_unsent == 0
