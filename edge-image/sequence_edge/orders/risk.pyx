# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Pre-trade risk, checked on the host before the paper OMS sees an order.

The algo cannot bypass or see these checks except through `on_reject`. Limits come from the
deployment's `risk` block (sequence.models.specs.RiskLimits, natural units) and are converted
once to 1e8 fixed point. Checks, in order (the first failing one is the reject reason):

  KILL_SWITCH      the kill switch has tripped: every action is refused until the deployment is
                   pushed again (a new push resets risk state; stop/start does not)
  MAX_LOSS         realized + unrealized PnL (fees included) is below -max_loss: trips the switch
  MAX_ORDER_QTY    the order's total quantity above max_order_qty (an amend counts what already
                   filled too: amending a partly filled order cannot grow it past the limit)
  MAX_NOTIONAL     price x total quantity above max_notional (market orders: the worst price
                   they reach)
  MAX_POSITION     the position if this order and every resting order on the same side filled
                   would exceed max_position in absolute value
  MAX_OPEN_ORDERS  a resting order (limit / post-only) while max_open_orders are resting already
                   (HARD_MAX_OPEN_ORDERS applies without a configured limit)
  PRICE_BAND       price further than price_band_bps from the mid
  RATE_LIMIT       token bucket of max_orders_per_sec, burst of one second's worth (at least 1);
                   only orders that passed everything else take a token, cancels never do

