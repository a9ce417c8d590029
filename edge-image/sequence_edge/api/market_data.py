"""The edge's market-data routes (docs/edge-api.md): a book's depth and the history of its mid.

`GET /v1/book/{symbol}?depth=N` answers the L2 book the edge trades against, with the edge's paper
fee schedule, so `sequence intel` can measure what a size would cost on this venue.
`GET /v1/mids/{symbol}` answers the mid over the last minutes: `sequence tca` marks fills out
against it (the mid 1 s, 10 s and 60 s after each fill). A `MidRecorder` samples every book's mid
on the edge's loop every `step_ms` (the books live on that thread) and keeps the changes only, so a
quiet book costs nothing and a busy one keeps at least `keep` samples.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator

from aiohttp import web

from sequence_wire import edge_api as wire
from sequence_wire.errors import RequestError
from sequence_wire.server import reply

from ..edge import Edge

STEP_MS = 100  # markouts at 1 s and more: a tenth of a second is fine enough
KEEP = 20_000  # changes kept per symbol: at least 33 minutes at one change per step
MAX_DEPTH = 100


class MidRecorder:
    """Per symbol, a ring of (ts_ns, mid) changes sampled from the edge's books."""

    def __init__(self, edge: Edge, step_ms: int = STEP_MS, keep: int = KEEP) -> None:
        self.edge = edge
        self.step_ms = step_ms
        self.keep = keep
        self.rings: dict[str, deque[tuple[int, float]]] = {}
        self.started_ns = 0
        self.last_sample_ns = 0

    def sample(self, now_ns: int) -> None:
        if not self.started_ns:
            self.started_ns = now_ns
        for symbol in self.edge.engine.symbols:
            mid = book_mid(self.edge, symbol)
            if mid is None:
                continue
            ring = self.rings.get(symbol)
            if ring is None:
                ring = self.rings[symbol] = deque(maxlen=self.keep)
            if not ring or ring[-1][1] != mid:
                ring.append((now_ns, mid))
        self.last_sample_ns = now_ns

    async def run(self) -> None:
        while True:
            self.sample(time.time_ns())
            await asyncio.sleep(self.step_ms / 1000)

    def history(self, symbol: str, since_ns: int, until_ns: int | None) -> wire.MidHistory:
        ring = list(self.rings.get(symbol, ()))
        stamps = [ts for ts, _ in ring]
        # the change in force at `since_ns` is the last one at or before it
        first = max(0, bisect.bisect_right(stamps, since_ns) - 1)
        last = len(ring) if until_ns is None else bisect.bisect_right(stamps, until_ns)
        kept = ring[first:last]
        oldest = ring[0][0] if len(ring) == self.keep else self.started_ns  # a full ring forgot older ones
        return wire.MidHistory(
            symbol=symbol,
            step_ms=self.step_ms,
            from_ns=oldest if ring else 0,
            until_ns=self.last_sample_ns,
            ts_ns=[ts for ts, _ in kept],
            mids=[mid for _, mid in kept],
        )


def book_mid(edge: Edge, symbol: str) -> float | None:
    book = edge.engine.book(symbol)
    if book.stale:
        return None
    bids, asks = book.top(1)
    if not bids or not asks:
        return None
    return float((bids[0][0] + asks[0][0]) / 2 / 1e8)


RECORDER_KEY: web.AppKey[MidRecorder] = web.AppKey("mid_recorder", MidRecorder)
MARKET_EDGE_KEY: web.AppKey[Edge] = web.AppKey("market_edge", Edge)


def _carried(edge: Edge, symbol: str) -> None:
    if symbol not in edge.engine.symbols:
        carried = ", ".join(edge.engine.symbols) or "none"
        raise RequestError("NotFound", f"this edge has no book for {symbol!r} (it carries: {carried})")


def _int_query(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise RequestError("BadQuery", f"{name} must be an integer from {low} to {high}, got {text!r}")
    return int(text)


async def book_depth(request: web.Request) -> web.Response:
    edge = request.app[MARKET_EDGE_KEY]
    symbol = request.match_info["symbol"]
    depth = _int_query(request, "depth", 10, 1, MAX_DEPTH)
    _carried(edge, symbol)
    book = edge.engine.book(symbol)
    bids, asks = ([], []) if book.stale else book.top(depth)
    return reply(
        wire.BookDepth(
            symbol=symbol,
            edge_id=edge.config.edge_id,
            venue=edge.config.venue,
            stale=bool(book.stale),
            mid=book_mid(edge, symbol),
            bids=[[px / 1e8, qty / 1e8] for px, qty in bids],
            asks=[[px / 1e8, qty / 1e8] for px, qty in asks],
            fees=wire.FeeSchedule(maker_bps=edge.engine.maker_fee_bps, taker_bps=edge.engine.taker_fee_bps),
            feed_healthy=edge.feed_status().healthy,
        )
    )


async def mid_history(request: web.Request) -> web.Response:
    edge = request.app[MARKET_EDGE_KEY]
    symbol = request.match_info["symbol"]
    since = _int_query(request, "since_ns", 0, 0, 1 << 63)
    until = _int_query(request, "until_ns", None, 0, 1 << 63)
    _carried(edge, symbol)
    return reply(request.app[RECORDER_KEY].history(symbol, since or 0, until))


def add_market_routes(app: web.Application, edge: Edge) -> None:
    """The routes above, and the recorder sampling on the app's (the edge's) loop while it serves."""
    app[MARKET_EDGE_KEY] = edge
    app[RECORDER_KEY] = MidRecorder(edge)

    async def recording(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(app[RECORDER_KEY].run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(recording)
    app.router.add_get("/v1/book/{symbol}", book_depth)
    app.router.add_get("/v1/mids/{symbol}", mid_history)
