# The trading journal's in-memory event buffer (one per Account, journal.pyx drains it).
#
# The OMS appends a fixed-size record for every fill and order event while it works (a struct
# copy into a preallocated array: no allocation, no syscall, no Python). The edge loop drains the
# buffer once per step, together with a checkpoint of the account, into one framed write.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

cdef enum:
    JLOG_CAP = 4096            # events buffered between two flushes (beyond: counted, not kept)
    JEV_ACCEPT = 1             # the OMS accepted an order (qty, px as placed)
    JEV_FILL = 2               # fee_1e8, code = fill flags
    JEV_CANCEL = 3             # qty = what was left
    JEV_AMEND = 4              # px, qty = the new price and total quantity
    JEV_REJECT = 5             # code = reject reason

cdef struct jevent_t:          # 48 bytes, written to disk as is (little-endian hosts)
    uint64_t ts_ns
    uint64_t client_id
    uint64_t px_1e8
    uint64_t qty_1e8
    int64_t fee_1e8
    uint32_t ref
    uint16_t symbol_idx
    uint8_t kind
    uint8_t code               # fill flags or reject reason (side in the high bit for fills/accepts)

cdef struct jlog_t:
    jevent_t* ev               # NULL: the journal is off for this account (every add is a no-op)
    uint32_t n
    uint64_t overflow          # events not kept because the buffer was full (the checkpoint is exact)
    bint dirty                 # something a checkpoint holds changed since the last flush


cdef inline void jlog_add(jlog_t* j, uint8_t kind, uint32_t ref, uint64_t client_id, uint16_t sym,
                          uint8_t code, uint64_t px, uint64_t qty, int64_t fee, uint64_t ts) noexcept nogil:
    cdef jevent_t* e
    if j.ev == NULL:
        return
    j.dirty = True
    if j.n == JLOG_CAP:
        j.overflow += 1
        return
    e = &j.ev[j.n]
    j.n += 1
    e.ts_ns = ts
    e.client_id = client_id
    e.px_1e8 = px
    e.qty_1e8 = qty
    e.fee_1e8 = fee
    e.ref = ref
    e.symbol_idx = sym
    e.kind = kind
    e.code = code
