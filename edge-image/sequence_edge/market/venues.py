"""Per-venue decoding of public order-book messages for the live feed (live.py).

The transport (websocket connection, subscribe requests, keepalive pings, market list, symbol
ids, TLS) is ccxt.pro's, unchanged. Book messages are decoded here instead of in ccxt's own
order-book handlers, because those skip the checks a trading book needs: ccxt 4.5 never reads
Coinbase's `sequence_num` and leaves Kraken's checksum off (turning it on crashes inside ccxt).
Each protocol turns one raw message into feed records for the edge's Cython books, and says
when the book can no longer be trusted (a sequence gap, a checksum mismatch): the adapter then
marks the book stale and resyncs it from a fresh snapshot.

Records are tuples (kind, book, side, px_1e8, qty_1e8, seq, ts_ns) as RecordBuffer.append
takes them. Feed records carry seq 0: the venues' sequences are checked here, per connection
(Coinbase) or per book (Kraken's checksum), not per level.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

Record = tuple[str, int, int, int, int, int, int]
BID, ASK = 1, 2
SCALE = 100_000_000


class FeedBroken(Exception):
    """The venue's stream can no longer be trusted (gap, checksum): resync the named books."""

    def __init__(self, reason: str, books: list[int], detail: str) -> None:
        super().__init__(detail)
        self.reason = reason  # "gap" or "checksum"
        self.books = books


def fixed(value: Any) -> int:
    """A venue number (float or decimal string) in 1e-8 units."""
    return round(float(value) * SCALE)


_SECONDS: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds: messages share seconds


def iso_ns(text: str | None, default: int) -> int:
    """An ISO-8601 UTC timestamp (up to nanosecond digits) in ns since the epoch."""
    if not text or len(text) < 19:
        return default
    head = text[:19]
    secs = _SECONDS.get(head)
    if secs is None:
        try:
            secs = int(datetime.fromisoformat(head + "+00:00").timestamp())
        except ValueError:
            return default
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        _SECONDS[head] = secs
    frac = text[20:].rstrip("Z") if text[19:20] == "." else ""
    if not frac.isdigit():
        return secs * 1_000_000_000
    return secs * 1_000_000_000 + int((frac + "000000000")[:9])


@dataclass
class Subscription:
    """One edge symbol on the venue: its book index and the ids the venue's messages use."""

    symbol: str  # the edge's symbol, e.g. BTC-USD, ETH-USDC-PERP
    book: int
    ccxt_symbol: str  # e.g. BTC/USD, ETH/USDC:USDC
    wire_id: str  # the id in the venue's book messages
    market: dict[str, Any] = field(default_factory=dict)


class VenueProtocol:
    """Decodes one venue's book messages; one instance per adapter (per connection)."""

    venue = "abstract"
    ccxt_class = ""
    ws_url_keys: tuple[str, ...] = ()  # where in ccxt's urls['api']['ws'] the public endpoint is

    def __init__(self, depth: int = 10) -> None:
        self.depth = depth  # levels per side subscribed (where the venue lets you choose)
        self.by_wire: dict[str, Subscription] = {}

    def add(self, sub: Subscription) -> None:
        self.by_wire[sub.wire_id] = sub

    def wire_id(self, market: dict[str, Any]) -> str:
        return str(market["id"])

    def connection_reset(self) -> None:
        """A new connection starts: forget per-connection sequence state."""

    def is_book_message(self, message: Any) -> bool:
        raise NotImplementedError

    def decode(self, message: dict[str, Any], now_ns: int, out: list[Record]) -> None:
        """Append the message's records to out, or raise FeedBroken."""
        raise NotImplementedError


