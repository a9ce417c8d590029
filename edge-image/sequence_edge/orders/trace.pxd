# Bounded per-order lifecycle store (trace.pyx): what `sequence trace P-xxxxxxxx` shows.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef enum:
    TRACE_CAP = 16384          # orders kept (the oldest are overwritten)
    TRACE_EVENTS = 12          # events kept per order (later ones overwrite the last slot)

# Event kinds.
cdef enum:
    EV_TICK = 1                # the market-data update behind the callback started processing
    EV_SUBMIT = 2              # the action was read from the algo's action queue
    EV_RISK = 3                # pre-trade risk passed
    EV_ACK = 4                 # the paper OMS accepted the order
    EV_FILL = 5
    EV_AMEND = 6
    EV_CANCEL = 7
    EV_EXPIRE = 8              # IOC / market remainder dropped
    EV_REJECT = 9
    EV_RESTORED = 10           # the edge restarted and restored the resting order from its journal

# Order states.
cdef enum:
    OS_NEW = 0
    OS_OPEN = 1
    OS_FILLED = 2
    OS_CANCELLED = 3
    OS_REJECTED = 4
    OS_EXPIRED = 5             # IOC / market order done with (part of) its quantity unfilled

cdef struct trace_event_t:
    uint64_t ts_ns
    uint64_t px_1e8
    uint64_t qty_1e8
    uint32_t code              # reject reason, fill flags
    uint8_t kind
    uint8_t _pad[3]

cdef struct trace_rec_t:
    uint64_t client_id
    uint64_t px_1e8
    uint64_t qty_1e8
    uint64_t filled_1e8
    uint32_t ref
    uint32_t account           # Account.serial (from 1; 0 = empty slot)
    uint32_t book              # edge-wide book index
    uint32_t dropped_events
    uint8_t side
    uint8_t order_type
    uint8_t state
    uint8_t n_events
    trace_event_t events[TRACE_EVENTS]

cdef class TraceStore:
    cdef trace_rec_t* recs
    cdef uint32_t counter
    cdef uint32_t salt
    cdef uint32_t mul_inv
    cdef readonly list book_names     # book index -> symbol
    cdef readonly dict account_names  # Account.serial -> deployment id

    cdef trace_rec_t* new_order(self, uint32_t account, uint32_t book, uint64_t client_id, uint8_t side,
                                uint8_t order_type, uint64_t px_1e8, uint64_t qty_1e8) noexcept nogil
    cdef trace_rec_t* find(self, uint32_t ref) noexcept nogil
    cdef void event(self, uint32_t ref, uint8_t kind, uint64_t ts_ns, uint64_t px_1e8, uint64_t qty_1e8,
                    uint32_t code) noexcept nogil
    cdef void set_state(self, uint32_t ref, uint8_t state, uint64_t filled_1e8) noexcept nogil
    cdef dict _order_dict(self, trace_rec_t* r)
