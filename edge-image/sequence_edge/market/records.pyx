# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A growable C array of feed records (records.pxd): feeds write a batch, the edge loop reads it."""

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, realloc

KINDS = {"level": REC_LEVEL, "snapshot_begin": REC_SNAP_BEGIN, "snapshot_level": REC_SNAP_LEVEL,
         "snapshot_end": REC_SNAP_END}
KIND_NAMES = {v: k for k, v in KINDS.items()}


cdef class RecordBuffer:
    def __cinit__(self, Py_ssize_t capacity=4096):
        self.recs = NULL
        self.capacity = 0
        self.count = 0
        self.reserve(max(capacity, 16))

    def __dealloc__(self):
        free(self.recs)

    cdef int reserve(self, Py_ssize_t n) except -1:
        cdef feed_rec_t* grown
        cdef Py_ssize_t cap = self.capacity or 16
        if n <= self.capacity:
            return 0
        while cap < n:
            cap *= 2
        grown = <feed_rec_t*>realloc(self.recs, cap * sizeof(feed_rec_t))
        if grown == NULL:
            raise MemoryError()
        self.recs = grown
        self.capacity = cap
        return 0

    def __len__(self) -> int:
        return self.count

    def clear(self) -> None:
        self.count = 0

    def append(self, kind: str, book: int, side: int = 0, px_1e8: int = 0, qty_1e8: int = 0,
               seq: int = 0, ts_ns: int = 0) -> None:
        """Add one record (tests, replay loading); `kind` is a key of KINDS."""
        cdef feed_rec_t* r
        if kind not in KINDS:
            raise ValueError(f"record kind must be one of {sorted(KINDS)}, got {kind!r}")
        self.reserve(self.count + 1)
        r = &self.recs[self.count]
        r.kind = KINDS[kind]
        r.book = book
        r.side = side
        r.px_1e8 = px_1e8
        r.qty_1e8 = qty_1e8
        r.seq = seq
        r.ts_ns = ts_ns
        r._pad = 0
        self.count += 1

    def __getitem__(self, Py_ssize_t i) -> tuple:
        """(kind name, book, side, px_1e8, qty_1e8, seq, ts_ns)."""
        cdef feed_rec_t* r
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(i)
        r = &self.recs[i]
        return (KIND_NAMES[r.kind], r.book, r.side, r.px_1e8, r.qty_1e8, r.seq, r.ts_ns)

    def ts_at(self, Py_ssize_t i) -> int:
        return self.recs[i].ts_ns

    def remap_books(self, mapping) -> None:
        """Rewrite every record's book index i to mapping[i] (file symbol order -> edge books)."""
        cdef Py_ssize_t i
        cdef list table = [int(b) for b in mapping]
        cdef uint32_t n = len(table)
        for i in range(self.count):
            if self.recs[i].book >= n:
                raise ValueError(f"record {i} has book {self.recs[i].book}, mapping has {n} entries")
            self.recs[i].book = table[self.recs[i].book]

    def bisect_ts(self, uint64_t ts_ns, Py_ssize_t lo=0) -> int:
        """First index >= lo whose ts_ns is > ts_ns (records must be in time order)."""
        cdef Py_ssize_t hi = self.count, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.recs[mid].ts_ns <= ts_ns:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def copy_rebased(self, RecordBuffer src, Py_ssize_t start, Py_ssize_t stop, uint64_t first_ts,
                     uint64_t base_ts, double speed) -> int:
        """Append src[start:stop] with ts_ns -> base_ts + (ts_ns - first_ts) / speed; returns the count."""
        cdef Py_ssize_t i, n = stop - start
        cdef feed_rec_t* r
        if start < 0 or stop > src.count or n < 0:
            raise ValueError(f"bad range {start}:{stop} of {src.count} records")
        self.reserve(self.count + n)
        for i in range(n):
            r = &self.recs[self.count + i]
            r[0] = src.recs[start + i]
            r.ts_ns = base_ts + <uint64_t>((r.ts_ns - first_ts) / speed)
        self.count += n
        return n
