# Included at the end of oms.pyx: the cold, Python-facing side of Account, as module-level
# functions its def methods call. A re-push that changes the symbol list, the action entry for
# tests and undeploy leftovers, and the Python views of events and resting orders; none of it
# runs on the hot path (books -> matching -> algo callbacks), which stays in the class.


cdef resymbol_account(Account acct, list symbols, books, book_ids):
    """Account.resymbol: cancel resting orders on dropped symbols, re-index everything else."""
    cdef seq_algo_state_t old = acct.st[0]
    cdef int64_t old_upnl[16]
    cdef uint32_t i
    acct.check_resymbol(symbols)
    if not 1 <= len(symbols) <= 16 or len(books) != len(symbols) or len(book_ids) != len(symbols):
        raise ValueError("an account needs 1..16 symbols, each with its book and book index")
    remap = {i: symbols.index(s) for i, s in enumerate(acct.symbols) if s in symbols}
    for i, s in enumerate(acct.symbols):
        if i not in remap:
            acct.n_cancelled_by_edge += acct.cancel_resting(i)
    for i in range(16):
        old_upnl[i] = acct.upnl[i]
        acct.upnl[i] = 0
        acct.open_on[i] = 0
        acct.st.positions[i].qty_1e8 = 0
        acct.st.positions[i].avg_px_1e8 = 0
    for old_idx, new_idx in remap.items():
        acct.st.positions[new_idx] = old.positions[old_idx]
        acct.upnl[new_idx] = old_upnl[old_idx]
    for i in range(acct.n_open):
        acct.orders[i].symbol_idx = remap[acct.orders[i].symbol_idx]
        acct.open_on[acct.orders[i].symbol_idx] += 1
    acct.symbols = tuple(symbols)
    acct.books = [<Book?>b for b in books]
    acct.n_symbols = len(symbols)
    for i, b in enumerate(book_ids):
        acct.book_ids[i] = b
    acct.st.symbol_count = acct.n_symbols
    acct._mirror_orders()


cdef submit_action(Account acct, int kind, int side, int order_type, int symbol_idx, uint64_t order_id,
                   uint64_t px_1e8, uint64_t qty_1e8):
    """Account.submit: one action handled as if the algo had emitted it."""
    cdef seq_action_t a
    memset(&a, 0, sizeof(a))
    a.kind = kind
    a.side = side
    a.order_type = order_type
    a.symbol_idx = symbol_idx
    a.order_id = order_id
    a.px_1e8 = px_1e8
    a.qty_1e8 = qty_1e8
    acct.tick_ns = now_ns()
    acct.tick_from_book = False
    acct.handle(&a)


cdef list drain_as_python(Account acct):
    """Account.drain_events: undelivered fills and rejects, oldest first."""
    cdef algo_event_t ev
    out = []
    while acct.pop_event(&ev):
        if ev.kind == EVK_FILL:
            out.append(("fill", {"order_id": ev.fill.order_id, "px_1e8": ev.fill.px_1e8,
                                 "qty_1e8": ev.fill.qty_1e8, "fee_1e8": ev.fill.fee_1e8,
                                 "symbol_idx": ev.fill.symbol_idx, "side": ev.fill.side,
                                 "maker": bool(ev.fill.flags & SEQ_FILL_MAKER),
                                 "final": bool(ev.fill.flags & SEQ_FILL_FINAL)}))
        else:
            out.append(("reject", {"order_id": ev.reject.order_id,
                                   "reason": abi.REJECT_REASONS.get(ev.reject.reason, str(ev.reject.reason)),
                                   "symbol_idx": ev.reject.symbol_idx,
                                   "action_kind": ev.reject.action_kind}))
    return out


cdef list open_orders_as_python(Account acct):
    """Account.open_orders: resting orders, oldest first."""
    cdef uint32_t i
    cdef order_t* o
    out = []
    for i in range(acct.n_open):
        o = &acct.orders[i]
        out.append({"order_ref": format_ref(o.ref), "order_id": o.client_id,
                    "symbol": acct.symbols[o.symbol_idx], "side": "buy" if o.side == SEQ_SIDE_BUY else "sell",
                    "type": {0: "limit", 3: "post_only"}.get(o.order_type, str(o.order_type)),
                    "px_1e8": o.px_1e8, "qty_1e8": o.qty_1e8, "filled_1e8": o.filled_1e8,
                    "queue_ahead_1e8": o.queue_1e8, "state": "open"})
    return out


