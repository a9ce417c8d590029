# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Account state <-> journal batches (the file side is sequence_edge/journal.py).

A batch is what one flush writes for one deployment: the fills and order events the OMS buffered
since the last flush (jlog.pxd), followed by a checkpoint of everything needed to continue
trading after a restart:

  next client order id (the algo's AlgoState.next_id), realized PnL and fees, positions (qty and
  average entry price per symbol), resting orders (client id, order ref, price, quantity, filled,
  queue ahead, side, type), the risk state (token bucket, kill switch and the PnL that tripped
  it), the counters shown in status, the number of order refs the edge had issued, the symbols.

The checkpoint is the source of truth on restore; the events are the history between two
checkpoints (what was filled, when, at what price). Both are native-endian fixed-size structs
behind a small header carrying a version and the struct sizes: a journal is read back by the
same build of the edge on the same architecture (an incompatible one is refused, not misread).
Unrealized PnL is not kept: it is marked again from the book after the restart.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc
from libc.string cimport memcpy, memset

from sequence_edge.algo.abi cimport seq_position_t
from sequence_edge.orders.idset cimport idset_add
from sequence_edge.orders.jlog cimport JLOG_CAP, jevent_t
from sequence_edge.orders.oms cimport MAX_OPEN, Account, order_t
from sequence_edge.orders.risk cimport N_REASONS
from sequence_edge.util cimport now_ns

VERSION = 1
EVENT_KINDS = {1: "accept", 2: "fill", 3: "cancel", 4: "amend", 5: "reject"}


cdef packed struct ckpt_t:
    uint32_t version
    uint16_t event_size          # sizeof(jevent_t), sizeof(order_t): a different build is refused
    uint16_t order_size
    uint64_t ts_ns
    uint64_t refs_issued
    uint64_t next_id
    int64_t realized_pnl_1e8
    int64_t fees_1e8
    double tokens
    uint64_t refilled_ns
    int64_t killed_pnl_1e8
    uint64_t killed_ns
    uint32_t killed
    uint32_t n_events
    uint32_t n_symbols
    uint32_t n_open
    uint32_t symbols_len
    uint32_t _pad
    uint64_t n_orders
    uint64_t n_fills
    uint64_t n_rejects
    uint64_t n_cancels
    uint64_t n_amends
    uint64_t n_cancelled_by_edge
    uint64_t volume_1e8
    uint64_t notional_1e8
    uint64_t events_lost           # events the buffer could not keep (history gap; state exact)
    uint64_t reject_counts[N_REASONS]


def enable(Account acct) -> None:
    """Start buffering the account's fills and order events (and checkpointing it) for a journal."""
    if acct.jlog.ev == NULL:
        acct.jlog.ev = <jevent_t*>calloc(JLOG_CAP, sizeof(jevent_t))
        if acct.jlog.ev == NULL:
            raise MemoryError()
    acct.jlog.dirty = True


def mark_dirty(Account acct) -> None:
    """Something outside the OMS changed what a checkpoint holds (a push, a restore)."""
    acct.jlog.dirty = True


def pending(Account acct) -> bool:
    """True when a flush would write a batch for this account."""
    return acct.jlog.ev != NULL and (acct.jlog.dirty or acct.jlog.n > 0)


def pending_indexes(list accounts):
    """Indexes of the accounts a flush would write a batch for, or None when there is none: the
    check the edge loop makes after every step, in C (one call whatever the number of accounts)."""
    cdef Py_ssize_t i
    cdef Account a
    out = None
    for i in range(len(accounts)):
        a = <Account>accounts[i]
        if a.jlog.ev != NULL and (a.jlog.dirty or a.jlog.n):
            if out is None:
                out = []
            out.append(i)
    return out


