"""Cross-venue NBBO: the best bid and offer over every venue's top of book.

Each connected edge publishes its venue's top of book per symbol (coalesced on
the edge). The best bid is the highest bid price over venues, the best ask the
lowest ask; the quantity is the one quoted at that price on that venue (ABI
`Nbbo`). Ties go to the larger quantity, then to the venue seen first. A price
of 0 means "no quote on that side" and the side's venue is NO_VENUE.

Venue indexes are assigned in the order the coordinator first hears of a venue
and stay fixed while an edge of that venue is connected; when its last edge
leaves, the venue is forgotten and its index is free for the next new venue
(its slot in the table reads "" meanwhile). The table lists every index in use,
so edges can map NBBO venue indexes to names and then to their own
`seq.venue_name` table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sequence_wire.mesh import MAX_VENUES, NO_VENUE


@dataclass(frozen=True)
class TopOfBook:
    venue: str
    bid_px: int
    bid_qty: int
    ask_px: int
    ask_qty: int
    ts_ns: int


@dataclass(frozen=True)
class NbboQuote:
    bid_px: int
    bid_qty: int
    ask_px: int
    ask_qty: int
    bid_venue: int  # venue index, NO_VENUE when no venue bids
    ask_venue: int
    ts_ns: int  # when the coordinator computed it

    def same_prices(self, other: NbboQuote | None) -> bool:
        return other is not None and self.key() == other.key()

    def key(self) -> tuple[int, int, int, int, int, int]:
        return (self.bid_px, self.bid_qty, self.ask_px, self.ask_qty, self.bid_venue, self.ask_venue)

    def wire(self) -> tuple[int, int, int, int, int, int, int]:
        """Field order of the NBBO frame header."""
        return (
            self.bid_px,
            self.bid_qty,
            self.ask_px,
            self.ask_qty,
            self.ts_ns,
            self.bid_venue,
            self.ask_venue,
        )


class NbboAggregator:
    """Latest top of book per (source, symbol) and the NBBO derived from them.

    A source is one edge connection; several edges of one venue are all
    considered (each may see the venue slightly differently).
    """

    def __init__(self) -> None:
        self.venues: list[str] = []
        self._venue_index: dict[str, int] = {}
        self._tops: dict[str, dict[object, TopOfBook]] = {}  # symbol -> source -> top
        self._last: dict[str, NbboQuote] = {}

    def venue_index(self, venue: str) -> int:
        """Index of `venue`, assigning the next one on first sight. Raises past 255 venues."""
        index = self._venue_index.get(venue)
        if index is None:
            if "" in self.venues:
                index = self.venues.index("")
                self.venues[index] = venue
            elif len(self.venues) >= MAX_VENUES:
                raise ValueError(f"the coordinator's venue table is full ({MAX_VENUES} venues connected)")
            else:
                index = len(self.venues)
                self.venues.append(venue)
            self._venue_index[venue] = index
        return index

    def release_venue(self, venue: str) -> bool:
        """Forget a venue none of whose edges is connected any more; True if it was known.
        Its quotes must be gone already (remove_source)."""
        index = self._venue_index.pop(venue, None)
        if index is None:
            return False
        self.venues[index] = ""
        while self.venues and not self.venues[-1]:
            self.venues.pop()
        return True

    def current(self, symbol: str) -> NbboQuote | None:
        return self._last.get(symbol)

    def update(self, source: object, symbol: str, top: TopOfBook) -> NbboQuote | None:
        """Record a top of book; returns the new NBBO if it changed, else None."""
        self.venue_index(top.venue)
        self._tops.setdefault(symbol, {})[source] = top
        return self._recompute(symbol)

    def remove_source(self, source: object) -> dict[str, NbboQuote]:
        """Forget a disconnected edge's quotes; returns the symbols whose NBBO changed."""
        changed = {}
        for symbol, tops in self._tops.items():
            if tops.pop(source, None) is not None:
                quote = self._recompute(symbol)
                if quote is not None:
                    changed[symbol] = quote
        return changed

    def _recompute(self, symbol: str) -> NbboQuote | None:
        quote = self.compute(symbol)
        if quote.same_prices(self._last.get(symbol)):
            return None
        self._last[symbol] = quote
        return quote

    def compute(self, symbol: str) -> NbboQuote:
        bid = (0, 0, NO_VENUE)  # px, qty, venue
        ask = (0, 0, NO_VENUE)
        for top in self._tops.get(symbol, {}).values():
            venue = self._venue_index[top.venue]
            if (
                top.bid_px > 0
                and top.bid_qty > 0
                and _better(top.bid_px, top.bid_qty, venue, bid, higher=True)
            ):
                bid = (top.bid_px, top.bid_qty, venue)
            if (
                top.ask_px > 0
                and top.ask_qty > 0
                and _better(top.ask_px, top.ask_qty, venue, ask, higher=False)
            ):
                ask = (top.ask_px, top.ask_qty, venue)
        return NbboQuote(bid[0], bid[1], ask[0], ask[1], bid[2], ask[2], time.time_ns())


def _better(px: int, qty: int, venue: int, best: tuple[int, int, int], *, higher: bool) -> bool:
    best_px, best_qty, best_venue = best
    if best_venue == NO_VENUE:
        return True
    if px != best_px:
        return px > best_px if higher else px < best_px
    if qty != best_qty:
        return qty > best_qty
    return venue < best_venue
