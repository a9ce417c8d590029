"""`sequence intel` and `sequence tca` as a user runs them: the CLI against a running `sequence up`
session of examples/mesh-arb (two sim venues quoting apart, a coordinator with its graph engine,
a maker that trades)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .mesh_support import wait_until
from .test_up import MESH_ARB, UpSession, session  # noqa: F401 (the fixture)

PROJECT = ("-p", MESH_ARB)


def intel_json(run: UpSession) -> dict:  # type: ignore[type-arg]
    result = run.cli("intel", "BTC-USD", "-o", "json", *PROJECT)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.slow
def test_intel_and_tca_against_a_running_session(session: Callable[..., UpSession], tmp_path: Path) -> None:  # noqa: F811
    run = session(MESH_ARB, "--start")
    wait_until(lambda: run.status("maker")["fills"] >= 3, 90, "the maker's first fills")

    # intel: both venues carry BTC-USD, their books give curves, the coordinator routes
    report = wait_until(
        lambda: (r := intel_json(run))["routing"].get("buy") and r["routing"]["buy"]["venue"] and r,
        60,
        "a routing preference from the coordinator",
    )
    coverage = {row["venue"]: row for row in report["coverage"]}
    assert set(coverage) == {"kraken", "coinbase"}
    for row in coverage.values():
        assert row["carries"] and row["feed"] == "sim" and row["feed_healthy"] and row["mid"] > 0
        assert row["spread_bps"] > 0 and row["bid_size"] > 0 and row["ask_size"] > 0
    size = report["reference_size"]
    assert size > 0 and report["multiples"] == [1, 5, 25]
    assert {(c["venue"], c["side"]) for c in report["curves"]} == {
        (v, s) for v in ("kraken", "coinbase") for s in ("buy", "sell")
    }
    for curve in report["curves"]:
        assert curve["sizes"] == pytest.approx([size, 5 * size, 25 * size])
        known = [c for c in curve["cost_bps"] if c is not None]
        assert curve["cost_bps"][: len(known)] == known, curve  # only sizes past the book are unknown
        assert len(known) >= 2, curve  # 1x and 5x the smallest top size are inside the book
        assert known == sorted(known), f"cost must grow with size: {curve}"
        assert known[0] > 0  # crossing the spread costs something
        assert curve["fee_adjusted_bps"][: len(known)] == pytest.approx([c + 4.0 for c in known])
    for side, best in (("buy", min), ("sell", max)):
        pref = report["routing"][side]
        quotes = [v for v in pref["venues"] if v["eligible"]]
        assert {v["venue"] for v in quotes} == {"kraken", "coinbase"}
        price_of = {v["venue"]: v["ask" if side == "buy" else "bid"] for v in quotes}
        assert pref["price"] == best(price_of.values())  # the better price wins
        assert price_of[pref["venue"]] == pref["price"]

    # the coordinator's route endpoint refuses bad queries with the error shape, and changes nothing
    coordinator = run.state()["coordinator_url"]
    for query in (
        "symbol=btc&side=buy&qty=1",
        "symbol=BTC-USD&side=hold&qty=1",
        "symbol=BTC-USD&side=buy&qty=-1",
    ):
        response = httpx.get(
            f"{coordinator}/v1/graphs-engine/route?{query}",
            headers={"Authorization": f"Bearer {run.token()}"},
        )
        assert response.status_code == 400 and response.json()["error"]["reason"] == "BadQuery", response.text

    table = run.cli("intel", "BTC-USD", *PROJECT)
    assert table.returncode == 0, table.stderr
    assert "venue coverage" in table.stdout and "SOR routing preference, buy" in table.stdout

    # tca of the maker: fills, fees and markouts from its edge, and the HTML report
    stopped = run.cli("stop", "maker", *PROJECT)
    assert stopped.returncode == 0, stopped.stderr
    status = run.status("maker")
    wait_until(
        lambda: run.cli("tca", "maker", "-o", "json", *PROJECT).stdout.count('"1": null') == 0,
        30,
        "1 s markouts",
    )
    html = tmp_path / "tca.html"
    result = run.cli("tca", "maker", "-o", "json", "--html", str(html), *PROJECT)
    assert result.returncode == 0, result.stderr
    tca = json.loads(result.stdout)
    total = tca["total"]
    assert tca["deployments"] == ["mesh-arb-maker"] and list(tca["venues"]) == ["kraken"]
    assert 0 < total["fills"] <= status["fills"] and total["fills"] == len(tca["fills"])
    assert 0 < total["fill_rate"] <= 1
    for fill in tca["fills"]:
        rate = 1.0 if fill["maker"] else 4.0  # the edge's default paper fees
        assert fill["fee"] == pytest.approx(fill["px"] * fill["qty"] * rate / 1e4)
        assert fill["arrival_mid"] > 0 and fill["slippage_bps"] is not None
        assert fill["markouts_bps"]["1"] is not None
    if status["orders"] <= 500:  # the edge lists the last 500 orders: then every fill is in the report
        assert total["fills"] == status["fills"] and total["fees"] == pytest.approx(status["fees"])
    text = html.read_text()
    assert not re.search(r"https?://", text) and text.count("<svg") == 2
    plain = run.cli("tca", "maker", "--symbol", "BTC-USD", *PROJECT)
    assert plain.returncode == 0, plain.stderr
    assert "kraken" in plain.stdout and "markout 60s bps" in plain.stdout


def test_walk_cost_is_the_size_weighted_price_of_the_levels_taken() -> None:
    from sequence.analysis.intel import walk_cost_bps

    asks = [[101.0, 1.0], [102.0, 2.0], [104.0, 1.0]]
    mid = 100.0
    assert walk_cost_bps(asks, mid, 1.0, "buy") == pytest.approx(100.0)  # 101 vs 100
    assert walk_cost_bps(asks, mid, 3.0, "buy") == pytest.approx(((101 + 2 * 102) / 3 - 100) / 100 * 1e4)
    assert walk_cost_bps(asks, mid, 4.5, "buy") is None  # deeper than the book
    bids = [[99.0, 1.0], [98.0, 1.0]]
    assert walk_cost_bps(bids, mid, 2.0, "sell") == pytest.approx((100 - 98.5) / 100 * 1e4)
