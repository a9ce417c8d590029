"""`sequence tca`'s numbers against hand-computed values: a real edge replays a recorded book whose
mids are known at every moment, a real wasm taker (tests/fixtures/tca/taker.wat) trades on markers
in that book, and the analysis reads the edge's orders, traces, fees and mid history over HTTP."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from sequence.analysis.report_html import render_html
from sequence.analysis.tca import HORIZONS_S, VenueData, analyze
from sequence.cli.edge_access import DeploymentEdge
from sequence.cli.tca import collect, table
from sequence.client import EdgeClient, NotFound

from .conftest import TEST_TOKEN
from .test_edge_process import EdgeProcess, wait_for

T0 = 1_763_719_200_000_000_000
S = 1_000_000_000


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


# Mids: 100.5 until 10.3 s, 101.5 until 16 s, 102.5 until 34 s, then 99.5. The taker buys 2 at
# 10 s (bid size 12), sells 1 at 12 s (bid size 13) and sends a buy that cannot fill at 12.5 s
# (bid size 14). Every horizon (fill + 1, 10, 60 s) falls seconds away from a mid change.
ROWS = [
    (0, "BTC-USD", "snapshot_begin", "", ""),
    (0, "BTC-USD", "bid", "100", "10"),
    (0, "BTC-USD", "bid", "99", "10"),
    (0, "BTC-USD", "ask", "101", "10"),
    (0, "BTC-USD", "ask", "102", "10"),
    (0, "BTC-USD", "snapshot_end", "", ""),
    (10.0, "BTC-USD", "bid", "100", "12"),  # the taker buys 2 at the ask, 101; mid 100.5
    (10.3, "BTC-USD", "ask", "103", "10"),
    (10.3, "BTC-USD", "ask", "101", "0"),
    (10.3, "BTC-USD", "bid", "101", "10"),
    (10.3, "BTC-USD", "bid", "100", "5"),  # bid 101 / ask 102: mid 101.5
    (12.0, "BTC-USD", "bid", "101", "13"),  # the taker sells 1 at the bid, 101; mid 101.5
    (12.5, "BTC-USD", "bid", "101", "14"),  # the taker bids 1 at 101 IOC: nothing to take, expires
    (12.7, "BTC-USD", "bid", "101", "10"),
    (16.0, "BTC-USD", "ask", "104", "10"),
    (16.0, "BTC-USD", "ask", "102", "0"),
    (16.0, "BTC-USD", "bid", "102", "10"),  # bid 102 / ask 103: mid 102.5
    (34.0, "BTC-USD", "bid", "102", "0"),
    (34.0, "BTC-USD", "bid", "101", "0"),
    (34.0, "BTC-USD", "bid", "100", "0"),
    (34.0, "BTC-USD", "ask", "100", "10"),  # bid 99 / ask 100: mid 99.5
    (76.0, "BTC-USD", "ask", "104", "11"),
]
LEAD_S = 5.0  # every time above comes this much later: room for the push on a loaded machine
TAKER_FEE_BPS = 4.0
DEP = "tca-taker"


def replay_text() -> str:
    lines = ["ts_ns,symbol,side,px,qty"]
    lines += [f"{at(t + LEAD_S if t else 0)},{sym},{side},{px},{qty}" for t, sym, side, px, qty in ROWS]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    tmp = tmp_path_factory.mktemp("tca")
    replay = tmp / "known-mids.csv"
    replay.write_text(replay_text())
    wasm = tmp / "taker.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((Path(__file__).parent / "fixtures/tca/taker.wat").read_text()))
    edge = EdgeProcess(
        tmp,
        *("--venue", "kraken", "--edge-id", "replay-0", "--feed", "replay", "--replay-file", str(replay)),
        *("--no-replay-loop", "--taker-fee-bps", str(TAKER_FEE_BPS), "--maker-fee-bps", "1"),
    )
    risk = {"max_order_qty": 5, "max_position": 10, "max_notional": 10_000, "price_band_bps": 1000}
    pushed = edge.push(DEP, wasm, risk=risk)  # starts Running: the first marker comes 15 s after the snapshot
    assert pushed.status_code == 201, pushed.text
    started = dt.datetime.fromisoformat(edge.http.get("/v1/edge").json()["started_at"].replace("Z", "+00:00"))
    running_after = (dt.datetime.now(dt.UTC) - started).total_seconds()
    assert running_after < 10 + LEAD_S, (
        f"the taker ran {running_after:.1f} s after the replay began: too late"
    )
    assert edge.status(DEP)["state"] == "Running"
    yield edge
    edge.stop()


@pytest.mark.slow
def test_tca_numbers_match_the_hand_computed_ones(replayed: EdgeProcess, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{replayed.port}"
    with EdgeClient(url, token=TEST_TOKEN) as client:
        orders = wait_for(
            lambda: len(client.orders(DEP)) == 3 and client.orders(DEP), 60, "the taker's 3 orders"
        )
        assert [o.state for o in orders] == ["filled", "filled", "expired"], orders
        # the OMS recorded the mid when each order arrived
        assert [o.arrival_mid for o in orders] == [100.5, 101.5, 101.5]
        fills = [e for o in orders if o.filled for e in client.trace(o.order_ref).events if e.event == "fill"]
        last_fill = max(e.ts_ns for e in fills)
        wait_for(
            lambda: client.mids("BTC-USD").until_ns > last_fill + 60 * S + S // 2,
            120,
            "the edge's mid history to pass the last fill's 60 s markout",
        )
        data = [collect(DeploymentEdge("taker", DEP, "kraken", client), None)]
        status = client.status(DEP)
    report = analyze(data)
    t = report.total

    buy_slip = (101 - 100.5) / 100.5 * 1e4  # paid 101 for a mid of 100.5
    sell_slip = -(101 - 101.5) / 101.5 * 1e4  # sold at 101 with a mid of 101.5
    assert [round(f.slippage_bps or 0, 6) for f in report.fills] == [round(buy_slip, 6), round(sell_slip, 6)]
    assert t.slippage_bps == pytest.approx((202 * buy_slip + 101 * sell_slip) / 303)
    # markouts: the buy (at 10 s) and the sell (at 12 s) see 101.5 after 1 s, 102.5 after 10 s, 99.5 after 60 s
    expected = {
        "1": ((101.5 - 101) / 101, -(101.5 - 101) / 101),
        "10": ((102.5 - 101) / 101, -(102.5 - 101) / 101),
        "60": ((99.5 - 101) / 101, -(99.5 - 101) / 101),
    }
    for h, (buy, sell) in expected.items():
        assert [f.markouts_bps[h] for f in report.fills] == pytest.approx([buy * 1e4, sell * 1e4])
        assert t.markouts_bps[h] == pytest.approx((202 * buy + 101 * sell) / 303 * 1e4)
        assert t.markouts_known[h] == 2
    assert t.fees == pytest.approx((2 * 101 + 101) * TAKER_FEE_BPS / 1e4)
    assert t.fees == pytest.approx(status.fees)  # what the OMS charged
    assert t.fees_bps == pytest.approx(TAKER_FEE_BPS)
    assert (t.orders, t.filled_orders, t.fills, t.maker_fills) == (3, 2, 2, 0)
    assert t.fill_rate == pytest.approx(3 / 4)  # 2 + 1 filled of 2 + 1 + 1 ordered
    assert t.notional == pytest.approx(303)
    assert list(report.venues) == ["kraken"] and report.venues["kraken"].share == pytest.approx(1.0)
    assert report.curve_bps["kraken"][report.curve_s.index(10)] == pytest.approx(t.markouts_bps["10"])

    # the table shows the same numbers
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(table(report, "TCA taker"))
    text = console.export_text()
    assert f"{t.slippage_bps:,.2f}" in text and "75.0%" in text and f"{t.fees:,.4f}" in text

    # the HTML report: self-contained, with both plots
    html = render_html(report, "TCA taker", list(HORIZONS_S))
    assert not re.search(r"https?://", html) and "<script" not in html and "src=" not in html
    assert html.count("<svg") == 2 and html.count('class="bar"') >= 1 and 'class="curve"' in html
    assert f"{t.slippage_bps:,.2f}" in html


def test_mid_history_and_book_depth_answer_known_values(replayed: EdgeProcess) -> None:
    with EdgeClient(f"http://127.0.0.1:{replayed.port}", token=TEST_TOKEN) as client:
        book = client.book("BTC-USD", depth=1)
        assert book.fees.taker_bps == TAKER_FEE_BPS and book.fees.maker_bps == 1.0
        assert (
            len(book.bids) == 1
            and len(book.asks) == 1
            and book.mid == (book.bids[0][0] + book.asks[0][0]) / 2
        )
        history = client.mids("BTC-USD")
        assert set(history.mids) <= {100.5, 101.0, 101.5, 102.0, 102.5, 99.5}
        assert history.ts_ns == sorted(history.ts_ns) and history.step_ms == 100
        with pytest.raises(NotFound):
            client.book("ETH-USD")
    bad = replayed.http.get("/v1/book/BTC-USD", params={"depth": "0"})
    assert bad.status_code == 400 and bad.json()["error"]["reason"] == "BadQuery"


def test_the_analysis_of_orders_without_fills_reports_no_costs_rather_than_failing() -> None:
    from sequence_wire.edge_api import FeeSchedule, MidHistory, Order

    def order(ref: str, state: str, filled: float) -> Order:
        return Order(
            order_ref=ref, deployment_id=DEP, order_id=1, symbol="BTC-USD", side="buy", type="limit",
            px=100.0, qty=1.0, filled=filled, state=state, arrival_mid=100.5,
        )  # fmt: skip

    mids = MidHistory(symbol="BTC-USD", step_ms=100, from_ns=0, until_ns=0, ts_ns=[], mids=[])
    data = VenueData(
        "kraken", DEP, [order("P-00000001", "rejected", 0), order("P-00000002", "cancelled", 0)], [],
        FeeSchedule(maker_bps=1, taker_bps=4), {"BTC-USD": mids},
    )  # fmt: skip
    report = analyze([data])
    t = report.total
    assert (t.orders, t.rejected, t.fills, t.notional, t.fees) == (2, 1, 0, 0.0, 0.0)
    assert t.fill_rate == 0.0 and t.slippage_bps is None and t.markouts_bps["60"] is None
    assert analyze([data], symbol="ETH-USD").total.orders == 0
    html = render_html(report, "empty", list(HORIZONS_S))
    assert "no fills" in html and "no markouts yet" in html
