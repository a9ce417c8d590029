"""MeshClient, the edge's side of the mesh, in this process against real coordinator processes and sockets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sequence_edge.mesh.client import MeshClient, MeshInstance, Nbbo
from sequence_wire import mesh as mp

from .conftest import TEST_TOKEN
from .mesh_support import CoordinatorProcess, free_port

PX = 100_000_000


async def until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Await a condition without blocking the loop the clients run on (the timeout bounds a broken run)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := check()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


def client(port: int, edge_id: str, venue: str = "kraken", **kw: Any) -> MeshClient:
    return MeshClient(
        "127.0.0.1",
        port,
        edge_id=edge_id,
        venue=venue,
        heartbeat_s=0.2,
        peer_timeout_s=1.0,
        stats_interval_s=0.05,
        reconnect_max_s=0.2,
        **{"token": TEST_TOKEN, **kw},
    )


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


@pytest.fixture
def cc():
    coordinator = CoordinatorProcess()
    yield coordinator
    coordinator.stop()


def test_edge_runs_without_a_coordinator_and_joins_when_it_appears():
    cc = CoordinatorProcess(start=False)
    inbox: list[tuple[str, str, bytes, int]] = []

    async def body() -> None:
        maker = client(cc.mesh_port, "kraken-0")
        hedger = client(
            cc.mesh_port,
            "coinbase-0",
            "coinbase",
            on_message=lambda d, f, p, ts, s: inbox.append((d, f, p, s)),
        )
        await maker.start()
        await hedger.start()
        maker.register([MeshInstance("arb-maker", "arb", "maker")])
        hedger.register([MeshInstance("arb-hedger", "arb", "hedger", on_message=True)])
        assert not maker.connected
        assert maker.send("arb-maker", "hedger", b"lost", 1) is False
        assert maker.dropped_no_coordinator == 1 and maker.sent == 0

        await asyncio.to_thread(cc.start)  # nobody tells the clients: they find it themselves
        await until(lambda: maker.registered and hedger.registered, "both edges to register")
        assert maker.send("arb-maker", "hedger", b"hello", 2)
        await until(lambda: inbox, "the message")
        assert inbox == [("arb-hedger", "maker", b"hello", 2)]  # seq 1 was the dropped send: never replayed
        assert maker.sent == 1 and maker.dropped_no_coordinator == 1
        await maker.close()
        await hedger.close()

    try:
        run(body)
    finally:
        cc.stop()


def test_send_refuses_what_the_coordinator_would_drop():
    async def body() -> None:
        c = client(free_port(), "kraken-0")
        await c.start()
        c.register([MeshInstance("arb-maker", "arb", "maker")])
        assert c.send("nope", "hedger", b"x") is False  # not a hosted deployment
        assert c.send("arb-maker", "x" * 33, b"x") is False  # label longer than 32 bytes
        assert c.send("arb-maker", "", b"x") is False
        assert c.send("arb-maker", "hedger", bytes(mp.MAX_PAYLOAD + 1)) is False
        assert c.dropped_invalid == 4 and c.dropped_no_coordinator == 0
        assert c.send("arb-maker", "hedger", bytes(mp.MAX_PAYLOAD)) is False  # valid, but nobody to send to
        assert c.dropped_no_coordinator == 1
        await c.close()

    run(body)


def test_instances_are_validated_with_clear_errors():
    with pytest.raises(ValueError, match="not a mesh label"):
        MeshInstance("d", "arb", "has space")
    with pytest.raises(ValueError, match="not a valid group name"):
        MeshInstance("d", "arb/x", "maker")
    with pytest.raises(ValueError, match="deployment_id"):
        MeshInstance("", "arb", "maker")
    c = MeshClient("127.0.0.1", 1, edge_id="e", venue="v")
    with pytest.raises(ValueError, match="listed twice"):
        c.register([MeshInstance("d", "arb", "a"), MeshInstance("d", "arb", "b")])
    with pytest.raises(TypeError, match="MeshInstance"):
        c.register([{"deployment_id": "d"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="edge_id and venue"):
        MeshClient("127.0.0.1", 1, edge_id="", venue="v")


def test_coordinator_refusal_is_reported_to_the_edge(cc):
    async def body() -> None:
        c = client(cc.mesh_port, "kraken-0")
        await c.start()
        c.register([MeshInstance("arb-a", "arb", "maker"), MeshInstance("arb-b", "arb", "maker")])
        await until(lambda: c.registered, "the registration reply")
        assert list(c.rejected) == ["arb-b"]
        assert "registered twice" in c.rejected["arb-b"]
        assert [i["deployment"] for i in cc.group("arb")["instances"]] == ["arb-a"]
        await c.close()

    run(body)


def test_top_of_book_is_coalesced_latest_wins_and_unchanged_quotes_are_not_resent(cc):
    seen: list[Nbbo] = []
    per_update: list[tuple[str, list[str]]] = []
    per_deployment: list[str] = []

    def on_symbol_nbbo(symbol: str, nbbo: Nbbo, deployments: list[str]) -> None:
        seen.append(nbbo)
        per_update.append((symbol, sorted(deployments)))

    async def body() -> None:
        venue = client(cc.mesh_port, "kraken-0", nbbo_interval_ms=100)
        watcher = client(
            cc.mesh_port,
            "coinbase-0",
            "coinbase",
            on_symbol_nbbo=on_symbol_nbbo,
            on_nbbo=lambda d, s, n: per_deployment.append(d),
        )
        await venue.start()
        await watcher.start()
        watcher.register(
            [
                MeshInstance("w1", "g", "w1", ("BTC-USD",), on_nbbo=True),
                MeshInstance("w2", "g", "w2", ("BTC-USD", "ETH-USD"), on_nbbo=True),
            ]
        )
        await until(lambda: watcher.registered and venue.connected, "both edges")
        for i in range(50):  # one burst within one loop turn: the first goes out, the rest coalesce
            venue.publish_top_of_book("BTC-USD", (100 + i) * PX, PX, (200 + i) * PX, PX)
        assert venue.tob_published == 1
        await until(lambda: seen and seen[-1].bid_px_1e8 == 149 * PX, "the latest quote to win")
        assert venue.tob_published == 2
        assert [n.bid_px_1e8 for n in seen] == [100 * PX, 149 * PX]
        assert (seen[-1].ask_px_1e8, seen[-1].bid_venue, seen[-1].ask_venue) == (249 * PX, "kraken", "kraken")
        assert per_update == [("BTC-USD", ["w1", "w2"])] * 2  # once per update for the edge's fan-out
        assert sorted(per_deployment) == ["w1", "w1", "w2", "w2"]  # or once per instance

        venue.publish_top_of_book("BTC-USD", 149 * PX, PX, 249 * PX, PX)  # unchanged
        await asyncio.sleep(0.3)
        assert venue.tob_published == 2
        with pytest.raises(ValueError, match="fixed point"):
            venue.publish_top_of_book("BTC-USD", 1.5, PX, 2 * PX, PX)  # type: ignore[arg-type]
        await venue.close()
        await watcher.close()

    run(body)


@dataclass(frozen=True)
class Drained:
    """The shape of the edge's drained outbox entries (edge.OutboundMessage)."""

    deployment_id: str
    mesh_group: str | None
    from_label: str | None
    to_label: str
    payload: bytes


