# Part of sequence_edge.algo.host (included by host.pyx).
# The call path into an instance, all nogil: failing an instance with a reason (traps, missed
# deadlines, ABI violations), the epoch-deadline callback, writing inputs into the IoBlock and
# calling an export. This is the unsafe core of the host; nothing here touches Python objects.

# ------------------------------------------------------------------ failure and traps

cdef str _state_name(int state):
    return ("loaded", "running", "stopped", "failed", "removed", "paused")[state]


cdef void slot_fail(seq_slot_t* s, const char* reason) noexcept nogil:
    if s.state == SLOT_FAILED:
        return
    s.state = SLOT_FAILED
    snprintf(s.reason, REASON_MAX, "%s", reason)


cdef void slot_fail_call(seq_slot_t* s, wasmtime_error_t* err, wasm_trap_t* trap,
                         const char* what) noexcept nogil:
    """Classify a failed call (deadline / trap near the memory cap / other trap / error) and fail."""
    cdef wasm_byte_vec_t msg
    cdef char text[200]
    cdef char frame[120]
    cdef char where[160]
    cdef char reason[REASON_MAX]
    cdef char memory_note[160]
    cdef char panic_note[200]
    cdef wasmtime_trap_code_t code = 255
    cdef size_t mem_size
    cdef uint64_t headroom
    memory_note[0] = 0
    panic_note[0] = 0
    if trap != NULL:
        s.traps += 1
        if not wt.trap_code(trap, &code):
            code = 255
        wt.trap_message(trap, &msg)
    else:
        wt.error_message(err, &msg)
    seq_trap_text(msg.data, msg.size, text, sizeof(text), frame, sizeof(frame))
    wt.byte_vec_delete(&msg)
    if trap != NULL:
        wt.trap_delete(trap)
    else:
        wt.error_delete(err)
    if frame[0]:
        snprintf(where, sizeof(where), "in %s, at %s", what, frame)
    else:
        snprintf(where, sizeof(where), "in %s", what)
    if s.last_error_seq == s.call_seq and s.last_error_seq != 0:
        snprintf(panic_note, sizeof(panic_note), "; it logged: %s", s.last_error)
    if s.deadline_expired or (trap != NULL and code == WT_TRAP_INTERRUPT):
        s.deadline_expired = False
        s.deadline_hits += 1
        snprintf(reason, REASON_MAX, "deadline exceeded (%g ms) in %s", s.deadline_ms, what)
    elif trap != NULL:
        # No hook reports a refused memory.grow; a trap with the memory at its cap (within one
        # sixteenth of it, at least 1 MiB) is almost always an allocation that failed because of it.
        mem_size = wt.memory_data_size(s.ctx, &s.memory) if s.memory_ready else 0
        headroom = s.memory_limit // 16
        if headroom < (1 << 20):
            headroom = 1 << 20
        if s.memory_ready and mem_size + headroom >= s.memory_limit:
            snprintf(memory_note, sizeof(memory_note),
                     "; memory is at %.1f MiB of its %.1f MiB cap: a memory.grow beyond the cap "
                     "was refused", mem_size / 1048576.0, s.memory_limit / 1048576.0)
        snprintf(reason, REASON_MAX, "trap: %s (%s)%s%s", text, where, memory_note, panic_note)
    else:
        snprintf(reason, REASON_MAX, "call failed: %s (%s)", text, where)
    slot_fail(s, reason)


cdef wasmtime_error_t* on_epoch_deadline(wasmtime_context_t* ctx, void* data, uint64_t* delta,
                                         wasmtime_update_deadline_kind_t* kind) noexcept nogil:
    """Runs (on the dispatching thread, inside the wasm call) when a callback reaches its deadline.
    The first time, open a check window; at the end of a window, end the call if it burnt at least
    half the window in CPU time, else (it was mostly preempted) open another window."""
    cdef seq_slot_t* s = <seq_slot_t*>data
    cdef uint64_t cpu = seq_clock_ns(CLOCK_THREAD_CPUTIME_ID)
    if s.deadline_armed and cpu - s.verify_cpu_ns >= s.verify_ticks * s.tick_ns // 2:
        s.deadline_expired = True
        return wt.error_new(b"deadline exceeded")
    s.deadline_armed = True
    s.deadline_windows += 1
    s.verify_cpu_ns = cpu
    delta[0] = s.verify_ticks
    kind[0] = WT_UPDATE_DEADLINE_CONTINUE
    return NULL


# ------------------------------------------------------------------ the call path

cdef inline seq_io_block_t* slot_io(seq_slot_t* s) noexcept nogil:
    # Re-read after every call: the base moves when memory grows, which only happens while wasm
    # runs (memory is never shrunk, so the IoBlock validated at load stays in bounds).
    return <seq_io_block_t*>(wt.memory_data(s.ctx, &s.memory) + s.io_offset)


