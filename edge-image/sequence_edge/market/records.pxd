# Market-data records passed from a feed to the edge loop in one C array per batch (records.pyx).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

# Record kinds.
cdef enum:
    REC_LEVEL = 0          # incremental level update: qty 0 deletes the level
    REC_SNAP_BEGIN = 1     # a snapshot of `book` starts: the book is cleared
    REC_SNAP_LEVEL = 2     # one level of the snapshot (any order)
    REC_SNAP_END = 3       # the snapshot is complete; `seq` is the sequence it is consistent with

cdef struct feed_rec_t:
    uint64_t px_1e8
    uint64_t qty_1e8
    uint64_t seq           # 0 = unsequenced
    uint64_t ts_ns         # feed timestamp, ns since epoch
    uint32_t book          # edge-wide book index (Engine.add_book)
    uint8_t side           # 1 = bid, 2 = ask (0 for SNAP_BEGIN / SNAP_END)
    uint8_t kind           # REC_*
    uint16_t _pad

cdef class RecordBuffer:
    cdef feed_rec_t* recs
    cdef readonly Py_ssize_t capacity
    cdef public Py_ssize_t count   # valid records, recs[0:count]
    cdef int reserve(self, Py_ssize_t n) except -1
