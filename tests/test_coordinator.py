"""The coordinator between real processes: routing, drops, link stats, NBBO, failures."""

from __future__ import annotations

import re
import signal
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from sequence_wire import mesh as mp

from .conftest import TEST_TOKEN
from .mesh_support import CoordinatorProcess, Peer, instance, labels_in, wait_until

BTC = "BTC-USD"
PX = 100_000_000  # 1.0 in 1e8 fixed point


@pytest.fixture
def cc() -> Iterator[CoordinatorProcess]:
    coordinator = CoordinatorProcess()
    yield coordinator
    coordinator.stop()


@pytest.fixture
def peers(cc: CoordinatorProcess) -> Iterator[list[Peer]]:
    started: list[Peer] = []
    yield started
    for peer in started:
        peer.close()


def edge(cc: CoordinatorProcess, peers: list[Peer], edge_id: str, venue: str, **kw: float) -> Peer:
    peer = Peer(cc, edge_id, venue, **kw)
    peers.append(peer)
    return peer


def wait_registered(cc: CoordinatorProcess, group: str, *mesh_ids: str) -> None:
    wait_until(lambda: set(mesh_ids) <= labels_in(cc.group(group)), what=f"{mesh_ids} in {group}")


def payloads(peer: Peer, deployment: str) -> list[str]:
    return [m["payload"] for m in peer.messages(deployment)]


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text, matching the name and exactly these labels."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and dict(re.findall(r'(\w+)="([^"]*)"', match[2] or "")) == labels:
            return float(match[3])
    return None


def test_routes_by_label_inside_the_group_and_never_across_groups(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    kraken.register(instance("g1-maker", "g1", "maker"), instance("g2-maker", "g2", "maker"))
    coinbase.register(instance("g1-hedger", "g1", "hedger"), instance("g2-hedger", "g2", "hedger"))
    wait_registered(cc, "g1", "maker@kraken-0", "hedger@coinbase-0")
    wait_registered(cc, "g2", "maker@kraken-0", "hedger@coinbase-0")

    kraken.command("send", **{"from": "g1-maker", "to": "hedger", "payload": "for-g1", "repeat": 3})
    kraken.command("send", **{"from": "g2-maker", "to": "hedger", "payload": "for-g2", "repeat": 2})
    coinbase.command("send", **{"from": "g2-hedger", "to": "maker", "payload": "back-g2"})

    wait_until(lambda: len(coinbase.of("message")) == 5 and kraken.of("message"), what="deliveries")
    assert payloads(coinbase, "g1-hedger") == ["for-g1"] * 3
    assert payloads(coinbase, "g2-hedger") == ["for-g2"] * 2
    assert payloads(kraken, "g2-maker") == ["back-g2"]
    assert payloads(kraken, "g1-maker") == []
    assert {m["from"] for m in coinbase.of("message")} == {"maker"}
    assert [m["seq"] for m in coinbase.messages("g1-hedger")] == [1, 2, 3]

    topo = cc.group("g1")
    assert topo["mesh_group"] == "g1"
    assert sorted(topo["instances"], key=lambda i: i["label"]) == [
        {
            "mesh_id": "hedger@coinbase-0",
            "edge_id": "coinbase-0",
            "label": "hedger",
            "venue": "coinbase",
            "deployment": "g1-hedger",
        },
        {
            "mesh_id": "maker@kraken-0",
            "edge_id": "kraken-0",
            "label": "maker",
            "venue": "kraken",
            "deployment": "g1-maker",
        },
    ]
    by_deployment = cc.get("/v1/mesh?deployment_id=g2-hedger")
    assert by_deployment["deployment_id"] == "g2-hedger" and by_deployment["mesh_group"] == "g2"


def test_unknown_label_is_dropped_and_counted_per_group_and_label(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    kraken.register(instance("g1-maker", "g1", "maker"), instance("g2-maker", "g2", "maker"))
    coinbase.register(instance("g2-hedger", "g2", "hedger"))
    wait_registered(cc, "g1", "maker@kraken-0")
    wait_registered(cc, "g2", "hedger@coinbase-0")

    # "hedger" exists in g2 only: from g1 it is an unknown label, not a route into g2.
    kraken.command("send", **{"from": "g1-maker", "to": "hedger", "payload": "x", "repeat": 3})
    kraken.command("send", **{"from": "g1-maker", "to": "nobody", "payload": "x", "repeat": 2})
    wait_until(lambda: cc.group("g1")["dropped_unknown_label"] == 5, what="5 unknown-label drops")
    g1 = cc.group("g1")
    assert g1["dropped_unknown_label_by_label"] == {"hedger": 3, "nobody": 2}
    assert g1["links"] == []
    assert coinbase.of("message") == []
    assert cc.group("g2")["dropped_unknown_label"] == 0
    assert metric(cc.metrics(), "sequence_mesh_dropped_total", group="g1", reason="unknown_label") == 5.0


def test_routing_table_restricts_labels_and_counts_missing_instances(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    kraken.register(instance("arb-maker", "arb", "maker"))
    coinbase.register(instance("arb-hedger", "arb", "hedger"), instance("arb-spy", "arb", "spy"))
    wait_registered(cc, "arb", "maker@kraken-0", "hedger@coinbase-0", "spy@coinbase-0")

    table = {
        "members": [
            {"deployment": "arb-maker", "label": "maker", "venue": "kraken", "peers": ["hedger", "ghost"]},
            {"deployment": "arb-hedger", "label": "hedger", "venue": "coinbase", "peers": []},
            {"deployment": "arb-ghost", "label": "ghost", "venue": "okx", "peers": []},
        ]
    }
    status, body = cc.request("PUT", "/v1/mesh/arb", table)
    assert status == 200 and body["routing_table"] and body["missing_labels"] == ["ghost"]

    kraken.command(
        "send", **{"from": "arb-maker", "to": "spy", "payload": "x"}
    )  # registered, not in the table
    kraken.command("send", **{"from": "arb-maker", "to": "ghost", "payload": "x", "repeat": 2})  # no instance
    kraken.command("send", **{"from": "arb-maker", "to": "hedger", "payload": "ok"})
    wait_until(lambda: payloads(coinbase, "arb-hedger") == ["ok"], what="the routed message")
    topo = wait_until(lambda: (t := cc.group("arb"))["dropped"].get("no_instance") == 2 and t, what="drops")
    assert topo["dropped_unknown_label_by_label"] == {"spy": 1}
    assert payloads(coinbase, "arb-spy") == []
    ghost = next(link for link in topo["links"] if link["to"] == "ghost")
    assert ghost["messages"] == 0 and ghost["drops"] == 2

    assert cc.request("DELETE", "/v1/mesh/arb")[0] == 200  # registered labels define the group again
    kraken.command("send", **{"from": "arb-maker", "to": "spy", "payload": "now-ok"})
    wait_until(lambda: payloads(coinbase, "arb-spy") == ["now-ok"], what="delivery once the table is gone")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"members": [{"deployment": "a", "label": "bad label", "venue": "k"}]}, "not a mesh label"),
        ({"members": [{"deployment": "a", "label": "x", "venue": "k"}] * 2}, "more than once"),
        ({"members": [{"deployment": "a", "label": "x", "venue": "k", "peers": ["y"]}]}, "peer 'y'"),
        ({"members": [{"deployment": "a", "label": "x", "venue": "k", "weight": 3}]}, "unknown field"),
        ({"members": [{"label": "x", "venue": "k"}]}, "deployment must be"),
        ({"rows": []}, "members"),
    ],
)
def test_bad_routing_table_is_refused_with_a_clear_error(cc, body, needle):
    status, reply = cc.request("PUT", "/v1/mesh/arb", body)
    assert status == 400
    assert reply["error"]["reason"] == "InvalidRoutingTable"
    assert needle in reply["error"]["message"]
    assert cc.request("GET", "/v1/mesh/arb")[0] == 404  # nothing was created


class RawEdge:
    """An edge that speaks the wire protocol by hand, to send what MeshClient never would."""

    def __init__(self, cc: CoordinatorProcess, edge_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", cc.mesh_port), timeout=10)
        hello = {
            "protocol": mp.PROTOCOL_VERSION,
            "edge_id": edge_id,
            "venue": "raw",
            "client_id": 42,
            "token": TEST_TOKEN,
        }
        self.sock.sendall(mp.json_frame(mp.HELLO, hello))

    def register(self, handle: int, deployment: str, group: str, label: str) -> None:
        entry = {"handle": handle, "deployment_id": deployment, "mesh_group": group, "label": label}
        self.sock.sendall(mp.json_frame(mp.REGISTER, {"generation": 1, "instances": [entry]}))

    def send(self, handle: int, seq: int, label: bytes, payload: bytes) -> None:
        self.sock.sendall(mp.send_frame(handle, seq, time.time_ns(), label, payload))

    def close(self) -> None:
        self.sock.close()


def test_oversize_payload_is_dropped_defensively_and_the_edge_stays_connected(cc, peers):
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    coinbase.register(instance("g-hedger", "g", "hedger"))
    raw = RawEdge(cc, "rogue-0")
    try:
        raw.register(7, "g-maker", "g", "maker")
        wait_registered(cc, "g", "maker@rogue-0", "hedger@coinbase-0")
        raw.send(7, 1, b"hedger", b"A" * (mp.MAX_PAYLOAD + 1))
        raw.send(7, 2, b"hedger", b"B" * mp.MAX_PAYLOAD)  # exactly the limit: delivered
        raw.send(99, 1, b"hedger", b"C")  # a handle this edge never registered
        wait_until(lambda: payloads(coinbase, "g-hedger"), what="the valid message")
        assert payloads(coinbase, "g-hedger") == ["B" * mp.MAX_PAYLOAD]
        assert cc.group("g")["dropped"]["oversize"] == 1
        text = cc.metrics()
        assert metric(text, "sequence_mesh_dropped_total", group="g", reason="oversize") == 1.0
        assert metric(text, "sequence_mesh_dropped_total", group="", reason="unregistered_sender") == 1.0
        # The dropped message counts against the link it was sent on.
        links = wait_until(
            lambda: [x for x in cc.group("g")["links"] if x["messages"] == 1], what="link stats"
        )
        assert [(x["from"], x["to"], x["drops"]) for x in links] == [("maker", "hedger", 1)]
    finally:
        raw.close()


def test_protocol_violation_closes_only_that_connection(cc, peers):
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    coinbase.register(instance("g-hedger", "g", "hedger"))
    sock = socket.create_connection(("127.0.0.1", cc.mesh_port), timeout=10)
    sock.sendall(mp.send_frame(1, 1, 0, b"hedger", b"x"))  # SEND before HELLO
    header = sock.recv(5)
    length, frame_type = struct.unpack("<IB", header)
    assert frame_type == mp.ERROR
    assert b"expected HELLO first" in sock.recv(length)
    assert sock.recv(1) == b""  # closed by the coordinator
    sock.close()
    wait_registered(cc, "g", "hedger@coinbase-0")
    assert metric(cc.metrics(), "sequence_mesh_protocol_errors_total") == 1.0


def test_per_link_stats_for_each_direction(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    kraken.register(instance("arb-maker", "arb", "maker"))
    coinbase.register(instance("arb-hedger", "arb", "hedger"))
    wait_registered(cc, "arb", "maker@kraken-0", "hedger@coinbase-0")
    kraken.command("send", **{"from": "arb-maker", "to": "hedger", "payload": "fill", "repeat": 5})
    coinbase.command("send", **{"from": "arb-hedger", "to": "maker", "payload": "hedged", "repeat": 3})

    def both_links() -> dict[tuple[str, str], dict]:
        links = {(link["from"], link["to"]): link for link in cc.group("arb")["links"]}
        done = links.get(("maker", "hedger"), {}).get("messages") == 5
        return links if done and links.get(("hedger", "maker"), {}).get("messages") == 3 else {}

    links = wait_until(both_links, what="stats of both directions")
    for link in links.values():
        assert link["drops"] == 0
        assert 0 < link["p50_us"] <= link["p99_us"]
    text = cc.metrics()
    assert (
        metric(text, "sequence_mesh_link_messages_total", group="arb", **{"from": "maker", "to": "hedger"})
        == 5
    )
    count = metric(
        text, "sequence_mesh_link_latency_seconds_count", group="arb", **{"from": "hedger", "to": "maker"}
    )
    assert count == 3
    assert metric(text, "sequence_mesh_connected_edges") == 2.0


def test_nbbo_across_two_venues_goes_only_to_nbbo_instances_of_that_symbol(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    kraken.register(instance("watcher", "g", "watcher", symbols=[BTC], on_nbbo=True))
    coinbase.register(
        instance("plain", "g", "plain", symbols=[BTC]),  # no algo_on_nbbo export
        instance("eth-only", "g", "eth", symbols=["ETH-USD"], on_nbbo=True),
    )
    wait_registered(cc, "g", "watcher@kraken-0", "plain@coinbase-0", "eth@coinbase-0")

    kraken.command("tob", symbol=BTC, bid_px=100 * PX, bid_qty=2 * PX, ask_px=103 * PX, ask_qty=1 * PX)
    wait_until(lambda: kraken.of("nbbo"), what="the first NBBO")
    coinbase.command("tob", symbol=BTC, bid_px=101 * PX, bid_qty=3 * PX, ask_px=104 * PX, ask_qty=5 * PX)
    best = wait_until(lambda: kraken.of("nbbo", bid_px_1e8=101 * PX), what="the NBBO with coinbase's bid")[-1]
    assert best["deployment"] == "watcher" and best["symbol"] == BTC
    assert (best["bid_qty_1e8"], best["bid_venue"]) == (3 * PX, "coinbase")
    assert (best["ask_px_1e8"], best["ask_qty_1e8"], best["ask_venue"]) == (103 * PX, 1 * PX, "kraken")
    venues = kraken.stats()["venues"]
    assert venues[best["bid_venue_idx"]] == "coinbase" and venues[best["ask_venue_idx"]] == "kraken"

    # Coinbase goes away: its quote leaves the NBBO.
    coinbase.close()
    after = wait_until(lambda: kraken.of("nbbo", bid_px_1e8=100 * PX)[-1:], what="NBBO without coinbase")[0]
    assert after["bid_venue"] == "kraken" and after["ask_px_1e8"] == 103 * PX
    assert coinbase.of("nbbo") == []  # neither the non-exporting instance nor the ETH one got a BTC NBBO


def test_coordinator_sigkill_mid_stream_then_restart(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    kraken.register(instance("arb-maker", "arb", "maker"))
    coinbase.register(instance("arb-hedger", "arb", "hedger"))
    wait_registered(cc, "arb", "maker@kraken-0", "hedger@coinbase-0")
    total = 400
    kraken.command("stream", **{"from": "arb-maker", "to": "hedger", "count": total, "interval": 0.01})
    wait_until(lambda: len(coinbase.messages("arb-hedger")) >= 40, what="the stream to flow")

    cc.kill()
    down = wait_until(
        lambda: (s := kraken.stats())["dropped_no_coordinator"] >= 10 and s, what="drops while down"
    )
    assert down["connected"] is False
    received_while_down = len(coinbase.messages("arb-hedger"))
    assert coinbase.stats()["connected"] is False  # both edges are alive and answering

    cc.start()  # same ports, empty state: routes come back only from re-registration
    wait_registered(cc, "arb", "maker@kraken-0", "hedger@coinbase-0")
    wait_until(
        lambda: len(coinbase.messages("arb-hedger")) > received_while_down + 20, what="flow after restart"
    )
    done = wait_until(lambda: kraken.of("stream_done"), timeout=30, what="the end of the stream")[0]

    received = [int(m["payload"]) for m in coinbase.messages("arb-hedger")]
    seqs = [m["seq"] for m in coinbase.messages("arb-hedger")]
    assert len(set(received)) == len(received), "a message was delivered twice"
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [s - 1 for s in seqs] == received  # sequence number i+1 carries payload i: nothing replayed
    assert done["reconnects"] >= 1 and coinbase.stats()["reconnects"] >= 1
    assert done["sent_ok"] + done["dropped_no_coordinator"] == total
    assert len(received) <= done["sent_ok"] and done["dropped_no_coordinator"] >= 10


def test_killed_edge_leaves_the_topology(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    coinbase = edge(cc, peers, "coinbase-0", "coinbase")
    kraken.register(instance("arb-maker", "arb", "maker"))
    coinbase.register(instance("arb-hedger", "arb", "hedger"))
    wait_registered(cc, "arb", "maker@kraken-0", "hedger@coinbase-0")
    coinbase.signal(signal.SIGKILL)
    wait_until(lambda: labels_in(cc.group("arb")) == {"maker@kraken-0"}, what="the killed edge to leave")
    kraken.command("send", **{"from": "arb-maker", "to": "hedger", "payload": "x"})
    wait_until(lambda: cc.group("arb")["dropped_unknown_label"] == 1, what="sends to it to be dropped")


def test_hung_edge_leaves_after_the_peer_timeout_and_comes_back(cc, peers):
    kraken = edge(cc, peers, "kraken-0", "kraken")
    kraken.register(instance("arb-maker", "arb", "maker"))
    wait_registered(cc, "arb", "maker@kraken-0")
    kraken.signal(signal.SIGSTOP)  # socket stays open, nothing is read or written: only the timeout can tell
    try:
        wait_until(lambda: cc.group("arb").get("instances") in (None, []), what="the hung edge to time out")
    finally:
        kraken.signal(signal.SIGCONT)
    wait_registered(cc, "arb", "maker@kraken-0")  # it notices, reconnects and re-registers on its own
    assert kraken.stats()["reconnects"] >= 1
    assert re.search(r"sequence_mesh_instances\{group=\"arb\"\} 1\.0", cc.metrics())
