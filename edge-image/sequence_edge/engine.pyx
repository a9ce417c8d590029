# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The edge's hot loop: feed records -> books -> resting-order matching -> algos -> risk -> OMS.

`Engine.run(buffer)` walks a batch of feed records in C (no Python frame per record). For each
level update of book B:

  1. the venue quantity at (side, px) before the update is read when some account rests an
     order on B (the queue model needs the decrease);
  2. the book applies the update (a gap or a cross makes it stale: nothing else happens until a
     snapshot);
  3. for every account trading B: queue consumption and trade-through fills of its resting
     orders, mark-to-mid PnL (and the max-loss kill switch), then delivery of those fills to the
     algo (`algo_on_fill`), then `algo_on_book` when the account has an instance, then its
     actions through risk and the paper OMS, then the fills/rejects those produced, and so on
     until nothing is pending (at most MAX_ROUNDS deliveries per update: an algo that answers
     every reject with a new rejected order cannot stall the loop; the rest waits for the next
     update).

Fills and rejects reach the algo through AlgoInstance.on_fill / on_reject, cdef calls straight
into the host's C slot (no Python per fill).
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

from sequence_edge.algo.abi cimport SEQ_SIDE_BUY, seq_action_t
from sequence_edge.market.book cimport BOOK_OK, BOOK_STALE, Book
from sequence_edge.algo.host cimport AlgoInstance
from sequence_edge.orders.oms cimport EVK_FILL, Account, algo_event_t
from sequence_edge.market.records cimport (
    REC_LEVEL,
    REC_SNAP_BEGIN,
    REC_SNAP_END,
    REC_SNAP_LEVEL,
    RecordBuffer,
    feed_rec_t,
)
from sequence_edge.orders.trace cimport TraceStore
from sequence_edge.util cimport HIST_BUCKETS, hist_upper, now_ns

cdef enum:
    MAX_ROUNDS = 64


cdef class _Route:
    """One book and the accounts trading it (with the book's symbol index in each account)."""
    cdef Book book
    cdef list accounts
    cdef uint16_t* syms
    cdef Py_ssize_t n

    def __cinit__(self, Book book):
        self.book = book
        self.accounts = []
        self.syms = NULL
        self.n = 0

    def __dealloc__(self):
        free(self.syms)

    cdef set_accounts(self, list pairs):
        cdef uint16_t* syms = <uint16_t*>malloc((len(pairs) + 1) * sizeof(uint16_t))
        if syms == NULL:
            raise MemoryError()
        for i, (acct, sym) in enumerate(pairs):
            syms[i] = sym
        free(self.syms)
        self.syms = syms
        self.accounts = [acct for acct, _sym in pairs]
        self.n = len(pairs)


