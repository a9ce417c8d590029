"""`sequence up` on a `mode = "live"` venue pointed at local Kraken stand-ins (public websocket and
private REST): the market maker's orders reach the stand-in with the edge's client order ids, and
`sequence kill-switch on|status|off` cancels them at the venue and lets trading resume. A live
venue without credentials, or under `--sandbox`, is refused before anything starts."""

from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("ccxt.pro")

from sequence_edge.orders.live_orders import client_order_id

from .conftest import REPO, sequence_cli
from .kraken_rest_standin import API_KEY, SECRET, KrakenRestStandIn
from .live_standin import VenueStandIn, make_cert, write_markets
from .mesh_support import wait_until
from .test_up import UpSession


def project(tmp: Path, endpoint: str, orders: str, credentials: bool = True) -> Path:
    root = tmp / "live-orders"
    root.mkdir()
    shutil.copy(REPO / "examples/market-maker/market_maker.wasm", root / "market_maker.wasm")
    write_markets("kraken", root)
    creds = root / "secrets"
    creds.mkdir(mode=0o700)
    for name, value in (("api_key", API_KEY), ("api_secret", SECRET)):
        (creds / name).write_text(value)
        (creds / name).chmod(0o600)
    credentials_line = 'credentials_dir = "secrets"' if credentials else ""
    (root / "Sequence.toml").write_text(f'''
[project]
name = "live-orders"

[venue.kraken]
mode = "live"
{credentials_line}
orders_endpoint = "{orders}"

[venue.kraken.feed]
kind = "live"
live = {{ endpoint = "{endpoint}", markets_file = "kraken-markets.json", cafile = "standin-cert.pem" }}

[deploy.mm]
venue = "kraken"
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


def cli(session: UpSession, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sequence_cli(), *args], capture_output=True, text=True, cwd=REPO, env=session.env, timeout=60
    )


@pytest.mark.slow
def test_sequence_up_trades_live_against_the_stand_in_and_the_kill_switch_verb_works(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    ws = VenueStandIn("kraken", cert, key)
    ws.set_book(
        "BTC/USD", {str(65000 - i): "0.5" for i in range(1, 6)}, {str(65000 + i): "0.5" for i in range(1, 6)}
    )
    rest = KrakenRestStandIn()
    root = project(tmp_path, ws.url, rest.url)
    shutil.copy(cert, root / "standin-cert.pem")
    run = UpSession(tmp_path, str(root))
    try:
        wait_until(lambda: run.state().get("edges", {}).get("kraken"), 90, "the kraken edge")
        mid = [65000]

        def nudge() -> None:  # one price step, one book update that never crosses the book
            mid[0] = 65001 if mid[0] == 65000 else 65000
            ws.move_to("BTC/USD", Decimal(mid[0]), Decimal("1"))

        def quoted() -> bool:  # the maker quotes on book updates: give it some
            if len(rest.open_orders()) < 2:
                nudge()
            return len(rest.open_orders()) == 2

        wait_until(quoted, 120, "the maker's quotes at the venue")
        dep_id = run.state()["deployments"]["mm"]["deployment_id"]
        open_here = run.get(run.edge("kraken"), f"/v1/deployments/{dep_id}/orders?open=1")
        assert {o["cl_ord_id"] for o in rest.open_orders().values()} == {
            client_order_id(dep_id, o["order_id"]) for o in open_here
        }
        gw = run.edge_info("kraken")["gateway"]
        assert gw["venue"] == "kraken" and gw["reconciled"] and gw["sent"] >= 2

        done = cli(run, "kill-switch", "on", "--venue", "kraken", "--reason", "drill")
        assert done.returncode == 0, done.stderr
        assert "kill switch ENGAGED" in done.stdout and "(drill)" in done.stdout
        wait_until(lambda: rest.open_orders() == {}, 30, "every order cancelled at the venue")
        status = cli(run, "kill-switch", "status")
        assert (
            status.returncode == 0
            and "ENGAGED" in status.stdout
            and "live gateway: connected" in status.stdout
        )
        sent = len(rest.add_requests)
        nudge()
        wait_until(lambda: run.status("mm")["rejects_by_reason"].get("KILL_SWITCH", 0) >= 1, 30, "refusals")
        assert len(rest.add_requests) == sent

        done = cli(run, "kill-switch", "off")
        assert done.returncode == 0 and "released" in done.stdout, done.stderr
        wait_until(quoted, 60, "quotes again after the release")
        assert len({r["cl_ord_id"] for r in rest.add_requests}) == len(rest.add_requests)  # none twice
    finally:
        run.kill()
        rest.close()
        ws.close()


def test_a_live_venue_without_credentials_or_under_sandbox_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path, "wss://127.0.0.1:1/ws", "http://127.0.0.1:1", credentials=False)
    cert, _key = make_cert(tmp_path)
    shutil.copy(cert, root / "standin-cert.pem")
    env = {**os.environ, "SEQUENCE_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [*sequence_cli(), "up", str(root), "--duration", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Sequence.toml:5: venue.kraken.credentials: a live venue places real orders" in done.stderr
    (root / "Sequence.toml").write_text(
        (root / "Sequence.toml")
        .read_text()
        .replace('mode = "live"', 'mode = "live"\ncredentials_dir = "secrets"')
    )
    done = subprocess.run(
        [*sequence_cli(), "--sandbox", "up", str(root), "--duration", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1 and "--sandbox refuses live venues: kraken" in done.stderr, done.stderr


def test_a_cluster_deploy_of_a_live_venue_needs_its_secret(tmp_path: Path) -> None:
    root = project(tmp_path, "wss://127.0.0.1:1/ws", "http://127.0.0.1:1")  # credentials_dir only
    cert, _key = make_cert(tmp_path)
    shutil.copy(cert, root / "standin-cert.pem")
    env = {**os.environ, "SEQUENCE_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [*sequence_cli(), "deploy", str(root), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert 'venue.kraken.credentials: a live venue in a cluster needs credentials = "<secret>"' in done.stderr
