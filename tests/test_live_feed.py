"""The live feed (market/live.py) through ccxt.pro, unchanged, against local venue stand-ins.

Each stand-in (tests/live_standin.py) is a TLS websocket server speaking one venue's public
book format; ccxt connects to it through its URL settings and trusts its self-signed certificate
through its `cafile` option. The books the adapter builds in the Cython engine must match the
stand-in's books; a sequence gap (Coinbase) or a checksum mismatch (Kraken) must resync from a
fresh snapshot; a dropped connection must be reported and recovered.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("ccxt.pro")

from sequence_edge.engine import Engine
from sequence_edge.market.live import LiveFeedAdapter, LiveFeedUnavailable
from sequence_edge.market.records import RecordBuffer

from .live_standin import VenueStandIn, make_cert, write_markets
from .mesh_support import wait_until

BTC = {"coinbase": "BTC-USD", "kraken": "BTC/USD", "hyperliquid": "BTC"}
EDGE_SYMBOL = {"coinbase": "BTC-USD", "kraken": "BTC-USD", "hyperliquid": "BTC-USDC-PERP"}


class Pump:
    """What the edge loop does: poll the adapter into a RecordBuffer, run the engine."""

    def __init__(self, feed: LiveFeedAdapter, engine: Engine) -> None:
        self.feed, self.engine, self.buf = feed, engine, RecordBuffer()

    def __call__(self) -> None:
        self.buf.clear()
        if self.feed.poll(self.buf, 0, 100_000):
            self.engine.run(self.buf)

    def book(self, symbol: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]] | None:
        self()
        book = self.engine.book(symbol)
        if book.stale:
            return None
        bids, asks = book.top(1000)
        scale = Decimal(100_000_000)
        return (
            {Decimal(p) / scale: Decimal(q) / scale for p, q in bids},
            {Decimal(p) / scale: Decimal(q) / scale for p, q in asks},
        )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


def start(venue: str, certs: tuple[Path, Path], tmp_path: Path) -> tuple[VenueStandIn, LiveFeedAdapter, Pump]:
    server = VenueStandIn(venue, *certs)
    server.set_book(
        BTC[venue],
        {"100.5": "1.25", "100.4": "2", "100.3": "0.5"},
        {"100.6": "0.8", "100.7": "3", "100.9": "1"},
    )
    feed = LiveFeedAdapter(
        venue, endpoint=server.url, markets_file=str(write_markets(venue, tmp_path)), cafile=str(certs[0])
    )
    engine = Engine()
    feed.subscribe(EDGE_SYMBOL[venue], engine.add_book(EDGE_SYMBOL[venue]))
    return server, feed, Pump(feed, engine)


@pytest.fixture(params=["coinbase", "kraken", "hyperliquid"])
def venue_feed(
    request: pytest.FixtureRequest, certs: tuple[Path, Path], tmp_path: Path
) -> Iterator[tuple[str, VenueStandIn, LiveFeedAdapter, Pump]]:
    server, feed, pump = start(request.param, certs, tmp_path)
    yield request.param, server, feed, pump
    feed.close()
    server.close()


def matches(venue: str, server: VenueStandIn, pump: Pump) -> bool:
    return pump.book(EDGE_SYMBOL[venue]) == server.book(BTC[venue])


def test_books_built_through_the_adapter_match_the_venue_messages(venue_feed) -> None:
    venue, server, feed, pump = venue_feed
    wait_until(lambda: matches(venue, server, pump), what=f"{venue} snapshot in the book")
    assert feed.status()["connected"] and feed.status()["state"] == "connected"
    server.update(BTC[venue], bids={"100.5": "0", "100.55": "0.7"}, asks={"100.6": "0.3"})
    server.update(BTC[venue], asks={"100.65": "4", "100.9": "0"})
    wait_until(lambda: matches(venue, server, pump), what=f"{venue} deltas in the book")
    bids, asks = pump.book(EDGE_SYMBOL[venue]) or ({}, {})
    assert max(bids) == Decimal("100.55") and min(asks) == Decimal("100.6")
    assert asks[Decimal("100.6")] == Decimal("0.3") and Decimal("100.9") not in asks
    assert feed.status()["gaps"] == 0 and feed.status()["resyncs"] == 0


def test_a_dropped_connection_is_reported_the_books_go_stale_and_recover(venue_feed) -> None:
    venue, server, feed, pump = venue_feed
    wait_until(lambda: matches(venue, server, pump), what="first snapshot")
    connections = server.connections
    server.drop_all()
    # the venue changes while the edge is away: the fresh snapshot must carry it
    server.update(BTC[venue], bids={"100.45": "9"})
    wait_until(lambda: feed.status()["disconnects"] >= 1, what="the disconnect reported")
    wait_until(lambda: server.connections > connections, what="a reconnect")
    wait_until(lambda: matches(venue, server, pump), what="the book rebuilt after the reconnect")
    status = feed.status()
    assert status["connected"] and status["resyncs"] >= 1 and status["stale_books"] == []
    assert (pump.book(EDGE_SYMBOL[venue]) or ({}, {}))[0][Decimal("100.45")] == Decimal("9")


def test_coinbase_sequence_gap_resyncs_from_a_fresh_snapshot(certs, tmp_path: Path) -> None:
    server, feed, pump = start("coinbase", certs, tmp_path)
    try:
        wait_until(lambda: matches("coinbase", server, pump), what="first snapshot")
        wait_until(lambda: "heartbeats" in server.channels, what="the heartbeats subscription")
        server.heartbeat()  # sequenced too: no gap
        server.update("BTC-USD", asks={"100.6": "0.9"})
        wait_until(lambda: matches("coinbase", server, pump), what="the update after a heartbeat")
        assert feed.status()["gaps"] == 0
        server.update("BTC-USD", bids={"100.2": "5"}, lose=True)  # lost: the next message jumps
        server.heartbeat()
        wait_until(lambda: feed.status()["gaps"] == 1, what="the gap detected")
        # the lost level must appear: only a fresh snapshot can carry it
        wait_until(lambda: matches("coinbase", server, pump), what="the resynced book")
        assert (pump.book("BTC-USD") or ({}, {}))[0][Decimal("100.2")] == Decimal("5")
        assert feed.status()["resyncs"] >= 1
    finally:
        feed.close()
        server.close()


def test_kraken_checksum_mismatch_resyncs_and_the_stale_book_is_never_shown(certs, tmp_path: Path) -> None:
    server, feed, pump = start("kraken", certs, tmp_path)
    try:
        wait_until(lambda: matches("kraken", server, pump), what="first snapshot")
        snapshots = sum(1 for r in server.subscribe_requests if r.get("method") == "subscribe")
        server.hold_snapshots(True)
        server.update("BTC/USD", bids={"100.5": "7"}, bad_checksum=True)
        wait_until(lambda: feed.status()["checksum_failures"] == 1, what="the checksum failure")
        wait_until(
            lambda: sum(1 for r in server.subscribe_requests if r.get("method") == "subscribe") > snapshots,
            what="a resubscribe",
        )
        assert pump.book("BTC-USD") is None  # stale (cleared) until the fresh snapshot: never dispatched
        assert feed.status()["stale_books"] == ["BTC-USD"]
        server.hold_snapshots(False)
        wait_until(lambda: matches("kraken", server, pump), what="the resynced book")
        assert (pump.book("BTC-USD") or ({}, {}))[0][Decimal("100.5")] == Decimal("7")
        assert feed.status()["resyncs"] == 1 and feed.status()["stale_books"] == []
    finally:
        feed.close()
        server.close()


def test_kraken_levels_beyond_the_subscribed_depth_are_dropped(certs, tmp_path: Path) -> None:
    server, feed, pump = start("kraken", certs, tmp_path)
    try:
        wait_until(lambda: matches("kraken", server, pump), what="first snapshot")
        bids = {f"{99 + i / 10:.1f}": "1" for i in range(1, 12)}  # 11 more levels below the touch
        server.update("BTC/USD", bids=bids)
        book = wait_until(lambda: (b := pump.book("BTC-USD")) and len(b[0]) == 10 and b, what="10 bid levels")
        assert min(book[0]) == Decimal("99.5")  # the deepest ones fell out, as on Kraken
        assert feed.status()["checksum_failures"] == 0
    finally:
        feed.close()
        server.close()


def test_hyperliquid_spot_and_perp_books(certs, tmp_path: Path) -> None:
    server = VenueStandIn("hyperliquid", *certs)
    server.set_book("BTC", {"65000": "0.5"}, {"65001": "0.25"})
    server.set_book("PURR/USDC", {"0.2011": "1000"}, {"0.2013": "500"})
    feed = LiveFeedAdapter(
        "hyperliquid",
        endpoint=server.url,
        cafile=str(certs[0]),
        markets_file=str(write_markets("hyperliquid", tmp_path)),
    )
    engine = Engine()
    for symbol in ("BTC-USDC-PERP", "PURR-USDC"):
        feed.subscribe(symbol, engine.add_book(symbol))
    pump = Pump(feed, engine)
    try:
        wait_until(lambda: pump.book("PURR-USDC") == server.book("PURR/USDC"), what="spot book")
        wait_until(lambda: pump.book("BTC-USDC-PERP") == server.book("BTC"), what="perp book")
    finally:
        feed.close()
        server.close()


def test_bad_live_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LiveFeedUnavailable, match="no live feed for venue 'binance'"):
        LiveFeedAdapter("binance")
    with pytest.raises(LiveFeedUnavailable, match="ws:// or wss://"):
        LiveFeedAdapter("kraken", endpoint="http://127.0.0.1:1/")
    (tmp_path / "m.json").write_text("[]")
    with pytest.raises(LiveFeedUnavailable, match="JSON object of ccxt markets"):
        LiveFeedAdapter("kraken", markets_file=str(tmp_path / "m.json"))


def test_sequence_record_writes_a_replay_that_plays_back_the_venue_book(certs, tmp_path: Path) -> None:
    import subprocess

    from sequence_edge.market.replay import ReplayFeedAdapter

    from .conftest import REPO, sequence_cli

    server = VenueStandIn("coinbase", *certs)
    server.set_book("BTC-USD", {"100.5": "1.25", "100.4": "2"}, {"100.6": "0.8", "100.7": "3"})
    out = tmp_path / "rec.csv.gz"
    proc = subprocess.Popen(
        [
            *sequence_cli(),
            "record",
            "coinbase",
            "BTC-USD",
            "--duration",
            "6",
            "--out",
            str(out),
            "--live-endpoint",
            server.url,
            "--live-markets-file",
            str(write_markets("coinbase", tmp_path)),
            "--live-cafile",
            str(certs[0]),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: server.subscribers() or proc.poll() is not None, 60, "the recorder's subscription")
        for i in range(20):
            server.update("BTC-USD", bids={f"{100 + i / 100:.2f}": str(i + 1)}, asks={"100.6": f"0.{i + 1}"})
        server.update("BTC-USD", bids={"100.4": "0"}, lose=True)  # a gap: the recorder resyncs
        server.update("BTC-USD", asks={"100.9": "5"})
        bids, asks = server.book("BTC-USD")
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()
    assert proc.returncode == 0, output
    assert "1 gaps" in output and "1 resyncs" in output, output
    books = []
    for _ in range(2):  # deterministic: two playbacks build the same book
        engine = Engine()
        feed = ReplayFeedAdapter(out, loop=False, start_ns=0)
        feed.subscribe("BTC-USD", engine.add_book("BTC-USD"))
        buf = RecordBuffer()
        feed.poll(buf, 10**19, 10**7)
        engine.run(buf)
        assert feed.finished and not engine.book("BTC-USD").stale
        books.append(engine.book("BTC-USD").top(100))
    assert books[0] == books[1]
    scale = Decimal(100_000_000)
    assert [(Decimal(p) / scale, Decimal(q) / scale) for p, q in books[0][0]] == sorted(
        bids.items(), reverse=True
    )
    assert [(Decimal(p) / scale, Decimal(q) / scale) for p, q in books[0][1]] == sorted(asks.items())


def test_an_unlisted_symbol_stays_stale_without_disturbing_the_others(certs, tmp_path: Path) -> None:
    server, feed, pump = start("coinbase", certs, tmp_path)
    try:
        feed.subscribe("DOGE-USD", pump.engine.add_book("DOGE-USD"))
        wait_until(
            lambda: "DOGE-USD: not listed by coinbase" in feed.status()["last_error"], what="the error"
        )
        wait_until(lambda: matches("coinbase", server, pump), what="the listed symbol's book")
        status = feed.status()
        assert status["connected"] and status["stale_books"] == ["DOGE-USD"] and status["disconnects"] == 0
    finally:
        feed.close()
        server.close()
