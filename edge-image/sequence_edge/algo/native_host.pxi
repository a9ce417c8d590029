# Included by host.pyx: the parts of a slot that differ for native (.so) instances, and the
# subscription calls shared by both runtimes. A native slot has `native` set: the IoBlock is
# host memory (calloc), callbacks are one call through the library's vtable, and host services
# reach the slot through `native_api` (ctx = the slot) instead of wasm imports.

from sequence_edge.algo.native cimport NCAP_EXTENDED_TABLE, NativeLibrary


# ---- subscriptions (seq.subscribe / seq.unsubscribe), both runtimes

cdef int32_t slot_subscribe(seq_slot_t* s, const uint8_t* name, int32_t n) noexcept nogil:
    """Add a carried symbol to the slot's symbols (or un-mute it); returns its index or SUB_ERR_*."""
    cdef uint32_t i
    cdef int32_t found = -1
    if name == NULL or n <= 0:
        return -4
    for i in range(s.n_symbols):
        if s.symbols[i].len == <uint32_t>n and memcmp(s.symbols[i].data, name, <size_t>n) == 0:
            if s.muted & (1u << i):
                s.muted &= ~(1u << i)
                s.unsubscribed_new &= ~(1u << i)
                s.subscribed_new |= 1u << i
            return <int32_t>i
    if s.carried != NULL:
        for i in range(s.n_carried):
            if s.carried[i].len == <uint32_t>n and memcmp(s.carried[i].data, name, <size_t>n) == 0:
                found = <int32_t>i
                break
    if found < 0:
        return -1
    if s.n_symbols >= s.max_symbols or s.n_symbols >= SEQ_MAX_SYMBOLS:
        return -2
    i = s.n_symbols
    s.symbols[i] = s.carried[found]        # the AlgoHost keeps every carried table alive
    s.n_symbols += 1
    s.algo_state.symbol_count = s.n_symbols
    s.state_dirty = True
    s.subscribed_new |= 1u << i
    return <int32_t>i


cdef int32_t slot_unsubscribe(seq_slot_t* s, const uint8_t* name, int32_t n) noexcept nogil:
    cdef uint32_t i
    if name == NULL or n <= 0:
        return -4
    for i in range(s.n_symbols):
        if s.symbols[i].len == <uint32_t>n and memcmp(s.symbols[i].data, name, <size_t>n) == 0:
            if s.muted & (1u << i):
                return -3
            s.muted |= 1u << i                 # books stop at once; the index stays reserved
            s.subscribed_new &= ~(1u << i)
            s.unsubscribed_new |= 1u << i
            return 0
    return -3