class CoinbaseProtocol(VenueProtocol):
    """Coinbase Advanced Trade `level2` channel (`l2_data` messages).

    Every message on a connection carries `sequence_num`, one more than the previous message's on
    that connection (heartbeats and subscription acks included): a jump means a message was lost
    and every book on the connection is resynced.
    """

    venue = "coinbase"
    ccxt_class = "coinbase"
    ws_url_keys = ()

    def __init__(self, depth: int = 10) -> None:
        super().__init__(depth)
        self.last_seq: int | None = None

    def connection_reset(self) -> None:
        self.last_seq = None

    def check_sequence(self, message: Any) -> None:
        if not isinstance(message, dict) or "sequence_num" not in message:
            return
        seq = int(message["sequence_num"])
        last, self.last_seq = self.last_seq, seq
        if last is not None and seq != last + 1:
            raise FeedBroken(
                "gap",
                [s.book for s in self.by_wire.values()],
                f"coinbase sequence_num jumped from {last} to {seq}",
            )

    def is_book_message(self, message: Any) -> bool:
        self.check_sequence(message)
        return isinstance(message, dict) and message.get("channel") == "l2_data"

    def decode(self, message: dict[str, Any], now_ns: int, out: list[Record]) -> None:
        ts = iso_ns(message.get("timestamp"), now_ns)
        for event in message.get("events") or []:
            sub = self.by_wire.get(str(event.get("product_id")))
            if sub is None:
                continue
            snapshot = event.get("type") == "snapshot"
            kind = "snapshot_level" if snapshot else "level"
            if snapshot:
                out.append(("snapshot_begin", sub.book, 0, 0, 0, 0, ts))
            for u in event.get("updates") or []:
                side = BID if u.get("side") == "bid" else ASK  # the feed says "offer" for asks
                qty = fixed(u["new_quantity"])
                if snapshot and qty == 0:
                    continue
                out.append((kind, sub.book, side, fixed(u["price_level"]), qty, 0, ts))
            if snapshot:
                out.append(("snapshot_end", sub.book, 0, 0, 0, 0, ts))


class KrakenProtocol(VenueProtocol):
    """Kraken spot websocket v2 `book` channel.

    Kraken sends a CRC32 of the top 10 levels with every message; this keeps a shadow of each
    book (to the subscribed depth, truncating as Kraken's docs require) to check it. Levels that
    fall out of the subscribed depth are deleted from the edge's book too.
    """

    venue = "kraken"
    ccxt_class = "kraken"
    ws_url_keys = ("publicV2",)

    def __init__(self, depth: int = 10) -> None:
        super().__init__(depth)
        self.shadow: dict[int, tuple[dict[float, float], dict[float, float]]] = {}

    def wire_id(self, market: dict[str, Any]) -> str:
        return str(market["symbol"])  # v2 messages name pairs like "BTC/USD"

    def is_book_message(self, message: Any) -> bool:
        return isinstance(message, dict) and message.get("channel") == "book"

    def decode(self, message: dict[str, Any], now_ns: int, out: list[Record]) -> None:
        snapshot = message.get("type") == "snapshot"
        for entry in message.get("data") or []:
            sub = self.by_wire.get(str(entry.get("symbol")))
            if sub is None:
                continue
            ts = iso_ns(entry.get("timestamp"), now_ns)
            if snapshot:
                self.shadow[sub.book] = ({}, {})
            elif sub.book not in self.shadow:
                continue  # an update before the snapshot: nothing to apply it to
            bids, asks = self.shadow[sub.book]
            changed: list[tuple[int, float]] = []
            for side, levels, book_side in ((BID, entry.get("bids"), bids), (ASK, entry.get("asks"), asks)):
                for lv in levels or []:
                    px, qty = float(lv["price"]), float(lv["qty"])
                    if qty == 0:
                        book_side.pop(px, None)
                    else:
                        book_side[px] = qty
                    changed.append((side, px))
            for side, book_side, best_first in ((BID, bids, True), (ASK, asks, False)):
                if len(book_side) > self.depth:  # truncate to the subscribed depth, as Kraken does
                    for px in sorted(book_side, reverse=best_first)[self.depth :]:
                        del book_side[px]
                        changed.append((side, px))
            if snapshot:
                out.append(("snapshot_begin", sub.book, 0, 0, 0, 0, ts))
                for side, book_side in ((BID, bids), (ASK, asks)):
                    for px, qty in book_side.items():
                        out.append(("snapshot_level", sub.book, side, fixed(px), fixed(qty), 0, ts))
                out.append(("snapshot_end", sub.book, 0, 0, 0, 0, ts))
            else:
                for side, px in changed:
                    qty = (bids if side == BID else asks).get(px, 0.0)
                    out.append(("level", sub.book, side, fixed(px), fixed(qty), 0, ts))
            expected = entry.get("checksum")
            if expected is not None:
                got = self.checksum(sub, bids, asks)
                if got != int(expected):
                    del self.shadow[sub.book]
                    raise FeedBroken(
                        "checksum", [sub.book], f"kraken {sub.wire_id} checksum {got} != {expected}"
                    )

    @staticmethod
    def _decimals(sub: Subscription, key: str, default: int) -> int:
        info = sub.market.get("info") or {}
        try:
            return int(info.get(key, default))
        except (TypeError, ValueError):
            return default

    def checksum(self, sub: Subscription, bids: dict[float, float], asks: dict[float, float]) -> int:
        """CRC32 of the top 10 asks (ascending) then bids (descending), Kraken's v2 formula."""
        pd = self._decimals(sub, "pair_decimals", 8)
        ld = self._decimals(sub, "lot_decimals", 8)
        parts = []
        for px in sorted(asks)[:10]:
            parts.append(_kraken_digits(px, pd) + _kraken_digits(asks[px], ld))
        for px in sorted(bids, reverse=True)[:10]:
            parts.append(_kraken_digits(px, pd) + _kraken_digits(bids[px], ld))
        return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF


