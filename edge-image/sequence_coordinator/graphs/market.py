"""The engine's view of the venues: which are up, what they carry, their quotes.

Quotes are kept per venue so the smart order router can pick the best venue
among those a node may use (up, carrying the symbol, paper-only for sandbox
graphs), and the NBBO used for marks and price triggers skips venues that are
down.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Quote:
    bid_1e8: int = 0  # 0: no bid
    ask_1e8: int = 0  # 0: no ask
    bid_qty_1e8: int = 0
    ask_qty_1e8: int = 0


@dataclass
class VenueInfo:
    up: bool = True
    paper: bool = True
    symbols: set[str] = field(default_factory=set)  # empty: whatever it quotes


@dataclass(frozen=True)
class Touch:
    """Best prices for one symbol over a set of venues, with the venue of each side."""

    bid_1e8: int
    bid_venue: str | None
    ask_1e8: int
    ask_venue: str | None

    @property
    def mid_1e8(self) -> int | None:
        if self.bid_1e8 and self.ask_1e8:
            return (self.bid_1e8 + self.ask_1e8) // 2
        return self.bid_1e8 or self.ask_1e8 or None


class Market:
    def __init__(self) -> None:
        self.venues: dict[str, VenueInfo] = {}
        self.quotes: dict[str, dict[str, Quote]] = {}  # symbol -> venue -> quote

    # ------------------------------------------------------------ updates

    def venue_up(self, venue: str, symbols: list[str] | None, paper: bool) -> None:
        info = self.venues.setdefault(venue, VenueInfo())
        info.up, info.paper = True, paper
        if symbols is not None:
            info.symbols = set(symbols)

    def venue_down(self, venue: str) -> None:
        self.venues.setdefault(venue, VenueInfo()).up = False

    def quote(self, venue: str, symbol: str, bid_1e8: int, ask_1e8: int, bid_qty: int, ask_qty: int) -> bool:
        """Record a venue's top of book; True if a price changed (sizes alone do not matter)."""
        self.venues.setdefault(venue, VenueInfo())
        q = self.quotes.setdefault(symbol, {}).setdefault(venue, Quote())
        moved = (q.bid_1e8, q.ask_1e8) != (bid_1e8, ask_1e8)
        q.bid_1e8, q.ask_1e8, q.bid_qty_1e8, q.ask_qty_1e8 = bid_1e8, ask_1e8, bid_qty, ask_qty
        return moved

    def nbbo(
        self,
        symbol: str,
        bid_1e8: int,
        bid_venue: str | None,
        ask_1e8: int,
        ask_venue: str | None,
        bid_qty: int,
        ask_qty: int,
    ) -> None:
        """Record an NBBO: each side becomes its venue's quote on that side."""
        if bid_venue:
            q = self.quotes.setdefault(symbol, {}).setdefault(bid_venue, Quote())
            q.bid_1e8, q.bid_qty_1e8 = bid_1e8, bid_qty
            self.venues.setdefault(bid_venue, VenueInfo())
        if ask_venue:
            q = self.quotes.setdefault(symbol, {}).setdefault(ask_venue, Quote())
            q.ask_1e8, q.ask_qty_1e8 = ask_1e8, ask_qty
            self.venues.setdefault(ask_venue, VenueInfo())

    # ------------------------------------------------------------ queries

    def is_up(self, venue: str) -> bool:
        info = self.venues.get(venue)
        return info is not None and info.up

    def is_paper(self, venue: str) -> bool | None:
        info = self.venues.get(venue)
        return None if info is None else info.paper

    def eligible(self, venue: str, symbol: str, sandbox: bool) -> bool:
        info = self.venues.get(venue)
        if info is None or not info.up or (sandbox and not info.paper):
            return False
        return not info.symbols or symbol in info.symbols

    def touch(self, symbol: str, *, sandbox: bool = False, venue: str | None = None) -> Touch:
        """Best bid and ask for `symbol` over eligible venues (or just `venue`).

        Ties keep the venue seen first, so a resting order is not moved for nothing.
        """
        bid, bid_venue, ask, ask_venue = 0, None, 0, None
        for name, q in self.quotes.get(symbol, {}).items():
            if venue is not None and name != venue:
                continue
            if not self.eligible(name, symbol, sandbox):
                continue
            if q.bid_1e8 and q.bid_1e8 > bid:
                bid, bid_venue = q.bid_1e8, name
            if q.ask_1e8 and (not ask or q.ask_1e8 < ask):
                ask, ask_venue = q.ask_1e8, name
        return Touch(bid, bid_venue, ask, ask_venue)

    def mid_1e8(self, symbol: str) -> int | None:
        return self.touch(symbol).mid_1e8

    def carriers(self, symbol: str, sandbox: bool) -> list[str]:
        """Venues a node on `symbol` may route to (quoting it or declaring it)."""
        names = set(self.quotes.get(symbol, {}))
        names |= {v for v, info in self.venues.items() if symbol in info.symbols}
        return sorted(v for v in names if self.eligible(v, symbol, sandbox))
