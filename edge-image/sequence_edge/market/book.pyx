# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L2 order book for one symbol, kept in C arrays, updated without the GIL.

Storage. Prices and quantities are uint64 fixed point scaled by 1e8. Each side
is one sorted array of (px, qty) with the BEST level LAST (bids by ascending,
asks by descending price) inside a buffer with free room at both ends.
Market-data updates cluster at the top of the book: the search gallops down
from the top (O(log distance-from-top) comparisons) and an insert or delete
moves only the shorter part of the array, the few levels above it (or, deep in
the book, the levels below it). The full depth is kept (the buffer grows with
realloc); the ABI view is the top 20. A book belongs to one thread: nothing
here locks.

Consistency. `stale` is True for a fresh book, after a sequence gap and after a
crossed book (best bid >= best ask). A stale book ignores updates until a
snapshot (`clear` + `set_level_unchecked`... + `finish_snapshot`) rebuilds it.
The host checks `stale` before every dispatch: an algo never sees a stale book.

Sequence numbers. `seq == 0` marks an unsequenced update (no gap check). A
sequenced update must carry `last_seq + 1`, anything else (a jump forward, a
duplicate or a step back) is a gap: the feed adapter drops updates that a
snapshot already covers before handing them to the book. After a snapshot with
seq 0 (`last_seq == 0`, sequence unknown) the first sequenced update is taken
as the start of the sequence.

Counting. `updates` counts applied updates and snapshots (crossed ones too).

Statistics (OnlineFeatures). EMA of mid, volatility and mid change advance
eagerly, once per applied update or snapshot that leaves the book consistent
(a few float operations in `apply_level`; the mid division only when the best
prices moved). `write_features` only reads them, so any number of algos can
read the same book without moving the statistics. A book that is not two-sided
has no mid: mid, spread and microprice are written as 0.0 (never NaN), the EMA
and volatility hold their values and mid_change_bps is 0.0; the next two-sided
book's return is measured against the last two-sided mid. Imbalances treat a
missing side as quantity 0 (one-sided book: +1 or -1, empty book: 0.0).
ema_mid is 0.0 until the first two-sided book, which seeds it.
"""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.math cimport fabs
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memset

from sequence_edge.algo.abi cimport (
    SEQ_BOOK_RESYNCED,
    SEQ_BOOK_STALE,
    SEQ_MAX_LEVELS,
    seq_features_t,
    seq_l2book_t,
    seq_level_t,
)

BID = 1
ASK = 2
L2BOOK_SIZE = sizeof(seq_l2book_t)
FEATURES_SIZE = sizeof(seq_features_t)
cdef enum:
    RECORD_FIELDS = 5  # apply_many record: side, px_1e8, qty_1e8, seq, ts_ns

# Python-visible return codes of update()/apply_level (same values as book.pxd).
OK = BOOK_OK
STALE = BOOK_STALE
IGNORED = BOOK_IGNORED
INVALID = BOOK_INVALID

cdef double STAT_ALPHA = 0.05        # EMA weight per update (abi.py: ema_mid, volatility_bps)
cdef double FIXED_SCALE = 1e8
cdef int INITIAL_CAPACITY = 64
cdef int TOP_WINDOW = 16           # side_find's first bracket: the top levels, where updates cluster


# ---------------------------------------------------------------- side arrays
# `desc` is a constant at every call site (False for bids, True for asks), so
# each inlined copy compares one way, with no branch on the side.

cdef inline bint precedes(uint64_t a, uint64_t b, bint desc) noexcept nogil:
    """Price `a` sorts before price `b` in a side's array (is further from the top)."""
    return a > b if desc else a < b


