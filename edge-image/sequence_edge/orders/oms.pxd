# The paper OMS (oms.pyx): one Account per deployment on this edge.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from sequence_edge.algo.abi cimport seq_action_t, seq_algo_state_t, seq_fill_t, seq_reject_t
from sequence_edge.market.book cimport Book
from sequence_edge.algo.host cimport AlgoInstance
from sequence_edge.orders.idset cimport idset_t
from sequence_edge.orders.jlog cimport jlog_t
from sequence_edge.orders.risk cimport N_REASONS, risk_limits_t, risk_state_t
from sequence_edge.orders.trace cimport TraceStore
from sequence_edge.util cimport hist_t

cdef enum:
    MAX_OPEN = 256             # == risk.HARD_MAX_OPEN_ORDERS
    EVENT_CAP = 1024           # fills/rejects waiting for the algo (oldest dropped beyond)
    ALL_SYMBOLS = 0xFFFF
    EVK_FILL = 1
    EVK_REJECT = 2

cdef struct order_t:
    uint64_t client_id
    uint64_t px_1e8
    uint64_t qty_1e8           # total quantity (amends change it)
    uint64_t filled_1e8
    uint64_t queue_1e8         # venue quantity ahead of this order at its price (queue model)
    uint32_t ref
    uint16_t symbol_idx
    uint8_t side
    uint8_t order_type

cdef struct algo_event_t:
    uint8_t kind               # EVK_FILL / EVK_REJECT
    seq_fill_t fill
    seq_reject_t reject

cdef class Account:
    cdef readonly str deployment_id
    cdef readonly uint32_t serial
    cdef readonly tuple symbols
    cdef list books                     # Book per symbol index
    cdef uint32_t book_ids[16]          # edge-wide book index per symbol index
    cdef uint16_t n_symbols
    cdef TraceStore traces
    cdef public AlgoInstance instance   # None: detached (unit tests, benchmarks, after removal)
    cdef public bint detached_running   # "running" when detached
    cdef public bint halted             # the edge's kill switch: places and amends refused
    cdef public bint venue_routed       # mode live: accepted orders go to the venue, never matched here
    cdef list routed                    # (kind, order_id, symbol_idx, side, order_type, px, qty) to route
    cdef seq_algo_state_t own_state     # AlgoState when detached
    cdef seq_algo_state_t* st           # the instance's AlgoState (the algo sees it), or own_state
    cdef risk_limits_t limits
    cdef risk_state_t risk
    cdef public double maker_fee_bps
    cdef public double taker_fee_bps
    cdef order_t orders[MAX_OPEN]       # resting orders, oldest first
    cdef readonly uint32_t n_open
    cdef uint32_t open_on[16]           # resting orders per symbol index
    cdef int64_t upnl[16]               # unrealized PnL per symbol index
    cdef idset_t ids                    # the last client order ids used (DUPLICATE_ID)
    # fills / rejects for the algo
    cdef algo_event_t* events
    cdef uint32_t ev_head
    cdef uint32_t ev_count
    # the market-data update being processed (trace "tick" and tick-to-order)
    cdef uint64_t tick_ns
    cdef bint tick_from_book
    cdef hist_t tick_to_order           # ns from tick to OMS ack, orders placed from on_book
    # counters
    cdef readonly uint64_t n_orders, n_fills, n_rejects, n_cancels, n_amends, events_dropped
    cdef readonly uint64_t n_cancelled_by_edge
    cdef uint64_t reject_counts[N_REASONS]
    cdef readonly uint64_t volume_1e8, notional_1e8
    # durable state (journal.pyx): fills and order events since the last flush
    cdef jlog_t jlog

    # hot path
    cdef void handle(self, const seq_action_t* a) noexcept
    cdef void level_change(self, uint16_t sym, uint8_t side, uint64_t px, uint64_t old_qty,
                           uint64_t new_qty) noexcept
    cdef void match_resting(self, uint16_t sym) noexcept
    cdef void after_snapshot(self, uint16_t sym) noexcept
    cdef void mark(self, uint16_t sym) noexcept
    cdef void _mark_pnl(self, uint16_t sym) noexcept
    cdef bint pop_event(self, algo_event_t* out) noexcept
    cdef uint32_t cancel_resting(self, uint16_t sym) noexcept
    cdef bint is_running(self) noexcept
    # implementation
    cdef void _place(self, const seq_action_t* a) noexcept
    cdef void _cancel(self, const seq_action_t* a) noexcept
    cdef void _cancel_all(self, const seq_action_t* a) noexcept
    cdef void _amend(self, const seq_action_t* a) noexcept
    cdef uint64_t _take(self, order_t* o, bint limited) noexcept
    cdef void _fill(self, order_t* o, uint64_t px, uint64_t qty, bint maker, uint64_t ts) noexcept
    cdef void _finalize_last_fill(self, uint64_t client_id) noexcept
    cdef void _position(self, uint16_t sym, uint8_t side, uint64_t px, uint64_t qty) noexcept
    cdef void _rest(self, order_t* o) noexcept
    cdef void _remove(self, uint32_t i) noexcept
    cdef int _find(self, uint64_t client_id) noexcept
    cdef void _reject(self, uint64_t client_id, uint32_t reason, uint16_t sym, uint8_t kind,
                      uint32_t ref) noexcept
    cdef void _push(self, algo_event_t* ev) noexcept
    cdef void _mirror_orders(self) noexcept
    cdef void _trip(self) noexcept
    cdef uint64_t _worst_px(self, Book book, uint8_t side, uint64_t qty) noexcept
    cdef uint64_t _mid(self, Book book) noexcept
