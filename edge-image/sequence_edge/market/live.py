"""The live market-data feed: a venue's public order-book websocket, through ccxt.pro.

The adapter runs ccxt.pro on its own thread with its own asyncio loop (the edge loop never waits
on the network). ccxt owns the transport: connection, TLS, subscribe requests, keepalive, the
venue's market list and symbol ids. Book messages are decoded by venues.py, which checks
sequences and checksums; the decoded records wait in a deque that `poll()` copies into the
edge's RecordBuffer, the same path as the sim and replay feeds.

Consistency rules:
- a book's first records are a snapshot; until then it is stale and no algo sees it;
- a gap or checksum mismatch marks the affected books stale (snapshot_begin with no end: the
  book is cleared) and drops the connection; the reconnect resubscribes and the venue's fresh
  snapshot makes them valid again (a resync);
- a lost connection marks every book stale the same way, then reconnects with exponential
  backoff (0.25 s doubling to 30 s); while disconnected algos get no book updates and the
  feed status says `state: disconnected`.

ccxt is imported lazily: an edge without the `live` extra runs the sim and replay feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from .feeds import FeedAdapter
from .records import RecordBuffer
from .venues import PROTOCOLS, FeedBroken, Record, Subscription, VenueProtocol, ccxt_symbol

log = logging.getLogger("sequence.edge.live")

BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 30.0
VENUES = sorted(PROTOCOLS)


class LiveFeedUnavailable(RuntimeError):
    """The live feed cannot start (library missing, unknown venue, bad options)."""


def _load_ccxt_pro() -> Any:
    try:
        import ccxt.pro as ccxt_pro
    except ImportError:
        raise LiveFeedUnavailable(
            "the live feed needs ccxt: install the `live` extra (pip install 'sequence-k8s[live]')"
        ) from None
    return ccxt_pro


def make_exchange(protocol: VenueProtocol, sink: LiveFeedAdapter, config: dict[str, Any]) -> Any:
    """ccxt.pro's exchange class for the venue, with book messages routed to the adapter."""
    base = getattr(_load_ccxt_pro(), protocol.ccxt_class)

    class Exchange(base):  # type: ignore[misc, valid-type]
        def handle_message(self, client: Any, message: Any) -> None:
            if sink.on_message(client, message):
                return  # a book message: decoded (and checked) by the adapter
            super().handle_message(client, message)

    return Exchange(config)


