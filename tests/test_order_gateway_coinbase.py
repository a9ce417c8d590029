"""The live order gateway through ccxt's real Coinbase Advanced Trade REST code, against a local
stand-in that checks Coinbase's HMAC request signatures: the edge's client order ids reach the
venue (ccxt would replace them, so the gateway sends Coinbase's own field), the key's permissions
are read, fills come back once, a reject names the venue's reason, a restart reconciles, and an
order that filled or was cancelled while nobody watched is found among the closed ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt.pro")

from sequence_edge.orders.gateway import GatewayError, LiveOrderGateway, load_credentials

from .coinbase_rest_standin import API_KEY, SECRET, CoinbaseRestStandIn
from .live_standin import MARKETS

MARKETS_COINBASE = json.loads(json.dumps(MARKETS["coinbase"]))


@pytest.fixture
def venue() -> Iterator[CoinbaseRestStandIn]:
    server = CoinbaseRestStandIn()
    yield server
    server.close()


@pytest.fixture
def creds_dir(tmp_path: Path) -> Path:
    d = tmp_path / "creds"
    d.mkdir()
    for name, value in (("api_key", API_KEY), ("api_secret", SECRET)):
        (d / name).write_text(value + "\n")
        (d / name).chmod(0o600)
    return d


def gateway(venue: CoinbaseRestStandIn, creds_dir: Path) -> LiveOrderGateway:
    return LiveOrderGateway(
        "coinbase", load_credentials(creds_dir), rest_endpoint=venue.url, markets=MARKETS_COINBASE
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_coinbase_orders_permissions_fills_and_reconciliation(
    venue: CoinbaseRestStandIn, creds_dir: Path
) -> None:
    async def first_process() -> None:
        gw = gateway(venue, creds_dir)
        assert await gw.start() == []
        await gw.read_permissions()
        await gw.read_balances()
        status = gw.status()
        assert (status["can_trade"], status["can_withdraw"]) == ("yes", "no")
        assert "key_permissions" in status["permissions_source"]
        assert status["balances"] == {"USD": 10000.0, "BTC": 0.5}
        ack = await gw.submit("sq0a1b2c3d1", "BTC-USD", "buy", 0.01, 64000.0)
        assert ack["clientOrderId"] == "sq0a1b2c3d1"
        await gw.submit("sq0a1b2c3d2", "BTC-USD", "sell", 0.01, 66000.0, "post_only")
        venue.reject_creates = 1
        with pytest.raises(GatewayError, match=r"rejected sq0a1b2c3d3: .*(INSUFFICIENT_FUND|Insufficient)"):
            await gw.submit("sq0a1b2c3d3", "BTC-USD", "buy", 0.01, 64000.0)

        # a partial fill comes back once, with the venue's price
        buy = venue.by_client_id("sq0a1b2c3d1")
        venue.fill(buy["order_id"], 0.004)
        known = {"sq0a1b2c3d1": 0.0, "sq0a1b2c3d2": 0.0}
        assert await gw.poll(known) == [("fill", "sq0a1b2c3d1", 64000.0, pytest.approx(0.004))]
        assert await gw.poll(known) == []  # the edge had not applied it yet: not reported twice
        await gw.close()

    run(first_process())
    assert [r["client_order_id"] for r in venue.create_requests] == [
        "sq0a1b2c3d1",
        "sq0a1b2c3d2",
        "sq0a1b2c3d3",
    ]
    sell = venue.by_client_id("sq0a1b2c3d2")
    assert sell["order_configuration"]["limit_limit_gtc"]["post_only"] is True
    assert venue.bad_signatures == 0

    # while no gateway runs: the buy fills completely, the sell is cancelled at the venue
    buy = venue.by_client_id("sq0a1b2c3d1")
    venue.fill(buy["order_id"], 0.006)
    sell["status"] = "CANCELLED"

    async def restarted_process() -> list[tuple[Any, ...]]:
        gw = gateway(venue, creds_dir)
        assert await gw.start() == []  # nothing open at the venue any more
        # the edge's journal still has both open, the buy with 0.004 filled
        events = await gw.poll({"sq0a1b2c3d1": 0.004, "sq0a1b2c3d2": 0.0})
        again = await gw.submit("sq0a1b2c3d4", "BTC-USD", "buy", 0.01, 64000.0)
        await gw.cancel("sq0a1b2c3d4")
        assert venue.by_client_id("sq0a1b2c3d4")["status"] == "CANCELLED" and again["id"]
        await gw.close()
        return events

    events = run(restarted_process())
    assert ("fill", "sq0a1b2c3d1", 64000.0, pytest.approx(0.006)) in events
    assert ("closed", "sq0a1b2c3d1", "closed") in events
    assert ("closed", "sq0a1b2c3d2", "canceled") in events
    assert len(venue.create_requests) == 4  # nothing sent twice


def test_a_key_that_can_withdraw_shows_it(creds_dir: Path) -> None:
    server = CoinbaseRestStandIn(can_trade=True, can_transfer=True)
    try:

        async def check() -> dict[str, Any]:
            gw = gateway(server, creds_dir)
            await gw.start()
            await gw.read_permissions()
            await gw.close()
            return gw.status()

        status = run(check())
        assert (status["can_trade"], status["can_withdraw"]) == ("yes", "yes")
    finally:
        server.close()


def test_a_venue_without_an_order_gateway_is_refused_by_name(creds_dir: Path) -> None:
    with pytest.raises(GatewayError, match=r"no live order gateway for venue 'hyperliquid' .*wallet key"):
        LiveOrderGateway("hyperliquid", load_credentials(creds_dir))
