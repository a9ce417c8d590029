# Part of sequence_edge.algo.host (included by host.pyx).
# The `seq` host imports an algorithm calls (log, send, now_ns, param, position, symbol,
# venue_name): C callbacks registered with wasmtime_linker_define_func_unchecked, so a call never
# enters Python. Every guest pointer is bounds-checked against linear memory first.

# ------------------------------------------------------------------ host imports (module "seq")

cdef inline uint8_t* guest_ptr(seq_slot_t* s, wasmtime_caller_t* caller, int32_t ptr,
                               int32_t length) noexcept nogil:
    """Validated pointer into the caller's memory, or NULL when [ptr, ptr+len) is out of bounds."""
    cdef wasmtime_context_t* ctx
    cdef uint64_t end = <uint64_t><uint32_t>ptr + <uint64_t><uint32_t>length
    if not s.memory_ready:
        return NULL
    ctx = wt.caller_context(caller)
    if end > wt.memory_data_size(ctx, &s.memory):
        return NULL
    return wt.memory_data(ctx, &s.memory) + <uint32_t>ptr


cdef void log_push(seq_slot_t* s, uint32_t level, const uint8_t* text, uint32_t n) noexcept nogil:
    cdef seq_log_entry_t* e
    cdef uint32_t pos
    if s.log_count == LOG_RING_CAP:       # full: overwrite the oldest
        s.log_head = (s.log_head + 1) % LOG_RING_CAP
        s.log_count -= 1
        s.logs_dropped += 1
    pos = (s.log_head + s.log_count) % LOG_RING_CAP
    e = &s.log_ring[pos]
    e.ts_ns = seq_clock_ns(CLOCK_REALTIME)
    e.level = level
    e.len = n if n <= LOG_TEXT_MAX else LOG_TEXT_MAX
    memcpy(e.text, text, e.len)
    if level >= 3:                         # ERROR: kept for the failure reason if a trap follows
        s.last_error_seq = s.call_seq
        snprintf(s.last_error, sizeof(s.last_error), "%.*s", <int>e.len, <char*>e.text)
    s.log_count += 1
    s.logs += 1