cdef inline void write_state(seq_slot_t* s, seq_io_block_t* io) noexcept nogil:
    """Refresh the AlgoState: all of it when dirty, else the header and the entries in use."""
    cdef seq_algo_state_t* src = &s.algo_state
    cdef seq_algo_state_t* dst = &io.state
    cdef uint32_t n_pos, n_orders
    if s.state_dirty:
        memcpy(dst, src, sizeof(seq_algo_state_t))
        s.state_dirty = False
        return
    n_pos = src.symbol_count if src.symbol_count <= SEQ_MAX_SYMBOLS else SEQ_MAX_SYMBOLS
    n_orders = src.open_order_count if src.open_order_count <= SEQ_MAX_OPEN_ORDERS else SEQ_MAX_OPEN_ORDERS
    memcpy(dst, src, 40)  # next_id .. open_order_count (constant size: inlined moves)
    seq_copy8(&dst.positions[0], &src.positions[0], n_pos * (sizeof(src.positions[0]) // 8))
    seq_copy8(&dst.open_orders[0], &src.open_orders[0], n_orders * (sizeof(src.open_orders[0]) // 8))


cdef inline seq_io_block_t* slot_begin(seq_slot_t* s) noexcept nogil:
    """Prepare the IoBlock for a callback; the caller then writes the callback's input."""
    cdef seq_io_block_t* io = s.io  # refreshed after every call (slot_call)
    write_state(s, io)
    io.actions.count = 0
    io.actions.flags = 0
    s.sends_this_callback = 0
    return io


cdef int slot_call(seq_slot_t* s, const wasmtime_func_t* f, wasmtime_val_raw_t* args, size_t nargs,
                   const char* what, bint timed=True) noexcept nogil:
    """Call an export under the deadline, then collect its actions. 0 = ok, -1 = instance failed.
    `timed` records the call's latency in the histogram."""
    cdef wasm_trap_t* trap = NULL
    cdef wasmtime_error_t* err
    cdef uint64_t t0 = 0, t1 = 0
    cdef seq_io_block_t* io
    cdef uint32_t n, room
    cdef char reason[REASON_MAX]
    s.call_seq += 1
    if s.native != NULL:  # native: one call through the vtable (no deadline: no sandbox)
        if timed:
            t0 = seq_clock_ns(CLOCK_MONOTONIC)
        n = <uint32_t>native_invoke(s, f, args)
        if timed:
            t1 = seq_clock_ns(CLOCK_MONOTONIC)
            hist_record(&s.latency, t1 - t0)
        s.callbacks += 1
        if n != 0:
            slot_fail_native(s, what)
            return -1
        io = s.io
    else:
        wt.context_set_epoch_deadline(s.ctx, s.deadline_ticks)
        s.deadline_armed = False
        if timed:
            t0 = seq_clock_ns(CLOCK_MONOTONIC)
        err = wt.func_call_unchecked(s.ctx, f, args, nargs, &trap)
        if timed:
            t1 = seq_clock_ns(CLOCK_MONOTONIC)
            hist_record(&s.latency, t1 - t0)
        s.callbacks += 1
        if err != NULL or trap != NULL:
            slot_fail_call(s, err, trap, what)
            return -1
        io = slot_io(s)
        s.io = io
    if io.actions.flags & 1:  # ACTIONS_FLAG_DECLINED: the algo does not implement this callback
        s.caps &= ~slot_cap_of(s, f)
    n = io.actions.count
    if n > SEQ_MAX_ACTIONS:
        s.abi_violations += 1
        snprintf(reason, REASON_MAX, "ABI violation: %u actions > %d max (in %s)", n, SEQ_MAX_ACTIONS, what)
        slot_fail(s, reason)
        return -1
    s.actions_total += n
    room = ACTION_QUEUE_CAP - s.action_count
    if n > room:
        s.actions_dropped += n - room
        n = room
    seq_copy8(&s.action_queue[s.action_count], &io.actions.actions[0], n * (sizeof(seq_action_t) // 8))
    s.action_count += n
    s.algo_state.next_id = io.state.next_id
    return 0


cdef int slot_call_value(seq_slot_t* s, const wasmtime_func_t* f, const char* what,
                         int32_t* result) noexcept nogil:
    """Load-time probe of a () -> i32 export (no IoBlock yet). 0 = ok, -1 = failed (reason set)."""
    cdef wasm_trap_t* trap = NULL
    cdef wasmtime_error_t* err
    cdef wasmtime_val_raw_t val
    memset(&val, 0, sizeof(val))
    wt.context_set_epoch_deadline(s.ctx, s.deadline_ticks)
    s.deadline_armed = False
    s.call_seq += 1
    err = wt.func_call_unchecked(s.ctx, f, &val, 1, &trap)
    if err != NULL or trap != NULL:
        slot_fail_call(s, err, trap, what)
        return -1
    result[0] = val.i32
    return 0


cdef int slot_on_book(seq_slot_t* s, Book book, uint16_t symbol_idx) noexcept nogil:
    cdef seq_io_block_t* io
    cdef wasmtime_val_raw_t arg
    if s.state != SLOT_RUNNING or (s.muted >> symbol_idx) & 1:
        return 1
    if book.stale:
        s.stale_skipped += 1
        return 1
    io = slot_begin(s)
    book.write_l2(<uint8_t*>&io.book, symbol_idx)
    book.write_features(<uint8_t*>&io.features)
    arg.i64 = 0
    arg.i32 = symbol_idx
    s.books += 1
    return slot_call(s, &s.f_on_book, &arg, 1, "algo_on_book", (s.books & s.latency_mask) == 0)


cdef int slot_simple(seq_slot_t* s, const wasmtime_func_t* f, const char* what) noexcept nogil:
    """A () -> () callback whose input (if any) the caller already wrote after slot_begin."""
    cdef wasmtime_val_raw_t unused
    unused.i64 = 0
    return slot_call(s, f, &unused, 0, what)


