# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The paper OMS: one Account per deployment, matching against the edge's market-data books.

Orders (abi.py ORDER_*), all in 1e8 fixed point:
  limit      takes what crosses (walking the opposite side's depth, each level at its price, up
             to the limit), rests the remainder
  market     walks the opposite side for its quantity; the unfilled remainder is refused with
             NO_LIQUIDITY (after the fills)
  ioc        like limit but never rests: the remainder expires (the last fill carries FINAL)
  post_only  refused with WOULD_CROSS when its price reaches the opposite best, else rests

Resting orders fill by a queue model (docs/operations.md, "Fill model": the queue ahead is the
level's quantity when the order starts resting; decreases consume it first, then fill the order;
trading through fills the rest; a touch offers its quantity). In mode live (`venue_routed`)
accepted orders are not matched here: the venue's fills come back through venue_fill.

Accounting: signed position and average entry price per symbol; realized PnL on reducing
fills (fees included); unrealized PnL marked to mid on every book update of the symbol; maker
and taker fees in bps of notional (negative = rebate). Everything the algo can see is written
straight into its AlgoState (`st`), which the host copies into the algo's memory before every
callback; fills and rejects wait in `events` until the edge loop delivers them.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memmove, memset

from sequence_edge.algo.abi cimport (
    SEQ_ACTION_AMEND,
    SEQ_ACTION_CANCEL,
    SEQ_ACTION_CANCEL_ALL,
    SEQ_ACTION_PLACE,
    SEQ_FILL_FINAL,
    SEQ_FILL_MAKER,
    SEQ_MAX_OPEN_ORDERS,
    SEQ_ORDER_IOC,
    SEQ_ORDER_LIMIT,
    SEQ_ORDER_MARKET,
    SEQ_ORDER_POST_ONLY,
    SEQ_SIDE_BUY,
    SEQ_SIDE_SELL,
)
from sequence_edge.algo.host cimport SLOT_RUNNING
from sequence_edge.orders.idset cimport idset_add, idset_contains, idset_free, idset_init
from sequence_edge.orders.jlog cimport JEV_ACCEPT, JEV_AMEND, JEV_CANCEL, JEV_FILL, JEV_REJECT, jlog_add
from sequence_edge.orders.risk cimport (
    R_BOOK_STALE,
    R_DUPLICATE_ID,
    R_INVALID_ACTION,
    R_KILL_SWITCH,
    R_MAX_OPEN_ORDERS,
    R_NO_LIQUIDITY,
    R_NOT_RUNNING,
    R_OK,
    R_UNKNOWN_ORDER,
    R_UNKNOWN_SYMBOL,
    R_VENUE_REJECT,
    R_WOULD_CROSS,
    check_order,
    limits_from_dict,
    loss_exceeded,
    risk_order_t,
    trip,
)
from sequence_edge.orders.trace cimport (
    EV_ACK,
    EV_AMEND,
    EV_CANCEL,
    EV_EXPIRE,
    EV_FILL,
    EV_REJECT,
    EV_RISK,
    EV_SUBMIT,
    EV_TICK,
    OS_CANCELLED,
    OS_EXPIRED,
    OS_FILLED,
    OS_OPEN,
    OS_REJECTED,
    trace_rec_t,
)
from sequence_edge.util cimport (
    FIXED, HIST_BUCKETS, hist_quantile, hist_record, hist_upper, muldiv, now_ns, smuldiv, wavg,
)

from sequence_edge.algo import abi
from sequence_edge.orders.trace import format_ref

cdef uint32_t NO_BOOK = 0xFFFFFFFF


cdef inline uint64_t remaining(const order_t* o) noexcept nogil:
    return o.qty_1e8 - o.filled_1e8