Structural rejects (INVALID_ACTION, UNKNOWN_SYMBOL, UNKNOWN_ORDER, DUPLICATE_ID, NOT_RUNNING,
BOOK_STALE) are decided by the OMS, which knows the deployment's symbols and orders.
"""

from libc.stdint cimport int64_t, uint32_t, uint64_t

from sequence_edge.algo.abi cimport SEQ_SIDE_BUY
from sequence_edge.util cimport FIXED, muldiv

from sequence_edge.algo import abi


cdef uint32_t check_order(const risk_limits_t* lim, risk_state_t* st, const risk_order_t* o) noexcept nogil:
    cdef int64_t worst
    cdef uint64_t dist, capacity
    if st.killed:
        return R_KILL_SWITCH
    if loss_exceeded(lim, o.pnl_1e8):
        trip(st, o.pnl_1e8, o.now_ns)
        return R_MAX_LOSS
    if lim.max_order_qty_1e8 and o.order_qty_1e8 > lim.max_order_qty_1e8:
        return R_MAX_ORDER_QTY
    if lim.max_notional_1e8 and muldiv(o.px_1e8, o.order_qty_1e8, FIXED) > lim.max_notional_1e8:
        return R_MAX_NOTIONAL
    if lim.max_position_1e8:
        if o.side == SEQ_SIDE_BUY:
            worst = o.position_1e8 + <int64_t>(o.open_buy_1e8 + o.qty_1e8)
            if worst > <int64_t>lim.max_position_1e8:
                return R_MAX_POSITION
        else:
            worst = o.position_1e8 - <int64_t>(o.open_sell_1e8 + o.qty_1e8)
            if worst < -<int64_t>lim.max_position_1e8:
                return R_MAX_POSITION
    if o.rests:
        if o.open_orders >= HARD_MAX_OPEN_ORDERS:
            return R_MAX_OPEN_ORDERS
        if lim.max_open_orders and o.open_orders >= lim.max_open_orders:
            return R_MAX_OPEN_ORDERS
    if lim.price_band_bps > 0 and o.mid_1e8:
        dist = o.px_1e8 - o.mid_1e8 if o.px_1e8 > o.mid_1e8 else o.mid_1e8 - o.px_1e8
        if <double>dist * 1e4 > lim.price_band_bps * <double>o.mid_1e8:
            return R_PRICE_BAND
    if lim.max_orders_per_sec > 0:
        capacity = <uint64_t>lim.max_orders_per_sec if lim.max_orders_per_sec >= 1 else 1
        if st.refilled_ns == 0:
            st.tokens = capacity
        elif o.now_ns > st.refilled_ns:
            st.tokens += (o.now_ns - st.refilled_ns) * 1e-9 * lim.max_orders_per_sec
            if st.tokens > capacity:
                st.tokens = capacity
        if o.now_ns > st.refilled_ns:
            st.refilled_ns = o.now_ns
        if st.tokens < 1.0:
            return R_RATE_LIMIT
        st.tokens -= 1.0
    return R_OK


cdef bint loss_exceeded(const risk_limits_t* lim, int64_t pnl_1e8) noexcept nogil:
    return lim.max_loss_1e8 > 0 and pnl_1e8 < -lim.max_loss_1e8


cdef void trip(risk_state_t* st, int64_t pnl_1e8, uint64_t now_ns) noexcept nogil:
    if not st.killed:
        st.killed = True
        st.killed_pnl_1e8 = pnl_1e8
        st.killed_ns = now_ns


LIMIT_FIELDS = ("max_order_qty", "max_notional", "max_position", "max_open_orders",
                "max_orders_per_sec", "price_band_bps", "max_loss")


cdef uint64_t _fixed(str name, object value) except? 0:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"risk.{name} must be a positive number, got {value!r}")
    if not value * FIXED < 2.0 ** 63:  # also refuses inf and nan
        raise ValueError(f"risk.{name} is too large: {value!r}")
    fixed = abi.to_fixed(value)
    if fixed < 1:  # 0 would mean "no limit": a tiny limit must never switch the check off
        raise ValueError(f"risk.{name} {value!r} rounds to 0 in 1e8 fixed point (smallest: 1e-08)")
    return <uint64_t>fixed


cdef int limits_from_dict(risk_limits_t* out, dict risk) except -1:
    """Natural-unit limits (RiskLimits field names; None or missing = no limit) -> fixed point."""
    unknown = sorted(set(risk) - set(LIMIT_FIELDS))
    if unknown:
        raise ValueError(f"unknown risk limit(s) {unknown}; known: {list(LIMIT_FIELDS)}")
    out.max_order_qty_1e8 = out.max_notional_1e8 = out.max_position_1e8 = 0
    out.max_open_orders = 0
    out.max_orders_per_sec = out.price_band_bps = 0.0
    out.max_loss_1e8 = 0
    get = lambda k: risk.get(k)  # noqa: E731
    if get("max_order_qty") is not None:
        out.max_order_qty_1e8 = _fixed("max_order_qty", get("max_order_qty"))
    if get("max_notional") is not None:
        out.max_notional_1e8 = _fixed("max_notional", get("max_notional"))
    if get("max_position") is not None:
        out.max_position_1e8 = _fixed("max_position", get("max_position"))
    if get("max_open_orders") is not None:
        value = get("max_open_orders")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"risk.max_open_orders must be an integer >= 1, got {value!r}")
        out.max_open_orders = min(value, 1 << 31)
    if get("max_orders_per_sec") is not None:
        _fixed("max_orders_per_sec", get("max_orders_per_sec"))
        out.max_orders_per_sec = float(get("max_orders_per_sec"))
    if get("price_band_bps") is not None:
        _fixed("price_band_bps", get("price_band_bps"))
        out.price_band_bps = float(get("price_band_bps"))
    if get("max_loss") is not None:
        out.max_loss_1e8 = <int64_t>_fixed("max_loss", get("max_loss"))
    return 0


cdef class RiskChecker:
    """Python view of one deployment's limits and risk state (tests, the bench's baseline, status)."""

    cdef risk_limits_t limits
    cdef risk_state_t state

    def __init__(self, risk: dict | None = None):
        limits_from_dict(&self.limits, dict(risk or {}))

    def check(self, *, side: int, qty_1e8: int, px_1e8: int, mid_1e8: int = 0, rests: bool = True,
              position_1e8: int = 0, open_buy_1e8: int = 0, open_sell_1e8: int = 0,
              open_orders: int = 0, pnl_1e8: int = 0, now_ns: int = 1,
              order_qty_1e8: int | None = None) -> str | None:
        """The reject reason name for this order, or None when it passes (and takes a token).
        order_qty_1e8: the total quantity (an amend's filled part included); default qty_1e8."""
        cdef risk_order_t o
        o.side = side
        o.rests = rests
        o.qty_1e8 = qty_1e8
        o.order_qty_1e8 = qty_1e8 if order_qty_1e8 is None else order_qty_1e8
        o.px_1e8 = px_1e8
        o.mid_1e8 = mid_1e8
        o.position_1e8 = position_1e8
        o.open_buy_1e8 = open_buy_1e8
        o.open_sell_1e8 = open_sell_1e8
        o.open_orders = open_orders
        o.pnl_1e8 = pnl_1e8
        o.now_ns = now_ns
        reason = check_order(&self.limits, &self.state, &o)
        return abi.REJECT_REASONS[reason] if reason else None

    @property
    def killed(self) -> bool:
        return self.state.killed

    @property
    def tokens(self) -> float:
        return self.state.tokens