def take_batch(Account acct, uint64_t refs_issued, bint force=False):
    """The buffered events and a checkpoint as one batch (bytes), emptying the buffer; None when
    nothing changed since the last batch (unless `force`)."""
    cdef ckpt_t h
    cdef uint32_t i
    cdef size_t size
    cdef char* p
    if acct.jlog.ev == NULL or not (force or acct.jlog.dirty or acct.jlog.n):
        return None
    symbols = ",".join(acct.symbols).encode()
    memset(&h, 0, sizeof(h))
    h.version = VERSION
    h.event_size = sizeof(jevent_t)
    h.order_size = sizeof(order_t)
    h.ts_ns = now_ns()
    h.refs_issued = refs_issued
    h.next_id = acct.st.next_id
    h.realized_pnl_1e8 = acct.st.realized_pnl_1e8
    h.fees_1e8 = acct.st.fees_1e8
    h.tokens = acct.risk.tokens
    h.refilled_ns = acct.risk.refilled_ns
    h.killed = acct.risk.killed
    h.killed_pnl_1e8 = acct.risk.killed_pnl_1e8
    h.killed_ns = acct.risk.killed_ns
    h.n_events = acct.jlog.n
    h.n_symbols = acct.n_symbols
    h.n_open = acct.n_open
    h.symbols_len = len(symbols)
    h.n_orders = acct.n_orders
    h.n_fills = acct.n_fills
    h.n_rejects = acct.n_rejects
    h.n_cancels = acct.n_cancels
    h.n_amends = acct.n_amends
    h.n_cancelled_by_edge = acct.n_cancelled_by_edge
    h.volume_1e8 = acct.volume_1e8
    h.notional_1e8 = acct.notional_1e8
    h.events_lost = acct.jlog.overflow
    for i in range(N_REASONS):
        h.reject_counts[i] = acct.reject_counts[i]
    size = (sizeof(h) + h.n_events * sizeof(jevent_t) + h.n_symbols * sizeof(seq_position_t)
            + h.n_open * sizeof(order_t) + h.symbols_len)
    out = PyBytes_FromStringAndSize(NULL, size)
    p = PyBytes_AS_STRING(out)
    memcpy(p, &h, sizeof(h))
    p += sizeof(h)
    memcpy(p, acct.jlog.ev, h.n_events * sizeof(jevent_t))
    p += h.n_events * sizeof(jevent_t)
    memcpy(p, &acct.st.positions[0], h.n_symbols * sizeof(seq_position_t))
    p += h.n_symbols * sizeof(seq_position_t)
    memcpy(p, &acct.orders[0], h.n_open * sizeof(order_t))
    p += h.n_open * sizeof(order_t)
    memcpy(p, <char*>symbols, h.symbols_len)
    acct.jlog.n = 0
    acct.jlog.dirty = False
    return out


cdef const ckpt_t* _header(bytes batch) except NULL:
    cdef const ckpt_t* h
    if len(batch) < sizeof(ckpt_t):
        raise ValueError(f"journal batch of {len(batch)} bytes is shorter than its header")
    h = <const ckpt_t*>PyBytes_AS_STRING(batch)
    if h.version != VERSION or h.event_size != sizeof(jevent_t) or h.order_size != sizeof(order_t):
        raise ValueError(f"journal batch version {h.version} (struct sizes {h.event_size}/{h.order_size}) "
                         f"is not this edge's version {VERSION} ({sizeof(jevent_t)}/{sizeof(order_t)})")
    if h.n_symbols > 16 or h.n_open > MAX_OPEN or h.n_events > JLOG_CAP or len(batch) != (
            sizeof(ckpt_t) + h.n_events * sizeof(jevent_t) + h.n_symbols * sizeof(seq_position_t)
            + h.n_open * sizeof(order_t) + h.symbols_len):
        raise ValueError("journal batch sizes do not add up")
    return h


