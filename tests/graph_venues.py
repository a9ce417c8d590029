"""A small paper venue set implementing the graph engine's VenuePort, and a manual clock.

Events are queued and delivered by `deliver()` (never from inside `place`),
as a real edge answers later over the network. Marketable orders fill at
once against the venue's quote; resting orders fill when a quote crosses
them or when a test calls `fill()`. Like the edge's OMS, a venue refuses a
client order id it has already seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sequence_coordinator.graphs import AccountSnapshot, GraphEngine

SCALE = 100_000_000


def px(value: float) -> int:
    return round(value * SCALE)


class ManualClock:
    def __init__(self, start_ms: int = 1_000_000) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


@dataclass
class Order:
    venue: str
    cid: str
    symbol: str
    side: str
    qty: int
    price: int | None
    tif: str
    at_ms: int
    filled: int = 0
    open: bool = True


@dataclass
class Venue:
    name: str
    quotes: dict[str, tuple[int, int]] = field(default_factory=dict)  # symbol -> (bid, ask)
    account: AccountSnapshot | None = None
    auto_fill: bool = True
    up: bool = True


class PaperVenues:
    def __init__(self, clock: ManualClock, names: tuple[str, ...] = ("kraken", "coinbase")) -> None:
        self.clock = clock
        self.venues = {n: Venue(n) for n in names}
        self.orders: dict[str, Order] = {}
        self.placed: list[Order] = []
        self.cancels: list[str] = []
        self.duplicates: list[str] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.engine: GraphEngine | None = None

    # ---------------------------------------------------------------- VenuePort

    def place(
        self,
        venue: str,
        client_order_id: str,
        symbol: str,
        side: str,
        qty_1e8: int,
        price_1e8: int | None,
        tif: str,
    ) -> None:
        v = self.venues[venue]
        if not v.up:
            raise ConnectionError(f"{venue} is down")
        if client_order_id in self.orders:
            self.duplicates.append(client_order_id)
            self.events.append((client_order_id, "reject", {"reason": "DUPLICATE_ID"}))
            return
        order = Order(venue, client_order_id, symbol, side, qty_1e8, price_1e8, tif, self.clock.ms)
        self.orders[client_order_id] = order
        self.placed.append(order)
        self.events.append((client_order_id, "ack", {}))
        if v.auto_fill:
            self._match(order)
        if order.open and tif == "ioc":
            order.open = False
            self.events.append((client_order_id, "cancel", {"reason": "IOC_REMAINDER"}))

    def cancel(self, venue: str, client_order_id: str) -> None:
        if not self.venues[venue].up:
            raise ConnectionError(f"{venue} is down")
        self.cancels.append(client_order_id)
        order = self.orders.get(client_order_id)
        if order is None or not order.open:
            filled = order.filled if order else 0
            self.events.append(
                (client_order_id, "reject", {"reason": "UNKNOWN_ORDER", "cum_filled_1e8": filled})
            )
            return
        order.open = False
        self.events.append((client_order_id, "cancel", {"cum_filled_1e8": order.filled}))

    def account(self, venue: str) -> AccountSnapshot | None:
        v = self.venues.get(venue)
        return None if v is None else v.account

    # ---------------------------------------------------------------- market

    def quote(self, venue: str, symbol: str, bid: float, ask: float) -> None:
        """Set a venue's quote, tell the engine, and fill resting orders it crosses."""
        v = self.venues[venue]
        v.quotes[symbol] = (px(bid), px(ask))
        if self.engine is not None:
            self.engine.on_quote(venue, symbol, px(bid), px(ask), px(1000), px(1000))
        if v.auto_fill:
            for order in list(self.orders.values()):
                if order.open and order.venue == venue and order.symbol == symbol:
                    self._match(order)
        self.deliver()

    def _match(self, order: Order) -> None:
        bid, ask = self.venues[order.venue].quotes.get(order.symbol, (0, 0))
        if order.side == "buy" and ask and (order.price is None or order.price >= ask):
            self._fill(order, order.qty - order.filled, ask)
        elif order.side == "sell" and bid and (order.price is None or order.price <= bid):
            self._fill(order, order.qty - order.filled, bid)

    def fill(self, cid: str, qty: float, price: float) -> None:
        """A passive fill of a resting order (someone traded against it)."""
        self._fill(self.orders[cid], px(qty), px(price))
        self.deliver()

    def _fill(self, order: Order, qty: int, price: int) -> None:
        qty = min(qty, order.qty - order.filled)
        if qty <= 0:
            return
        order.filled += qty
        if order.filled >= order.qty:
            order.open = False
        self.events.append((order.cid, "fill", {"qty_1e8": qty, "price_1e8": price}))

    # ---------------------------------------------------------------- delivery

    def deliver(self) -> None:
        assert self.engine is not None
        while self.events:
            cid, kind, fields = self.events.pop(0)
            self.engine.on_order_event(cid, kind, **fields)  # type: ignore[arg-type]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.open and (symbol is None or o.symbol == symbol)]


def make(
    journal: Any = None,
    names: tuple[str, ...] = ("kraken", "coinbase"),
    clock: ManualClock | None = None,
    venues: PaperVenues | None = None,
) -> tuple[GraphEngine, PaperVenues, ManualClock]:
    clock = clock or ManualClock()
    venues = venues or PaperVenues(clock, names)
    engine = GraphEngine(venues, clock, journal)
    venues.engine = engine
    for name in names:
        engine.on_venue_up(name, paper=True)
        for symbol, (bid, ask) in venues.venues[name].quotes.items():
            engine.on_quote(name, symbol, bid, ask, px(1000), px(1000))
    return engine, venues, clock


def run_for(engine: GraphEngine, venues: PaperVenues, clock: ManualClock, ms: int, step_ms: int = 50) -> None:
    """Advance the clock in steps, delivering venue events and polling the engine."""
    end = clock.ms + ms
    while clock.ms < end:
        clock.advance(min(step_ms, end - clock.ms))
        venues.deliver()
        engine.poll()
        venues.deliver()


# ---------------------------------------------------------------- graph building


def node(side: str, symbol: str, qty: float = 0.0, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"side": side, "symbol": symbol, **kw}
    if qty:
        out["qty"] = qty
    else:
        out["derived"] = True
    return out


def edge(src: str, dst: str, trigger: Any, **kw: Any) -> dict[str, Any]:
    return {"from": src, "to": dst, "trigger": trigger, **kw}


def market(venues: PaperVenues, mid: float = 100.0, symbols: tuple[str, ...] = ("ETH-USD",)) -> None:
    for symbol in symbols:
        venues.quote("kraken", symbol, mid - 0.05, mid + 0.05)


def setup(**kw: Any):  # type: ignore[no-untyped-def]
    engine, venues, clock = make(**kw)
    market(venues)
    return engine, venues, clock


def passive(venues: PaperVenues) -> None:
    """Orders rest until the test fills them."""
    for v in venues.venues.values():
        v.auto_fill = False


def parent_child(trigger: Any, child: dict[str, Any] | None = None, **edge_kw: Any) -> dict[str, Any]:
    return {
        "nodes": {
            "parent": node("buy", "ETH-USD", 1.0, limit_price=99.95),
            "child": child or node("sell", "ETH-USD-PERP"),
        },
        "edges": [edge("parent", "child", trigger, **edge_kw)],
    }


def the_order(venues: PaperVenues, node_name: str) -> str:
    (cid,) = [o.cid for o in venues.open_orders() if f"-{node_name}-" in o.cid]
    return cid