cdef inline int side_find(const book_side_t* s, uint64_t px, bint desc) noexcept nogil:
    """Index of the first level that does not precede `px` (s.count if none).

    Gallops down from the best (last) level in doubling steps, starting with
    the top TOP_WINDOW levels where most updates land, then binary-searches the
    bracket without branches: an update k levels from the top costs about
    2*log2(k) comparisons, and a mispredicted branch only when k >= TOP_WINDOW.
    """
    cdef const seq_level_t* lv = s.levels
    cdef int n = s.count
    cdef int lo = 0
    cdef int hi = n
    cdef int step = TOP_WINDOW
    cdef int size, half
    while step <= n and not precedes(lv[n - step].px_1e8, px, desc):
        hi = n - step  # lv[hi] does not precede px: the answer is at or below hi
        step <<= 1
    if step <= n:
        lo = n - step + 1  # lv[lo - 1] precedes px: the answer is above it
    # The levels that precede px form a prefix of [lo, hi); each step keeps the
    # half holding its end with a conditional move, not a branch.
    size = hi - lo
    while size > 1:
        half = size >> 1
        lo = lo + half if precedes(lv[lo + half - 1].px_1e8, px, desc) else lo
        size -= half
    if size == 1:
        lo += precedes(lv[lo].px_1e8, px, desc)
    return lo


cdef bint side_init(book_side_t* s) noexcept nogil:
    s.buf = <seq_level_t*>malloc(INITIAL_CAPACITY * sizeof(seq_level_t))
    s.capacity = INITIAL_CAPACITY if s.buf != NULL else 0
    s.levels = s.buf + s.capacity // 2
    s.count = 0
    return s.buf != NULL


cdef bint side_relocate(book_side_t* s, int capacity) noexcept nogil:
    """Move the levels to the middle of a buffer of `capacity` levels (grown if larger).

    Leaves free room at both ends; False when memory is exhausted.
    """
    cdef int front = s.levels - s.buf
    cdef int new_front = (capacity - s.count) // 2
    cdef seq_level_t* grown
    if capacity != s.capacity:
        grown = <seq_level_t*>realloc(s.buf, capacity * sizeof(seq_level_t))
        if grown == NULL:
            return False
        s.buf = grown
        s.capacity = capacity
    memmove(s.buf + new_front, s.buf + front, s.count * sizeof(seq_level_t))
    s.levels = s.buf + new_front
    return True


cdef inline bint side_make_room(book_side_t* s, bint at_front) noexcept nogil:
    """Ensure a free slot before levels[0] (at_front) or after the best level.

    When that end is full the levels are re-centred, and the buffer doubles
    once it is 3/4 full: O(count), but rare, so amortised O(1) per update.
    """
    cdef int front = s.levels - s.buf
    cdef int back = s.capacity - front - s.count
    if (front if at_front else back) > 0:
        return True
    if (s.count + 1) * 4 > s.capacity * 3:
        return side_relocate(s, s.capacity * 2)
    return side_relocate(s, s.capacity)


cdef inline bint side_insert(book_side_t* s, int i, uint64_t px, uint64_t qty) noexcept nogil:
    """Insert a level at index i, moving whichever part of the array is shorter."""
    cdef bint move_lower = i < s.count - i  # the levels below i are fewer than those above
    if not side_make_room(s, move_lower):
        return False
    if move_lower:
        s.levels -= 1
        memmove(s.levels, s.levels + 1, i * sizeof(seq_level_t))
    else:
        memmove(s.levels + i + 1, s.levels + i, (s.count - i) * sizeof(seq_level_t))
    s.levels[i].px_1e8 = px
    s.levels[i].qty_1e8 = qty
    s.count += 1
    return True


cdef inline void side_delete(book_side_t* s, int i) noexcept nogil:
    """Remove the level at index i, moving whichever part of the array is shorter."""
    if i < s.count - 1 - i:
        memmove(s.levels + 1, s.levels, i * sizeof(seq_level_t))
        s.levels += 1
    else:
        memmove(s.levels + i, s.levels + i + 1, (s.count - 1 - i) * sizeof(seq_level_t))
    s.count -= 1


cdef inline bint side_set(book_side_t* s, uint64_t px, uint64_t qty, bint desc) noexcept nogil:
    """Set the quantity at `px`; qty 0 deletes (a missing level is fine).

    False only when memory for a new level could not be allocated.
    """
    cdef int i = side_find(s, px, desc)
    if i < s.count and s.levels[i].px_1e8 == px:
        if qty != 0:
            s.levels[i].qty_1e8 = qty
        else:
            side_delete(s, i)
        return True
    if qty == 0:
        return True
    return side_insert(s, i, px, qty)


cdef inline uint64_t side_qty_at(const book_side_t* s, uint64_t px, bint desc) noexcept nogil:
    cdef int i = side_find(s, px, desc)
    if i < s.count and s.levels[i].px_1e8 == px:
        return s.levels[i].qty_1e8
    return 0