cdef class Account:
    """A deployment's orders, positions, PnL and risk state on this edge (see the module doc)."""

    def __cinit__(self):
        cdef bint ids_ok = idset_init(&self.ids)
        self.events = <algo_event_t*>calloc(EVENT_CAP, sizeof(algo_event_t))
        if not ids_ok or self.events == NULL:
            raise MemoryError()
        self.st = &self.own_state
        self.detached_running = True
        self.routed = []

    def __dealloc__(self):
        free(self.jlog.ev)
        idset_free(&self.ids)
        free(self.events)

    def __init__(self, str deployment_id, symbols, books, book_ids, TraceStore traces, *, int serial,
                 risk=None, double maker_fee_bps=0.0, double taker_fee_bps=0.0):
        """`books` / `book_ids`: the Book and its edge-wide index for each of `symbols`, in order."""
        if not 1 <= len(symbols) <= 16 or len(books) != len(symbols) or len(book_ids) != len(symbols):
            raise ValueError("an account needs 1..16 symbols, each with its book and book index")
        if serial < 1:
            raise ValueError("account serials start at 1")
        self.deployment_id = deployment_id
        self.serial = serial
        self.symbols = tuple(symbols)
        self.books = [<Book?>b for b in books]
        self.n_symbols = len(symbols)
        for i, b in enumerate(book_ids):
            self.book_ids[i] = b
        self.traces = traces
        traces.name_account(serial, deployment_id)
        self.maker_fee_bps = maker_fee_bps
        self.taker_fee_bps = taker_fee_bps
        self.set_limits(risk or {})
        self.own_state.symbol_count = self.n_symbols
        self.own_state.next_id = 1

    # ------------------------------------------------------------------ wiring

    def set_limits(self, dict risk) -> None:
        """New limits (natural units); a new push also resets the kill switch and the rate bucket."""
        limits_from_dict(&self.limits, risk)
        memset(&self.risk, 0, sizeof(self.risk))

    def attach(self, AlgoInstance instance) -> None:
        """Trade for `instance` (same symbols, in order): its AlgoState becomes the mirror."""
        attach_instance(self, instance)

    def check_resymbol(self, symbols) -> None:
        """Raise ValueError if the account cannot drop the symbols missing from `symbols`."""
        check_dropped_symbols(self, symbols)

    def resymbol(self, symbols, books, book_ids) -> None:
        """A re-push changed the symbol list: resting orders on dropped symbols are cancelled and
        everything else is re-indexed (positions in dropped symbols must be flat)."""
        resymbol_account(self, list(symbols), books, book_ids)

    def detach(self) -> None:
        """Stop trading for the instance (it is being removed); keep a copy of the state."""
        if self.st != &self.own_state:
            self.own_state = self.st[0]
            self.st = &self.own_state
        self.instance = None
        self.detached_running = False

    cdef bint is_running(self) noexcept:
        if self.instance is None:
            return self.detached_running
        return self.instance.slot.state == SLOT_RUNNING

    # ------------------------------------------------------------------ actions

    cdef void handle(self, const seq_action_t* a) noexcept:
        if a.kind == SEQ_ACTION_PLACE:
            self._place(a)
        elif self.risk.killed or (self.halted and a.kind == SEQ_ACTION_AMEND):
            self._reject(a.order_id, R_KILL_SWITCH, a.symbol_idx, a.kind, 0)
        elif a.kind == SEQ_ACTION_CANCEL:
            self._cancel(a)
        elif a.kind == SEQ_ACTION_CANCEL_ALL:
            self._cancel_all(a)
        elif a.kind == SEQ_ACTION_AMEND:
            self._amend(a)
        else:
            self._reject(a.order_id, R_INVALID_ACTION, a.symbol_idx, a.kind, 0)

    cdef void _place(self, const seq_action_t* a) noexcept:
        cdef uint64_t t_submit = now_ns()
        cdef uint16_t sym = a.symbol_idx
        cdef uint32_t book_id = self.book_ids[sym] if sym < self.n_symbols else NO_BOOK
        cdef trace_rec_t* rec = self.traces.new_order(self.serial, book_id, a.order_id, a.side,
                                                      a.order_type, a.px_1e8, a.qty_1e8)
        cdef uint32_t ref = rec.ref
        cdef uint32_t reason = R_OK
        cdef Book book = None
        cdef risk_order_t ro
        cdef order_t o
        cdef uint64_t t, arrival_mid = 0
        cdef uint32_t i
        if sym < self.n_symbols and not (<Book>self.books[sym]).stale:
            arrival_mid = self._mid(<Book>self.books[sym])  # the tick event carries it: slippage (TCA)
        self.traces.event(ref, EV_TICK, self.tick_ns, arrival_mid, 0, 0)
        self.traces.event(ref, EV_SUBMIT, t_submit, a.px_1e8, a.qty_1e8, 0)
        if (a.side != SEQ_SIDE_BUY and a.side != SEQ_SIDE_SELL) or a.order_type > SEQ_ORDER_POST_ONLY \
                or a.qty_1e8 == 0 or a.order_id == 0 or (a.px_1e8 == 0 and a.order_type != SEQ_ORDER_MARKET):
            reason = R_INVALID_ACTION
        elif self.risk.killed or self.halted:
            reason = R_KILL_SWITCH
        elif sym >= self.n_symbols:
            reason = R_UNKNOWN_SYMBOL
        elif not self.is_running():
            reason = R_NOT_RUNNING
        elif idset_contains(&self.ids, a.order_id) or self._find(a.order_id) >= 0:
            reason = R_DUPLICATE_ID
        if reason == R_OK:
            idset_add(&self.ids, a.order_id)
            book = <Book>self.books[sym]
            if book.stale:
                reason = R_BOOK_STALE
        if reason == R_OK:
            ro.side = a.side
            ro.rests = a.order_type == SEQ_ORDER_LIMIT or a.order_type == SEQ_ORDER_POST_ONLY
            ro.qty_1e8 = ro.order_qty_1e8 = a.qty_1e8
            ro.px_1e8 = a.px_1e8 if a.order_type != SEQ_ORDER_MARKET else \
                self._worst_px(book, a.side, a.qty_1e8)
            if ro.px_1e8 == 0:
                reason = R_NO_LIQUIDITY    # a market order against an empty side
            elif self.venue_routed and self.n_open >= MAX_OPEN:
                reason = R_MAX_OPEN_ORDERS  # routed orders of every type wait here for the venue
        if reason == R_OK:
            ro.mid_1e8 = self._mid(book)
            ro.position_1e8 = self.st.positions[sym].qty_1e8
            ro.open_buy_1e8 = ro.open_sell_1e8 = 0
            for i in range(self.n_open):
                if self.orders[i].symbol_idx == sym:
                    if self.orders[i].side == SEQ_SIDE_BUY:
                        ro.open_buy_1e8 += remaining(&self.orders[i])
                    else:
                        ro.open_sell_1e8 += remaining(&self.orders[i])
            ro.open_orders = self.n_open
            ro.pnl_1e8 = self.st.realized_pnl_1e8 + self.st.unrealized_pnl_1e8
            ro.now_ns = t_submit
            reason = check_order(&self.limits, &self.risk, &ro)
            if self.risk.killed:
                self._trip()
        if reason == R_OK:
            self.traces.event(ref, EV_RISK, now_ns(), 0, 0, 0)
            if a.order_type == SEQ_ORDER_POST_ONLY and (
                    (a.side == SEQ_SIDE_BUY and book.best_ask() and a.px_1e8 >= book.best_ask()) or
                    (a.side == SEQ_SIDE_SELL and book.best_bid() and a.px_1e8 <= book.best_bid())):
                reason = R_WOULD_CROSS
        if reason != R_OK:
            self.traces.set_state(ref, OS_REJECTED, 0)
            self._reject(a.order_id, reason, sym, SEQ_ACTION_PLACE, ref)
            return
        # accepted
        t = now_ns()
        self.traces.event(ref, EV_ACK, t, 0, 0, 0)
        jlog_add(&self.jlog, JEV_ACCEPT, ref, a.order_id, sym, a.side << 6 | a.order_type, a.px_1e8, a.qty_1e8, 0, t)
        if self.tick_from_book and t >= self.tick_ns:
            hist_record(&self.tick_to_order, t - self.tick_ns)
        self.n_orders += 1
        memset(&o, 0, sizeof(o))
        o.client_id = a.order_id
        o.px_1e8 = a.px_1e8
        o.qty_1e8 = a.qty_1e8
        o.ref = ref
        o.symbol_idx = sym
        o.side = a.side
        o.order_type = a.order_type
        if self.venue_routed:              # the venue matches it; its fills come back (venue_fill)
            self._rest(&o)
            self.routed.append((SEQ_ACTION_PLACE, a.order_id, sym, a.side, a.order_type, a.px_1e8, a.qty_1e8))
            return
        if a.order_type != SEQ_ORDER_POST_ONLY:
            self._take(&o, a.order_type != SEQ_ORDER_MARKET)
        if o.filled_1e8 == o.qty_1e8:
            self.traces.set_state(ref, OS_FILLED, o.filled_1e8)
        elif a.order_type == SEQ_ORDER_LIMIT or a.order_type == SEQ_ORDER_POST_ONLY:
            self._rest(&o)
        elif a.order_type == SEQ_ORDER_IOC:
            self._finalize_last_fill(o.client_id)
            self.traces.event(ref, EV_EXPIRE, now_ns(), 0, remaining(&o), 0)
            self.traces.set_state(ref, OS_EXPIRED, o.filled_1e8)
        else:  # market: the remainder is refused
            self._finalize_last_fill(o.client_id)
            self.traces.set_state(ref, OS_EXPIRED if o.filled_1e8 else OS_REJECTED, o.filled_1e8)
            self._reject(o.client_id, R_NO_LIQUIDITY, sym, SEQ_ACTION_PLACE, ref)

    cdef void _cancel(self, const seq_action_t* a) noexcept:
        cdef int i = self._find(a.order_id)
        cdef order_t* o
        if i < 0:
            self._reject(a.order_id, R_UNKNOWN_ORDER, a.symbol_idx, SEQ_ACTION_CANCEL, 0)
            return
        o = &self.orders[i]
        self.traces.event(o.ref, EV_CANCEL, now_ns(), 0, remaining(o), 0)
        self.traces.set_state(o.ref, OS_CANCELLED, o.filled_1e8)
        jlog_add(&self.jlog, JEV_CANCEL, o.ref, o.client_id, o.symbol_idx, 0, o.px_1e8, remaining(o), 0, now_ns())
        self.n_cancels += 1
        if self.venue_routed:
            self.routed.append((SEQ_ACTION_CANCEL, o.client_id, o.symbol_idx, o.side, o.order_type, 0, 0))
        self._remove(i)
        self._mirror_orders()

    cdef void _cancel_all(self, const seq_action_t* a) noexcept:
        if a.symbol_idx != ALL_SYMBOLS and a.symbol_idx >= self.n_symbols:
            self._reject(0, R_UNKNOWN_SYMBOL, a.symbol_idx, SEQ_ACTION_CANCEL_ALL, 0)
            return
        self.n_cancels += self.cancel_resting(a.symbol_idx)

    cdef uint32_t cancel_resting(self, uint16_t sym) noexcept:
        """Cancel every resting order on `sym` (ALL_SYMBOLS: all); returns how many."""
        cdef uint32_t i = 0, n = 0
        cdef uint64_t t = now_ns()
        cdef order_t* o
        while i < self.n_open:
            o = &self.orders[i]
            if sym == ALL_SYMBOLS or o.symbol_idx == sym:
                self.traces.event(o.ref, EV_CANCEL, t, 0, remaining(o), 0)
                self.traces.set_state(o.ref, OS_CANCELLED, o.filled_1e8)
                jlog_add(&self.jlog, JEV_CANCEL, o.ref, o.client_id, o.symbol_idx, 0, o.px_1e8, remaining(o), 0, t)
                if self.venue_routed:
                    self.routed.append((SEQ_ACTION_CANCEL, o.client_id, o.symbol_idx, o.side, o.order_type, 0, 0))
                self._remove(i)
                n += 1
            else:
                i += 1
        if n:
            self._mirror_orders()
        return n

    cdef void _amend(self, const seq_action_t* a) noexcept:
        cdef int i = self._find(a.order_id)
        cdef order_t* o
        cdef Book book
        cdef risk_order_t ro
        cdef uint32_t reason = R_OK
        cdef uint64_t own_qty
        cdef uint16_t sym
        cdef uint32_t j
        if i < 0:
            self._reject(a.order_id, R_UNKNOWN_ORDER, a.symbol_idx, SEQ_ACTION_AMEND, 0)
            return
        o = &self.orders[i]
        book = <Book>self.books[o.symbol_idx]
        if self.venue_routed:               # not routed yet: the algo cancels and places instead
            self._reject(a.order_id, R_INVALID_ACTION, o.symbol_idx, SEQ_ACTION_AMEND, 0)
            return
        if a.px_1e8 == 0 or a.qty_1e8 <= o.filled_1e8:
            reason = R_INVALID_ACTION
        elif not self.is_running():
            reason = R_NOT_RUNNING
        elif book.stale:
            reason = R_BOOK_STALE
        else:
            ro.side = o.side
            ro.rests = False              # already counted as resting
            ro.qty_1e8 = a.qty_1e8 - o.filled_1e8   # what can still execute (position)
            ro.order_qty_1e8 = a.qty_1e8            # the order's size (order qty, notional)
            ro.px_1e8 = a.px_1e8
            ro.mid_1e8 = self._mid(book)
            ro.position_1e8 = self.st.positions[o.symbol_idx].qty_1e8
            ro.open_buy_1e8 = ro.open_sell_1e8 = 0
            for j in range(self.n_open):
                if <int>j != i and self.orders[j].symbol_idx == o.symbol_idx:
                    if self.orders[j].side == SEQ_SIDE_BUY:
                        ro.open_buy_1e8 += remaining(&self.orders[j])
                    else:
                        ro.open_sell_1e8 += remaining(&self.orders[j])
            ro.open_orders = self.n_open
            ro.pnl_1e8 = self.st.realized_pnl_1e8 + self.st.unrealized_pnl_1e8
            ro.now_ns = now_ns()
            reason = check_order(&self.limits, &self.risk, &ro)
            if self.risk.killed:           # MAX_LOSS just tripped it: o was cancelled with the rest
                sym = o.symbol_idx
                self._trip()
                self._reject(a.order_id, reason, sym, SEQ_ACTION_AMEND, 0)
                return
            if reason == R_OK and o.order_type == SEQ_ORDER_POST_ONLY and (
                    (o.side == SEQ_SIDE_BUY and book.best_ask() and a.px_1e8 >= book.best_ask()) or
                    (o.side == SEQ_SIDE_SELL and book.best_bid() and a.px_1e8 <= book.best_bid())):
                reason = R_WOULD_CROSS
        if reason != R_OK:
            self.traces.event(o.ref, EV_REJECT, now_ns(), 0, 0, reason)
            self._reject(a.order_id, reason, o.symbol_idx, SEQ_ACTION_AMEND, 0)
            return
        self.n_amends += 1
        self.traces.event(o.ref, EV_AMEND, now_ns(), a.px_1e8, a.qty_1e8, 0)
        jlog_add(&self.jlog, JEV_AMEND, o.ref, o.client_id, o.symbol_idx, 0, a.px_1e8, a.qty_1e8, 0, now_ns())
        own_qty = book.bid_qty_at(a.px_1e8) if o.side == SEQ_SIDE_BUY else book.ask_qty_at(a.px_1e8)
        if a.px_1e8 != o.px_1e8:
            o.px_1e8 = a.px_1e8
            o.qty_1e8 = a.qty_1e8
            o.queue_1e8 = own_qty          # new price: back of that level's queue
            self._take(o, True)
        else:
            if a.qty_1e8 > o.qty_1e8:
                o.queue_1e8 = own_qty      # size up: loses priority
            o.qty_1e8 = a.qty_1e8          # size down keeps it
        if o.filled_1e8 >= o.qty_1e8:
            self.traces.set_state(o.ref, OS_FILLED, o.filled_1e8)
            self._remove(i)
        self._mirror_orders()

    # ------------------------------------------------------------------ matching

    cdef uint64_t _take(self, order_t* o, bint limited) noexcept:
        """Walk the opposite side for o's remainder (up to its price when `limited`)."""
        cdef Book book = <Book>self.books[o.symbol_idx]
        cdef uint8_t opp = SEQ_SIDE_SELL if o.side == SEQ_SIDE_BUY else SEQ_SIDE_BUY
        cdef uint64_t px, qty, take, taken = 0
        cdef uint64_t t = 0
        cdef int i = 0
        while o.filled_1e8 < o.qty_1e8 and book.level(opp, i, &px, &qty) == 0:
            if limited and ((o.side == SEQ_SIDE_BUY and px > o.px_1e8) or
                            (o.side == SEQ_SIDE_SELL and px < o.px_1e8)):
                break
            take = remaining(o) if remaining(o) < qty else qty
            if t == 0:
                t = now_ns()
            self._fill(o, px, take, False, t)
            taken += take
            i += 1
        return taken

    cdef void level_change(self, uint16_t sym, uint8_t side, uint64_t px, uint64_t old_qty,
                           uint64_t new_qty) noexcept:
        """The venue's quantity at (side, px) went from old_qty to new_qty (before matching)."""
        cdef uint64_t gone, reach, fill
        cdef uint32_t i = 0
        cdef order_t* o
        cdef bint changed = False
        if new_qty >= old_qty or self.venue_routed:
            return
        gone = old_qty - new_qty
        while i < self.n_open:
            o = &self.orders[i]
            if o.symbol_idx != sym or o.side != side or o.px_1e8 != px:
                i += 1
                continue
            if o.queue_1e8 >= gone:
                o.queue_1e8 -= gone
                i += 1
                continue
            reach = gone - o.queue_1e8          # the part of the decrease that reached this order
            o.queue_1e8 = 0
            fill = remaining(o) if remaining(o) < reach else reach
            self._fill(o, px, fill, True, now_ns())
            changed = True
            if o.filled_1e8 == o.qty_1e8:
                self.traces.set_state(o.ref, OS_FILLED, o.filled_1e8)
                self._remove(i)
            else:
                i += 1
        if changed:
            self._mirror_orders()

    cdef void match_resting(self, uint16_t sym) noexcept:
        """Fill resting orders on `sym` that the opposite side trades through or touches."""
        cdef Book book
        cdef uint64_t best_bid, best_ask, opp_qty, fill
        cdef uint32_t i = 0
        cdef order_t* o
        cdef bint through, touch, changed = False
        if self.open_on[sym] == 0 or self.venue_routed:
            return
        book = <Book>self.books[sym]
        if book.stale:
            return
        best_bid = book.best_bid()
        best_ask = book.best_ask()
        while i < self.n_open:
            o = &self.orders[i]
            if o.symbol_idx != sym:
                i += 1
                continue
            if o.side == SEQ_SIDE_BUY:
                through = best_ask != 0 and best_ask < o.px_1e8
                touch = best_ask == o.px_1e8
                opp_qty = book.ask_qty_at(o.px_1e8) if touch else 0
            else:
                through = best_bid != 0 and best_bid > o.px_1e8
                touch = best_bid == o.px_1e8
                opp_qty = book.bid_qty_at(o.px_1e8) if touch else 0
            fill = 0
            if through:
                fill = remaining(o)
            elif touch:
                if opp_qty > o.queue_1e8:
                    fill = opp_qty - o.queue_1e8
                    if fill > remaining(o):
                        fill = remaining(o)
                    o.queue_1e8 = 0
                else:
                    o.queue_1e8 -= opp_qty
            if fill:
                self._fill(o, o.px_1e8, fill, True, now_ns())
                changed = True
            if o.filled_1e8 == o.qty_1e8:
                self.traces.set_state(o.ref, OS_FILLED, o.filled_1e8)
                self._remove(i)
            else:
                i += 1
        if changed:
            self._mirror_orders()

    cdef void after_snapshot(self, uint16_t sym) noexcept:
        """A snapshot replaced the book: the queue ahead can only have shrunk to the level's size."""
        cdef Book book = <Book>self.books[sym]
        cdef uint32_t i
        cdef uint64_t level
        cdef order_t* o
        for i in range(self.n_open):
            o = &self.orders[i]
            if o.symbol_idx == sym:
                level = book.bid_qty_at(o.px_1e8) if o.side == SEQ_SIDE_BUY else book.ask_qty_at(o.px_1e8)
                if level < o.queue_1e8:
                    o.queue_1e8 = level
        self.match_resting(sym)

    cdef void _fill(self, order_t* o, uint64_t px, uint64_t qty, bint maker, uint64_t ts) noexcept:
        cdef uint64_t notional = muldiv(px, qty, FIXED)
        cdef double bps = self.maker_fee_bps if maker else self.taker_fee_bps
        cdef int64_t fee = <int64_t>(<double>notional * bps * 1e-4 + (0.5 if bps >= 0 else -0.5))
        cdef algo_event_t ev
        if qty == 0:
            return
        self._position(o.symbol_idx, o.side, px, qty)
        self.st.fees_1e8 += fee
        self.st.realized_pnl_1e8 -= fee
        o.filled_1e8 += qty
        self.n_fills += 1
        self.volume_1e8 += qty
        self.notional_1e8 += notional
        memset(&ev, 0, sizeof(ev))
        ev.kind = EVK_FILL
        ev.fill.order_id = o.client_id
        ev.fill.px_1e8 = px
        ev.fill.qty_1e8 = qty
        ev.fill.fee_1e8 = fee
        ev.fill.ts_ns = ts
        ev.fill.symbol_idx = o.symbol_idx
        ev.fill.side = o.side
        ev.fill.flags = (SEQ_FILL_MAKER if maker else 0) | (SEQ_FILL_FINAL if o.filled_1e8 == o.qty_1e8 else 0)
        self._push(&ev)
        self.traces.event(o.ref, EV_FILL, ts, px, qty, ev.fill.flags)
        jlog_add(&self.jlog, JEV_FILL, o.ref, o.client_id, o.symbol_idx, o.side << 6 | ev.fill.flags, px, qty, fee, ts)
        self.traces.set_state(o.ref, OS_OPEN, o.filled_1e8)
        # PnL only: the kill switch is checked by mark() once matching is over (it cancels orders,
        # which must not happen under a caller iterating over them) and by the next order's risk check
        self._mark_pnl(o.symbol_idx)

    cdef void _finalize_last_fill(self, uint64_t client_id) noexcept:
        """An IOC / market order is done: its last fill (if any, still queued) carries FINAL."""
        cdef algo_event_t* ev
        if self.ev_count == 0:
            return
        ev = &self.events[(self.ev_head + self.ev_count - 1) % EVENT_CAP]
        if ev.kind == EVK_FILL and ev.fill.order_id == client_id:
            ev.fill.flags |= SEQ_FILL_FINAL

    cdef void _position(self, uint16_t sym, uint8_t side, uint64_t px, uint64_t qty) noexcept:
        cdef int64_t pos = self.st.positions[sym].qty_1e8
        cdef uint64_t avg = self.st.positions[sym].avg_px_1e8
        cdef int64_t delta = <int64_t>qty if side == SEQ_SIDE_BUY else -<int64_t>qty
        cdef int64_t new_pos = pos + delta
        cdef uint64_t held, close
        if pos == 0 or (pos > 0) == (delta > 0):
            held = <uint64_t>(pos if pos > 0 else -pos)
            avg = wavg(held, avg, qty, px)
        else:
            held = <uint64_t>(pos if pos > 0 else -pos)
            close = held if held < qty else qty
            if pos > 0:
                self.st.realized_pnl_1e8 += smuldiv(<int64_t>px - <int64_t>avg, <int64_t>close, FIXED)
            else:
                self.st.realized_pnl_1e8 += smuldiv(<int64_t>avg - <int64_t>px, <int64_t>close, FIXED)
            if new_pos == 0:
                avg = 0
            elif (new_pos > 0) != (pos > 0):
                avg = px                   # flipped: the rest opened a new position at px
        self.st.positions[sym].qty_1e8 = new_pos
        self.st.positions[sym].avg_px_1e8 = avg

    cdef void mark(self, uint16_t sym) noexcept:
        """Unrealized PnL of `sym` at the book's mid; trips the kill switch past max_loss."""
        cdef int64_t pnl
        self._mark_pnl(sym)
        pnl = self.st.realized_pnl_1e8 + self.st.unrealized_pnl_1e8
        if not self.risk.killed and loss_exceeded(&self.limits, pnl):
            trip(&self.risk, pnl, now_ns())
            self._trip()

    cdef void _mark_pnl(self, uint16_t sym) noexcept:
        cdef int64_t pos = self.st.positions[sym].qty_1e8
        cdef uint64_t mid
        cdef int64_t total = 0
        cdef uint16_t i
        if pos != 0:
            mid = self._mid(<Book>self.books[sym])
            if mid == 0:
                return
            self.upnl[sym] = smuldiv(<int64_t>mid - <int64_t>self.st.positions[sym].avg_px_1e8, pos, FIXED)
        elif self.upnl[sym] == 0:
            return
        else:
            self.upnl[sym] = 0
        for i in range(self.n_symbols):
            total += self.upnl[i]
        self.st.unrealized_pnl_1e8 = total

    cdef void _trip(self) noexcept:
        """The kill switch tripped: nothing the algo left resting stays in the market."""
        self.jlog.dirty = True
        self.n_cancelled_by_edge += self.cancel_resting(ALL_SYMBOLS)

    # ------------------------------------------------------------------ order book keeping

    cdef void _rest(self, order_t* o) noexcept:
        cdef Book book = <Book>self.books[o.symbol_idx]
        o.queue_1e8 = book.bid_qty_at(o.px_1e8) if o.side == SEQ_SIDE_BUY else book.ask_qty_at(o.px_1e8)
        self.orders[self.n_open] = o[0]
        self.n_open += 1
        self.open_on[o.symbol_idx] += 1
        self.traces.set_state(o.ref, OS_OPEN, o.filled_1e8)
        self._mirror_orders()

    cdef void _remove(self, uint32_t i) noexcept:
        self.open_on[self.orders[i].symbol_idx] -= 1
        memmove(&self.orders[i], &self.orders[i + 1], (self.n_open - i - 1) * sizeof(order_t))
        self.n_open -= 1

    cdef int _find(self, uint64_t client_id) noexcept:
        cdef uint32_t i
        for i in range(self.n_open):
            if self.orders[i].client_id == client_id:
                return i
        return -1

    cdef void _mirror_orders(self) noexcept:
        cdef uint32_t i, n = self.n_open if self.n_open < SEQ_MAX_OPEN_ORDERS else SEQ_MAX_OPEN_ORDERS
        cdef order_t* o
        for i in range(n):
            o = &self.orders[i]
            self.st.open_orders[i].order_id = o.client_id
            self.st.open_orders[i].px_1e8 = o.px_1e8
            self.st.open_orders[i].qty_1e8 = o.qty_1e8
            self.st.open_orders[i].filled_1e8 = o.filled_1e8
            self.st.open_orders[i].symbol_idx = o.symbol_idx
            self.st.open_orders[i].side = o.side
            self.st.open_orders[i].order_type = o.order_type
            self.st.open_orders[i]._pad = 0
        self.st.open_order_count = n

    cdef void _reject(self, uint64_t client_id, uint32_t reason, uint16_t sym, uint8_t kind,
                      uint32_t ref) noexcept:
        cdef algo_event_t ev
        memset(&ev, 0, sizeof(ev))
        ev.kind = EVK_REJECT
        ev.reject.order_id = client_id
        ev.reject.reason = reason
        ev.reject.symbol_idx = sym
        ev.reject.action_kind = kind
        self._push(&ev)
        jlog_add(&self.jlog, JEV_REJECT, ref, client_id, sym, reason, 0, 0, 0, 0)
        self.n_rejects += 1
        self.reject_counts[reason] += 1
        if ref:
            self.traces.event(ref, EV_REJECT, now_ns(), 0, 0, reason)

    cdef void _push(self, algo_event_t* ev) noexcept:
        if self.ev_count == EVENT_CAP:       # nobody delivers: keep the newest
            self.ev_head = (self.ev_head + 1) % EVENT_CAP
            self.ev_count -= 1
            self.events_dropped += 1
        self.events[(self.ev_head + self.ev_count) % EVENT_CAP] = ev[0]
        self.ev_count += 1

    cdef bint pop_event(self, algo_event_t* out) noexcept:
        if self.ev_count == 0:
            return False
        out[0] = self.events[self.ev_head]
        self.ev_head = (self.ev_head + 1) % EVENT_CAP
        self.ev_count -= 1
        return True

    cdef uint64_t _worst_px(self, Book book, uint8_t side, uint64_t qty) noexcept:
        """Price of the deepest opposite level a market order of `qty` reaches (0: side empty)."""
        cdef uint8_t opp = SEQ_SIDE_SELL if side == SEQ_SIDE_BUY else SEQ_SIDE_BUY
        cdef uint64_t px, lvl, seen = 0, worst = 0
        cdef int i = 0
        while seen < qty and book.level(opp, i, &px, &lvl) == 0:
            worst = px
            seen += lvl
            i += 1
        return worst

    cdef uint64_t _mid(self, Book book) noexcept:
        cdef uint64_t bid = book.best_bid()
        cdef uint64_t ask = book.best_ask()
        if bid == 0 or ask == 0:
            return 0
        return bid + (ask - bid) // 2

    # ------------------------------------------------------------------ Python API

    def submit(self, int kind, *, int side=0, int order_type=0, int symbol_idx=0, uint64_t order_id=0,
               uint64_t px_1e8=0, uint64_t qty_1e8=0) -> None:
        """Handle one action as if the algo had emitted it (tests, undeploy leftovers)."""
        submit_action(self, kind, side, order_type, symbol_idx, order_id, px_1e8, qty_1e8)

    def place(self, side: int, order_type: int, order_id: int, px_1e8: int, qty_1e8: int,
              symbol_idx: int = 0) -> None:
        self.submit(abi.ACTION_PLACE, side=side, order_type=order_type, symbol_idx=symbol_idx,
                    order_id=order_id, px_1e8=px_1e8, qty_1e8=qty_1e8)

    def cancel(self, order_id: int) -> None:
        self.submit(abi.ACTION_CANCEL, order_id=order_id)

    def cancel_all(self, symbol_idx: int = ALL_SYMBOLS) -> None:
        self.submit(abi.ACTION_CANCEL_ALL, symbol_idx=symbol_idx)

    def amend(self, order_id: int, px_1e8: int, qty_1e8: int) -> None:
        self.submit(abi.ACTION_AMEND, order_id=order_id, px_1e8=px_1e8, qty_1e8=qty_1e8)

    def cancel_everything(self) -> int:
        """The edge cancels whatever is left resting (undeploy, failure); returns how many."""
        cdef uint32_t n = self.cancel_resting(ALL_SYMBOLS)
        self.n_cancelled_by_edge += n
        return n

    def drain_routed(self) -> list:
        """Mode live: (kind, order_id, symbol_idx, side, order_type, px_1e8, qty_1e8) to route."""
        out, self.routed = self.routed, []
        return out

    def venue_fill(self, uint64_t order_id, uint64_t px_1e8, uint64_t qty_1e8, bint maker, int side=-1,
                   int symbol_idx=-1) -> bool:
        """A fill the venue reported (oms_api.pxi venue_fill)."""
        return venue_fill(self, order_id, px_1e8, qty_1e8, maker, side, symbol_idx)

    def venue_closed(self, uint64_t order_id, bint rejected) -> bool:
        """A refusal or a close by the venue (oms_api.pxi venue_closed)."""
        return venue_closed(self, order_id, rejected)

    def drain_events(self) -> list:
        """Undelivered fills and rejects, oldest first, as ("fill" | "reject", dict)."""
        return drain_as_python(self)

    @property
    def pending_events(self) -> int:
        return self.ev_count

    def open_orders(self) -> list:
        """Resting orders, oldest first."""
        return open_orders_as_python(self)

    def position(self, int symbol_idx = 0) -> tuple:
        """(qty_1e8, avg_px_1e8) of one symbol."""
        if not 0 <= symbol_idx < self.n_symbols:
            raise ValueError(f"symbol_idx {symbol_idx} out of range")
        return (self.st.positions[symbol_idx].qty_1e8, self.st.positions[symbol_idx].avg_px_1e8)

    def pnl(self) -> dict:
        """Realized (fees included), unrealized and fees, 1e8 fixed point."""
        return {"realized_1e8": self.st.realized_pnl_1e8, "unrealized_1e8": self.st.unrealized_pnl_1e8,
                "fees_1e8": self.st.fees_1e8}

    def algo_state_open_orders(self) -> list:
        """The open orders as the algo sees them in AlgoState: (order_id, px, qty, filled)."""
        return [(self.st.open_orders[i].order_id, self.st.open_orders[i].px_1e8,
                 self.st.open_orders[i].qty_1e8, self.st.open_orders[i].filled_1e8)
                for i in range(self.st.open_order_count)]

    @property
    def killed(self) -> bool:
        return self.risk.killed

    def kill_info(self) -> dict | None:
        if not self.risk.killed:
            return None
        return {"pnl": abi.from_fixed(self.risk.killed_pnl_1e8), "ts_ns": self.risk.killed_ns,
                "max_loss": abi.from_fixed(self.limits.max_loss_1e8)}

    def rejects_by_reason(self) -> dict:
        return {abi.REJECT_REASONS[r]: self.reject_counts[r]
                for r in abi.REJECT_REASONS if self.reject_counts[r]}

    def tick_to_order_ns(self, double q) -> int:
        return hist_quantile(&self.tick_to_order, q)

    @property
    def tick_to_order_count(self) -> int:
        return self.tick_to_order.count

    def tick_to_order_buckets(self, bounds_ns) -> tuple:
        """(cumulative counts at each bound, total count, approximate sum in ns) of the tick-to-order
        histogram, for a Prometheus histogram (a bucket counts under the first bound >= its top)."""
        return histogram_buckets(self, bounds_ns)


include "oms_api.pxi"
