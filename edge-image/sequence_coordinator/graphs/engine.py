"""The graph engine: admits graphs, routes venue events to them, journals, sends orders.

Single-threaded: the host calls the API methods (`submit`, `status`, `cancel`,
`resume`, `amend_node`), the event methods (`on_order_event`, `on_quote`,
`on_nbbo`, `on_venue_up`, `on_venue_down`) and `poll()` (timers: TWAP slices,
horizons, on_timeout edges, retries) from one thread or event loop, and
sleeps until `next_wakeup_ms()` or the next event. Every call ends by saving
the graphs it changed to the journal and only then handing their new orders
and cancels to the venue port.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from sequence_wire.graphs import (
    AmendNodeRequest,
    ExecutionGraphSpec,
    GraphListResponse,
    GraphStatusResponse,
    GraphSubmitRequest,
    GraphSubmitResponse,
    graph_problems,
    graph_warnings,
)

from . import risk, triggers
from .execution import REPRICE_MIN_MS
from .journal import GraphJournal
from .market import Market
from .model import GraphRuntime, OrderRuntime
from .port import AccountSnapshot, Clock, OrderEventKind, VenuePort
from .runtime import GraphRun
from .status import graph_state, graph_status

log = logging.getLogger("sequence.graphs")


class GraphError(Exception):
    """A graph API call that cannot be done; `http_status` is the status to answer with."""

    http_status = 400

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class AdmissionError(GraphError):
    http_status = 422


class GraphNotFound(GraphError):
    http_status = 404


class GraphStateError(GraphError):
    http_status = 409


def _where(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class GraphEngine:
    def __init__(
        self,
        port: VenuePort,
        clock: Clock,
        journal: GraphJournal | None = None,
        *,
        new_graph_id: Callable[[], str] | None = None,
    ) -> None:
        self.port = port
        self.clock = clock
        self.journal = journal
        self.market = Market()
        self.runs: dict[str, GraphRun] = {}
        self._by_client_id: dict[str, str] = {}
        self._orders: dict[str, tuple[GraphRun, OrderRuntime]] = {}
        self._by_symbol: dict[str, set[str]] = {}  # symbol -> graphs that watch it
        self._new_graph_id = new_graph_id or (lambda: "graph_" + secrets.token_hex(8))
        if journal is not None:
            self._restore(journal.load())

    # ------------------------------------------------------------ the graph API

    def submit(self, request: GraphSubmitRequest | Mapping[str, Any]) -> GraphSubmitResponse:
        """Admit and start a graph. Raises AdmissionError (nothing is placed) on any problem."""
        if not isinstance(request, GraphSubmitRequest):
            try:
                request = GraphSubmitRequest.model_validate(request)
            except ValidationError as exc:
                problems = [f"{_where(e['loc']) or 'graph'}: {e['msg']}" for e in exc.errors()]
                raise AdmissionError("invalid graph: " + "; ".join(problems), problems) from None
        problems = [f"{_where(loc)}: {msg}" for loc, msg in graph_problems(request)]
        if problems:
            raise AdmissionError("invalid graph: " + "; ".join(problems), problems)
        if request.client_id and request.client_id in self._by_client_id:
            existing = self.runs[self._by_client_id[request.client_id]]
            if existing.g.final_status is None:
                return GraphSubmitResponse(
                    graph_id=existing.g.graph_id,
                    client_id=existing.g.client_id,
                    status=graph_state(existing.g),
                    warnings=existing.g.warnings,
                )
        spec = ExecutionGraphSpec.model_validate(request.model_dump(exclude={"client_id"}))
        venues = {n.venue for n in spec.nodes.values() if n.venue} | {
            v
            for n in spec.nodes.values()
            if not n.venue
            for v in self.market.carriers(n.symbol, spec.sandbox)
        }
        accounts = {v: self._account(v) for v in sorted(venues)}
        running = sum(1 for r in self.runs.values() if r.g.final_status is None)
        problems = risk.admission_problems(spec, self.market, accounts, running)
        if problems:
            raise AdmissionError("graph refused: " + "; ".join(problems), problems)
        now = self.clock.now_ms()
        run = GraphRun.create(self._new_graph_id(), request.client_id, spec, now, self.market, self._account)
        run.g.warnings = [f"{_where(loc)}: {msg}" for loc, msg in graph_warnings(spec)]
        for warning in run.g.warnings:
            log.warning("graph %s: %s", run.g.graph_id, warning)
        self._register(run)
        run.start(now)
        self._flush([run], force=True)
        return GraphSubmitResponse(
            graph_id=run.g.graph_id,
            client_id=run.g.client_id,
            status=graph_state(run.g),
            warnings=run.g.warnings,
        )

    def status(self, graph_id: str) -> GraphStatusResponse:
        return graph_status(self._run(graph_id).g)

    def list_graphs(self, *, include_finished: bool = True) -> GraphListResponse:
        return GraphListResponse(
            graphs=[
                graph_status(r.g) for r in self.runs.values() if include_finished or r.g.final_status is None
            ]
        )

    def cancel(self, graph_id: str, reason: str | None = None) -> GraphStatusResponse:
        """Cancel every open order; the graph ends aborted and no edge fires any more."""
        run = self._running(graph_id)
        run.cancel(f"cancelled: {reason}" if reason else "cancelled by request", self.clock.now_ms())
        self._flush([run], force=True)
        return graph_status(run.g)

    def resume(self, graph_id: str) -> GraphStatusResponse:
        run = self._running(graph_id)
        if not run.g.paused:
            raise GraphStateError(f"graph {graph_id} is {graph_state(run.g)}, not paused")
        run.resume(self.clock.now_ms())
        self._flush([run], force=True)
        return graph_status(run.g)

    def amend_node(
        self, graph_id: str, node_id: str, amend: AmendNodeRequest | Mapping[str, Any]
    ) -> GraphStatusResponse:
        """Retune a node's urgency, max_slippage_bps or horizon_ms; it reprices at once."""
        if not isinstance(amend, AmendNodeRequest):
            try:
                amend = AmendNodeRequest.model_validate(amend)
            except ValidationError as exc:
                problems = [f"{_where(e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
                raise GraphError("invalid amend: " + "; ".join(problems), problems) from None
        run = self._running(graph_id)
        node = run.g.nodes.get(node_id)
        if node is None:
            raise GraphNotFound(f"graph {graph_id} has no node {node_id!r}")
        if node.status not in ("pending", "active", "partial_fill"):
            raise GraphStateError(
                f"node {node_id!r} is {node.status}: only a pending or working node is amended"
            )
        run.amend(node_id, amend.urgency, amend.max_slippage_bps, amend.horizon_ms)
        run.step(self.clock.now_ms())
        self._flush([run], force=True)
        return graph_status(run.g)

    def forget_finished(self, older_than_ms: int) -> int:
        """Drop graphs that finished before `older_than_ms` (memory and journal); returns how many."""
        gone = [
            gid
            for gid, run in self.runs.items()
            if run.g.final_status is not None and run.g.updated_ms < older_than_ms
        ]
        for gid in gone:
            run = self.runs.pop(gid)
            if run.g.client_id and self._by_client_id.get(run.g.client_id) == gid:
                del self._by_client_id[run.g.client_id]
            for node in run.g.nodes.values():
                for order in node.orders:
                    self._orders.pop(order.client_order_id, None)
            for watchers in self._by_symbol.values():
                watchers.discard(gid)
        if self.journal is not None:
            self.journal.forget_finished(older_than_ms)
        return len(gone)

    # ------------------------------------------------------------ venue events

    def on_order_event(
        self,
        client_order_id: str,
        kind: OrderEventKind,
        *,
        qty_1e8: int = 0,
        price_1e8: int = 0,
        reason: str | None = None,
        cum_filled_1e8: int | None = None,
    ) -> bool:
        """An edge's answer about one of our orders; False if the id is not a graph order.

        fill: `qty_1e8` at `price_1e8`. cancel: the order is closed (for an IOC,
        its unfilled rest). reject: a refused place, or a cancel of an order the
        venue no longer has open. `cum_filled_1e8`, when the venue reports it,
        reconciles fills the engine missed (e.g. while it was restarting).
        """
        found = self._orders.get(client_order_id)
        if found is None:
            return False
        run, order = found
        run.on_order_event(order, kind, qty_1e8, price_1e8, reason, cum_filled_1e8, self.clock.now_ms())
        self._flush([run], force=True)
        return True

    def on_quote(
        self, venue: str, symbol: str, bid_1e8: int, ask_1e8: int, bid_qty_1e8: int = 0, ask_qty_1e8: int = 0
    ) -> None:
        """One venue's top of book (0: no price on that side)."""
        if self.market.quote(venue, symbol, bid_1e8, ask_1e8, bid_qty_1e8, ask_qty_1e8):
            self._market_moved(symbol)

    def on_nbbo(
        self,
        symbol: str,
        bid_1e8: int,
        bid_venue: str | None,
        ask_1e8: int,
        ask_venue: str | None,
        bid_qty_1e8: int = 0,
        ask_qty_1e8: int = 0,
    ) -> None:
        """The cross-venue best bid and offer; each side is recorded as its venue's quote."""
        self.market.nbbo(symbol, bid_1e8, bid_venue, ask_1e8, ask_venue, bid_qty_1e8, ask_qty_1e8)
        self._market_moved(symbol)

    def on_venue_up(self, venue: str, symbols: Iterable[str] | None = None, *, paper: bool = True) -> None:
        """An edge of `venue` is connected (`paper`: it trades a paper account)."""
        self.market.venue_up(venue, None if symbols is None else list(symbols), paper)
        retry = [
            (run, o) for run, o in self._orders.values() if o.venue == venue and o.status == "pending_cancel"
        ]
        touched = {id(run): run for run, _ in retry}
        for _run, order in retry:
            self._send_cancel(order)
        for run in self.runs.values():
            if run.g.final_status is None and not run.g.paused:
                run.step(self.clock.now_ms())
                touched[id(run)] = run
        self._flush(list(touched.values()))

    def on_venue_down(self, venue: str) -> None:
        """The coordinator lost every edge of `venue`: graphs working there apply on_disconnect."""
        self.market.venue_down(venue)
        hit = [run for run in self.runs.values() if run.disconnect(venue, self.clock.now_ms())]
        self._flush(hit, force=True)

    # ------------------------------------------------------------ timers

    def poll(self) -> int | None:
        """Run what is due (slices, horizons, timeouts, retries); returns next_wakeup_ms()."""
        now = self.clock.now_ms()
        active = [r for r in self.runs.values() if r.g.final_status is None]
        for run in active:
            run.step(now)
        self._flush(active)
        return self.next_wakeup_ms()

    def next_wakeup_ms(self) -> int | None:
        """The earliest time something is due without an event (None: nothing scheduled).

        Each graph's own next time is computed whenever it changes (`_flush`), so this is a
        min over the running graphs, not a walk over every slice."""
        times = [r.wakeup_ms for r in self.runs.values() if r.wakeup_ms is not None]
        return min(times) if times else None

    def _run_wakeup_ms(self, run: GraphRun, now: int) -> int | None:
        """When `run` next needs a poll without an event, as of `now`."""
        g = run.g
        if g.final_status is not None or g.paused:
            return None
        times: list[int] = []
        for edge, state in zip(run.spec.edges, g.edges, strict=True):
            at = triggers.timeout_at_ms(edge, state, g.nodes[edge.from_])
            if at is not None:
                times.append(at)
        for node in g.nodes.values():
            if not node.working:
                continue
            for sl in node.slices:
                if sl.status == "pending":
                    times.append(sl.start_ms)
                elif sl.status == "active":
                    if sl.retry_at_ms > now:
                        times.append(sl.retry_at_ms)
                    if sl.horizon_end_ms is not None:
                        step = max(REPRICE_MIN_MS, (sl.horizon_end_ms - sl.start_ms) // 20)
                        times.append(min(sl.horizon_end_ms, now + step))
        return min(times) if times else None

    # ------------------------------------------------------------ internals

    def _account(self, venue: str) -> AccountSnapshot | None:
        try:
            return self.port.account(venue)
        except Exception:  # an unreachable account is "unknown", which the risk checks refuse
            log.exception("account(%s) failed", venue)
            return None

    def _run(self, graph_id: str) -> GraphRun:
        run = self.runs.get(graph_id)
        if run is None:
            raise GraphNotFound(f"no graph {graph_id!r}")
        return run

    def _running(self, graph_id: str) -> GraphRun:
        run = self._run(graph_id)
        if run.g.final_status is not None:
            raise GraphStateError(f"graph {graph_id} already {run.g.final_status}")
        return run

    def _register(self, run: GraphRun) -> None:
        g = run.g
        self.runs[g.graph_id] = run
        if g.client_id:
            self._by_client_id[g.client_id] = g.graph_id
        symbols = {n.symbol for n in g.spec.nodes.values()}
        symbols |= {
            e.trigger["on_price"]["symbol"]
            for e in g.spec.edges
            if isinstance(e.trigger, dict) and "on_price" in e.trigger
        }
        for symbol in symbols:
            self._by_symbol.setdefault(symbol, set()).add(g.graph_id)
        for node in g.nodes.values():
            for order in node.orders:
                self._orders[order.client_order_id] = (run, order)

    def _market_moved(self, symbol: str) -> None:
        now = self.clock.now_ms()
        runs = [self.runs[gid] for gid in self._by_symbol.get(symbol, ())]
        runs = [r for r in runs if r.watching and r.g.final_status is None]
        for run in runs:
            run.step(now)
        self._flush(runs)

    def _fingerprint(self, g: GraphRuntime) -> tuple[Any, ...]:
        return (
            g.final_status,
            g.paused,
            len(g.breaches),
            tuple((n.status, n.arrival_mid_1e8) for n in g.nodes.values()),
            tuple(e.fire_count for e in g.edges),
        )

    def _flush(self, runs: list[GraphRun], *, force: bool = False) -> None:
        """Journal the changed graphs, then send their queued orders and cancels."""
        self._send(runs, force=force)
        now = self.clock.now_ms()
        for run in runs:  # every change goes through here: cache what quotes and timers need
            run.watching = run.watches_market()
            run.wakeup_ms = self._run_wakeup_ms(run, now)

    def _send(self, runs: list[GraphRun], *, force: bool) -> None:
        while True:
            dirty = [r for r in runs if force or r.outbox or self._fingerprint(r.g) != r.saved_fingerprint]
            if self.journal is not None and dirty:
                self.journal.save([r.g for r in dirty])
            for run in dirty:
                run.saved_fingerprint = self._fingerprint(run.g)
            sent_any = False
            for run in dirty:
                outbox, run.outbox = run.outbox, []
                for command, order in outbox:
                    sent_any = True
                    if command == "place":
                        self._send_place(run, order)
                    else:
                        self._send_cancel(order)
            runs, force = [r for r in runs if r.outbox], False
            if not runs or not sent_any:
                return

    def _send_place(self, run: GraphRun, order: OrderRuntime) -> None:
        self._orders[order.client_order_id] = (run, order)
        try:
            self.port.place(
                order.venue,
                order.client_order_id,
                order.symbol,
                order.side,
                order.qty_1e8,
                order.price_1e8,
                order.tif,
            )
        except Exception as exc:  # the venue is unreachable: the order is refused, the slice retries
            log.warning("place %s on %s failed: %s", order.client_order_id, order.venue, exc)
            run.on_order_event(order, "reject", 0, 0, f"not sent: {exc}", None, self.clock.now_ms())

    def _send_cancel(self, order: OrderRuntime) -> None:
        try:
            self.port.cancel(order.venue, order.client_order_id)
        except Exception as exc:  # stays pending_cancel; sent again when the venue is back
            log.warning("cancel %s on %s failed: %s", order.client_order_id, order.venue, exc)

    def _restore(self, states: list[GraphRuntime]) -> None:
        """Rebuild journaled graphs; orders that were open are cancelled, then re-placed
        with the next attempt's id (never the same id twice)."""
        restored = []
        for state in states:
            run = GraphRun(state, self.market, self._account)
            self._register(run)
            if state.final_status is None:
                for node in state.nodes.values():
                    for order in node.open_orders:
                        order.status = "pending_cancel"
                        run.outbox.append(("cancel", order))
                restored.append(run)
        self._flush(restored, force=True)
