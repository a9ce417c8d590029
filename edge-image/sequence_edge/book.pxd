# Interface of the Cython L2 book (book.pyx). The WASM host and the edge's
# hot loop cimport this; keep it stable.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

# Return codes of Book.apply_level
cdef enum:
    BOOK_OK = 0          # applied; book is consistent
    BOOK_STALE = 1       # gap or crossed book detected: book marked stale, needs a snapshot
    BOOK_IGNORED = 2     # update dropped because the book is stale (waiting for a snapshot)

cdef class Book:
    cdef readonly str symbol
    cdef readonly bint stale            # True until the first snapshot and after a gap/cross
    cdef readonly uint64_t last_seq     # sequence number of the last applied update
    cdef readonly uint64_t last_ts_ns
    cdef readonly uint64_t updates      # updates applied since creation
    cdef readonly uint64_t gaps         # sequence gaps detected
    cdef readonly uint64_t crosses      # crossed books detected
    cdef readonly uint64_t resyncs      # snapshots applied after a stale period

    # side: 1 = bid, 2 = ask; qty 0 deletes the level. seq must be last_seq + 1
    # (seq 0 = unsequenced feed: no gap check).
    cdef int apply_level(self, uint8_t side, uint64_t px_1e8, uint64_t qty_1e8,
                         uint64_t seq, uint64_t ts_ns) noexcept nogil
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