cdef class Engine:
    """Books, accounts and the per-record loop of one edge (see the module docstring)."""

    cdef readonly TraceStore traces
    cdef readonly object host              # AlgoHost, or None (no algos: tests, benchmarks)
    cdef list _routes                      # book index -> _Route
    cdef dict _book_index                  # symbol -> book index
    cdef dict _accounts                    # deployment id -> Account
    cdef uint32_t _next_serial
    cdef public double maker_fee_bps
    cdef public double taker_fee_bps
    cdef public bint halted                # the edge's kill switch, given to every new account
    cdef public bint venue_routed          # mode live: new accounts route their orders to the venue
    cdef readonly uint64_t records, applied, stale_events, ignored, snapshots, last_ts_ns
    cdef readonly uint64_t round_limit_hits, delivered_fills, delivered_rejects

    def __init__(self, host=None, *, double maker_fee_bps=0.0, double taker_fee_bps=0.0, trace_salt=None):
        self.host = host
        self.traces = TraceStore(trace_salt)
        self._routes = []
        self._book_index = {}
        self._accounts = {}
        self._next_serial = 1
        self.maker_fee_bps = maker_fee_bps
        self.taker_fee_bps = taker_fee_bps

    # ------------------------------------------------------------------ books and accounts

    def add_book(self, str symbol) -> int:
        """Index of `symbol`'s book, created (stale, waiting for a snapshot) if new."""
        idx = self._book_index.get(symbol)
        if idx is None:
            idx = len(self._routes)
            self._routes.append(_Route(Book(symbol)))
            self._book_index[symbol] = idx
            self.traces.name_book(idx, symbol)
        return idx

    def book(self, str symbol) -> Book:
        return (<_Route>self._routes[self._book_index[symbol]]).book

    def book_at(self, int index) -> Book:
        return (<_Route>self._routes[index]).book

    @property
    def symbols(self) -> list:
        return list(self._book_index)

    def has_book(self, str symbol) -> bool:
        return symbol in self._book_index

    def open_account(self, str deployment_id, symbols, *, risk=None) -> Account:
        """A new account trading `symbols` (books created as needed), detached until attach()."""
        if deployment_id in self._accounts:
            raise ValueError(f"deployment {deployment_id!r} already has an account")
        ids = [self.add_book(s) for s in symbols]
        acct = Account(deployment_id, list(symbols), [self.book_at(i) for i in ids], ids, self.traces,
                       serial=self._next_serial, risk=risk, maker_fee_bps=self.maker_fee_bps,
                       taker_fee_bps=self.taker_fee_bps)
        acct.halted = self.halted
        acct.venue_routed = self.venue_routed
        self._next_serial += 1
        self._accounts[deployment_id] = acct
        self.rebuild_routes()
        return acct

    def account(self, str deployment_id) -> Account:
        return self._accounts[deployment_id]

    def accounts(self) -> list:
        return list(self._accounts.values())

    def resymbol(self, str deployment_id, symbols) -> None:
        """Point an account at a new symbol list (a re-push): see Account.resymbol."""
        cdef Account acct = self._accounts[deployment_id]
        ids = [self.add_book(s) for s in symbols]
        acct.resymbol(list(symbols), [self.book_at(i) for i in ids], ids)
        self.rebuild_routes()

    def close_account(self, str deployment_id) -> Account:
        """Stop routing books to the account; returns it (its traces stay in the store)."""
        acct = self._accounts.pop(deployment_id)
        self.rebuild_routes()
        return acct

    def rebuild_routes(self) -> None:
        wanted = [[] for _ in self._routes]
        for acct in self._accounts.values():
            for sym, symbol in enumerate(acct.symbols):
                wanted[self._book_index[symbol]].append((acct, sym))
        for route, pairs in zip(self._routes, wanted):
            (<_Route>route).set_accounts(pairs)

    # ------------------------------------------------------------------ the loop

    def run(self, RecordBuffer buf, Py_ssize_t start=0, Py_ssize_t count=-1) -> int:
        """Process records [start, start+count) of `buf` (count -1: to the end); returns how many."""
        cdef Py_ssize_t i, end = buf.count if count < 0 else min(buf.count, start + count)
        cdef feed_rec_t* r
        if start < 0 or start > end:
            raise ValueError(f"bad record range start={start} count={count} (buffer has {buf.count})")
        for i in range(start, end):
            r = &buf.recs[i]
            if r.book >= <uint32_t>len(self._routes):
                raise ValueError(f"record {i} names book {r.book}, but the engine has {len(self._routes)}")
            self._record(r)
        return end - start

    cdef void _record(self, feed_rec_t* r) noexcept:
        cdef _Route route = <_Route>self._routes[r.book]
        cdef Book book = route.book
        cdef uint64_t t0 = now_ns()
        self.records += 1
        self.last_ts_ns = r.ts_ns
        if r.kind == REC_LEVEL:
            self._level(route, book, r, t0)
        elif r.kind == REC_SNAP_BEGIN:
            book.clear()
        elif r.kind == REC_SNAP_LEVEL:
            book.set_level_unchecked(r.side, r.px_1e8, r.qty_1e8)
        elif r.kind == REC_SNAP_END:
            book.finish_snapshot(r.seq, r.ts_ns)
            self.snapshots += 1
            if not book.stale:
                self._after_update(route, book, 0, 0, 0, 0, False, True, t0)

    cdef void _level(self, _Route route, Book book, feed_rec_t* r, uint64_t t0) noexcept:
        cdef Py_ssize_t k
        cdef bint resting = False
        cdef uint64_t old_qty = 0
        cdef int rc
        for k in range(route.n):
            if (<Account>route.accounts[k]).open_on[route.syms[k]]:
                resting = True
                break
        if resting:
            old_qty = book.bid_qty_at(r.px_1e8) if r.side == SEQ_SIDE_BUY else book.ask_qty_at(r.px_1e8)
        rc = book.apply_level(r.side, r.px_1e8, r.qty_1e8, r.seq, r.ts_ns)
        if rc != BOOK_OK:
            if rc == BOOK_STALE:
                self.stale_events += 1
            else:
                self.ignored += 1
            return
        self.applied += 1
        self._after_update(route, book, r.side, r.px_1e8, old_qty, r.qty_1e8, resting, False, t0)

    cdef void _after_update(self, _Route route, Book book, uint8_t side, uint64_t px, uint64_t old_qty,
                            uint64_t new_qty, bint resting, bint snapshot, uint64_t t0) noexcept:
        cdef Py_ssize_t k
        cdef Account acct
        cdef uint16_t sym
        cdef AlgoInstance inst
        for k in range(route.n):
            acct = <Account>route.accounts[k]
            sym = route.syms[k]
            acct.tick_ns = t0
            acct.tick_from_book = False
            if snapshot:
                acct.after_snapshot(sym)
            elif resting and acct.open_on[sym]:
                acct.level_change(sym, side, px, old_qty, new_qty)
                acct.match_resting(sym)
            acct.mark(sym)
            if acct.ev_count:
                self._settle(acct)
            inst = acct.instance
            if inst is not None and inst.on_book(book, sym) == 0:
                acct.tick_from_book = True
                self._settle(acct)
                acct.tick_from_book = False

    cdef void _settle(self, Account acct) noexcept:
        """Run the instance's queued actions, deliver fills/rejects, repeat until quiet."""
        cdef AlgoInstance inst
        cdef seq_action_t* acts
        cdef uint32_t i, n
        cdef algo_event_t ev
        cdef int rounds = 0
        while True:
            inst = acct.instance
            if inst is not None:
                n = inst.action_count()
                if n:
                    acts = inst.actions()
                    for i in range(n):
                        acct.handle(&acts[i])
                    inst.consume_actions(n)
            if inst is None or acct.ev_count == 0:
                return
            if rounds == MAX_ROUNDS:
                self.round_limit_hits += 1
                return
            rounds += 1
            acct.pop_event(&ev)
            acct.tick_from_book = False
            acct.tick_ns = now_ns()
            self._deliver(acct, &ev)

    cdef void _deliver(self, Account acct, algo_event_t* ev) noexcept:
        cdef AlgoInstance inst = acct.instance
        if inst is None:
            return  # detached (removed meanwhile): nobody to tell
        if ev.kind == EVK_FILL:
            inst.on_fill(&ev.fill)
            self.delivered_fills += 1
        else:
            inst.on_reject(&ev.reject)
            self.delivered_rejects += 1

    # ------------------------------------------------------------------ Python entry points

    def settle(self, str deployment_id) -> None:
        """Process an account's pending actions and events (after start/stop/heartbeat/message)."""
        cdef Account acct = self._accounts[deployment_id]
        acct.tick_ns = now_ns()
        acct.tick_from_book = False
        self._settle(acct)

    def settle_all(self) -> None:
        for deployment_id in list(self._accounts):
            self.settle(deployment_id)

    def apply(self, str symbol, int side, uint64_t px_1e8, uint64_t qty_1e8, uint64_t seq=0,
              ts_ns=None) -> None:
        """One level update through the same path as run() (tests)."""
        cdef feed_rec_t r
        if side not in (1, 2) or px_1e8 == 0:
            raise ValueError("side must be 1 (bid) or 2 (ask) and px_1e8 > 0")
        r.kind = REC_LEVEL
        r.book = self._book_index[symbol]
        r.side = side
        r.px_1e8 = px_1e8
        r.qty_1e8 = qty_1e8
        r.seq = seq
        r.ts_ns = now_ns() if ts_ns is None else ts_ns
        self._record(&r)

    def snapshot(self, str symbol, bids, asks, uint64_t seq=0, ts_ns=None) -> None:
        """Replace a book with (px_1e8, qty_1e8) levels through the same path as run() (tests)."""
        buf = RecordBuffer(len(bids) + len(asks) + 2)
        book = self._book_index[symbol]
        ts = now_ns() if ts_ns is None else ts_ns
        buf.append("snapshot_begin", book, ts_ns=ts)
        for px, qty in bids:
            buf.append("snapshot_level", book, 1, px, qty, ts_ns=ts)
        for px, qty in asks:
            buf.append("snapshot_level", book, 2, px, qty, ts_ns=ts)
        buf.append("snapshot_end", book, seq=seq, ts_ns=ts)
        self.run(buf)

    def stats(self) -> dict:
        return {"records": self.records, "applied": self.applied, "stale_events": self.stale_events,
                "ignored": self.ignored, "snapshots": self.snapshots, "last_ts_ns": self.last_ts_ns,
                "round_limit_hits": self.round_limit_hits, "delivered_fills": self.delivered_fills,
                "delivered_rejects": self.delivered_rejects}


def callback_histogram(AlgoInstance inst, bounds_ns) -> tuple:
    """(cumulative counts at each bound, total count, approximate sum in ns) of an instance's
    callback latency histogram (util.pxd hist_t: exact below 16 ns, then 8 buckets per
    power of two), for a Prometheus histogram. A bucket counts under the first bound >= its top."""
    cdef uint32_t i
    cdef uint64_t top, n
    cdef double total = 0.0
    bounds = [int(b) for b in bounds_ns]
    counts = [0] * len(bounds)
    for i in range(HIST_BUCKETS):
        n = inst.slot.latency.buckets[i]
        if n == 0:
            continue
        top = hist_upper(i)
        total += n * (top - (top - (hist_upper(i - 1) if i else 0)) / 2.0)
        for j, b in enumerate(bounds):
            if top <= b:
                counts[j] += n
    return counts, inst.slot.latency.count, total