cdef wasm_trap_t* imp_log(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                          size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef uint8_t* text = guest_ptr(s, caller, args[1].i32, args[2].i32)
    cdef const char* bad = b"(seq.log called with a pointer/length outside linear memory)"
    if text == NULL:
        log_push(s, 3, <const uint8_t*>bad, strlen(bad))  # LOG_ERROR
    else:
        log_push(s, <uint32_t>args[0].i32, text, <uint32_t>args[2].i32)
    return NULL


cdef wasm_trap_t* imp_send(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                           size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef int32_t label_len = args[1].i32
    cdef int32_t payload_len = args[3].i32
    cdef uint8_t* label = NULL
    cdef uint8_t* payload = NULL
    if 0 < label_len <= SEQ_MAX_LABEL and <uint32_t>payload_len <= SEQ_MAX_PAYLOAD:
        label = guest_ptr(s, caller, args[0].i32, label_len)
        payload = guest_ptr(s, caller, args[2].i32, payload_len)
    args[0].i64 = 0
    args[0].i32 = slot_send(s, label, label_len, payload, payload_len)
    return NULL


cdef int32_t slot_send(seq_slot_t* s, const uint8_t* label, int32_t label_len, const uint8_t* payload,
                       int32_t payload_len) noexcept nogil:
    """seq.send for both runtimes; label/payload are NULL when outside the guest's memory."""
    cdef seq_outbox_entry_t* e
    cdef int32_t rc = 0
    if <uint32_t>payload_len > SEQ_MAX_PAYLOAD:
        rc = -1
    elif label_len <= 0 or label_len > SEQ_MAX_LABEL:
        rc = -3
    else:
        if label == NULL or payload == NULL:
            rc = -4
        elif not seq_label_ok(label, <uint32_t>label_len):
            rc = -3
        elif s.sends_this_callback >= SEQ_MAX_SENDS:
            rc = -2
        else:
            if s.outbox_count == OUTBOX_CAP:   # nobody drained: drop the oldest (best effort)
                s.outbox_head = (s.outbox_head + 1) % OUTBOX_CAP
                s.outbox_count -= 1
                s.outbox_dropped += 1
            e = &s.outbox[(s.outbox_head + s.outbox_count) % OUTBOX_CAP]
            e.ts_ns = seq_clock_ns(CLOCK_REALTIME)
            e.label_len = <uint32_t>label_len
            e.payload_len = <uint32_t>payload_len
            memcpy(e.label, label, <uint32_t>label_len)
            memcpy(e.payload, payload, <uint32_t>payload_len)
            s.outbox_count += 1
            s.sends_this_callback += 1
            s.sends += 1
    if rc != 0:
        s.send_errors += 1
    return rc


cdef wasm_trap_t* imp_now_ns(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                             size_t nargs) noexcept nogil:
    args[0].i64 = <int64_t>seq_clock_ns(CLOCK_REALTIME)
    return NULL


cdef int32_t copy_out(seq_slot_t* s, wasmtime_caller_t* caller, seq_str_t value, int32_t buf_ptr,
                      int32_t buf_cap) noexcept nogil:
    """Copy min(len, cap) bytes of value to the guest; returns the full length, or -4 (bounds)."""
    cdef uint8_t* buf
    cdef uint32_t n
    if buf_cap < 0:
        return -4
    buf = guest_ptr(s, caller, buf_ptr, buf_cap)
    if buf == NULL:
        return -4
    n = value.len if value.len < <uint32_t>buf_cap else <uint32_t>buf_cap
    memcpy(buf, value.data, n)
    return <int32_t>value.len


cdef wasm_trap_t* imp_param(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                            size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef int32_t key_len = args[1].i32
    cdef uint8_t* key = guest_ptr(s, caller, args[0].i32, key_len) if key_len >= 0 else NULL
    cdef int32_t rc = -1
    cdef uint32_t i
    if key == NULL:
        rc = -4
    else:
        for i in range(s.n_params):
            if s.params[i].key.len == <uint32_t>key_len and \
                    memcmp(s.params[i].key.data, key, <uint32_t>key_len) == 0:
                rc = copy_out(s, caller, s.params[i].value, args[2].i32, args[3].i32)
                break
    args[0].i64 = 0
    args[0].i32 = rc
    return NULL


cdef wasm_trap_t* imp_position(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                               size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef uint32_t idx = <uint32_t>args[0].i32
    args[0].i64 = s.algo_state.positions[idx].qty_1e8 if idx < s.n_symbols else 0
    return NULL


cdef wasm_trap_t* imp_symbol(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                             size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef uint32_t idx = <uint32_t>args[0].i32
    cdef int32_t rc = -1
    if idx < s.n_symbols:
        rc = copy_out(s, caller, s.symbols[idx], args[1].i32, args[2].i32)
    args[0].i64 = 0
    args[0].i32 = rc
    return NULL


cdef wasm_trap_t* imp_venue_name(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args,
                                 size_t nargs) noexcept nogil:
    cdef seq_slot_t* s = <seq_slot_t*>env
    cdef uint32_t idx = <uint32_t>args[0].i32
    cdef int32_t rc = -1
    if idx < s.n_venues:
        rc = copy_out(s, caller, s.venues[idx], args[1].i32, args[2].i32)
    args[0].i64 = 0
    args[0].i32 = rc
    return NULL


cdef dict _IMPORT_CALLBACKS = {
    "log": <size_t>imp_log,
    "send": <size_t>imp_send,
    "now_ns": <size_t>imp_now_ns,
    "param": <size_t>imp_param,
    "position": <size_t>imp_position,
    "symbol": <size_t>imp_symbol,
    "venue_name": <size_t>imp_venue_name,
    "subscribe": <size_t>imp_subscribe,
    "unsubscribe": <size_t>imp_unsubscribe,
}