cdef bint side_normalize(book_side_t* s, bint desc) noexcept nogil:
    """Sort levels appended in arbitrary order by a snapshot.

    Snapshots usually list levels best-first (reversed in place) or worst-first
    (already in order). Any other order is rebuilt level by level, the last of
    duplicate prices winning. False when out of memory.
    """
    cdef int n = s.count
    cdef int i
    cdef bint in_order = True
    cdef bint reversed_order = True
    cdef seq_level_t tmp
    cdef seq_level_t* arrived
    for i in range(1, n):
        if not precedes(s.levels[i - 1].px_1e8, s.levels[i].px_1e8, desc):
            in_order = False
        if not precedes(s.levels[i].px_1e8, s.levels[i - 1].px_1e8, desc):
            reversed_order = False
    if in_order:
        return True
    if reversed_order:
        for i in range(n // 2):
            tmp = s.levels[i]
            s.levels[i] = s.levels[n - 1 - i]
            s.levels[n - 1 - i] = tmp
        return True
    arrived = <seq_level_t*>malloc(n * sizeof(seq_level_t))
    if arrived == NULL:
        return False
    memcpy(arrived, s.levels, n * sizeof(seq_level_t))
    s.count = 0
    s.levels = s.buf + s.capacity // 2
    for i in range(n):
        if not side_set(s, arrived[i].px_1e8, arrived[i].qty_1e8, desc):
            free(arrived)
            return False
    free(arrived)
    return True


cdef inline void copy_top(seq_level_t* dst, const book_side_t* s, int n) noexcept nogil:
    """The best `n` levels of `s`, best first, then zeros up to SEQ_MAX_LEVELS."""
    cdef const seq_level_t* best = s.levels + s.count - 1
    cdef int i
    for i in range(n):
        dst[i] = best[-i]
    if n < SEQ_MAX_LEVELS:
        memset(&dst[n], 0, (SEQ_MAX_LEVELS - n) * sizeof(seq_level_t))


cdef inline double imbalance(uint64_t bid_qty, uint64_t ask_qty) noexcept nogil:
    """(bid - ask) / (bid + ask), 0.0 when both are empty."""
    if bid_qty == 0 and ask_qty == 0:
        return 0.0
    return (<double>bid_qty - <double>ask_qty) / (<double>bid_qty + <double>ask_qty)


# ---------------------------------------------------------------- hot path
# Module-level inline functions rather than methods: apply_many's loop and
# apply_level compile to straight-line code with no indirect (vtable) calls.

cdef inline uint64_t best_px(const book_side_t* s) noexcept nogil:
    return s.levels[s.count - 1].px_1e8 if s.count else 0


cdef inline bint crossed(uint64_t bid, uint64_t ask) noexcept nogil:
    """Best bid at or above best ask (both present)."""
    return bid != 0 and ask != 0 and bid >= ask


cdef inline int apply_update(Book book, uint8_t side, uint64_t px_1e8, uint64_t qty_1e8,
                             uint64_t seq, uint64_t ts_ns) noexcept nogil:
    """Book.apply_level (contract in book.pxd)."""
    cdef bint stored
    cdef uint64_t bid, ask
    if (side != 1 and side != 2) or px_1e8 == 0:
        return BOOK_INVALID
    if book.stale:
        return BOOK_IGNORED
    if seq != 0:
        if book.last_seq != 0 and seq != book.last_seq + 1:
            book.gaps += 1
            book.stale = True
            return BOOK_STALE
        book.last_seq = seq
    if side == 1:
        stored = side_set(&book._bids, px_1e8, qty_1e8, False)
    else:
        stored = side_set(&book._asks, px_1e8, qty_1e8, True)
    if not stored:
        book.stale = True  # out of memory: the book lost a level, only a snapshot can fix it
        return BOOK_STALE
    book.last_ts_ns = ts_ns
    book.updates += 1
    book._resynced = False
    bid = best_px(&book._bids)
    ask = best_px(&book._asks)
    if crossed(bid, ask):
        book.crosses += 1
        book.stale = True
        return BOOK_STALE
    advance_stats(book, bid, ask)
    return BOOK_OK


cdef inline void advance_stats(Book book, uint64_t bid, uint64_t ask) noexcept nogil:
    """One step of the EMA / volatility / mid-change recurrences, given the best prices (0 = none)."""
    cdef double mid
    if bid == 0 or ask == 0:
        book._mid_change_bps = 0.0  # no mid on a one-sided book: the averages hold
        return
    if bid == book._stat_bid_px and ask == book._stat_ask_px:
        # Best prices unchanged: a zero return, without recomputing the mid.
        book._mid_change_bps = 0.0
        book._ema_mid += STAT_ALPHA * (book._mid - book._ema_mid)
        book._volatility_bps -= STAT_ALPHA * book._volatility_bps
        return
    mid = (<double>bid + <double>ask) / (2.0 * FIXED_SCALE)
    if book._mid == 0.0:
        book._ema_mid = mid  # first two-sided book seeds the average
        book._volatility_bps = 0.0
        book._mid_change_bps = 0.0
    else:
        book._mid_change_bps = (mid - book._mid) / book._mid * 1e4
        book._ema_mid += STAT_ALPHA * (mid - book._ema_mid)
        book._volatility_bps += STAT_ALPHA * (fabs(book._mid_change_bps) - book._volatility_bps)
    book._mid = mid
    book._stat_bid_px = bid
    book._stat_ask_px = ask


# ---------------------------------------------------------------- the book

cdef class Book:
    """Full-depth L2 book of one symbol (see the module docstring)."""

    def __cinit__(self, symbol, *args, **kwargs):
        if not side_init(&self._bids) or not side_init(&self._asks):
            raise MemoryError("cannot allocate the book's level arrays")
        self.stale = True

    def __init__(self, symbol: str):
        if not isinstance(symbol, str) or not symbol:
            raise ValueError(f"Book needs a non-empty symbol name, got {symbol!r}")
        self.symbol = symbol

    def __dealloc__(self):
        free(self._bids.buf)
        free(self._asks.buf)

    # ------------------------------------------------------------ hot path (nogil)

    cdef int apply_level(self, uint8_t side, uint64_t px_1e8, uint64_t qty_1e8,
                         uint64_t seq, uint64_t ts_ns) noexcept nogil:
        return apply_update(self, side, px_1e8, qty_1e8, seq, ts_ns)

    cdef void clear(self) noexcept nogil:
        """Start a snapshot: empty both sides; the book is stale until finish_snapshot."""
        if not self._building:
            self._stale_before_clear = self.stale
        self._building = True
        self.stale = True
        # Empty, with all the room after: a snapshot appends its levels there.
        self._bids.count = 0
        self._bids.levels = self._bids.buf
        self._asks.count = 0
        self._asks.levels = self._asks.buf

    cdef void set_level_unchecked(self, uint8_t side, uint64_t px_1e8, uint64_t qty_1e8) noexcept nogil:
        """Add a snapshot level (any order; qty 0, price 0 and unknown sides are skipped).

        Between clear() and finish_snapshot() levels are appended and sorted once
        at the end; outside a snapshot this is an update without any checks.
        """
        cdef book_side_t* s
        if (side != 1 and side != 2) or px_1e8 == 0 or qty_1e8 == 0:
            return
        s = &self._bids if side == 1 else &self._asks
        if not self._building:
            if not side_set(s, px_1e8, qty_1e8, side == 2):
                self.stale = True
            return
        if not side_make_room(s, False):
            self._snapshot_incomplete = True  # out of memory: finish_snapshot leaves the book stale
            return
        s.levels[s.count].px_1e8 = px_1e8
        s.levels[s.count].qty_1e8 = qty_1e8
        s.count += 1

    cdef void finish_snapshot(self, uint64_t seq, uint64_t ts_ns) noexcept nogil:
        cdef bint was_stale = self._stale_before_clear if self._building else self.stale
        cdef bint complete = (side_normalize(&self._bids, False) and side_normalize(&self._asks, True)
                              and not self._snapshot_incomplete)
        self._building = False
        self._snapshot_incomplete = False
        self.last_seq = seq
        self.last_ts_ns = ts_ns
        self.updates += 1
        self._resynced = False
        if not complete:
            self.stale = True  # out of memory: wait for the next snapshot
            return
        if crossed(best_px(&self._bids), best_px(&self._asks)):
            self.crosses += 1
            self.stale = True
            return
        if was_stale and self._ever_valid:
            self.resyncs += 1
            self._resynced = True
        self.stale = False
        self._ever_valid = True
        advance_stats(self, best_px(&self._bids), best_px(&self._asks))

    # ------------------------------------------------------------ readers (nogil)

    cdef uint64_t best_bid(self) noexcept nogil:
        return best_px(&self._bids)

    cdef uint64_t best_ask(self) noexcept nogil:
        return best_px(&self._asks)

    cdef uint64_t bid_qty_at(self, uint64_t px_1e8) noexcept nogil:
        return side_qty_at(&self._bids, px_1e8, False)

    cdef uint64_t ask_qty_at(self, uint64_t px_1e8) noexcept nogil:
        return side_qty_at(&self._asks, px_1e8, True)

    cdef int depth(self, uint8_t side) noexcept nogil:
        if side == 1:
            return self._bids.count
        if side == 2:
            return self._asks.count
        return 0

    cdef int level(self, uint8_t side, int i, uint64_t* px_1e8, uint64_t* qty_1e8) noexcept nogil:
        cdef const book_side_t* s
        cdef const seq_level_t* lv
        if side == 1:
            s = &self._bids
        elif side == 2:
            s = &self._asks
        else:
            return -1
        if i < 0 or i >= s.count:
            return -1
        lv = &s.levels[s.count - 1 - i]
        px_1e8[0] = lv.px_1e8
        qty_1e8[0] = lv.qty_1e8
        return 0

    cdef void write_l2(self, uint8_t* dst, uint16_t symbol_idx) noexcept nogil:
        cdef seq_l2book_t* book = <seq_l2book_t*>dst
        cdef int nb = self._bids.count if self._bids.count < SEQ_MAX_LEVELS else SEQ_MAX_LEVELS
        cdef int na = self._asks.count if self._asks.count < SEQ_MAX_LEVELS else SEQ_MAX_LEVELS
        cdef uint32_t flags = 0
        if self.stale:
            flags |= SEQ_BOOK_STALE
        if self._resynced:
            flags |= SEQ_BOOK_RESYNCED
        book.symbol_idx = symbol_idx
        book.bid_count = <uint8_t>nb
        book.ask_count = <uint8_t>na
        book.flags = flags
        book.ts_ns = self.last_ts_ns
        copy_top(book.bids, &self._bids, nb)
        copy_top(book.asks, &self._asks, na)

    cdef void write_features(self, uint8_t* dst) noexcept nogil:
        # Quantities only enter as ratios: they stay integers (sums exact) and
        # prices are scaled to natural units last.
        cdef seq_features_t* f = <seq_features_t*>dst
        cdef const seq_level_t* bids = self._bids.levels + self._bids.count - 1  # best bid
        cdef const seq_level_t* asks = self._asks.levels + self._asks.count - 1  # best ask
        cdef int nb = self._bids.count
        cdef int na = self._asks.count
        cdef uint64_t bid_qty = bids[0].qty_1e8 if nb else 0
        cdef uint64_t ask_qty = asks[0].qty_1e8 if na else 0
        cdef uint64_t bid_qty5 = 0, ask_qty5 = 0
        cdef double bid_px, ask_px
        cdef int i
        for i in range(min(5, nb)):
            bid_qty5 += bids[-i].qty_1e8
        for i in range(min(5, na)):
            ask_qty5 += asks[-i].qty_1e8
        if nb and na:
            bid_px = <double>bids[0].px_1e8
            ask_px = <double>asks[0].px_1e8
            f.mid = (bid_px + ask_px) / (2.0 * FIXED_SCALE)
            f.spread = (ask_px - bid_px) / FIXED_SCALE
            f.microprice = ((bid_px * <double>ask_qty + ask_px * <double>bid_qty)
                            / (<double>bid_qty + <double>ask_qty) / FIXED_SCALE)
        else:
            f.mid = 0.0
            f.spread = 0.0
            f.microprice = 0.0
        f.imbalance = imbalance(bid_qty, ask_qty)
        f.imbalance_5 = imbalance(bid_qty5, ask_qty5)
        f.ema_mid = self._ema_mid
        f.volatility_bps = self._volatility_bps
        f.mid_change_bps = self._mid_change_bps
        f.updates = self.updates

    # ------------------------------------------------------------ Python API (feeds, tests)
    # Numeric parameters are deliberately not annotated `int`: Cython 3 would
    # coerce a float argument to int (1.5 -> 1) instead of letting _u64 reject it.

    def snapshot(self, bids, asks, seq=0, ts_ns=0) -> None:
        """Replace the book with `bids` and `asks`, lists of (px_1e8, qty_1e8).

        Levels may come in any order; prices must be unique per side and
        quantities positive. The book is consistent afterwards unless the
        snapshot is crossed (then it stays stale and counts a cross).
        """
        cdef list bid_levels = _checked_levels("bids", bids)
        cdef list ask_levels = _checked_levels("asks", asks)
        cdef uint64_t c_seq = _u64("seq", seq)
        cdef uint64_t c_ts = _u64("ts_ns", ts_ns)
        self.clear()
        for px, qty in bid_levels:
            self.set_level_unchecked(1, px, qty)
        for px, qty in ask_levels:
            self.set_level_unchecked(2, px, qty)
        self.finish_snapshot(c_seq, c_ts)

    def update(self, side, px_1e8, qty_1e8, seq=0, ts_ns=0) -> int:
        """Apply one level update; returns OK, STALE or IGNORED (see book.pxd)."""
        _check_side(side)
        cdef uint64_t px = _u64("px_1e8", px_1e8)
        if px == 0:
            raise ValueError("px_1e8 must be > 0")
        return self.apply_level(side, px, _u64("qty_1e8", qty_1e8), _u64("seq", seq), _u64("ts_ns", ts_ns))

    def apply_many(self, updates) -> int:
        """Apply N records of 5 uint64 [side, px_1e8, qty_1e8, seq, ts_ns] in one nogil loop.

        `updates` is any C-contiguous buffer of uint64 (array('Q'), a numpy
        uint64 array of shape (N, 5) or (5N,), a memoryview). Returns how many
        records were applied while the book stayed consistent. When that is
        less than N the book is stale: record [returned] made it so (a gap,
        not applied, or a cross, applied) or the book was stale already, and
        the remaining records were not looked at (a stale book ignores them
        anyway). A record with a side other than 1/2 or price 0 raises
        ValueError naming its index; the records before it stay applied.
        """
        cdef Py_buffer view
        cdef const uint64_t* rec
        cdef Py_ssize_t n, i = 0
        cdef int result = BOOK_OK
        _get_records(updates, &view)  # the raw buffer protocol: no per-call memoryview objects
        try:
            rec = <const uint64_t*>view.buf
            n = view.len // (RECORD_FIELDS * 8)
            with nogil:
                while i < n:
                    if rec[0] != 1 and rec[0] != 2:
                        result = BOOK_INVALID
                        break
                    result = apply_update(self, <uint8_t>rec[0], rec[1], rec[2], rec[3], rec[4])
                    if result != BOOK_OK:
                        break
                    rec += RECORD_FIELDS
                    i += 1
            if result == BOOK_INVALID:
                raise ValueError(f"apply_many record {i}: side must be 1 (bid) or 2 (ask) and price > 0, "
                                 f"got side={rec[0]} px_1e8={rec[1]}")
            return i
        finally:
            PyBuffer_Release(&view)

    def top(self, n=20) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Best `n` levels per side as (bids, asks), best first, (px_1e8, qty_1e8) tuples."""
        cdef uint64_t px, qty
        cdef int i
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        bids = []
        asks = []
        for i in range(min(n, self._bids.count)):
            self.level(1, i, &px, &qty)
            bids.append((px, qty))
        for i in range(min(n, self._asks.count)):
            self.level(2, i, &px, &qty)
            asks.append((px, qty))
        return bids, asks

    def depth_of(self, side) -> int:
        """Number of price levels kept on `side` (full depth, not capped at 20)."""
        _check_side(side)
        return self.depth(side)

    def qty_at(self, side, px_1e8) -> int:
        """Quantity resting at exactly `px_1e8` on `side` (0 when there is no such level)."""
        _check_side(side)
        if side == 1:
            return self.bid_qty_at(_u64("px_1e8", px_1e8))
        return self.ask_qty_at(_u64("px_1e8", px_1e8))

    def l2_bytes(self, symbol_idx=0) -> bytes:
        """The 656-byte ABI L2Book an algo would see for this book."""
        cdef seq_l2book_t buf
        self.write_l2(<uint8_t*>&buf, _u16("symbol_idx", symbol_idx))
        return PyBytes_FromStringAndSize(<char*>&buf, sizeof(buf))

    def features_bytes(self) -> bytes:
        """The 72-byte ABI OnlineFeatures for this book."""
        cdef seq_features_t buf
        self.write_features(<uint8_t*>&buf)
        return PyBytes_FromStringAndSize(<char*>&buf, sizeof(buf))

    def write_into(self, buffer, symbol_idx=0) -> None:
        """Write L2Book then OnlineFeatures (656 + 72 bytes, the IoBlock layout) into `buffer`."""
        cdef uint8_t[::1] dst = buffer
        cdef uint16_t idx = _u16("symbol_idx", symbol_idx)
        cdef Py_ssize_t needed = sizeof(seq_l2book_t) + sizeof(seq_features_t)
        if dst.shape[0] < needed:
            raise ValueError(f"write_into needs {needed} writable bytes, got {dst.shape[0]}")
        self.write_l2(&dst[0], idx)
        self.write_features(&dst[sizeof(seq_l2book_t)])

    def __repr__(self) -> str:
        bid = self.best_bid()
        ask = self.best_ask()
        return (f"<Book {self.symbol} bid={bid} ask={ask} depth={self._bids.count}/{self._asks.count} "
                f"{'stale' if self.stale else 'live'} seq={self.last_seq} updates={self.updates}>")


# ---------------------------------------------------------------- argument checks

cdef uint64_t _u64(str name, object value) except? 0:
    if type(value) is not int:  # numpy integers are fine, floats and bools are not
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"{name} must be an int (1e8 fixed point), got {type(value).__name__}")
        value = value.__index__()
    try:
        return value  # the C conversion raises OverflowError below 0 and above 2**64-1
    except OverflowError:
        raise ValueError(f"{name} must be in 0..2**64-1, got {value}") from None


cdef uint16_t _u16(str name, object value) except? 0:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must be an int in 0..65535, got {value!r}")
    return value


cdef int _check_side(object side) except -1:
    if side != 1 and side != 2:
        raise ValueError(f"side must be 1 (bid) or 2 (ask), got {side!r}")
    return 0


cdef list _checked_levels(str name, object levels):
    cdef list out = []
    cdef set seen = set()
    for entry in levels:
        try:
            px, qty = entry
        except (TypeError, ValueError):
            raise ValueError(f"{name}: each level must be a (px_1e8, qty_1e8) pair, got {entry!r}") from None
        px = _u64(f"{name} px_1e8", px)
        qty = _u64(f"{name} qty_1e8", qty)
        if px == 0:
            raise ValueError(f"{name}: price must be > 0, got {entry!r}")
        if qty == 0:
            raise ValueError(f"{name}: snapshot quantities must be > 0, got {entry!r}")
        if px in seen:
            raise ValueError(f"{name}: price {px} appears twice in the snapshot")
        seen.add(px)
        out.append((px, qty))
    return out


cdef int _get_records(object updates, Py_buffer* view) except -1:
    """Acquire `updates` as a C-contiguous uint64 buffer of whole 5-field records."""
    try:
        PyObject_GetBuffer(updates, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    except BufferError:
        raise ValueError("apply_many needs a C-contiguous buffer") from None
    except TypeError:
        raise TypeError(f"apply_many needs a buffer of uint64 (array('Q'), numpy uint64), "
                        f"got {type(updates).__name__}") from None
    fmt = (<bytes>view.format).decode("ascii") if view.format != NULL else "B"
    if view.itemsize != 8 or fmt.lstrip("@=<") not in ("Q", "L"):
        PyBuffer_Release(view)
        raise TypeError(f"apply_many needs a buffer of uint64 (array('Q'), numpy uint64), got format {fmt!r}")
    if view.len % (RECORD_FIELDS * 8):
        PyBuffer_Release(view)
        raise ValueError(f"apply_many needs N x 5 uint64 [side, px_1e8, qty_1e8, seq, ts_ns], "
                         f"got {view.len // 8} values")
    return 0
