"""`sequence up` on a sandbox venue with `feed = { kind = "live" }`, pointed at a local Kraken
stand-in (TLS websocket speaking Kraken's v2 book format): the edge's books match the stand-in's,
and the market maker (examples/market-maker) trades on paper against them."""

from __future__ import annotations

import shutil
import threading
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

pytest.importorskip("ccxt.pro")

from .conftest import AUTH
from .live_standin import VenueStandIn, make_cert, write_markets
from .mesh_support import wait_until
from .test_up import UpSession

REPO = Path(__file__).resolve().parents[1]
STEP = Decimal("1")


def project(tmp: Path, endpoint: str) -> Path:
    root = tmp / "live-mm"
    root.mkdir()
    shutil.copy(REPO / "examples/market-maker/market_maker.wasm", root / "market_maker.wasm")
    write_markets("kraken", root)
    (root / "Sequence.toml").write_text(f'''
[project]
name = "live-mm"

[venue.kraken]
mode = "sandbox"

[venue.kraken.feed]
kind = "live"
live = {{ endpoint = "{endpoint}", markets_file = "kraken-markets.json", cafile = "standin-cert.pem" }}

[deploy.mm]
venue = "kraken"
label = "mm"
symbols = ["BTC-USD"]
bundle = "market_maker.wasm"
state = "running"

[deploy.mm.risk]
max_order_qty = 0.05
max_notional = 10000
max_position = 0.2
max_open_orders = 4
max_orders_per_sec = 50
price_band_bps = 100
max_loss = 1000

[deploy.mm.params]
spread_bps = 4
qty = 0.01
max_position = 0.05
requote_ms = 50
''')
    return root


@pytest.mark.slow
def test_sequence_up_on_a_live_feed_builds_matching_books_and_the_market_maker_paper_trades(
    tmp_path: Path,
) -> None:
    cert, key = make_cert(tmp_path)
    server = VenueStandIn("kraken", cert, key)
    mid = Decimal("65000")
    server.set_book(
        "BTC/USD",
        {str(mid - STEP * i): "0.5" for i in range(1, 6)},
        {str(mid + STEP * i): "0.5" for i in range(1, 6)},
    )
    root = project(tmp_path, server.url)
    shutil.copy(cert, root / "standin-cert.pem")
    run = UpSession(tmp_path, str(root))
    stop = threading.Event()

    def drive() -> None:  # the venue's market: the mid swings by 20 bps, through the maker's quotes
        path = [Decimal(65000 + d) for d in (0, 60, 130, 60, 0, -60, -130, -60)]
        i = 0
        while not stop.wait(0.15):
            if server.subscribers():
                server.move_to("BTC/USD", path[i % len(path)], STEP)
                i += 1

    try:
        edge_url = wait_until(lambda: run.state().get("edges", {}).get("kraken"), 90, "the kraken edge")

        def books_match() -> bool:
            info = run.get(edge_url, "/v1/edge")
            book = info["books"]["BTC-USD"]
            bids, asks = server.book("BTC/USD")
            return (
                not book["stale"]
                and book["bids"] == [[float(p), float(bids[p])] for p in sorted(bids, reverse=True)]
                and book["asks"] == [[float(p), float(asks[p])] for p in sorted(asks)]
            )

        wait_until(books_match, 90, "the edge's book to match the stand-in's snapshot")
        feed = run.get(edge_url, "/v1/edge")["feed"]
        assert feed["kind"] == "live" and feed["connected"] and feed["healthy"]
        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        status = wait_until(lambda: (s := run.status("mm"))["fills"] >= 2 and s, 120, "paper fills")
        assert status["state"] == "Running" and status["orders"] >= status["fills"]
        stop.set()
        driver.join(5)
        wait_until(books_match, 30, "the edge's book to match the stand-in's after the moves")
        feed = run.get(edge_url, "/v1/edge")["feed"]
        assert feed["checksum_failures"] == 0 and feed["gaps"] == 0, feed
        metrics = httpx.get(edge_url + "/metrics", timeout=5, headers=AUTH).text
        assert 'sequence_edge_feed_connected{edge="kraken-0",venue="kraken"} 1.0' in metrics

        # the venue goes away: the book goes stale, the algo gets no updates, the status says so
        server.hold_snapshots(True)
        server.drop_all()
        info = wait_until(
            lambda: (i := run.get(edge_url, "/v1/edge"))["books"]["BTC-USD"]["stale"] and i,
            60,
            "a stale book",
        )
        assert not info["feed"]["healthy"] and info["feed"]["state"] in ("disconnected", "connecting")
        server.move_to("BTC/USD", Decimal("65100"), STEP)  # nobody subscribed: nothing reaches the edge
        assert run.get(edge_url, "/v1/edge")["books"]["BTC-USD"] == {"stale": True, "bids": [], "asks": []}
        metrics = httpx.get(edge_url + "/metrics", timeout=5, headers=AUTH).text
        assert 'sequence_edge_feed_connected{edge="kraken-0",venue="kraken"} 0.0' in metrics
        server.hold_snapshots(False)
        wait_until(books_match, 60, "the book rebuilt from a fresh snapshot after the reconnect")
        feed = run.get(edge_url, "/v1/edge")["feed"]
        assert feed["connected"] and feed["healthy"] and feed["resyncs"] >= 1 and feed["disconnects"] >= 1
        summary = run.finish(terminate=True)  # the session summary carries the live feed's counters
        live = summary["edges"]["kraken"]["live_feed"]
        assert live["resyncs"] >= 1 and live["disconnects"] >= 1 and live["gaps"] == 0, live
    finally:
        stop.set()
        run.kill()
        server.close()