cdef wasm_trap_t* imp_subscribe(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                                size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef int32_t n = args[1].i32
    cdef uint8_t* name = guest_ptr(s, caller, args[0].i32, n) if n > 0 else NULL
    args[0].i64 = 0
    args[0].i32 = slot_subscribe(s, name, n)
    return NULL


cdef wasm_trap_t* imp_unsubscribe(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                                  size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef int32_t n = args[1].i32
    cdef uint8_t* name = guest_ptr(s, caller, args[0].i32, n) if n > 0 else NULL
    args[0].i64 = 0
    args[0].i32 = slot_unsubscribe(s, name, n)
    return NULL


# ---- the host table of a native instance (SequenceHostApi); ctx is the slot

cdef void nh_log(void* ctx, uint32_t level, const uint8_t* msg, uint32_t n) noexcept nogil:
    if msg != NULL:
        log_push(<seq_slot_t*>ctx, level, msg, n)


cdef int32_t nh_send(void* ctx, const uint8_t* label, uint32_t label_len, const uint8_t* payload,
                     uint32_t payload_len) noexcept nogil:
    if payload == NULL and payload_len == 0:
        payload = <const uint8_t*>b""
    return slot_send(<seq_slot_t*>ctx, label, <int32_t>label_len, payload, <int32_t>payload_len)


cdef int64_t nh_now_ns(void* ctx) noexcept nogil:
    return <int64_t>seq_clock_ns(CLOCK_REALTIME)


cdef int32_t nh_copy(seq_str_t value, uint8_t* buf, uint32_t cap) noexcept nogil:
    cdef uint32_t n = value.len if value.len < cap else cap
    if buf == NULL and cap:
        return -4
    memcpy(buf, value.data, n)
    return <int32_t>value.len


cdef int32_t nh_param(void* ctx, const uint8_t* key, uint32_t key_len, uint8_t* buf,
                      uint32_t cap) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>ctx
    cdef uint32_t i
    if key == NULL:
        return -4
    for i in range(s.n_params):
        if s.params[i].key.len == key_len and memcmp(s.params[i].key.data, key, key_len) == 0:
            return nh_copy(s.params[i].value, buf, cap)
    return -1


cdef int64_t nh_position(void* ctx, uint32_t idx) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>ctx
    return s.algo_state.positions[idx].qty_1e8 if idx < s.n_symbols else 0


cdef int32_t nh_symbol(void* ctx, uint32_t idx, uint8_t* buf, uint32_t cap) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>ctx
    return nh_copy(s.symbols[idx], buf, cap) if idx < s.n_symbols else -1


cdef int32_t nh_venue_name(void* ctx, uint32_t idx, uint8_t* buf, uint32_t cap) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>ctx
    return nh_copy(s.venues[idx], buf, cap) if idx < s.n_venues else -1


cdef int32_t nh_subscribe(void* ctx, const uint8_t* name, uint32_t n) noexcept nogil:
    return slot_subscribe(<seq_slot_t*>ctx, name, <int32_t>n)


cdef int32_t nh_unsubscribe(void* ctx, const uint8_t* name, uint32_t n) noexcept nogil:
    return slot_unsubscribe(<seq_slot_t*>ctx, name, <int32_t>n)


cdef void native_api_init(seq_slot_t* s) noexcept nogil:
    s.native_api.ctx = s
    s.native_api.log = nh_log
    s.native_api.send = nh_send
    s.native_api.now_ns = nh_now_ns
    s.native_api.param = nh_param
    s.native_api.position = nh_position
    s.native_api.symbol = nh_symbol
    s.native_api.venue_name = nh_venue_name
    s.native_api.subscribe = nh_subscribe
    s.native_api.unsubscribe = nh_unsubscribe


# ---- calls

cdef int32_t native_invoke(seq_slot_t* s, const wasmtime_func_t* f, wasmtime_val_raw_t* args) noexcept nogil:
    """One call through the vtable; `f` names the callback (the address of its slot field)."""
    cdef const seq_native_vtable_t* vt = s.native
    cdef seq_io_block_t* io = s.io
    cdef void* inst = s.native_inst
    if f == &s.f_on_book:
        return vt.on_book(inst, &io.book, &io.state, &io.features, &io.actions)
    if f == &s.f_on_fill:
        return vt.on_fill(inst, &io.fill, &io.state)
    if f == &s.f_on_reject:
        return vt.on_reject(inst, &io.reject)
    if f == &s.f_on_nbbo:
        return vt.on_nbbo(inst, &io.nbbo, &io.state, &io.actions)
    if f == &s.f_on_message:
        return vt.on_message(inst, &io.message, &io.state, &io.actions)
    if f == &s.f_on_heartbeat:
        return vt.on_heartbeat(inst, <uint64_t>args[0].i64, &io.state, &io.actions)
    if f == &s.f_on_start:
        return vt.on_start(inst, &io.state, &io.actions)
    if f == &s.f_on_stop:
        return vt.on_stop(inst, &io.state, &io.actions)
    if f == &s.f_on_shutdown:
        return vt.on_shutdown(inst, &io.state, &io.actions)
    if f == &s.f_on_pause:
        return vt.on_pause(inst, &io.state, &io.actions)
    if f == &s.f_on_resume:
        return vt.on_resume(inst, &io.state, &io.actions)
    if f == &s.f_on_subscribed:
        return vt.on_subscribed(inst, <uint32_t>args[0].i32, &io.state, &io.actions)
    if f == &s.f_on_unsubscribed:
        return vt.on_unsubscribed(inst, <uint32_t>args[0].i32, &io.state, &io.actions)
    return -1


cdef uint32_t slot_cap_of(seq_slot_t* s, const wasmtime_func_t* f) noexcept nogil:
    """The CAP_* bit of the optional callback `f` names (0 for on_book/on_fill/on_reject)."""
    if f == &s.f_on_nbbo:
        return CAP_NBBO
    if f == &s.f_on_message:
        return CAP_MESSAGE
    if f == &s.f_on_heartbeat:
        return CAP_HEARTBEAT
    if f == &s.f_on_start:
        return CAP_START
    if f == &s.f_on_stop:
        return CAP_STOP
    if f == &s.f_on_shutdown:
        return CAP_SHUTDOWN
    if f == &s.f_on_pause:
        return CAP_PAUSE
    if f == &s.f_on_resume:
        return CAP_RESUME
    if f == &s.f_on_subscribed:
        return CAP_SUBSCRIBED
    if f == &s.f_on_unsubscribed:
        return CAP_UNSUBSCRIBED
    return 0


cdef void slot_fail_native(seq_slot_t* s, const char* what) noexcept nogil:
    """The vtable returned CALLBACK_PANICKED: the SDK logged the panic at ERROR during the call."""
    cdef char reason[REASON_MAX]
    if s.last_error_seq == s.call_seq and s.last_error_seq != 0:
        snprintf(reason, REASON_MAX, "panicked (in %s): %s", what, s.last_error)
    else:
        snprintf(reason, REASON_MAX, "%s returned an error (a native callback that fails or panicked "
                 "refuses every later call)", what)
    s.traps += 1
    slot_fail(s, reason)


cdef _attach_native(AlgoInstance inst, NativeLibrary lib):
    """Create the library's instance for this slot (host table and IoBlock first)."""
    cdef seq_slot_t* s = inst.slot
    s.io = <seq_io_block_t*>calloc(1, sizeof(seq_io_block_t))
    if s.io == NULL:
        raise MemoryError()
    native_api_init(s)
    s.native = lib.vtable
    s.caps = lib.capabilities
    if lib.extended:
        s.caps = CAP_NBBO | CAP_MESSAGE | CAP_HEARTBEAT | CAP_START | CAP_STOP | CAP_SHUTDOWN | \
            CAP_PAUSE | CAP_RESUME | CAP_SUBSCRIBED | CAP_UNSUBSCRIBED   # undeclared ones may decline
    s.call_seq += 1
    write_state(s, s.io)
    s.native_inst = lib.create(&s.native_api)
    if s.native_inst == NULL:
        logged = s.last_error.decode("utf-8", "replace") if s.last_error_seq == s.call_seq else ""
        free(s.io)
        s.io = NULL
        s.native = NULL
        raise NativeCreateError("the library's create() returned NULL" + (f": {logged}" if logged else
                                " (its constructor failed)"))
    inst._native_lib = lib
    inst.runtime = "native"


cdef void _detach_native(AlgoInstance inst) noexcept:
    """destroy() the instance, then drop the library reference (never the other way round)."""
    cdef seq_slot_t* s = inst.slot
    cdef NativeLibrary lib = <NativeLibrary>inst._native_lib
    if s.native_inst != NULL:
        lib.destroy(s.native_inst)
        s.native_inst = NULL
    s.native = NULL
    free(s.io)
    s.io = NULL
    inst._native_lib = None


class NativeCreateError(BundleError):
    pass


def bench_prepared_on_book(AlgoInstance inst, Book book, int batches, int batch_size, bint cpu_time=False) -> list:
    """Mean ns per algo_on_book call with the book written once: the slot's call path alone
    (arm the deadline for wasm, call, read the actions and next_id back), the same for both
    runtimes. Per batch of `batch_size` calls; bench/native_dispatch.py compares the runtimes."""
    cdef seq_slot_t* s = inst.slot
    cdef seq_io_block_t* io
    cdef wasmtime_val_raw_t arg
    cdef int clock = CLOCK_THREAD_CPUTIME_ID if cpu_time else CLOCK_MONOTONIC
    cdef int b, k, rc = 0
    cdef uint64_t t0, t1
    if s.state != SLOT_RUNNING:
        raise InstanceStateError(f"{inst.deployment_id} is {inst.state}, not running")
    io = slot_begin(s)
    book.write_l2(<uint8_t*>&io.book, 0)
    book.write_features(<uint8_t*>&io.features)
    arg.i64 = 0
    out = []
    for b in range(batches):
        with nogil:
            t0 = seq_clock_ns(clock)
            for k in range(batch_size):
                rc |= slot_call(s, &s.f_on_book, &arg, 1, "algo_on_book", False)
                s.action_count = 0
            t1 = seq_clock_ns(clock)
        out.append((t1 - t0) / <double>batch_size)
    if rc != 0:
        raise RuntimeError(f"on_book failed: {inst.reason}")
    return out