@lru_cache(maxsize=1 << 16)  # prices and sizes repeat: formatting dominates the checksum's cost
def _kraken_digits(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", "").lstrip("0")


class HyperliquidProtocol(VenueProtocol):
    """Hyperliquid `l2Book` subscription: every message is a full snapshot of the top levels.

    No sequence numbers to check; a message older than the last one applied (its `time` going
    back) is dropped rather than rolling the book back.
    """

    venue = "hyperliquid"
    ccxt_class = "hyperliquid"
    ws_url_keys = ("public",)

    def __init__(self, depth: int = 10) -> None:
        super().__init__(depth)
        self.last_time: dict[int, int] = {}

    def wire_id(self, market: dict[str, Any]) -> str:
        return str(market["baseName"] if market.get("swap") else market["id"])

    def connection_reset(self) -> None:
        self.last_time.clear()

    def is_book_message(self, message: Any) -> bool:
        return isinstance(message, dict) and message.get("channel") == "l2Book"

    def decode(self, message: dict[str, Any], now_ns: int, out: list[Record]) -> None:
        data = message.get("data") or {}
        sub = self.by_wire.get(str(data.get("coin")))
        if sub is None:
            return
        t = int(data.get("time") or 0)
        if t and t < self.last_time.get(sub.book, 0):
            return
        self.last_time[sub.book] = t
        ts = t * 1_000_000 if t else now_ns
        levels = data.get("levels") or [[], []]
        out.append(("snapshot_begin", sub.book, 0, 0, 0, 0, ts))
        for side, rows in ((BID, levels[0]), (ASK, levels[1] if len(levels) > 1 else [])):
            for lv in rows:
                qty = fixed(lv["sz"])
                if qty:
                    out.append(("snapshot_level", sub.book, side, fixed(lv["px"]), qty, 0, ts))
        out.append(("snapshot_end", sub.book, 0, 0, 0, 0, ts))


PROTOCOLS: dict[str, type[VenueProtocol]] = {
    "coinbase": CoinbaseProtocol,
    "kraken": KrakenProtocol,
    "hyperliquid": HyperliquidProtocol,
}


def ccxt_symbol(symbol: str, venue: str) -> str:
    """The edge's symbol (BTC-USD, ETH-USDC-PERP) as ccxt's unified symbol (BTC/USD, ETH/USDC:USDC)."""
    parts = symbol.split("-")
    if len(parts) == 3 and parts[2] == "PERP":
        return f"{parts[0]}/{parts[1]}:{parts[1]}"
    if len(parts) != 2:
        raise ValueError(f"{symbol!r} is not a symbol like BTC-USD or ETH-USDC-PERP")
    return f"{parts[0]}/{parts[1]}"