def read_batch(bytes batch) -> dict:
    """A batch as plain data (1e8 fixed point): {checkpoint fields..., events, positions, orders}."""
    cdef const ckpt_t* h = _header(batch)
    cdef const char* p = PyBytes_AS_STRING(batch) + sizeof(ckpt_t)
    cdef const jevent_t* e
    cdef const seq_position_t* pos
    cdef const order_t* o
    cdef uint32_t i
    events = []
    for i in range(h.n_events):
        e = <const jevent_t*>p + i
        events.append({"event": EVENT_KINDS.get(e.kind, str(e.kind)), "ts_ns": e.ts_ns, "ref": e.ref,
                       "order_id": e.client_id, "symbol_idx": e.symbol_idx, "px_1e8": e.px_1e8,
                       "qty_1e8": e.qty_1e8, "fee_1e8": e.fee_1e8, "code": e.code & 0x3F,
                       "side": e.code >> 6})
    p += h.n_events * sizeof(jevent_t)
    pos = <const seq_position_t*>p
    positions = [(pos[i].qty_1e8, pos[i].avg_px_1e8) for i in range(h.n_symbols)]
    p += h.n_symbols * sizeof(seq_position_t)
    o = <const order_t*>p
    orders = [{"order_id": o[i].client_id, "ref": o[i].ref, "px_1e8": o[i].px_1e8, "qty_1e8": o[i].qty_1e8,
               "filled_1e8": o[i].filled_1e8, "queue_1e8": o[i].queue_1e8, "symbol_idx": o[i].symbol_idx,
               "side": o[i].side, "order_type": o[i].order_type} for i in range(h.n_open)]
    p += h.n_open * sizeof(order_t)
    symbols = p[:h.symbols_len].decode()
    return {"ts_ns": h.ts_ns, "refs_issued": h.refs_issued, "next_id": h.next_id,
            "realized_pnl_1e8": h.realized_pnl_1e8, "fees_1e8": h.fees_1e8, "killed": bool(h.killed),
            "killed_pnl_1e8": h.killed_pnl_1e8, "tokens": h.tokens, "n_orders": h.n_orders,
            "n_fills": h.n_fills, "n_rejects": h.n_rejects, "n_cancels": h.n_cancels,
            "events_lost": h.events_lost, "symbols": symbols.split(",") if symbols else [],
            "events": events, "positions": positions, "orders": orders}


def restore(Account acct, bytes batch, *, bint keep_risk) -> None:
    """Put a checkpoint back into a fresh account opened with the checkpoint's symbols (in order).
    `keep_risk`: also the token bucket and the kill switch (a restart of the same bundle); without
    it they start fresh, as on any re-push."""
    cdef const ckpt_t* h = _header(batch)
    cdef const char* p = PyBytes_AS_STRING(batch) + sizeof(ckpt_t) + h.n_events * sizeof(jevent_t)
    cdef uint32_t i
    cdef order_t* o
    cdef uint64_t t = now_ns()
    if h.n_symbols != acct.n_symbols:
        raise ValueError(f"the journal holds {h.n_symbols} symbols, the account {acct.n_symbols}")
    if acct.n_open or acct.n_orders:
        raise ValueError(f"{acct.deployment_id} already traded: a journal restores into a fresh account")
    if h.next_id > acct.st.next_id:
        acct.st.next_id = h.next_id
    acct.st.realized_pnl_1e8 = h.realized_pnl_1e8
    acct.st.fees_1e8 = h.fees_1e8
    acct.st.unrealized_pnl_1e8 = 0
    memcpy(&acct.st.positions[0], p, h.n_symbols * sizeof(seq_position_t))
    p += h.n_symbols * sizeof(seq_position_t)
    memcpy(&acct.orders[0], p, h.n_open * sizeof(order_t))
    acct.n_open = h.n_open
    memset(acct.open_on, 0, sizeof(acct.open_on))
    for i in range(acct.n_open):
        o = &acct.orders[i]
        if o.symbol_idx >= acct.n_symbols:
            raise ValueError(f"journaled order {o.client_id} names symbol index {o.symbol_idx}")
        acct.open_on[o.symbol_idx] += 1
        idset_add(&acct.ids, o.client_id)
        acct.traces.restore_order(o.ref, acct.serial, acct.book_ids[o.symbol_idx], o.client_id, o.side,
                                  o.order_type, o.px_1e8, o.qty_1e8, o.filled_1e8, t)
    acct.n_orders = h.n_orders
    acct.n_fills = h.n_fills
    acct.n_rejects = h.n_rejects
    acct.n_cancels = h.n_cancels
    acct.n_amends = h.n_amends
    acct.n_cancelled_by_edge = h.n_cancelled_by_edge
    acct.volume_1e8 = h.volume_1e8
    acct.notional_1e8 = h.notional_1e8
    acct.jlog.overflow = h.events_lost
    for i in range(N_REASONS):
        acct.reject_counts[i] = h.reject_counts[i]
    if keep_risk:
        acct.risk.tokens = h.tokens
        acct.risk.refilled_ns = h.refilled_ns
        acct.risk.killed = h.killed
        acct.risk.killed_pnl_1e8 = h.killed_pnl_1e8
        acct.risk.killed_ns = h.killed_ns
    acct._mirror_orders()
    acct.jlog.dirty = True
