"""The live order gateway (orders/gateway.py) through ccxt's real Kraken REST code, against a local
stand-in that checks Kraken's request signatures: client order ids, acks, rejects, cancels,
reconciliation after a restart, idempotent retry after a lost answer, the kill switch, dry run,
and credentials files."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ccxt.pro")

from sequence_edge.orders.gateway import (
    CredentialsError,
    GatewayError,
    LiveOrderGateway,
    load_credentials,
)

from .kraken_rest_standin import API_KEY, SECRET, KrakenRestStandIn
from .live_standin import MARKETS

MARKETS_KRAKEN = json.loads(json.dumps(MARKETS["kraken"]))


@pytest.fixture
def venue() -> Iterator[KrakenRestStandIn]:
    server = KrakenRestStandIn()
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


def gateway(venue: KrakenRestStandIn, creds_dir: Path, **kw: object) -> LiveOrderGateway:
    return LiveOrderGateway(
        "kraken", load_credentials(creds_dir), rest_endpoint=venue.url, markets=MARKETS_KRAKEN, **kw
    )


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_orders_reach_the_venue_with_the_edge_client_ids_and_restart_sends_none_twice(
    venue: KrakenRestStandIn, creds_dir: Path
) -> None:
    async def first_process() -> None:
        gw = gateway(venue, creds_dir)
        assert await gw.start() == []
        ack = await gw.submit("edge-1-0001", "BTC-USD", "buy", 0.01, 64000.0)
        await gw.submit("edge-1-0002", "BTC-USD", "sell", 0.02, 66000.0)
        assert ack["id"].endswith("STAND-IN") and ack["clientOrderId"] == "edge-1-0001"
        with pytest.raises(GatewayError, match=r"rejected edge-1-0003: .*Insufficient funds"):
            await gw.submit("edge-1-0003", "BTC-USD", "buy", 5.0, 64000.0)
        await gw.close()

    async def restarted_process() -> None:
        gw = gateway(venue, creds_dir)
        assert await gw.start() == ["edge-1-0001", "edge-1-0002"]  # reconciled before anything is sent
        again = await gw.submit("edge-1-0001", "BTC-USD", "buy", 0.01, 64000.0)  # the algo retries
        assert again["clientOrderId"] == "edge-1-0001"
        await gw.cancel("edge-1-0002")
        assert gw.status()["retries_avoided"] == 1 and gw.status()["open_orders"] == 1
        await gw.close()

    run(first_process())
    assert [r["cl_ord_id"] for r in venue.add_requests] == ["edge-1-0001", "edge-1-0002", "edge-1-0003"]
    run(restarted_process())
    assert len(venue.add_requests) == 3  # nothing sent twice
    assert sorted(o["cl_ord_id"] for o in venue.open_orders().values()) == ["edge-1-0001"]
    assert venue.bad_signatures == 0


def test_a_lost_answer_is_reconciled_not_resent(venue: KrakenRestStandIn, creds_dir: Path) -> None:
    async def go() -> None:
        gw = gateway(venue, creds_dir, timeout_ms=1000)
        await gw.start()
        venue.hold_next_add_s = 3.0  # the order is placed; its answer comes after the client's timeout
        order = await gw.submit("edge-1-0100", "BTC-USD", "buy", 0.01, 64000.0)
        assert order["clientOrderId"] == "edge-1-0100"
        assert gw.status()["retries_avoided"] == 1
        await gw.close()

    run(go())
    assert [r["cl_ord_id"] for r in venue.add_requests] == ["edge-1-0100"]  # one order at the venue
    assert len(venue.open_orders()) == 1


def test_kill_switch_cancels_everything_and_refuses_orders(venue: KrakenRestStandIn, creds_dir: Path) -> None:
    async def go() -> None:
        gw = gateway(venue, creds_dir)
        await gw.start()
        for i in range(3):
            await gw.submit(f"edge-1-02{i}", "BTC-USD", "buy", 0.01, 64000.0 - i)
        venue.fill(next(iter(venue.open_orders())), 0.004)  # a partial fill: still open
        assert await gw.kill() == 3
        assert gw.status()["killed"] and venue.open_orders() == {}
        with pytest.raises(GatewayError, match="kill switch engaged"):
            await gw.submit("edge-1-0299", "BTC-USD", "buy", 0.01, 64000.0)
        gw.reset_kill()
        await gw.submit("edge-1-0299", "BTC-USD", "buy", 0.01, 64000.0)
        await gw.close()

    run(go())
    assert len(venue.open_orders()) == 1


def test_dry_run_sends_nothing(venue: KrakenRestStandIn, creds_dir: Path) -> None:
    async def go() -> None:
        gw = gateway(venue, creds_dir, dry_run=True)
        await gw.start()
        result = await gw.submit("edge-1-0300", "BTC-USD", "sell", 0.01, 66000.0)
        assert result["status"] == "dry_run" and gw.dry_run_log[0]["clientOrderId"] == "edge-1-0300"
        await gw.close()

    run(go())
    assert venue.add_requests == []


def test_credentials_must_be_files_readable_only_by_the_gateway(tmp_path: Path, creds_dir: Path) -> None:
    assert load_credentials(creds_dir).api_key == API_KEY
    assert SECRET not in repr(load_credentials(creds_dir))
    (creds_dir / "api_secret").chmod(0o644)
    with pytest.raises(CredentialsError, match=r"readable by others .*chmod 600"):
        load_credentials(creds_dir)
    with pytest.raises(CredentialsError, match="not found"):
        load_credentials(tmp_path / "nowhere")