cdef bint venue_fill(Account acct, uint64_t order_id, uint64_t px_1e8, uint64_t qty_1e8, bint maker,
                     int side, int symbol_idx):
    """Account.venue_fill (mode live: fills come from the venue, not from matching here). An open
    order fills (and closes when complete); one already cancelled here (the fill raced the cancel)
    is booked all the same with `side` and `symbol_idx`: positions follow the venue. False when
    neither applies."""
    cdef int i = acct._find(order_id)
    cdef order_t* o
    cdef order_t late
    if qty_1e8 == 0:
        return False
    if i >= 0:
        o = &acct.orders[i]
        if qty_1e8 > remaining(o):
            qty_1e8 = remaining(o)
        acct._fill(o, px_1e8, qty_1e8, maker, now_ns())
        if o.filled_1e8 == o.qty_1e8:
            acct.traces.set_state(o.ref, OS_FILLED, o.filled_1e8)
            acct._remove(i)
        acct._mirror_orders()
        return True
    if side not in (SEQ_SIDE_BUY, SEQ_SIDE_SELL) or not 0 <= symbol_idx < acct.n_symbols:
        return False
    memset(&late, 0, sizeof(late))
    late.client_id = order_id
    late.qty_1e8 = qty_1e8
    late.side = side
    late.symbol_idx = symbol_idx
    acct._fill(&late, px_1e8, qty_1e8, maker, now_ns())
    return True


cdef bint venue_closed(Account acct, uint64_t order_id, bint rejected):
    """Account.venue_closed: the venue refused (`rejected`: VENUE_REJECT to the algo) or closed an
    open order on its own (cancelled, expired: counted as cancelled by the edge). False if it is
    not open here."""
    cdef int i = acct._find(order_id)
    cdef order_t* o
    cdef uint32_t ref
    cdef uint16_t sym
    cdef uint64_t t = now_ns()
    if i < 0:
        return False
    o = &acct.orders[i]
    ref, sym = o.ref, o.symbol_idx
    acct.traces.event(ref, EV_CANCEL, t, 0, remaining(o), 0)
    acct.traces.set_state(ref, OS_REJECTED if rejected and o.filled_1e8 == 0 else OS_CANCELLED, o.filled_1e8)
    # the journal closes it either way (a restart must not bring it back as resting)
    jlog_add(&acct.jlog, JEV_CANCEL, ref, o.client_id, sym, 0, o.px_1e8, remaining(o), 0, t)
    acct._remove(i)
    acct._mirror_orders()
    if rejected:
        acct._reject(order_id, R_VENUE_REJECT, sym, SEQ_ACTION_PLACE, ref)
    else:
        acct.n_cancelled_by_edge += 1
    return True


cdef tuple histogram_buckets(Account acct, bounds_ns):
    """Account.tick_to_order_buckets."""
    cdef uint32_t i
    cdef uint64_t top, n
    cdef double total = 0.0
    bounds = [int(b) for b in bounds_ns]
    counts = [0] * len(bounds)
    for i in range(HIST_BUCKETS):
        n = acct.tick_to_order.buckets[i]
        if n == 0:
            continue
        top = hist_upper(i)
        total += n * (top - (top - (hist_upper(i - 1) if i else 0)) / 2.0)
        for j, b in enumerate(bounds):
            if top <= b:
                counts[j] += n
    return counts, acct.tick_to_order.count, total


cdef attach_instance(Account acct, AlgoInstance instance):
    """Account.attach: the instance's AlgoState becomes the mirror (it inherits the account's)."""
    if tuple(instance.symbols) != acct.symbols:
        raise ValueError(f"instance symbols {list(instance.symbols)} != account symbols {list(acct.symbols)}")
    cdef seq_algo_state_t* src = acct.st
    cdef seq_algo_state_t* dst = instance.algo_state()
    cdef uint64_t next_id = dst.next_id
    if dst != src:
        dst[0] = src[0]
        if next_id > dst.next_id:
            dst.next_id = next_id   # a hot-swapped instance inherited the old one's next_id
    acct.instance = instance
    acct.st = dst
    acct._mirror_orders()
    instance.mark_state_dirty()


cdef check_dropped_symbols(Account acct, symbols):
    """Account.check_resymbol."""
    held = [s for i, s in enumerate(acct.symbols)
            if s not in symbols and acct.st.positions[i].qty_1e8 != 0]
    if held:
        raise ValueError(f"{acct.deployment_id} holds a position in {', '.join(held)}, which the new "
                         f"symbol list drops; flatten it or keep the symbol")
