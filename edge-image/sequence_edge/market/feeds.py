"""Market-data feed adapters: where an edge's book updates come from.

The edge loop owns one FeedAdapter. About every millisecond it calls `poll()`, which appends the
records due by now to a RecordBuffer (C structs, records.pxd), then hands the buffer to the
Cython loop. Two adapters ship: `SimFeedAdapter` (seeded synthetic market, simfeed.pyx) and
`ReplayFeedAdapter` (recorded file, replay.py). A live venue adapter implements the same
interface: it reads its websocket on its own thread, keeps a queue of decoded updates, and
`poll()` copies what has arrived into the buffer without blocking.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

from .records import RecordBuffer
from .simfeed import SimMarket

CATCH_UP_LIMIT_NS = 1_000_000_000  # a sim more than 1 s behind jumps to now (with snapshots)


class FeedAdapter(ABC):
    """Market data for one venue edge.

    Contract with the edge loop:
    - `subscribe(symbol, book)` is called once per symbol the edge needs (at start for
      --symbols, later when a deployment brings a new one); `book` is the Engine's book index
      to write into every record of that symbol.
    - The first records of a book must be a snapshot (snapshot_begin, snapshot levels,
      snapshot_end carrying the sequence it is consistent with); after a gap the adapter knows
      about, send a new snapshot. Level updates carry seq = previous + 1 (or 0: unsequenced).
    - `poll(buf, now_ns, max_records)` appends the records due at or before now_ns, in time
      order, at most about max_records, and returns how many. It must never block.
    - `available_symbols()` is None when any symbol can be subscribed, else the symbols the
      source has (a push naming another symbol is refused).
    """

    kind: str = "abstract"

    def available_symbols(self) -> list[str] | None:
        return None

    @abstractmethod
    def subscribe(self, symbol: str, book: int) -> None: ...

    @abstractmethod
    def poll(self, buf: RecordBuffer, now_ns: int, max_records: int) -> int: ...

    def status(self) -> dict[str, Any]:
        """Adapter-specific details for /v1/edge (the edge adds healthy/lag/updates)."""
        return {}

    def close(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Release sockets/threads (nothing for the built-in adapters)."""


class SimFeedAdapter(FeedAdapter):
    """The seeded synthetic market (simfeed.pyx); any symbol can be subscribed."""

    kind = "sim"

    def __init__(
        self,
        venue: str,
        *,
        seed: int = 1,
        updates_per_sec: float = 2000.0,
        volatility_bps: float = 50.0,
        spread_bps: float = 2.0,
        dislocation_bps: float = 3.0,
        depth: int = 25,
        start_prices: dict[str, float] | None = None,
        origin_ns: int | None = None,
    ) -> None:
        self.market = SimMarket(
            venue,
            seed=seed,
            updates_per_sec=updates_per_sec,
            volatility_bps=volatility_bps,
            spread_bps=spread_bps,
            dislocation_bps=dislocation_bps,
            depth=depth,
            start_prices=start_prices,
            origin_ns=time.time_ns() if origin_ns is None else origin_ns,
        )
        self.skips = 0

    def subscribe(self, symbol: str, book: int) -> None:
        self.market.add_symbol(symbol, book)

    def poll(self, buf: RecordBuffer, now_ns: int, max_records: int) -> int:
        due = self.market.next_due()
        if due and now_ns - due > CATCH_UP_LIMIT_NS:
            self.market.skip_to(now_ns)  # fell behind (process paused?): resync instead of replaying
            self.skips += 1
        return int(self.market.generate(buf, now_ns, max_records))

    def status(self) -> dict[str, Any]:
        m = self.market
        return {
            "seed": m.seed,
            "updates_per_sec": m.updates_per_sec,
            "volatility_bps": m.volatility_bps,
            "spread_bps": m.spread_bps,
            "dislocation_bps": m.dislocation_bps,
            "depth": m.depth,
            "skips": self.skips,
        }