class LiveFeedAdapter(FeedAdapter):
    """Live order books from `venue` (coinbase, kraken, hyperliquid)."""

    kind = "live"

    def __init__(
        self,
        venue: str,
        *,
        endpoint: str | None = None,
        rest_endpoint: str | None = None,
        markets_file: str | None = None,
        cafile: str | None = None,
        depth: int = 10,
    ) -> None:
        if venue not in PROTOCOLS:
            raise LiveFeedUnavailable(f"no live feed for venue {venue!r} (available: {', '.join(VENUES)})")
        if endpoint is not None and not endpoint.startswith(("wss://", "ws://")):
            raise LiveFeedUnavailable(f"live endpoint must be a ws:// or wss:// URL, got {endpoint!r}")
        self.venue = venue
        self.protocol = PROTOCOLS[venue](depth)
        self.endpoint = endpoint
        config: dict[str, Any] = {"enableRateLimit": True}
        if cafile:
            config["cafile"] = cafile
        if markets_file:
            config["markets"] = self._read_markets(markets_file)
        self.exchange = make_exchange(self.protocol, self, config)
        self._point_at(endpoint, rest_endpoint)
        self.depth = depth
        self.pending: deque[Record] = deque()
        self.subs: dict[str, Subscription] = {}
        self.connected = False
        self.state = "connecting"
        self.last_message_ns = 0
        self.gaps = 0
        self.checksum_failures = 0
        self.resyncs = 0
        self.disconnects = 0
        self.messages = 0
        self.last_error = ""
        self._backoff_s = BACKOFF_FIRST_S
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Future[Any]] = set()
        self._stale_books: set[int] = set()
        self._synced_once: set[int] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"live-feed-{venue}", daemon=True)
        self._thread.start()

    @staticmethod
    def _read_markets(path: str) -> dict[str, Any]:
        try:
            markets = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise LiveFeedUnavailable(f"cannot read the markets file {path}: {exc}") from None
        if not isinstance(markets, dict) or not markets:
            raise LiveFeedUnavailable(f"{path}: expected a JSON object of ccxt markets by symbol")
        return markets

    def _point_at(self, endpoint: str | None, rest_endpoint: str | None) -> None:
        urls = self.exchange.urls["api"]
        if endpoint:
            if isinstance(urls["ws"], dict):
                for key in list(urls["ws"]):
                    urls["ws"][key] = endpoint
            else:
                urls["ws"] = endpoint
        if rest_endpoint:
            for key, value in list(urls.items()):
                if key != "ws" and isinstance(value, str):
                    urls[key] = rest_endpoint.rstrip("/")

    # ------------------------------------------------------------------ the edge's side

    def subscribe(self, symbol: str, book: int) -> None:
        unified = ccxt_symbol(symbol, self.venue)
        sub = Subscription(symbol, book, unified, "")
        self.subs[symbol] = sub
        self._stale_books.add(book)
        asyncio.run_coroutine_threadsafe(self._start_watch(sub), self._loop)

    def poll(self, buf: RecordBuffer, now_ns: int, max_records: int) -> int:
        pending = self.pending
        n = 0
        while pending and n < max_records:
            buf.append(*pending.popleft())
            n += 1
        return n

    def status(self) -> dict[str, Any]:
        age = (time.time_ns() - self.last_message_ns) / 1e9 if self.last_message_ns else None
        return {
            "venue": self.venue,
            "endpoint": self.endpoint or "(venue default)",
            "state": self.state,
            "connected": self.connected,
            "last_update_age_s": None if age is None else round(age, 3),
            "messages": self.messages,
            "gaps": self.gaps,
            "checksum_failures": self.checksum_failures,
            "resyncs": self.resyncs,
            "disconnects": self.disconnects,
            "stale_books": sorted(s.symbol for s in self.subs.values() if s.book in self._stale_books),
            "last_error": self.last_error,
        }

    def close(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):  # closing: nothing left to report to
            fut.result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ the feed thread

    async def _shutdown(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        with contextlib.suppress(Exception):
            await self.exchange.close()

    async def _start_watch(self, sub: Subscription) -> None:
        self._watchers[sub.symbol] = asyncio.ensure_future(self._watch(sub))
        if self.venue == "coinbase" and "heartbeats" not in self._watchers:
            self._watchers["heartbeats"] = asyncio.ensure_future(self._coinbase_heartbeats())

    async def _coinbase_heartbeats(self) -> None:
        """Coinbase closes a connection whose channels are quiet for about a minute unless it is
        subscribed to `heartbeats` (one message a second, sequenced like the rest)."""
        while True:
            try:
                await self.exchange.subscribe("heartbeats", False)  # resolves only on errors
            except asyncio.CancelledError:
                raise
            except Exception:  # the book watchers report the disconnect; resubscribe with them
                await asyncio.sleep(max(self._backoff_s, BACKOFF_FIRST_S))

    async def _watch(self, sub: Subscription) -> None:
        """Keep `sub` subscribed: (re)subscribe, and on any error back off and try again."""
        bad_symbol = _load_ccxt_pro().BadSymbol
        while True:
            try:
                await self.exchange.load_markets()
                market = self.exchange.market(sub.ccxt_symbol)
            except bad_symbol:
                # this symbol only: its book stays stale, the others are not disturbed
                self.last_error = f"{sub.symbol}: not listed by {self.venue} (as {sub.ccxt_symbol})"
                log.warning("%s live feed: %s", self.venue, self.last_error)
                await asyncio.sleep(BACKOFF_MAX_S)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the market list could not be fetched: retry with backoff
                self.last_error = f"market list: {type(exc).__name__}: {exc}"[:500]
                delay, self._backoff_s = self._backoff_s, min(self._backoff_s * 2, BACKOFF_MAX_S)
                await asyncio.sleep(delay)
                continue
            try:
                sub.market = market
                sub.wire_id = self.protocol.wire_id(market)
                self.protocol.add(sub)
                # the future resolves only on errors: book messages are taken by on_message
                await self.exchange.watch_order_book(
                    sub.ccxt_symbol, self.depth if self.venue == "kraken" else None
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(f"{type(exc).__name__}: {exc}")
                delay, self._backoff_s = self._backoff_s, min(self._backoff_s * 2, BACKOFF_MAX_S)
                await asyncio.sleep(delay)

    def _lost(self, reason: str) -> None:
        if self.connected or self.state == "connecting":
            if self.connected:
                self.disconnects += 1
            log.warning("%s live feed disconnected: %s", self.venue, reason)
        self.connected = False
        self.state = "disconnected"
        self.last_error = reason[:500]
        self.protocol.connection_reset()
        self._make_stale([s.book for s in self.subs.values()])

    def _make_stale(self, books: list[int]) -> None:
        now = time.time_ns()
        for book in books:
            if book not in self._stale_books:
                self._stale_books.add(book)
                self.pending.append(("snapshot_begin", book, 0, 0, 0, 0, now))  # cleared, stale

    def on_message(self, client: Any, message: Any) -> bool:
        """ccxt's message callback (feed thread): True when the message was a book message."""
        now = time.time_ns()
        try:
            if not self.protocol.is_book_message(message):
                return False
            out: list[Record] = []
            self.protocol.decode(message, now, out)
        except FeedBroken as broken:
            self._broken(client, broken)
            return True
        if len(out) > 1 and all(rec[0] == "level" for rec in out):
            # one update moves the book at once: removals first, so a book that moves by several
            # levels is never seen crossed halfway through the message (which would make it stale)
            out.sort(key=lambda rec: rec[4] != 0)
        self.messages += 1
        self.last_message_ns = now
        if not self.connected:
            self.connected = True
            self.state = "connected"
            self._backoff_s = BACKOFF_FIRST_S
        for rec in out:
            if rec[0] == "snapshot_end" and rec[1] in self._stale_books:
                self._stale_books.discard(rec[1])
                if rec[1] in self._synced_once:
                    self.resyncs += 1
                self._synced_once.add(rec[1])
            elif rec[1] in self._stale_books and rec[0] == "level":
                continue  # no snapshot yet since the book went stale: nothing to apply it to
            self.pending.append(rec)
        return True

    def _broken(self, client: Any, broken: FeedBroken) -> None:
        if broken.reason == "gap":
            self.gaps += 1
        else:
            self.checksum_failures += 1
        self.last_error = str(broken)[:500]
        log.warning("%s live feed: %s; resyncing from a fresh snapshot", self.venue, broken)
        self._make_stale(broken.books)
        self.state = "resyncing"
        # drop the connection: ccxt rejects the watchers, which resubscribe (a fresh snapshot)
        connection = getattr(client, "connection", None)
        if connection is not None:
            closing = asyncio.ensure_future(connection.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
