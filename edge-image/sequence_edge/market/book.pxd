# Interface of the Cython L2 book (book.pyx). The WASM host and the edge's
# hot loop cimport this; keep it stable.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from sequence_edge.algo.abi cimport seq_level_t

# Return codes of Book.apply_level
cdef enum:
    BOOK_OK = 0          # applied; book is consistent
    BOOK_STALE = 1       # gap or crossed book detected: book marked stale, needs a snapshot
    BOOK_IGNORED = 2     # update dropped because the book is stale (waiting for a snapshot)
    BOOK_INVALID = 3     # side not 1/2 or price 0: nothing changed (a feed bug, not a market event)

# One side of the book: a sorted array with the BEST level LAST (bids by
# ascending price, asks by descending price) inside a buffer with free room at
# both ends. Updates cluster at the top of the book, and an insert or delete
# moves only the shorter part of the array (the few levels above it, or for a
# deep level the few below it).
cdef struct book_side_t:
    seq_level_t* levels    # levels[0] is the worst kept level, levels[count - 1] the best
    seq_level_t* buf       # the allocation, `capacity` levels, that holds them
    int count
    int capacity

cdef class Book:
    cdef readonly str symbol
    cdef readonly bint stale            # True until the first snapshot and after a gap/cross
    cdef readonly uint64_t last_seq     # sequence number of the last applied update
    cdef readonly uint64_t last_ts_ns
    cdef readonly uint64_t updates      # updates and snapshots applied since creation
    cdef readonly uint64_t gaps         # sequence gaps detected
    cdef readonly uint64_t crosses      # crossed books detected
    cdef readonly uint64_t resyncs      # snapshots applied after a stale period

    # Implementation state (book.pyx).
    cdef book_side_t _bids
    cdef book_side_t _asks
    cdef bint _building             # between clear() and finish_snapshot()
    cdef bint _snapshot_incomplete  # a snapshot level could not be stored (out of memory)
    cdef bint _stale_before_clear   # stale flag when clear() started the snapshot
    cdef bint _ever_valid           # a consistent book existed once (resync vs first snapshot)
    cdef bint _resynced             # the current book is the resync snapshot (BOOK_FLAG_RESYNCED)
    # Incremental statistics, advanced once per applied update (see book.pyx).
    cdef uint64_t _stat_bid_px      # best prices the cached mid was computed from
    cdef uint64_t _stat_ask_px
    cdef double _mid                # mid of the last two-sided book, 0.0 before the first
    cdef double _ema_mid
    cdef double _volatility_bps
    cdef double _mid_change_bps

    # side: 1 = bid, 2 = ask; qty 0 deletes the level. seq must be last_seq + 1
    # (seq 0 = unsequenced feed: no gap check; a duplicate or older seq is a gap
    # too, the feed drops updates a snapshot already covers; when last_seq is 0,
    # e.g. after a snapshot without seq, any seq starts the sequence).
    # Returns BOOK_OK, BOOK_STALE (gap: not applied; cross: applied), BOOK_IGNORED
    # (book stale, not applied) or BOOK_INVALID.
    cdef int apply_level(self, uint8_t side, uint64_t px_1e8, uint64_t qty_1e8,
                         uint64_t seq, uint64_t ts_ns) noexcept nogil
    # Snapshot: clear() (book stale meanwhile), set_level_unchecked() per level in
    # any order (qty 0 skipped), finish_snapshot() sorts, sets last_seq and clears
    # `stale` unless the snapshot is crossed.
    cdef void clear(self) noexcept nogil
    cdef void set_level_unchecked(self, uint8_t side, uint64_t px_1e8, uint64_t qty_1e8) noexcept nogil
    cdef void finish_snapshot(self, uint64_t seq, uint64_t ts_ns) noexcept nogil
    cdef uint64_t best_bid(self) noexcept nogil   # 0 when empty
    cdef uint64_t best_ask(self) noexcept nogil   # 0 when empty
    cdef uint64_t bid_qty_at(self, uint64_t px_1e8) noexcept nogil
    cdef uint64_t ask_qty_at(self, uint64_t px_1e8) noexcept nogil
    # Write the 656-byte ABI L2Book / 72-byte OnlineFeatures to dst.
    cdef void write_l2(self, uint8_t* dst, uint16_t symbol_idx) noexcept nogil
    cdef void write_features(self, uint8_t* dst) noexcept nogil
    # Depth beyond 20 is kept; the OMS walks it with these.
    cdef int depth(self, uint8_t side) noexcept nogil
    # i-th level from the top (0 = best); returns 0 and fills px/qty, or -1 past the end.
    cdef int level(self, uint8_t side, int i, uint64_t* px_1e8, uint64_t* qty_1e8) noexcept nogil
