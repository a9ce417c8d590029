"""An edge in mode live (orders/live_orders.py): the market maker's orders pass the edge's risk and
reach a local Kraken REST stand-in through ccxt's real code, with the edge's client order ids;
partial fills, venue rejects and cancels come back into the OMS and its journal; after a kill -9
the restarted edge reconciles the venue's open orders and sends none twice; the kill switch cancels
at the venue and refuses; dry run sends nothing; live without usable credentials is refused."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt.pro")

from sequence_edge.orders.live_orders import client_order_id

from .conftest import sequence_cli
from .kraken_rest_standin import API_KEY, SECRET, KrakenRestStandIn
from .live_standin import VenueStandIn, make_cert, write_markets
from .test_edge_durable import journaled
from .test_edge_process import MM, MM_RISK, EdgeProcess, wait_for

STEP = Decimal("1")
PARAMS = {"spread_bps": "4", "qty": "0.01", "max_position": "0.05", "requote_ms": "50"}


class Venue:
    """Kraken's public book websocket (TLS) and its private REST API, both local."""

    def __init__(self, tmp: Path) -> None:
        self.cert, key = make_cert(tmp)
        self.ws = VenueStandIn("kraken", self.cert, key)
        self.ws.set_book(
            "BTC/USD",
            {str(65000 - i): "0.5" for i in range(1, 6)},
            {str(65000 + i): "0.5" for i in range(1, 6)},
        )
        self.mid = 65000
        self.rest = KrakenRestStandIn()
        self.markets = write_markets("kraken", tmp)
        self.creds = tmp / "creds"
        self.creds.mkdir()
        for name, value in (("api_key", API_KEY), ("api_secret", SECRET)):
            (self.creds / name).write_text(value + "\n")
            (self.creds / name).chmod(0o600)

    def edge_args(self, *extra: str) -> tuple[str, ...]:
        return (
            "--venue", "kraken", "--symbols", "BTC-USD", "--mode", "live", "--feed", "live",
            "--live-endpoint", self.ws.url, "--live-markets-file", str(self.markets),
            "--live-cafile", str(self.cert), "--credentials-dir", str(self.creds),
            "--live-orders-endpoint", self.rest.url, "--live-poll-ms", "100", *extra,
        )  # fmt: skip

    def nudge(self) -> None:
        """The market moves by one price step (65000 <-> 65001): one book update, never crossed."""
        self.mid = 65001 if self.mid == 65000 else 65000
        self.ws.move_to("BTC/USD", Decimal(self.mid), STEP)

    def sent_ids(self) -> list[str]:
        return [r["cl_ord_id"] for r in self.rest.add_requests]

    def open_ids(self) -> set[str]:
        return {o["cl_ord_id"] for o in self.rest.open_orders().values()}

    def close(self) -> None:
        self.rest.close()
        self.ws.close()


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    v = Venue(tmp_path)
    yield v
    v.close()


def open_orders(edge: EdgeProcess, dep: str = "mm") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = edge.http.get(f"/v1/deployments/{dep}/orders", params={"open": 1}).json()
    return rows


def quoted(edge: EdgeProcess, venue: Venue) -> bool:
    """Both quotes rest at the venue. The maker quotes on book updates: while it lacks one, the
    stand-in's market moves a little (one update) to give it one."""
    if len(open_orders(edge)) < 2:
        venue.nudge()
    return len(venue.rest.open_orders()) == 2 and len(open_orders(edge)) == 2


def gateway(edge: EdgeProcess) -> dict[str, Any]:
    info: dict[str, Any] = edge.http.get("/v1/edge").json()["gateway"]
    return info