def test_sink_sends_a_drained_batch_as_one_write(cc):
    inbox: list[tuple[str, bytes, int]] = []

    async def body() -> None:
        maker = client(cc.mesh_port, "kraken-0")
        hedger = client(
            cc.mesh_port, "coinbase-0", "coinbase", on_message=lambda d, f, p, ts, s: inbox.append((d, p, s))
        )
        await maker.start()
        await hedger.start()
        maker.register(
            [MeshInstance("arb-maker", "arb", "maker"), MeshInstance("arb-maker2", "arb", "maker2")]
        )
        hedger.register([MeshInstance("arb-hedger", "arb", "hedger", on_message=True)])
        await until(lambda: maker.registered and hedger.registered, "registration")
        await until(lambda: len(cc.group("arb").get("instances", [])) == 3, "all instances in the topology")
        batch = [Drained("arb-maker", "arb", "maker", "hedger", b"m%d" % i) for i in range(16)]
        batch.append(Drained("arb-maker2", "arb", "maker2", "hedger", b"other"))
        maker.sink(batch)
        assert maker.sent == 17  # written before sink() returned, not on a later loop turn
        await until(lambda: len(inbox) == 17, "the batch")
        assert [p for d, p, s in inbox if p != b"other"] == [b"m%d" % i for i in range(16)]
        assert [s for d, p, s in inbox][:16] == list(range(1, 17))
        await maker.close()
        await hedger.close()

    run(body)


