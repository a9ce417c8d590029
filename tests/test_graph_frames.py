"""The graph-order frames as the coordinator speaks them, checked with an edge written by hand:
ORDER out on a graph submitted over HTTP, ORDER_EVENTS and ACCOUNT in, a lying edge refused."""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sequence_wire import mesh as mp

from .conftest import TEST_TOKEN
from .graph_procs import Coordinator
from .mesh_support import wait_until


class HandEdge:
    """One mesh connection driven frame by frame."""

    def __init__(self, cc: Coordinator, edge_id: str, venue: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", cc.mesh_port), timeout=10)
        hello: dict[str, Any] = {
            "protocol": mp.PROTOCOL_VERSION,
            "edge_id": edge_id,
            "venue": venue,
            "client_id": int.from_bytes(os.urandom(8), "little"),
            "token": TEST_TOKEN,
        }
        self.sock.sendall(mp.json_frame(mp.HELLO, hello))
        self.reader = mp.FrameReader()
        self.frames: list[tuple[int, bytes]] = []

    def send(self, frame_type: int, body: dict[str, Any]) -> None:
        self.sock.sendall(mp.json_frame(frame_type, body))

    def quote(self, symbol: str, bid: int, ask: int) -> None:
        self.sock.sendall(mp.tob_frame(symbol.encode(), bid, 10**8, ask, 10**8, 1))

    def next_order(self) -> dict[str, Any]:
        """The next ORDER frame (other frames are kept aside)."""
        while True:
            for frame_type, body in self.frames:
                if frame_type == mp.ORDER:
                    self.frames.remove((frame_type, body))
                    return dict(json.loads(body))
            data = self.sock.recv(1 << 16)
            if not data:
                raise AssertionError("the coordinator closed the connection")
            self.frames += [(t, bytes(buf[s:e])) for t, buf, s, e in self.reader.feed(data)]

    def closed_with_error(self) -> dict[str, Any]:
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                raise AssertionError("closed without an ERROR frame")
            for t, buf, s, e in self.reader.feed(data):
                if t == mp.ERROR:
                    return dict(json.loads(buf[s:e]))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def cc(tmp_path: Path) -> Iterator[Coordinator]:
    coordinator = Coordinator(tmp_path)
    yield coordinator
    coordinator.close()


def test_orders_go_out_as_order_frames_and_events_come_back(cc: Coordinator) -> None:
    edge = HandEdge(cc, "hand-0", "hand")
    try:
        edge.send(mp.ACCOUNT, {"equity_usd": 5000.0, "available_usd": 5000.0, "positions_1e8": {}})
        edge.quote("BTC-USD", 100 * 10**8, 101 * 10**8)
        wait_until(lambda: cc.venues_up("hand"), what="the hand edge's venue up")
        graph = {
            "nodes": {
                "buy": {"side": "buy", "symbol": "BTC-USD", "qty": 2.0, "venue": "hand", "limit_price": 99.0}
            },
            "edges": [],
            "risk": {"pre_trade": {"require_balance_check": True}},
        }
        resp = cc.submit(graph)
        assert resp.status_code == 201, resp.text
        graph_id = resp.json()["graph_id"]
        order = edge.next_order()
        assert order == {
            "op": "place",
            "id": order["id"],
            "symbol": "BTC-USD",
            "side": "buy",
            "qty_1e8": 2 * 10**8,
            "price_1e8": 99 * 10**8,
            "tif": "gtc",
        }
        assert order["id"].endswith("-buy-s0-a0")
        events = [{"id": order["id"], "kind": "ack"}]
        events.append({"id": order["id"], "kind": "fill", "qty_1e8": 10**8, "price_1e8": 99 * 10**8})
        edge.send(mp.ORDER_EVENTS, {"events": events})
        wait_until(lambda: cc.graph(graph_id)["nodes"]["buy"]["filled_qty_1e8"] == 10**8, what="the fill")
        # an event about an order this edge was never sent is not believed
        edge.send(mp.ORDER_EVENTS, {"events": [{"id": "g000000000000-x-s0-a0", "kind": "fill"}, "junk"]})
        engine = wait_until(lambda: (e := cc.get("/v1/graphs-engine"))["bad_events"] >= 1 and e)
        assert engine["unknown_events"] == 1 and engine["orders_sent"] == 1

        assert cc.http.post(f"/v1/graphs/{graph_id}/cancel").status_code == 200
        assert edge.next_order() == {"op": "cancel", "id": order["id"]}
        edge.send(
            mp.ORDER_EVENTS, {"events": [{"id": order["id"], "kind": "cancel", "cum_filled_1e8": 10**8}]}
        )
        wait_until(lambda: cc.graph(graph_id)["nodes"]["buy"]["orders"][0]["status"] == "cancelled")
    finally:
        edge.close()


def test_a_malformed_account_frame_closes_the_connection(cc: Coordinator) -> None:
    edge = HandEdge(cc, "hand-1", "hand")
    try:
        edge.send(mp.ACCOUNT, {"equity_usd": "lots"})
        error = edge.closed_with_error()
        assert error["reason"] == "ProtocolError" and "ACCOUNT" in error["message"]
    finally:
        edge.close()


def test_order_frames_are_length_prefixed_json() -> None:
    frame = mp.place_order_frame("g1-a-s0-a0", "BTC-USD", "sell", 5, None, "ioc")
    length, frame_type = struct.unpack_from("<IB", frame)
    assert frame_type == mp.ORDER and length == len(frame) - 4
    body = json.loads(frame[5:])
    assert body["price_1e8"] is None and mp.graph_order_problem(body) is None
    assert "qty_1e8" in (mp.graph_order_problem({**body, "qty_1e8": 0}) or "")
    assert "tif" in (mp.graph_order_problem({**body, "tif": "fok"}) or "")
    assert mp.graph_order_problem({"op": "cancel", "id": "g1-a-s0-a0"}) is None
