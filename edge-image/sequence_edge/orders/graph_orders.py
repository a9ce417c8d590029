"""Execution-graph orders on an edge: the coordinator's graph engine trading through this edge's OMS.

The coordinator sends ORDER frames over the mesh connection (sequence_wire.mesh); each one goes
into one paper-OMS account per edge, named `:graphs` (a name no deployment can have), through the
same pre-trade risk as an algorithm's orders, with the edge's graph limits (`--graph-risk`,
default: no extra limit beyond the OMS's own). Every outcome goes back as ORDER_EVENTS:

  ack     the OMS accepted the order (sent before any fill of it)
  fill    qty_1e8 at price_1e8, with the order's cumulative filled quantity
  cancel  the order is closed with cum_filled_1e8 filled: cancelled on request, the unfilled rest
          of an IOC or market order, or cancelled by the edge (the account's kill switch)
  reject  a refused place (the OMS's reason: RATE_LIMIT, MAX_NOTIONAL, DUPLICATE_ID, ...) or a
          cancel of an order this edge no longer has open (UNKNOWN_ORDER, with cum_filled_1e8)

The OMS key of an order is `order_id_u64(id)`, the 64-bit hash of the graph's client order id,
so a place the coordinator sends again (a retry, a restart) is refused by the OMS with
DUPLICATE_ID and never trades twice. Events produced while no coordinator is connected are kept
(the newest 65,536) and sent first on the next connection. The account's snapshot (ACCOUNT frame: equity, available,
positions) goes to the coordinator on every (re)connection, after every batch of events and at
least once a second while it changes; it is what `require_balance_check` reads.

Paper accounting: equity = `--graph-equity` USD + realized + unrealized PnL of the account;
available = equity - the notional of its resting orders.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sequence_wire import mesh as mp
from sequence_wire.errors import RequestError
from sequence_wire.graphs import order_id_u64

from ..algo import abi

if TYPE_CHECKING:
    from ..edge import Edge
    from .oms import Account

log = logging.getLogger("sequence.edge")

ACCOUNT_ID = ":graphs"  # the OMS account of graph orders (":" keeps it out of deployment ids)
MAX_SYMBOLS = 16  # an OMS account trades at most 16 symbols
MAX_CLOSED = 16384  # closed orders remembered (cum filled for late cancels, ids for the orders API)
MAX_UNSENT = 65536  # events kept while the coordinator is unreachable (the oldest are dropped)
ACCOUNT_EVERY_S = 1.0  # an unchanged-by-events account (marks move) is re-sent at most this often
SIDES = {"buy": abi.SIDE_BUY, "sell": abi.SIDE_SELL}
TYPES = {"gtc": abi.ORDER_LIMIT, "ioc": abi.ORDER_IOC, "post_only": abi.ORDER_POST_ONLY}
FIXED = 100_000_000

Send = Callable[[bytes], bool]  # writes one frame to the coordinator; False when not connected


class SymbolLimit(Exception):
    """The account already trades as many symbols as an OMS account can."""


@dataclass
class GraphOrder:
    id: str
    oms_id: int
    symbol: str
    side: str
    qty_1e8: int
    price_1e8: int | None
    tif: str
    filled_1e8: int = 0
    open: bool = True


class GraphOrders:
    def __init__(
        self, edge: Edge, send: Send, *, equity_usd: float = 100_000.0, risk: dict[str, Any] | None = None
    ) -> None:
        self.edge = edge
        self.send = send
        self.equity_usd = equity_usd
        self.risk = dict(risk or {})
        self.account: Account | None = None
        self.open: dict[str, GraphOrder] = {}
        self.closed: OrderedDict[str, GraphOrder] = OrderedDict()
        self.by_oms_id: dict[int, GraphOrder] = {}
        self.counts = {"orders": 0, "acks": 0, "fills": 0, "cancels": 0, "rejects": 0, "invalid": 0}
        self._events: list[dict[str, Any]] = []
        self._unsent: list[dict[str, Any]] = []  # events no connection took: sent on reconnection
        self.events_dropped = 0
        self._account_sent: dict[str, Any] | None = None
        self._account_at = 0.0

    # ------------------------------------------------------------------ frames in

    def on_order(self, body: dict[str, Any]) -> None:
        """One ORDER frame from the coordinator; its events go back at once."""
        problem = mp.graph_order_problem(body)
        if problem is not None:
            self.counts["invalid"] += 1
            order_id = body.get("id")
            log.warning("graph order refused: %s", problem)
            if isinstance(order_id, str):
                self._event(order_id, "reject", reason=f"INVALID_ORDER: {problem}")
        else:
            try:
                if body["op"] == "place":
                    self._place(body)
                else:
                    self._cancel(body["id"])
            except Exception as exc:  # never leave the coordinator without an answer
                log.exception("graph order %s failed", body["id"])
                order = self.open.get(body["id"])
                if order is not None and body["op"] == "place":
                    self._close(order)
                self._event(body["id"], "reject", reason=f"EDGE_ERROR: {exc}")
        self.flush()

    def _place(self, body: dict[str, Any]) -> None:
        order_id, symbol = body["id"], body["symbol"]
        if order_id in self.open or order_id in self.closed:
            self.counts["rejects"] += 1  # the OMS would refuse it too; its record must stay as it is
            self._event(order_id, "reject", reason="DUPLICATE_ID")
            return
        try:
            account, symbol_idx = self._account_for(symbol)
        except (RequestError, SymbolLimit) as exc:
            self.counts["rejects"] += 1
            self._event(order_id, "reject", reason=f"UNKNOWN_SYMBOL: {exc}")
            return
        price = body["price_1e8"]
        order = GraphOrder(
            order_id, order_id_u64(order_id), symbol, body["side"], body["qty_1e8"], price, body["tif"]
        )
        self.by_oms_id[order.oms_id] = order
        self.open[order_id] = order
        self.counts["orders"] += 1
        order_type = abi.ORDER_MARKET if price is None else TYPES[order.tif]
        self._drain()  # earlier events first, so this order's ack precedes its fills
        account.place(SIDES[order.side], order_type, order.oms_id, price or 0, order.qty_1e8, symbol_idx)
        raw = account.drain_events()
        refused = any(
            kind == "reject" and ev["order_id"] == order.oms_id and ev["action_kind"] == abi.ACTION_PLACE
            for kind, ev in raw
        ) and not any(kind == "fill" and ev["order_id"] == order.oms_id for kind, ev in raw)
        if refused:
            reason = next(
                ev["reason"] for kind, ev in raw if kind == "reject" and ev["order_id"] == order.oms_id
            )
            self._close(order)
            self.counts["rejects"] += 1
            self._event(order_id, "reject", reason=reason)
            raw = [(k, ev) for k, ev in raw if ev["order_id"] != order.oms_id]
        else:
            self.counts["acks"] += 1
            self._event(order_id, "ack")
        self._handle(raw)
        if order.open and not refused:
            self._reconcile({order.oms_id})

    def _cancel(self, order_id: str) -> None:
        order = self.open.get(order_id)
        if order is None:
            done = self.closed.get(order_id)
            self._event(
                order_id, "reject", reason="UNKNOWN_ORDER", cum_filled_1e8=done.filled_1e8 if done else 0
            )
            return
        assert self.account is not None
        self._drain()
        self.account.cancel(order.oms_id)
        self._handle(self.account.drain_events())  # an UNKNOWN_ORDER reject: the reconcile closes it
        if order.open:
            self._close(order)
            self.counts["cancels"] += 1
            self._event(order_id, "cancel", cum_filled_1e8=order.filled_1e8)

    # ------------------------------------------------------------------ the edge loop

    def poll(self) -> None:
        """After each edge step: fills of resting orders, orders the edge closed, the account."""
        if self.account is None:
            return
        if self.account.pending_events:
            self._drain()
        if self.account.n_open != len(self.open):
            self._reconcile(None)
        self.flush()
        if time.monotonic() - self._account_at >= ACCOUNT_EVERY_S:
            self.send_account()

    def flush(self) -> None:
        if self._events:
            events, self._events = self._events, []
            if not self.send(mp.order_events_frame(events)):
                self._keep_unsent(events)
            self.send_account()

    def _keep_unsent(self, events: list[dict[str, Any]]) -> None:
        """No coordinator: these never left, so sending them later cannot count anything twice."""
        self._unsent.extend(events)
        if len(self._unsent) > MAX_UNSENT:
            self.events_dropped += len(self._unsent) - MAX_UNSENT
            del self._unsent[: len(self._unsent) - MAX_UNSENT]

    def send_account(self, *, force: bool = False) -> None:
        snapshot = self.snapshot()
        self._account_at = time.monotonic()
        changed = force or snapshot != self._account_sent
        if changed and self.send(mp.json_frame(mp.ACCOUNT, snapshot)):
            self._account_sent = snapshot

    def on_connected(self) -> None:
        """A (re)connection to the coordinator: the events it missed, then the account."""
        if self._unsent:
            unsent, self._unsent = self._unsent, []
            if not self.send(mp.order_events_frame(unsent)):
                self._keep_unsent(unsent)
        self._account_sent = None
        self.send_account(force=True)

    # ------------------------------------------------------------------ internals

    def _account_for(self, symbol: str) -> tuple[Account, int]:
        engine = self.edge.engine
        if not engine.has_book(symbol):
            self.edge.ensure_symbols([symbol])  # RequestError when the feed does not carry it
        if self.account is None:
            self.account = engine.open_account(ACCOUNT_ID, [symbol], risk=self.risk)
            self.account.detached_running = True
        symbols = list(self.account.symbols)
        if symbol not in symbols:
            if len(symbols) >= MAX_SYMBOLS:
                raise SymbolLimit(f"graph orders on this edge already trade {MAX_SYMBOLS} symbols")
            engine.resymbol(ACCOUNT_ID, [*symbols, symbol])
            symbols.append(symbol)
        return self.account, symbols.index(symbol)

    def _drain(self) -> None:
        if self.account is not None and self.account.pending_events:
            self._handle(self.account.drain_events())

    def _handle(self, raw: list[tuple[str, dict[str, Any]]]) -> None:
        for kind, ev in raw:
            order = self.by_oms_id.get(ev["order_id"])
            if order is None or not order.open:
                continue
            if kind == "fill":
                order.filled_1e8 += ev["qty_1e8"]
                self.counts["fills"] += 1
                self._event(
                    order.id,
                    "fill",
                    qty_1e8=ev["qty_1e8"],
                    price_1e8=ev["px_1e8"],
                    cum_filled_1e8=order.filled_1e8,
                )
                if order.filled_1e8 >= order.qty_1e8:
                    self._close(order)

    def _reconcile(self, only: set[int] | None) -> None:
        """Orders the OMS no longer rests are closed: a cancel event for their unfilled rest."""
        assert self.account is not None
        resting = {row["order_id"] for row in self.account.open_orders()}
        for order in list(self.open.values()):
            if order.oms_id in resting or (only is not None and order.oms_id not in only):
                continue
            self._close(order)
            if order.filled_1e8 < order.qty_1e8:
                reason = {"ioc": "IOC_REMAINDER"}.get(order.tif, "CANCELLED_BY_EDGE")
                if order.price_1e8 is None:
                    reason = "NO_LIQUIDITY"
                self.counts["cancels"] += 1
                self._event(order.id, "cancel", reason=reason, cum_filled_1e8=order.filled_1e8)

    def _close(self, order: GraphOrder) -> None:
        order.open = False
        self.open.pop(order.id, None)
        self.closed[order.id] = order
        while len(self.closed) > MAX_CLOSED:
            _, old = self.closed.popitem(last=False)
            self.by_oms_id.pop(old.oms_id, None)

    def _event(self, order_id: str, kind: str, **fields: Any) -> None:
        self._events.append({"id": order_id, "kind": kind, **fields})

    # ------------------------------------------------------------------ views

    def snapshot(self) -> dict[str, Any]:
        """The ACCOUNT frame body (USD and 1e8 fixed point positions)."""
        if self.account is None:
            return {"equity_usd": self.equity_usd, "available_usd": self.equity_usd, "positions_1e8": {}}
        pnl = self.account.pnl()
        equity = self.equity_usd + (pnl["realized_1e8"] + pnl["unrealized_1e8"]) / FIXED
        reserved = sum(
            row["px_1e8"] * (row["qty_1e8"] - row["filled_1e8"]) / FIXED / FIXED
            for row in self.account.open_orders()
        )
        positions = {
            s: self.account.position(i)[0]
            for i, s in enumerate(self.account.symbols)
            if self.account.position(i)[0]
        }
        return {
            "equity_usd": round(equity, 2),
            "available_usd": round(equity - reserved, 2),
            "positions_1e8": positions,
        }

    def status(self) -> dict[str, Any]:
        """For /v1/edge: counts of graph orders and the account."""
        return {
            "account": ACCOUNT_ID,
            "open": len(self.open),
            **self.counts,
            "events_unsent": len(self._unsent),
            "events_dropped": self.events_dropped,
            **self.snapshot(),
        }

    def orders(self, open_only: bool) -> list[dict[str, Any]]:
        """Graph orders as the OMS traced them (newest 500), each with its graph client order id."""
        if self.account is None:
            return []
        if open_only:
            rows = self.account.open_orders()
            for row in rows:
                for key in ("px", "qty", "filled", "queue_ahead"):
                    row[key] = abi.from_fixed(row.pop(f"{key}_1e8"))
        else:
            rows = list(self.edge.engine.traces.orders(self.account.serial))
        for row in rows:
            order = self.by_oms_id.get(row["order_id"])
            row["client_order_id"] = order.id if order is not None else None
        listed: list[dict[str, Any]] = rows
        return listed
