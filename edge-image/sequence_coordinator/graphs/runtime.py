"""One running graph: activation, triggers, slices, orders, risk and failure actions.

`GraphRun.step(now)` brings the graph up to date after any event: it starts
TWAP slices that are due, fires edges, keeps exit legs within the position
they close, checks runtime risk, works every active slice (places, reprices
or cancels its order) and settles the graph when nothing more can happen.
Orders to place and cancel are queued in `outbox`; the engine journals the
graph before handing them to the venue port, so an order the port saw is
always in the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sequence_wire.graphs import ExecutionGraphSpec, GraphNode, client_order_id, edge_ids

from . import execution, risk, sizing, triggers
from .market import Market
from .model import SCALE, EdgeRuntime, GraphRuntime, NodeRuntime, OrderRuntime, SliceRuntime
from .port import AccountSnapshot

MAX_REJECTS = 3  # consecutive venue rejects before a node gives up
RETRY_BASE_MS = 100  # backoff after a reject: 100, 200, 400 ms
FINISHED_SLICE = ("completed", "expired", "cancelled")

Command = tuple[Literal["place"], OrderRuntime] | tuple[Literal["cancel"], OrderRuntime]


class GraphRun:
    def __init__(
        self, state: GraphRuntime, market: Market, account: Callable[[str], AccountSnapshot | None]
    ) -> None:
        self.g = state
        self.spec: ExecutionGraphSpec = state.spec
        self.market = market
        self.account = account
        self.outbox: list[Command] = []
        self.saved_fingerprint: tuple[object, ...] = ()
        self.incoming: dict[str, list[int]] = {n: [] for n in self.spec.nodes}
        for i, edge in enumerate(self.spec.edges):
            self.incoming[edge.to].append(i)
        # derived nodes fed by a source that close its position: same symbol, other side
        self.exits: dict[str, list[str]] = {}
        for name, src in self.spec.nodes.items():
            fed = sorted({e.to for e in self.spec.edges if e.from_ == name})
            self.exits[name] = [
                n
                for n in fed
                if self.spec.nodes[n].derived
                and self.spec.nodes[n].symbol == src.symbol
                and self.spec.nodes[n].side != src.side
            ]

        # a price move can matter at any time: price triggers, runtime limits on marked PnL/position
        runtime = self.spec.risk.runtime
        self.always_watches_market = any(
            isinstance(e.trigger, dict) and "on_price" in e.trigger for e in self.spec.edges
        ) or any(v is not None for v in runtime.model_dump().values())
        self.watching = True  # watches_market() as of the last change (the engine keeps it current)
        self.wakeup_ms: int | None = None  # when it next needs a poll, as of the last change (engine)

    def watches_market(self) -> bool:
        """Does a price move matter now? Otherwise a quote need not step this graph (a TWAP between
        slices, a node waiting for its trigger): its next event or timer will."""
        if self.always_watches_market:
            return True
        return any(
            sl.status == "active" for node in self.g.nodes.values() if node.working for sl in node.slices
        )

    @classmethod
    def create(
        cls,
        graph_id: str,
        client_id: str | None,
        spec: ExecutionGraphSpec,
        now_ms: int,
        market: Market,
        account: Callable[[str], AccountSnapshot | None],
    ) -> GraphRun:
        nodes = {
            name: NodeRuntime(
                id=name,
                index=i,
                urgency=node.urgency,
                max_slippage_bps=node.max_slippage_bps,
                horizon_ms=node.horizon_ms,
            )
            for i, (name, node) in enumerate(spec.nodes.items())
        }
        state = GraphRuntime(
            graph_id=graph_id,
            client_id=client_id,
            spec=spec,
            nodes=nodes,
            edges=[EdgeRuntime(id=eid) for eid in edge_ids(spec)],
            created_ms=now_ms,
            updated_ms=now_ms,
        )
        return cls(state, market, account)

    # ------------------------------------------------------------ lifecycle

    @property
    def stopped(self) -> bool:
        return self.g.paused or self.g.final_status is not None

    def start(self, now_ms: int) -> None:
        """Activate the roots: nodes without an incoming edge."""
        for name, node in self.spec.nodes.items():
            if not self.incoming[name]:
                self._activate(self.g.nodes[name], round(node.qty * SCALE), now_ms)
        self.step(now_ms)

    def cancel(self, reason: str, now_ms: int) -> None:
        self._abort(reason, now_ms)

    def pause(self, reason: str, now_ms: int) -> None:
        if self.g.paused or self.g.final_status is not None:
            return
        self.g.paused = True
        self.g.paused_at_ms = now_ms
        self.g.reason = reason
        self._cancel_open(lambda _n: True)

    def resume(self, now_ms: int) -> None:
        """Continue a paused graph; schedules move by the time spent paused."""
        shift = now_ms - (self.g.paused_at_ms or now_ms)
        self.g.paused, self.g.paused_at_ms, self.g.reason = False, None, None
        for node in self.g.nodes.values():
            for sl in node.slices:
                if sl.status in FINISHED_SLICE:
                    continue
                sl.start_ms += shift  # a working slice keeps its place in its schedule
                if sl.horizon_end_ms is not None:
                    sl.horizon_end_ms += shift
        self.step(now_ms)

    def amend(self, name: str, urgency: str | None, slippage: float | None, horizon: int | None) -> None:
        node = self.g.nodes[name]
        if urgency is not None:
            node.urgency = urgency
        if slippage is not None:
            node.max_slippage_bps = slippage
        if horizon is not None:
            node.horizon_ms = horizon
            if self.spec.nodes[name].twap is None:
                for sl in node.slices:
                    if sl.status not in FINISHED_SLICE:
                        sl.horizon_end_ms = sl.start_ms + horizon

    def disconnect(self, venue: str, now_ms: int) -> bool:
        """Apply on_disconnect if a working node of this graph uses `venue`; True if it did."""
        if self.g.final_status is not None:
            return False
        uses = any(
            node.working
            and (self.spec.nodes[name].venue == venue or any(o.venue == venue for o in node.open_orders))
            for name, node in self.g.nodes.items()
        )
        if not uses:
            return False
        message = f"venue {venue!r} disconnected"
        self.g.breaches.append(message)
        self._failure(self.spec.risk.failure.on_disconnect, message, now_ms)
        self.step(now_ms)
        return True

    # ------------------------------------------------------------ events

    def on_order_event(
        self,
        order: OrderRuntime,
        kind: str,
        qty_1e8: int,
        price_1e8: int,
        reason: str | None,
        cum_filled_1e8: int | None,
        now_ms: int,
    ) -> None:
        node = self.g.nodes[order.node]
        sl = node.slices[order.slice]
        if kind in ("ack", "fill") and order.status == "pending_new":
            order.status = "live"
        if kind in ("ack", "fill"):
            node.accepted = True
        if kind == "fill":
            self._fill(node, sl, order, qty_1e8, price_1e8)
        elif kind in ("cancel", "reject"):
            if cum_filled_1e8 is not None and cum_filled_1e8 > order.filled_1e8:
                px = price_1e8 or order.price_1e8 or self.g.last_price_1e8.get(order.symbol, 0)
                self._fill(node, sl, order, cum_filled_1e8 - order.filled_1e8, px)
            if order.is_open:
                self._closed(node, sl, order, kind, reason, now_ms)
        self.step(now_ms)

    def _fill(self, node: NodeRuntime, sl: SliceRuntime, order: OrderRuntime, qty: int, px: int) -> None:
        if qty <= 0:
            return
        order.filled_1e8 += qty
        sl.filled_1e8 += qty
        sl.rejects = 0
        node.filled_1e8 += qty
        node.cost_usd += triggers.usd(qty, px)
        node.fill_count += 1
        sign = 1 if order.side == "buy" else -1
        self.g.positions_1e8[order.symbol] = self.g.positions_1e8.get(order.symbol, 0) + sign * qty
        self.g.cash_usd -= sign * triggers.usd(qty, px)
        self.g.last_price_1e8[order.symbol] = px
        if order.is_open and order.filled_1e8 >= order.qty_1e8:
            order.status = "filled"

    def _closed(
        self,
        node: NodeRuntime,
        sl: SliceRuntime,
        order: OrderRuntime,
        kind: str,
        reason: str | None,
        now: int,
    ) -> None:
        was = order.status
        order.reason = reason
        if kind == "reject" and was == "pending_new":
            order.status = "rejected"
            if sl.final_sent:
                return  # the last-chance IOC found nothing: the slice expires
            sl.rejects += 1
            sl.retry_at_ms = now + RETRY_BASE_MS * 2 ** (sl.rejects - 1)
            if sl.rejects >= MAX_REJECTS and node.working:
                self._end_node(node, "rejected", f"venue rejected {MAX_REJECTS} orders in a row: {reason}")
            return
        if kind == "reject" and was == "live" and order.tif != "ioc":
            order.reason = None  # a refused request about a live order: it is still live
            return
        order.status = "filled" if order.filled_1e8 >= order.qty_1e8 else "cancelled"
        unsolicited = was != "pending_cancel" and order.tif != "ioc"
        if unsolicited and node.working and not self.stopped and order.status == "cancelled":
            self._end_node(
                node, "cancelled", f"the venue cancelled {order.client_order_id}: {reason or 'no reason'}"
            )

    # ------------------------------------------------------------ the step

    def step(self, now_ms: int) -> None:
        if self.g.final_status is not None:
            return
        self._advance(now_ms, work=False)  # consequences of the event first (edges fire)...
        self._check_runtime(now_ms)  # ...then risk judges the graph as it now stands...
        self._advance(now_ms, work=True)  # ...before any order goes out
        self._settle()
        self.g.updated_ms = now_ms

    def _advance(self, now_ms: int, *, work: bool) -> None:
        for _ in range(4 * len(self.g.nodes) + 8):
            changed = False
            if not self.stopped:
                changed |= self._start_due_slices(now_ms)
                changed |= self._fire_edges(now_ms)
                changed |= self._close_exits(now_ms)
                if work:
                    changed |= self._work(now_ms)
            changed |= self._refresh_nodes()
            if not changed:
                return

    def _check_runtime(self, now_ms: int) -> None:
        found = risk.runtime_breaches(self.g, self.market)
        kinds = [k for k, _ in found]
        self.g.latched = [k for k in self.g.latched if k in kinds]  # a cleared breach may fire again
        for kind, message in found:
            if kind in self.g.latched:
                continue
            self.g.latched.append(kind)
            self.g.breaches.append(message)
            self._failure(self.spec.risk.failure.on_runtime_breach, message, now_ms)

    def _failure(self, action: str, reason: str, now_ms: int) -> None:
        if action == "cancel_all_open":
            self._abort(reason, now_ms)
        elif action == "pause_graph":
            self.pause(reason, now_ms)
        elif action == "cancel_pending":
            for node in self.g.nodes.values():
                if node.status == "pending":
                    node.status, node.reason = "skipped", f"not started: {reason}"
        # do_nothing: the breach is recorded in status and the graph carries on

    def _abort(self, reason: str, now_ms: int) -> None:
        if self.g.final_status is not None:
            return
        self._cancel_open(lambda _n: True)
        for node in self.g.nodes.values():
            if node.working:
                node.status, node.reason = "cancelled", reason
            elif node.status == "pending":
                node.status, node.reason = "skipped", reason
        self.g.paused = False
        self.g.final_status, self.g.reason = "aborted", reason
        self.g.updated_ms = now_ms

    def _cancel_open(self, which: Callable[[NodeRuntime], bool]) -> None:
        for node in self.g.nodes.values():
            if which(node):
                for order in node.open_orders:
                    self._request_cancel(order)

    def _request_cancel(self, order: OrderRuntime) -> None:
        if order.status != "pending_cancel":
            order.status = "pending_cancel"
            self.outbox.append(("cancel", order))

    def _end_node(self, node: NodeRuntime, status: Literal["cancelled", "rejected"], reason: str) -> None:
        node.status, node.reason = status, reason
        for order in node.open_orders:
            self._request_cancel(order)
        for sl in node.slices:
            if sl.status not in FINISHED_SLICE:
                sl.status = "cancelled"

    # ------------------------------------------------------------ activation and edges

    def _activate(self, node: NodeRuntime, target: int, now_ms: int) -> None:
        spec = self.spec.nodes[node.id]
        node.status, node.activated_ms, node.target_1e8 = "active", now_ms, target
        node.arrival_mid_1e8 = self.market.mid_1e8(spec.symbol)
        if spec.twap is None:
            horizon = now_ms + node.horizon_ms if node.horizon_ms else None
            node.slices = [SliceRuntime(index=0, start_ms=now_ms, target_1e8=target, horizon_end_ms=horizon)]
            return
        n, interval = spec.twap.slices, spec.twap.interval_ms
        base, extra = divmod(target, n)
        node.slices = [
            SliceRuntime(
                index=i,
                start_ms=now_ms + i * interval,
                target_1e8=base + (1 if i < extra else 0),
                horizon_end_ms=now_ms + (i + 1) * interval,
            )
            for i in range(n)
        ]

    def _set_target(self, node: NodeRuntime, target: int, now_ms: int) -> None:
        """Change a working (or finished) derived node's target; reopens it if it grew."""
        delta = target - node.target_1e8
        node.target_1e8 = target
        if delta == 0 or node.status in ("pending", "cancelled", "rejected", "skipped"):
            return
        spec = self.spec.nodes[node.id]
        open_slices = [s for s in node.slices if s.status not in FINISHED_SLICE]
        if delta > 0:
            if open_slices:
                open_slices[-1].target_1e8 += delta
            elif spec.twap is None and node.slices:
                sl = node.slices[0]
                sl.target_1e8 += delta
                sl.status, sl.start_ms, sl.final_sent = "pending", now_ms, False
                sl.horizon_end_ms = now_ms + node.horizon_ms if node.horizon_ms else None
            else:
                interval = spec.twap.interval_ms if spec.twap else 0
                node.slices.append(
                    SliceRuntime(
                        index=len(node.slices),
                        start_ms=now_ms,
                        target_1e8=delta,
                        horizon_end_ms=now_ms + interval if interval else None,
                    )
                )
            node.status = "active" if node.filled_1e8 == 0 else "partial_fill"
            return
        for sl in reversed(open_slices):  # shrink the latest slices first
            cut = min(-delta, sl.target_1e8 - sl.filled_1e8)
            sl.target_1e8 -= cut
            delta += cut
            if delta == 0:
                break

    def _start_due_slices(self, now_ms: int) -> bool:
        changed = False
        for node in self.g.nodes.values():
            if not node.working:
                continue
            if node.arrival_mid_1e8 is None:
                node.arrival_mid_1e8 = self.market.mid_1e8(self.spec.nodes[node.id].symbol)
            for sl in node.slices:
                if sl.status == "pending" and sl.start_ms <= now_ms:
                    sl.status = "active"
                    changed = True
        return changed

    def _fire_edges(self, now_ms: int) -> bool:
        changed = False
        for edge, state in zip(self.spec.edges, self.g.edges, strict=True):
            source, child = self.g.nodes[edge.from_], self.g.nodes[edge.to]
            if source.status in ("pending", "skipped") or child.status in (
                "cancelled",
                "rejected",
                "skipped",
            ):
                continue
            if not triggers.due(edge, state, source, self.market, now_ms):
                continue
            state.fired = True
            state.fire_count += 1
            child_spec = self.spec.nodes[edge.to]
            if child_spec.derived:
                price = self.market.mid_1e8(child_spec.symbol)
                state.contribution_1e8 = sizing.contribution_1e8(edge.sizing, state, source, price)
            state.last_filled_1e8 = source.filled_1e8
            if child_spec.derived:
                total = sum(self.g.edges[i].contribution_1e8 for i in self.incoming[edge.to])
                target = max(total, child.filled_1e8)
                if child.status == "pending":
                    self._activate(child, target, now_ms)
                else:
                    self._set_target(child, target, now_ms)
            elif child.status == "pending":
                self._activate(child, round(child_spec.qty * SCALE), now_ms)
            changed = True
        return changed

    def _exits_of(self, source: str) -> list[NodeRuntime]:
        return [self.g.nodes[n] for n in self.exits[source]]

    def _close_exits(self, now_ms: int) -> bool:
        """One-cancels-other: exits of one source never close more than it filled together."""
        changed = False
        for name, names in self.exits.items():
            if len(names) < 2:
                continue
            source, exits = self.g.nodes[name], self._exits_of(name)
            for node in exits:
                if not node.working:
                    continue
                others = sum(o.filled_1e8 for o in exits if o is not node)
                cap = max(source.filled_1e8 - others, node.filled_1e8)
                if node.target_1e8 > cap:
                    closers = ", ".join(repr(o.id) for o in exits if o is not node and o.filled_1e8)
                    node.reason = (
                        f"reduced to what is still open (one-cancels-other with {closers or 'siblings'})"
                    )
                    self._set_target(node, cap, now_ms)
                    changed = True
        return changed

    # ------------------------------------------------------------ working slices

    def _work(self, now_ms: int) -> bool:
        changed = False
        for name, node in self.g.nodes.items():
            if not node.working:
                continue
            for sl in node.slices:
                if sl.status == "active":
                    changed |= self._work_slice(self.spec.nodes[name], node, sl, now_ms)
        return changed

    def _work_slice(self, spec: GraphNode, node: NodeRuntime, sl: SliceRuntime, now_ms: int) -> bool:
        remaining = sl.target_1e8 - sl.filled_1e8
        mine = [o for o in node.open_orders if o.slice == sl.index]
        if remaining <= 0:
            for order in mine:
                self._request_cancel(order)
            if mine:
                return False
            sl.status = "completed"
            return True
        if mine:
            order = mine[0]
            if order.status != "live" or order.tif == "ioc":
                return False  # waiting for the venue
            plan = self._plan(spec, node, sl, now_ms, order.venue)
            too_big = order.qty_1e8 - order.filled_1e8 > remaining
            moved = plan is not None and (plan.venue != order.venue or plan.price_1e8 != order.price_1e8)
            expired = sl.horizon_end_ms is not None and now_ms >= sl.horizon_end_ms
            if too_big or expired or (moved and now_ms - order.placed_ms >= execution.REPRICE_MIN_MS):
                self._request_cancel(order)
            return False
        if sl.final_sent:
            self._expire_slice(node, sl)
            return True
        if now_ms < sl.retry_at_ms:
            return False
        plan = self._plan(spec, node, sl, now_ms, None)
        if plan is None:
            if sl.horizon_end_ms is not None and now_ms >= sl.horizon_end_ms:
                self._expire_slice(node, sl)
                return True
            return False
        problem = risk.pretrade_problem(
            self.spec, spec, node, remaining, plan.price_1e8, self.account(plan.venue)
        )
        if problem:
            self.g.breaches.append(f"pre-trade, node {node.id!r}: {problem}")
            self._end_node(node, "rejected", problem)
            return True
        order = OrderRuntime(
            client_order_id=client_order_id(self.g.graph_id, node.id, node.index, sl.index, sl.attempts),
            node=node.id,
            venue=plan.venue,
            symbol=spec.symbol,
            side=spec.side,
            slice=sl.index,
            attempt=sl.attempts,
            qty_1e8=remaining,
            price_1e8=plan.price_1e8,
            tif=plan.tif,
            placed_ms=now_ms,
        )
        sl.attempts += 1
        sl.final_sent = plan.final
        node.orders.append(order)
        self.outbox.append(("place", order))
        return False

    def _plan(
        self, spec: GraphNode, node: NodeRuntime, sl: SliceRuntime, now_ms: int, venue: str | None
    ) -> execution.Plan | None:
        return execution.plan(
            spec,
            node,
            sl,
            self.market,
            sandbox=self.spec.sandbox,
            risk_slippage_bps=self.spec.risk.pre_trade.max_slippage_bps,
            now_ms=now_ms,
            current_venue=venue,
        )

    def _expire_slice(self, node: NodeRuntime, sl: SliceRuntime) -> None:
        """The slice's time is up: its shortfall carries into the next slice, if any."""
        sl.status = "expired"
        later = [s for s in node.slices if s.index > sl.index and s.status not in FINISHED_SLICE]
        if later:
            later[0].target_1e8 += sl.target_1e8 - sl.filled_1e8

    # ------------------------------------------------------------ node and graph status

    def _refresh_nodes(self) -> bool:
        changed = False
        for node in self.g.nodes.values():
            if not node.working:
                continue
            status = node.status
            if node.slices and all(s.status in FINISHED_SLICE for s in node.slices) and not node.open_orders:
                if node.filled_1e8 >= node.target_1e8:
                    status = "completed"
                else:
                    status = "expired"
                    node.reason = node.reason or "the horizon ran out before the target filled"
            else:
                status = "partial_fill" if node.filled_1e8 else "active"
            if status != node.status:
                node.status = status
                changed = True
        return changed

    def _settle(self) -> None:
        """Skip nodes that can no longer start; end the graph when every node is done."""
        nodes, edges = self.g.nodes, self.spec.edges
        alive = {n for n, node in nodes.items() if node.working}
        for _ in range(len(nodes) + 1):
            grown = False
            for name, node in nodes.items():
                if node.status != "pending" or name in alive:
                    continue
                if any(
                    triggers.may_still_fire(
                        edges[i], self.g.edges[i], nodes[edges[i].from_], edges[i].from_ in alive
                    )
                    for i in self.incoming[name]
                ):
                    alive.add(name)
                    grown = True
            if not grown:
                break
        for name, node in nodes.items():
            if node.status != "pending":
                continue
            if name not in alive:
                node.status, node.reason = "skipped", "no incoming edge can fire any more"
            elif self._position_closed(name):
                node.status, node.reason = "skipped", "the position it would close is already closed"
        if self.g.paused or any(n.working or n.status == "pending" for n in nodes.values()):
            return
        statuses = {n.status for n in nodes.values() if n.status != "skipped"}
        if statuses <= {"completed"}:
            self.g.final_status = "completed"
        elif "expired" in statuses:
            self.g.final_status = "expired"
            self.g.reason = self.g.reason or "a node's horizon ran out before its target filled"
        else:
            self.g.final_status = "aborted"
            failed = sorted(n.id for n in nodes.values() if n.status in ("cancelled", "rejected"))
            self.g.reason = self.g.reason or f"node(s) {', '.join(failed)} did not complete"

    def _position_closed(self, name: str) -> bool:
        """A pending exit whose source is done and whose siblings closed all it filled."""
        sources = {self.spec.edges[i].from_ for i in self.incoming[name]}
        if len(sources) != 1:
            return False
        (source,) = sources
        src = self.g.nodes[source]
        if src.status in ("pending", "active", "partial_fill"):
            return False
        exits = self._exits_of(source)
        if self.g.nodes[name] not in exits:
            return False
        return sum(n.filled_1e8 for n in exits) >= src.filled_1e8
