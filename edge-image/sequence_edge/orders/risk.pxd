# Host-side pre-trade risk (risk.pyx): limits in 1e8 fixed point, one check per order action.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

# Reject reasons (abi.py REJECT_REASONS).
cdef enum:
    R_OK = 0
    R_MAX_ORDER_QTY = 1
    R_MAX_NOTIONAL = 2
    R_MAX_POSITION = 3
    R_MAX_OPEN_ORDERS = 4
    R_RATE_LIMIT = 5
    R_PRICE_BAND = 6
    R_KILL_SWITCH = 7
    R_MAX_LOSS = 8
    R_UNKNOWN_ORDER = 9
    R_DUPLICATE_ID = 10
    R_INVALID_ACTION = 11
    R_UNKNOWN_SYMBOL = 12
    R_NO_LIQUIDITY = 13
    R_WOULD_CROSS = 14
    R_BOOK_STALE = 15
    R_NOT_RUNNING = 16
    R_VENUE_REJECT = 17
    N_REASONS = 18

cdef enum:
    HARD_MAX_OPEN_ORDERS = 256   # resting orders per deployment even without a configured limit

# A zero limit means "no limit" (RiskLimits fields are positive when set).
cdef struct risk_limits_t:
    uint64_t max_order_qty_1e8
    uint64_t max_notional_1e8
    uint64_t max_position_1e8
    uint32_t max_open_orders
    double max_orders_per_sec
    double price_band_bps
    int64_t max_loss_1e8

cdef struct risk_state_t:
    double tokens                # token bucket for order placement and amends
    uint64_t refilled_ns         # when `tokens` was last brought up to date (0 = never: full bucket)
    bint killed                  # kill switch tripped: everything is refused until a re-push
    int64_t killed_pnl_1e8       # PnL that tripped it
    uint64_t killed_ns

# What the OMS knows about one order action when it asks risk.
cdef struct risk_order_t:
    uint8_t side                 # SIDE_BUY / SIDE_SELL
    bint rests                   # may rest on the book (limit / post-only): counts as an open order
    uint64_t qty_1e8             # quantity that can still execute (MAX_POSITION)
    uint64_t order_qty_1e8       # the order's total quantity, filled part included (MAX_ORDER_QTY,
                                 # MAX_NOTIONAL): an amend of a partly filled order counts all of it
    uint64_t px_1e8              # limit price, or the worst price a market order would reach
    uint64_t mid_1e8             # mid of the book (0 when it is one-sided)
    int64_t position_1e8         # current position in the symbol
    uint64_t open_buy_1e8        # unfilled quantity of resting buys on the symbol (this order excluded)
    uint64_t open_sell_1e8
    uint32_t open_orders         # resting orders of the deployment (all symbols)
    int64_t pnl_1e8              # realized + unrealized, fees included
    uint64_t now_ns

cdef uint32_t check_order(const risk_limits_t* lim, risk_state_t* st, const risk_order_t* o) noexcept nogil
cdef bint loss_exceeded(const risk_limits_t* lim, int64_t pnl_1e8) noexcept nogil
cdef void trip(risk_state_t* st, int64_t pnl_1e8, uint64_t now_ns) noexcept nogil
cdef int limits_from_dict(risk_limits_t* out, dict risk) except -1
