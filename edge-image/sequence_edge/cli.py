"""`sequence edge` (also `python -m sequence_edge`): one venue edge (feed, books, hosted algos,
risk, paper OMS, control API).

The `sequence` CLI loads this command by name only when it runs, so the control plane has no
static import of the data plane; importing this module loads click and nothing else of the edge.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

import click

from .cli_policy import policy_options

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}(-PERP)?$")
VENUE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _symbols(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    symbols = [s.strip() for s in value.split(",") if s.strip()] if value else []
    bad = [s for s in symbols if not SYMBOL_RE.match(s)]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: symbols look like BTC-USD (comma-separated)")
    return symbols


def _venues(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    venues = [v.strip() for v in value.split(",") if v.strip()] if value else []
    bad = [v for v in venues if not VENUE_RE.match(v)]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: venue names are lowercase letters, digits and '-'")
    if len(set(venues)) != len(venues):
        raise click.BadParameter(f"{value!r} names a venue twice")
    return venues


def _coordinator(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from .mesh.bridge import parse_address

    try:
        parse_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _start_prices(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> dict[str, float]:
    prices = {}
    for item in value:
        symbol, _, px = item.partition("=")
        try:
            prices[symbol] = float(px)
        except ValueError:
            raise click.BadParameter(f"{item!r}: use SYMBOL=PRICE, e.g. BTC-USD=65000") from None
        if not SYMBOL_RE.match(symbol) or not prices[symbol] > 0:
            raise click.BadParameter(f"{item!r}: use SYMBOL=PRICE with a positive price, e.g. BTC-USD=65000")
    return prices


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (as the coordinator): a mesh message wakes the edge's loop sooner."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def _graph_risk(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    """The limits graph orders set themselves (the rest come from the edge's default risk)."""
    if value is None:
        return None
    import json

    from .edge_policy import check_risk_values  # the deployment risk rules, the same checks

    try:
        limits = json.loads(value)
        if not isinstance(limits, dict):
            raise ValueError("must be a JSON object of risk limits")
        check_risk_values(limits, where="graph-risk")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return {k: v for k, v in limits.items() if v is not None}


# the same help options as under `sequence`, so `python -m` reads the same
@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--venue", required=True, help="Venue this edge serves (e.g. kraken)")
@click.option(
    "--port", default=7070, show_default=True, type=click.IntRange(0, 65535), help="Control API port"
)
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (a pod passes 0.0.0.0 or its own address)",
)
@click.option("--edge-id", default="", help="Name in status and metrics  [default: VENUE-0]")
@click.option(
    "--mode",
    default="sandbox",
    show_default=True,
    type=click.Choice(["sandbox", "live"]),
    help="sandbox: market data from the feed, fills simulated, no real orders; live: orders that pass "
    "the edge's risk go to the venue (needs --feed live and --credentials-dir)",
)
@click.option(
    "--credentials-dir",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="live: directory with the venue account's api_key and api_secret files (a mounted Secret), "
    "readable only by the edge's user",
)
@click.option(
    "--dry-run/--no-dry-run",
    default=False,
    show_default=True,
    help="live: log every order the edge would send and send none (reads still reach the venue)",
)
@click.option(
    "--live-orders-endpoint",
    default=None,
    help="live: the venue's private REST base URL instead of its real one (a stand-in, a venue's sandbox)",
)
@click.option(
    "--live-poll-ms",
    default=1000,
    show_default=True,
    type=click.IntRange(20, 60_000),
    help="live: how often the venue's open orders are read back (fills, closes, reconciliation)",
)
@click.option(
    "--feed",
    "feed_kind",
    default="sim",
    show_default=True,
    type=click.Choice(["sim", "replay", "live"]),
    help="sim: synthetic market; replay: a recorded file; live: the venue's public order books (needs the live extra)",
)
@click.option(
    "--live-endpoint",
    default=None,
    help="live: the venue's websocket URL instead of its public one (a stand-in, a venue's test endpoint)",
)
@click.option("--live-rest-endpoint", default=None, help="live: the venue's REST base URL (the market list)")
@click.option(
    "--live-markets-file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="live: ccxt markets as JSON (symbol -> market); skips fetching the market list at start",
)
@click.option(
    "--live-cafile",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="live: CA bundle to trust for the venue's TLS certificate (default: the system's)",
)
@click.option(
    "--live-depth", default=10, show_default=True, type=click.IntRange(1, 1000), help="live: levels per side"
)
@click.option(
    "--symbols", default="", callback=_symbols, help="Books to start with (more come with deployments)"
)
@click.option(
    "--seed", default=1, show_default=True, type=click.IntRange(0), help="sim: same seed, same market"
)
@click.option(
    "--updates-per-sec",
    default=2000.0,
    show_default=True,
    type=click.FloatRange(0, 1e7, min_open=True),
    help="sim: book updates per second per symbol",
)
@click.option(
    "--volatility-bps",
    default=50.0,
    show_default=True,
    type=click.FloatRange(0),
    help="sim: per-second volatility of the mid",
)
@click.option(
    "--spread-bps",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="sim: quoted spread",
)
@click.option(
    "--dislocation-bps",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0),
    help="sim: this venue's deviation from the common mid",
)
@click.option(
    "--depth", default=25, show_default=True, type=click.IntRange(1, 500), help="sim: levels per side"
)
@click.option(
    "--start-price",
    "start_prices",
    multiple=True,
    callback=_start_prices,
    metavar="SYMBOL=PX",
    help="sim: centre price of a symbol (repeatable; defaults per base asset)",
)
@click.option(
    "--replay-file", type=click.Path(dir_okay=False), help="replay: recorded file (docs/operations.md)"
)
@click.option("--replay-speed", default=1.0, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--replay-loop/--no-replay-loop", default=True, show_default=True)
@click.option(
    "--maker-fee-bps", default=1.0, show_default=True, type=float, help="Paper fee (negative: rebate)"
)
@click.option("--taker-fee-bps", default=4.0, show_default=True, type=float)
@click.option(
    "--coordinator",
    callback=_coordinator,
    metavar="HOST:PORT",
    help="Join the mesh: the coordinator's mesh port (the edge trades with or without it)",
)
@click.option(
    "--venues",
    "venue_names",
    default="",
    callback=_venues,
    metavar="V1,V2",
    help="Venue table given to every algo (NBBO venue indexes): the same list on every edge of a "
    "project  [default: VENUE]",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    envvar="SEQUENCE_EDGE_STATE_DIR",
    help="Keep each deployment's trading state (positions, PnL, resting orders, next order id, risk "
    "budget, kill switch) in a journal here and restore it when the deployment is pushed again "
    "after a restart  [default: none, nothing survives a restart; `sequence up` passes one]",
)
@click.option(
    "--journal-fsync-ms",
    default=200,
    show_default=True,
    type=click.IntRange(0, 60_000),
    help="fsync the journals this often (0: after every write). A process crash loses nothing "
    "either way; a machine crash loses at most this much",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="File holding the control API's bearer token  [default: $SEQUENCE_TOKEN, else a generated "
    "token written to a 0600 file named in the first log line]",
)
@click.option(
    "--metrics-token-file",
    type=click.Path(dir_okay=False),
    help="File holding a token that may only read /metrics  [default: $SEQUENCE_METRICS_TOKEN, else "
    "/metrics needs the control token]",
)
@click.option(
    "--coordinator-token-file",
    type=click.Path(dir_okay=False),
    help="File holding the coordinator's token, sent in the mesh HELLO  [default: this edge's control token]",
)
@click.option(
    "--allow-native",
    is_flag=True,
    default=False,
    help="Accept native (.so) algorithms (push runtime: native). They run unsandboxed inside this "
    "process: a crash in one takes the edge down. Off by default",
)
@click.option(
    "--graph-equity",
    default=100_000.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Paper USD equity of the account execution-graph orders trade (its balance checks)",
)
@click.option(
    "--graph-risk",
    default=None,
    callback=_graph_risk,
    metavar="JSON",
    help="Pre-trade limits of execution-graph orders, the deployment risk fields (e.g. "
    '\'{"max_notional": 50000, "max_orders_per_sec": 50}\')  [default: the edge\'s default risk]',
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning"])
)
@policy_options
def edge(
    venue: str,
    port: int,
    bind: str,
    edge_id: str,
    mode: str,
    credentials_dir: str | None,
    dry_run: bool,
    live_orders_endpoint: str | None,
    live_poll_ms: int,
    feed_kind: str,
    live_endpoint: str | None,
    live_rest_endpoint: str | None,
    live_markets_file: str | None,
    live_cafile: str | None,
    live_depth: int,
    symbols: list[str],
    seed: int,
    updates_per_sec: float,
    volatility_bps: float,
    spread_bps: float,
    dislocation_bps: float,
    depth: int,
    start_prices: dict[str, float],
    replay_file: str | None,
    replay_speed: float,
    replay_loop: bool,
    maker_fee_bps: float,
    taker_fee_bps: float,
    coordinator: str | None,
    venue_names: list[str],
    state_dir: str | None,
    journal_fsync_ms: int,
    token_file: str | None,
    metrics_token_file: str | None,
    coordinator_token_file: str | None,
    allow_native: bool,
    graph_equity: float,
    graph_risk: dict[str, Any] | None,
    log_level: str,
    policy: Any,
) -> None:
    """Run a venue edge: host deployments pushed over the control API (docs/edge-api.md)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from sequence_wire.auth import TokenError, load_credentials, read_token_file

    from .api.control import serve
    from .edge import EdgeConfig
    from .journal import StateDirError
    from .market.replay import ReplayFormatError

    if mode == "live" and not credentials_dir:
        raise click.BadParameter(
            "mode live needs the venue account's credentials: a directory holding api_key and api_secret "
            "files readable only by the edge's user",
            param_hint="--credentials-dir",
        )
    if mode == "live" and feed_kind != "live":
        raise click.BadParameter(
            "mode live trades on the venue's own book: use --feed live", param_hint="--feed"
        )
    if feed_kind == "replay" and not replay_file:
        raise click.BadParameter("--feed replay needs --replay-file", param_hint="--replay-file")
    if venue_names and venue not in venue_names:
        raise click.BadParameter(f"must include this edge's venue {venue!r}", param_hint="--venues")
    try:
        credentials = load_credentials("edge", port, token_file, metrics_token_file)
        coordinator_token = read_token_file(coordinator_token_file) if coordinator_token_file else None
    except (TokenError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    config = EdgeConfig(
        venue=venue,
        edge_id=edge_id,
        mode=mode,
        feed=feed_kind,
        symbols=symbols,
        seed=seed,
        updates_per_sec=updates_per_sec,
        volatility_bps=volatility_bps,
        spread_bps=spread_bps,
        dislocation_bps=dislocation_bps,
        depth=depth,
        start_prices=start_prices,
        replay_file=replay_file,
        replay_speed=replay_speed,
        replay_loop=replay_loop,
        live_endpoint=live_endpoint,
        live_rest_endpoint=live_rest_endpoint,
        live_markets_file=live_markets_file,
        live_cafile=live_cafile,
        live_depth=live_depth,
        maker_fee_bps=maker_fee_bps,
        taker_fee_bps=taker_fee_bps,
        venue_names=venue_names,
        policy=policy,
        state_dir=state_dir,
        journal_fsync_ms=journal_fsync_ms,
        allow_native=allow_native,
        graph_equity_usd=graph_equity,
        graph_risk=graph_risk,
        credentials_dir=credentials_dir,
        dry_run=dry_run,
        live_orders_endpoint=live_orders_endpoint,
        live_poll_ms=live_poll_ms,
    )
    try:
        run_loop(
            serve(
                config,
                bind,
                port,
                coordinator,
                credentials=credentials,
                coordinator_token=coordinator_token,
            )
        )
    except ReplayFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    except StateDirError as exc:
        raise click.ClickException(str(exc)) from exc
    except RuntimeError as exc:  # LiveFeedUnavailable: no ccxt, unknown venue, bad endpoint
        if type(exc).__name__ != "LiveFeedUnavailable":
            raise
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # mode live: unusable credentials (live_orders.live_orders_for)
        if not str(exc).startswith("mode live"):
            raise
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {bind}:{port}: {exc}") from exc