def test_send_from_another_thread_and_a_failing_callback_do_not_break_the_inbox(cc):
    inbox: list[bytes] = []

    def on_message(dep: str, src: str, payload: bytes, ts: int, seq: int) -> None:
        if payload == b"boom":
            raise RuntimeError("algo bug")
        inbox.append(payload)

    async def body() -> None:
        maker = client(cc.mesh_port, "kraken-0")
        hedger = client(cc.mesh_port, "coinbase-0", "coinbase", on_message=on_message)
        await maker.start()
        await hedger.start()
        maker.register([MeshInstance("arb-maker", "arb", "maker")])
        hedger.register([MeshInstance("arb-hedger", "arb", "hedger", on_message=True)])
        await until(lambda: maker.registered and hedger.registered, "registration")
        await until(lambda: len(cc.group("arb").get("instances", [])) == 2, "both instances in the topology")
        thread = threading.Thread(
            target=lambda: [maker.send("arb-maker", "hedger", p) for p in (b"boom", b"a", b"b")]
        )
        thread.start()
        thread.join()
        await until(lambda: len(inbox) == 2, "the messages after the failing one")
        assert inbox == [b"a", b"b"] and hedger.callback_errors == 1 and hedger.received == 3
        await maker.close()
        await hedger.close()

    run(body)


def test_duplicates_are_never_delivered_and_losses_after_the_coordinator_are_reported():
    """A hand-written coordinator sends what the real one never would: a duplicate and a hop gap."""
    inbox: list[tuple[bytes, int]] = []
    reports: list[dict[str, Any]] = []

    def deliver(seq: int, hop: int, payload: bytes) -> bytes:
        length = 1 + mp.DELIVER_HEADER.size + 5 + len(payload)
        return mp.DELIVER_FRAME.pack(length, mp.DELIVER, 0, 77, 3, seq, hop, 1, 5) + b"maker" + payload

    async def fake_coordinator(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = mp.FrameReader()
        registered = False
        while data := await reader.read(65536):
            for frame_type, buf, start, end in frames.feed(data):
                if frame_type == mp.REGISTER and not registered:
                    registered = True
                    writer.write(
                        b"".join(
                            [
                                deliver(1, 1, b"one"),
                                deliver(2, 2, b"two"),
                                deliver(2, 3, b"two-again"),  # same sender seq: must not reach the algo
                                deliver(5, 6, b"five"),  # hops 4 and 5 never arrived
                            ]
                        )
                    )
                elif frame_type == mp.STATS:
                    reports.extend(mp.parse_json(buf[start:end])["links"])

    async def body() -> None:
        server = await asyncio.start_server(fake_coordinator, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = client(port, "coinbase-0", "coinbase", on_message=lambda d, f, p, ts, s: inbox.append((p, s)))
        await c.start()
        c.register([MeshInstance("arb-hedger", "arb", "hedger", on_message=True)])
        await until(lambda: len(inbox) == 3 and reports, "deliveries and a stats report")
        assert inbox == [(b"one", 1), (b"two", 2), (b"five", 5)]
        assert c.dropped_duplicate == 1
        report = reports[0]
        assert (report["from"], report["to"]) == ("maker", 0)
        assert (report["delivered"], report["dups"], report["gaps"]) == (3, 1, 2)
        assert len(report["samples"]) == 3 and sum(report["buckets"]) == 3
        await c.close()
        server.close()

    run(body)
