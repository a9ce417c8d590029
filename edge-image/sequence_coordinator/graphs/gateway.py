"""The graph engine hosted in the coordinator: its venue port over the edges' mesh connections.

`GraphGateway` is the engine's `VenuePort` and the router's `EdgeObserver`:

- orders out: `place` / `cancel` become ORDER frames (sequence_wire.mesh) written at once to an
  edge of the order's venue (the first connected edge of that venue; a cancel goes to the edge
  that got the order while it is connected). No edge of the venue connected: the call raises,
  which the engine treats as a refused place (the slice retries) or a cancel to retry when the
  venue is back;
- events in: ORDER_EVENTS frames feed `on_order_event`, ACCOUNT frames are the venue's account
  snapshot (`account`), each edge's top of book feeds `on_quote` (the same tops the NBBO
  aggregator combines), an edge's HELLO feeds `on_venue_up` and the loss of a venue's last edge
  `on_venue_down` (the graphs working there apply their on_disconnect action);
- timers: after every call into the engine one coalesced reschedule arms a single asyncio timer
  at `next_wakeup_ms()`, which runs `poll()` (TWAP slices, horizons, timeouts, retries).

Everything runs on the coordinator's event loop, like the router, so the engine needs no lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sequence_wire import mesh as mp

from ..router import Coordinator, EdgeConnection
from .engine import GraphEngine
from .journal import GraphJournal
from .port import AccountSnapshot, Clock, Side, Tif, WallClock

log = logging.getLogger("sequence.graphs")

T = TypeVar("T")
RETENTION_MS = 24 * 3600 * 1000  # finished graphs stay queryable (memory and journal) this long
HOUSEKEEPING_S = 60.0
QUOTE_REARM_S = 0.05  # after quotes the timer is re-armed at most this often (next_wakeup_ms is O(graphs))


class GraphGateway:
    def __init__(
        self,
        coordinator: Coordinator,
        *,
        journal: GraphJournal | None = None,
        clock: Clock | None = None,
        retention_ms: int = RETENTION_MS,
    ) -> None:
        self.coordinator = coordinator
        self.retention_ms = retention_ms
        self.edges: dict[str, list[EdgeConnection]] = {}  # venue -> its connected edges, oldest first
        self.accounts: dict[EdgeConnection, AccountSnapshot] = {}
        self.order_edge: dict[str, str] = {}  # client order id -> edge_id that got it
        self.counts = {"orders_sent": 0, "cancels_sent": 0, "events": 0, "bad_events": 0, "unknown_events": 0}
        self._timer: asyncio.TimerHandle | None = None
        self._reschedule_pending = False
        self._quote_rearm: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self.engine = GraphEngine(self, clock or WallClock(), journal)  # a restore may cancel orders
        coordinator.observer = self

    def start(self) -> None:
        """On the coordinator's loop: arm the timer (restored graphs) and the housekeeping."""
        self._loop = asyncio.get_running_loop()
        self._housekeeping = asyncio.create_task(self._housekeep())
        self.reschedule()

    def close(self) -> None:
        for timer in (self._timer, self._quote_rearm):
            if timer is not None:
                timer.cancel()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self.engine.journal is not None:
            self.engine.journal.close()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run an engine API call (submit, cancel, ...), then re-arm the timer."""
        try:
            return fn(*args, **kwargs)
        finally:
            self.reschedule()

    # ------------------------------------------------------------ VenuePort

    def place(
        self,
        venue: str,
        client_order_id: str,
        symbol: str,
        side: Side,
        qty_1e8: int,
        price_1e8: int | None,
        tif: Tif,
    ) -> None:
        conn = self._edge_for(venue, None)
        self.order_edge[client_order_id] = conn.edge_id
        conn.queue(mp.place_order_frame(client_order_id, symbol, side, qty_1e8, price_1e8, tif))
        conn.flush()
        self.counts["orders_sent"] += 1

    def cancel(self, venue: str, client_order_id: str) -> None:
        conn = self._edge_for(venue, self.order_edge.get(client_order_id))
        # the answer comes from the edge asked (a restored order, or its edge is gone)
        self.order_edge[client_order_id] = conn.edge_id
        conn.queue(mp.cancel_order_frame(client_order_id))
        conn.flush()
        self.counts["cancels_sent"] += 1

    def account(self, venue: str) -> AccountSnapshot | None:
        conns = self.edges.get(venue)
        return self.accounts.get(conns[0]) if conns else None

    def _edge_for(self, venue: str, edge_id: str | None) -> EdgeConnection:
        conns = [c for c in self.edges.get(venue, ()) if not c.closed]
        if not conns:
            raise ConnectionError(f"no edge of venue {venue!r} is connected")
        for conn in conns:
            if conn.edge_id == edge_id:
                return conn
        return conns[0]  # the edge that got the order is gone: the venue's edge answers for it

    # ------------------------------------------------------------ EdgeObserver (router hooks)

    def edge_up(self, conn: EdgeConnection) -> None:
        conns = self.edges.setdefault(conn.venue, [])
        if conn in conns:
            return
        conns.append(conn)
        if len(conns) == 1:
            self._guard(self.engine.on_venue_up, conn.venue, None, paper=True)

    def edge_down(self, conn: EdgeConnection) -> None:
        conns = self.edges.get(conn.venue, [])
        self.accounts.pop(conn, None)
        if conn not in conns:
            return
        conns.remove(conn)
        if not conns:
            log.warning("venue %s: its last edge (%s) is gone", conn.venue, conn.edge_id)
            self._guard(self.engine.on_venue_down, conn.venue)

    def top_of_book(self, venue: str, symbol: str, bid: int, bid_qty: int, ask: int, ask_qty: int) -> None:
        self._guard(self.engine.on_quote, venue, symbol, bid, ask, bid_qty, ask_qty, rearm=False)
        if self._quote_rearm is None and not self._reschedule_pending and self._loop is not None:
            self._quote_rearm = self._loop.call_later(QUOTE_REARM_S, self._rearm)

    def graph_frame(self, conn: EdgeConnection, frame_type: int, body: dict[str, Any]) -> None:
        if frame_type == mp.ACCOUNT:
            try:
                self.accounts[conn] = AccountSnapshot(
                    equity_usd=float(body["equity_usd"]),
                    available_usd=float(body["available_usd"]),
                    positions_1e8={str(k): int(v) for k, v in dict(body.get("positions_1e8") or {}).items()},
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise mp.ProtocolError(f"ACCOUNT frame: {exc!r}") from None
            return
        events = body.get("events")
        if not isinstance(events, list):
            raise mp.ProtocolError("ORDER_EVENTS needs an 'events' list")
        for ev in events:
            self._order_event(conn, ev)
        self.reschedule()

    def _order_event(self, conn: EdgeConnection, ev: Any) -> None:
        ok = (
            isinstance(ev, dict)
            and isinstance(ev.get("id"), str)
            and ev.get("kind") in mp.ORDER_EVENT_KINDS
            and all(isinstance(ev.get(k, 0), int) for k in ("qty_1e8", "price_1e8"))
            and isinstance(ev.get("cum_filled_1e8"), int | None)
            and isinstance(ev.get("reason"), str | None)
        )
        sent_to = self.order_edge.get(ev["id"]) if ok else None
        if sent_to is not None and sent_to != conn.edge_id:
            ok = False  # an edge answers only for the orders sent to it
        if not ok:
            self.counts["bad_events"] += 1
            log.warning("edge %s: malformed order event %r", conn.edge_id, ev)
            return
        self.counts["events"] += 1
        try:
            known = self.engine.on_order_event(
                ev["id"],
                ev["kind"],
                qty_1e8=ev.get("qty_1e8", 0),
                price_1e8=ev.get("price_1e8", 0),
                reason=ev.get("reason"),
                cum_filled_1e8=ev.get("cum_filled_1e8"),
            )
        except Exception:
            log.exception("order event %r failed", ev)
            return
        if not known:
            self.counts["unknown_events"] += 1

    def _guard(self, fn: Callable[..., Any], *args: Any, rearm: bool = True, **kwargs: Any) -> None:
        """An engine bug must never take the router down: log it and carry on."""
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("graph engine: %s failed", getattr(fn, "__name__", fn))
        if rearm:
            self.reschedule()

    # ------------------------------------------------------------ timers

    def reschedule(self) -> None:
        """Re-arm the timer once per loop turn, however many events came in."""
        if self._loop is None or self._reschedule_pending:
            return
        self._reschedule_pending = True
        self._loop.call_soon(self._rearm)

    def _rearm(self) -> None:
        self._reschedule_pending = False
        if self._quote_rearm is not None:
            self._quote_rearm.cancel()
            self._quote_rearm = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self.engine.next_wakeup_ms()
        if at is None or self._loop is None:
            return
        delay_s = max(1, at - self.engine.clock.now_ms()) / 1000  # >= 1 ms: never a busy loop
        self._timer = self._loop.call_later(delay_s, self._fire)

    def _fire(self) -> None:
        self._timer = None
        try:
            self.engine.poll()
        except Exception:
            log.exception("graph engine: poll failed")
        self._rearm()

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                self.engine.forget_finished(self.engine.clock.now_ms() - self.retention_ms)
                live = {
                    order.client_order_id
                    for run in self.engine.runs.values()
                    for node in run.g.nodes.values()
                    for order in node.orders
                }
                self.order_edge = {cid: e for cid, e in self.order_edge.items() if cid in live}
            except Exception:
                log.exception("graph engine: forgetting finished graphs failed")

    # ------------------------------------------------------------ views

    def status(self) -> dict[str, Any]:
        running = sum(1 for r in self.engine.runs.values() if r.g.final_status is None)
        return {
            "graphs": len(self.engine.runs),
            "running": running,
            "venues": {v: [c.edge_id for c in conns] for v, conns in sorted(self.edges.items()) if conns},
            "journal": self.engine.journal.path if self.engine.journal is not None else None,
            **self.counts,
            "now_ms": int(time.time() * 1000),
        }