@pytest.mark.slow
def test_live_orders_reach_the_venue_come_back_and_survive_a_kill_9(tmp_path: Path, venue: Venue) -> None:
    state = tmp_path / "state"
    edge = EdgeProcess(tmp_path, *venue.edge_args("--state-dir", str(state)))
    try:
        gw = gateway(edge)
        assert gw["reconciled"] and gw["connected"] and not gw["dry_run"] and not gw["kill_switch"]
        assert (gw["can_trade"], gw["can_withdraw"]) == ("unknown", "unknown")  # Kraken has no such API
        assert gw["balances"] == {"USD": 10000.0, "BTC": 0.5}
        assert edge.push("mm", MM, params=PARAMS, risk=MM_RISK).status_code == 201

        # the maker's two quotes rest at the venue under the edge's client order ids
        wait_for(lambda: quoted(edge, venue), 60, "two quotes at the venue")
        ours = {client_order_id("mm", o["order_id"]) for o in open_orders(edge)}
        assert venue.open_ids() == ours and len(ours) == 2

        # a partial fill at the venue comes back: a fill for the algo, a position, the journal
        buy_id = next(o["order_id"] for o in open_orders(edge) if o["side"] == "buy")
        txid, order = venue.rest.by_client_id(client_order_id("mm", buy_id))
        venue.rest.fill(txid, 0.004)
        status = wait_for(lambda: (s := edge.status("mm"))["fills"] >= 1 and s, 30, "the partial fill")
        assert status["position"]["BTC-USD"] == pytest.approx(0.004)
        row = next(o for o in open_orders(edge) if o["order_id"] == buy_id)
        assert row["filled"] == pytest.approx(0.004) and row["px"] == float(order["descr"]["price"])
        wait_for(lambda: journaled(state, "mm")["n_fills"] >= 1, 10, "the fill in the journal")

        # the venue refuses the next order: VENUE_REJECT for the algo, nothing left open for it
        venue.rest.reject_adds = 1
        before = len(venue.rest.add_requests)
        venue.nudge()  # the maker requotes: cancel + place
        wait_for(lambda: edge.status("mm")["rejects_by_reason"].get("VENUE_REJECT", 0) >= 1, 30, "a reject")
        wait_for(lambda: quoted(edge, venue) and len(venue.rest.add_requests) >= before + 2, 30, "a requote")
        cancelled = [o for o in venue.rest.orders.values() if o["status"] == "canceled"]
        assert cancelled, "the requote's cancels reached the venue"
        wait_for(lambda: venue.open_ids() == {client_order_id("mm", o["order_id"]) for o in open_orders(edge)},
                 30, "the venue and the edge to agree on what is open")  # fmt: skip
        gw = gateway(edge)
        assert gw["rejected"] >= 1 and gw["cancelled"] >= 1 and gw["fills"] >= 1 and gw["errors"] == 0

        # kill -9, start again on the same state dir: reconciled before anything is sent, none twice
        resting_at_kill = venue.open_ids()
        sent_at_kill = venue.sent_ids()
        edge.proc.send_signal(signal.SIGKILL)
        edge.proc.wait()
        edge.log.close()
        edge = EdgeProcess(tmp_path, *venue.edge_args("--state-dir", str(state)))
        # not pushed again yet: the venue's open orders belong to no deployment of this edge
        wait_for(lambda: set(gateway(edge)["unknown_open_orders"]) == resting_at_kill, 30, "unknown orders")
        resp = edge.push("mm", MM, params=PARAMS, risk=MM_RISK, state="Stopped")
        assert resp.status_code == 201, resp.text
        assert {client_order_id("mm", o["order_id"]) for o in open_orders(edge)} == resting_at_kill
        reconciles = gateway(edge)["reconciles"]
        wait_for(lambda: gateway(edge)["reconciles"] >= reconciles + 3, 30, "reconciliations")
        gw = gateway(edge)
        assert gw["unknown_open_orders"] == [] and gw["open_orders"] == len(resting_at_kill)
        assert venue.sent_ids() == sent_at_kill and venue.open_ids() == resting_at_kill
        assert len(set(venue.sent_ids())) == len(venue.sent_ids())  # no client order id sent twice

        # the kill switch: every order cancelled at the venue, new ones refused, then released
        assert edge.http.post("/v1/deployments/mm/start").status_code == 200
        resp = edge.http.post("/v1/kill-switch", json={"engaged": True, "reason": "test incident"})
        assert resp.status_code == 200 and resp.json()["engaged"] and resp.json()["reason"] == "test incident"
        wait_for(lambda: venue.open_ids() == set(), 30, "every order cancelled at the venue")
        sent = len(venue.rest.add_requests)
        venue.nudge()
        wait_for(lambda: edge.status("mm")["rejects_by_reason"].get("KILL_SWITCH", 0) >= 1, 30, "refusals")
        assert len(venue.rest.add_requests) == sent and open_orders(edge) == []
        info = edge.http.get("/v1/edge").json()
        assert info["kill_switch"]["engaged"] and info["gateway"]["kill_switch"]
        assert edge.metric("sequence_edge_kill_switch_engaged", venue="kraken") == 1.0
        bad = edge.http.post("/v1/kill-switch", json={"engage": True})
        assert bad.status_code == 400 and bad.json()["error"]["reason"] == "InvalidKillSwitch"
        assert edge.http.post("/v1/kill-switch", json={"engaged": False}).json()["engaged"] is False
        wait_for(lambda: quoted(edge, venue), 30, "quotes again after the release")
        assert edge.metric("sequence_edge_kill_switch_engaged", venue="kraken") == 0.0
    finally:
        edge.stop()


@pytest.mark.slow
def test_dry_run_logs_what_it_would_send_and_sends_nothing(tmp_path: Path, venue: Venue) -> None:
    edge = EdgeProcess(tmp_path, *venue.edge_args("--dry-run"))
    try:
        assert gateway(edge)["dry_run"]
        assert edge.push("mm", MM, params=PARAMS, risk=MM_RISK).status_code == 201
        wait_for(lambda: quoted(edge, venue) or gateway(edge)["dry_run_orders"] >= 2, 30, "dry-run orders")
        logs = edge.http.get("/v1/deployments/mm/logs", params={"tail": 200}).text
        assert "dry run: order" in logs and "would send" in logs and "'clientOrderId': 'sq" in logs
        assert venue.rest.add_requests == [] and gateway(edge)["sent"] == 0
    finally:
        edge.stop()


def test_live_without_usable_credentials_is_refused_clearly(tmp_path: Path, venue: Venue) -> None:
    args = [a for a in venue.edge_args() if a not in ("--credentials-dir", str(venue.creds))]
    done = subprocess.run([*sequence_cli(), "edge", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--credentials-dir" in done.stderr and "mode live needs" in done.stderr
    (venue.creds / "api_secret").chmod(0o644)
    done = subprocess.run(
        [*sequence_cli(), "edge", "--port", "0", *venue.edge_args()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "readable by others" in done.stderr, done.stderr
    assert venue.rest.add_requests == []
