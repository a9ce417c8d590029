# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The sandboxed WASM algo host: wasmtime set up from Python, driven from C on the hot path.

Set-up (compile, link, instantiate, validate) uses the `wasmtime` Python package. Everything
per update runs in C through wasmtime's C API, reusing the raw pointers of those Python objects:
the store context, the `wasmtime_memory_t` of the exported memory and the `wasmtime_func_t` of
each export. Host imports (`seq.log`, `seq.send`, ...) are C callbacks registered with
`wasmtime_linker_define_func_unchecked`, so an algo calling them never enters Python.

One dispatch (AlgoInstance.on_book): skip a stale book; write the 656-byte L2Book and 72-byte
OnlineFeatures straight into the IoBlock in linear memory (its address is re-read after every
call: memory moves only when it grows, which happens while wasm runs); refresh the AlgoState; zero `actions.count`; arm the epoch deadline;
`wasmtime_func_call_unchecked(algo_on_book, symbol_idx)`; append the actions to the instance's
queue and read back `next_id`. A trap, a missed deadline or an ABI violation marks that instance
failed with a reason; nothing raises into the edge loop and every other instance keeps going.

Deadlines use epoch interruption: a pthread (no GIL) bumps the engine's epoch every `tick_ns`
(100 us); each callback gets ceil(deadline / tick) + 1 ticks, i.e. at least the configured deadline
(wall time). Reaching it does not fail the instance on its own: wasmtime then calls a C epoch
callback that opens a check window of half the deadline and, at its end, fails the call only if
the callback burnt at least half that window in CPU time (this thread's CPU clock). A callback
that was merely preempted on a busy machine (which can take milliseconds) finishes inside the
window instead of being failed for a deadline it did not use; a runaway one is stopped after
about 1.5x the deadline. Memory is capped per instance by the store limiter: a
`memory.grow` beyond the cap returns -1 inside the algo.

Not thread-safe: one thread owns an AlgoHost (the edge loop). The GIL may be released around
dispatches; the ticker thread only touches the engine's atomic epoch counter.
"""

import atexit
import ctypes
import hashlib
import importlib.metadata
import math
import weakref
from typing import NamedTuple

import wasmtime
import wasmtime._ffi as _wt_ffi

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memmove, memset, strlen
from posix.time cimport CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_THREAD_CPUTIME_ID, clock_gettime, timespec

from sequence_edge import abi
from sequence_edge.abi cimport (
    SEQ_ABI_VERSION,
    SEQ_MAX_ACTIONS,
    SEQ_MAX_LABEL,
    SEQ_MAX_OPEN_ORDERS,
    SEQ_MAX_PAYLOAD,
    SEQ_MAX_SENDS,
    SEQ_MAX_SYMBOLS,
    seq_action_t,
    seq_algo_state_t,
    seq_fill_t,
    seq_io_block_t,
    seq_reject_t,
)
from sequence_edge.book cimport Book, BOOK_OK
from sequence_edge.util cimport hist_quantile, hist_record
from sequence_edge.wasmtime_capi cimport (
    WT_TRAP_INTERRUPT,
    WT_UPDATE_DEADLINE_CONTINUE,
    seq_wt_api_t,
    wasm_byte_vec_t,
    wasm_engine_t,
    wasm_functype_t,
    wasm_trap_t,
    wasmtime_caller_t,
    wasmtime_context_t,
    wasmtime_error_t,
    wasmtime_func_t,
    wasmtime_func_unchecked_callback_t,
    wasmtime_linker_t,
    wasmtime_memory_t,
    wasmtime_store_t,
    wasmtime_trap_code_t,
    wasmtime_update_deadline_kind_t,
    wasmtime_val_raw_t,
)

# ------------------------------------------------------------------ C helpers (no Python)

cdef extern from *:
    """
    #include <dlfcn.h>
    #include <string.h>
    #include <pthread.h>
    #include <sys/prctl.h>
    #include <time.h>

    #ifndef RTLD_NOLOAD
    #define RTLD_NOLOAD 4
    #endif

    /* Resolve every function of the table from the library the wasmtime package already loaded
       (RTLD_NOLOAD: never a second copy). Returns NULL or the name of the missing symbol. */
    static const char *seq_wt_load(seq_wt_api_t *api, const char *path) {
        void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (!h) return "dlopen(RTLD_NOLOAD) of the wasmtime package's library";
    #define SEQ_SYM(field, name) if (!(*(void **)&api->field = dlsym(h, name))) return name
        SEQ_SYM(func_call_unchecked, "wasmtime_func_call_unchecked");
        SEQ_SYM(caller_context, "wasmtime_caller_context");
        SEQ_SYM(context_set_epoch_deadline, "wasmtime_context_set_epoch_deadline");
        SEQ_SYM(store_epoch_deadline_callback, "wasmtime_store_epoch_deadline_callback");
        SEQ_SYM(error_new, "wasmtime_error_new");
        SEQ_SYM(engine_increment_epoch, "wasmtime_engine_increment_epoch");
        SEQ_SYM(memory_data, "wasmtime_memory_data");
        SEQ_SYM(memory_data_size, "wasmtime_memory_data_size");
        SEQ_SYM(linker_define_func_unchecked, "wasmtime_linker_define_func_unchecked");
        SEQ_SYM(trap_code, "wasmtime_trap_code");
        SEQ_SYM(trap_message, "wasm_trap_message");
        SEQ_SYM(trap_delete, "wasm_trap_delete");
        SEQ_SYM(error_message, "wasmtime_error_message");
        SEQ_SYM(error_delete, "wasmtime_error_delete");
        SEQ_SYM(byte_vec_delete, "wasm_byte_vec_delete");
    #undef SEQ_SYM
        return NULL;  /* the handle stays open: the wasmtime package keeps the library loaded too */
    }

    /* The epoch ticker: a plain pthread that calls wasmtime_engine_increment_epoch every
       period_ns on an absolute schedule. After a stall (process stopped, machine overloaded) it
       restarts the schedule instead of bursting the missed ticks. */
    typedef struct seq_ticker_t {
        pthread_t thread;
        void (*increment)(wasm_engine_t *);
        wasm_engine_t *engine;
        long period_ns;
        int stop;        /* __atomic */
        uint64_t ticks;  /* __atomic */
    } seq_ticker_t;

    static void seq_ts_add(struct timespec *t, long ns) {
        t->tv_nsec += ns;
        while (t->tv_nsec >= 1000000000L) { t->tv_nsec -= 1000000000L; t->tv_sec += 1; }
    }

    static void *seq_ticker_main(void *arg) {
        seq_ticker_t *t = (seq_ticker_t *)arg;
        struct timespec next, now;
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  /* default slack (50 us) is half a tick */
        clock_gettime(CLOCK_MONOTONIC, &next);
        while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
            seq_ts_add(&next, t->period_ns);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
            t->increment(t->engine);
            __atomic_fetch_add(&t->ticks, 1, __ATOMIC_RELAXED);
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long behind = (long long)(now.tv_sec - next.tv_sec) * 1000000000LL
                               + (now.tv_nsec - next.tv_nsec);
            if (behind > t->period_ns) next = now;
        }
        return NULL;
    }

    static int seq_ticker_start(seq_ticker_t *t) {
        return pthread_create(&t->thread, NULL, seq_ticker_main, t);
    }

    static void seq_ticker_stop(seq_ticker_t *t) {
        __atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
        pthread_join(t->thread, NULL);
    }

    static uint64_t seq_ticker_count(seq_ticker_t *t) {
        return __atomic_load_n(&t->ticks, __ATOMIC_RELAXED);
    }

    static inline uint64_t seq_clock_ns(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    }

    /* Mesh labels: 1..32 bytes of well-formed UTF-8 without control characters. */
    static int seq_label_ok(const uint8_t *s, uint32_t n) {
        uint32_t i = 0;
        if (n == 0 || n > 32) return 0;
        while (i < n) {
            uint8_t c = s[i];
            uint32_t extra;
            if (c < 0x80) {
                if (c < 0x20 || c == 0x7f) return 0;
                i += 1;
                continue;
            }
            if (c >= 0xc2 && c <= 0xdf) extra = 1;
            else if (c >= 0xe0 && c <= 0xef) extra = 2;
            else if (c >= 0xf0 && c <= 0xf4) extra = 3;
            else return 0;
            if (i + extra >= n) return 0;  /* truncated sequence */
            for (uint32_t k = 1; k <= extra; k++)
                if ((s[i + k] & 0xc0) != 0x80) return 0;
            i += extra + 1;
        }
        return 1;
    }

    /* Copies of a few dozen bytes on the hot path. GCC compiles a variable-length memcpy (and a
       plain copy loop, which it recognises as one) into `rep movsq`, whose start-up cost is most
       of the time at these sizes. The empty asm keeps the loop a loop of 8-byte moves. */
    static inline void seq_copy8(void *dst, const void *src, size_t n_words) {
        unsigned char *d = (unsigned char *)dst;
        const unsigned char *s = (const unsigned char *)src;
        for (size_t i = 0; i < n_words; i++) {
            __builtin_memcpy(d + 8 * i, s + 8 * i, 8);
            __asm__ volatile("" ::: "memory");
        }
    }

    /* wasmtime renders a trap as "error while executing at wasm backtrace:\n    0: 0x23 -
       mod!func\n...\n\nCaused by:\n    wasm trap: <what>\n" (plus a NUL from wasm_trap_message).
       Keep <what> (the last line, without "wasm trap: ") and frame 0's function name. */
    static void seq_trap_text(const uint8_t *m, size_t n, char *text, size_t text_cap,
                              char *frame, size_t frame_cap) {
        size_t start, i, line2, end2;
        frame[0] = 0;
        while (n && (m[n - 1] == 0 || m[n - 1] == 10 || m[n - 1] == 32)) n--;
        start = n;
        while (start && m[start - 1] != 10) start--;
        while (start < n && m[start] == 32) start++;
        if (n - start >= 11 && memcmp(m + start, "wasm trap: ", 11) == 0) start += 11;
        snprintf(text, text_cap, "%.*s", (int)(n - start), (const char *)m + start);
        for (line2 = 0; line2 < n && m[line2] != 10; line2++) {}
        if (line2 >= n || memmem(m, line2, "backtrace", 9) == NULL) return;
        line2++;
        for (end2 = line2; end2 < n && m[end2] != 10; end2++) {}
        for (i = line2; i + 3 <= end2; i++) {
            if (m[i] == 32 && m[i + 1] == 45 && m[i + 2] == 32) {
                snprintf(frame, frame_cap, "%.*s", (int)(end2 - i - 3), (const char *)m + i + 3);
                return;
            }
        }
    }
    """
    ctypedef struct seq_ticker_t:
        pass
    const char* seq_wt_load(seq_wt_api_t* api, const char* path)
    int seq_ticker_start(seq_ticker_t* t) nogil
    void seq_ticker_stop(seq_ticker_t* t) nogil
    uint64_t seq_ticker_count(seq_ticker_t* t) nogil
    uint64_t seq_clock_ns(int clock) nogil
    bint seq_label_ok(const uint8_t* s, uint32_t n) nogil
    void seq_copy8(void* dst, const void* src, size_t n_words) nogil
    void seq_trap_text(const uint8_t* m, size_t n, char* text, size_t text_cap, char* frame,
                       size_t frame_cap) nogil

cdef extern from *:
    """
    static seq_ticker_t *seq_ticker_new(void (*inc)(wasm_engine_t *), wasm_engine_t *engine, long period_ns) {
        seq_ticker_t *t = (seq_ticker_t *)calloc(1, sizeof(seq_ticker_t));
        if (!t) return NULL;
        t->increment = inc;
        t->engine = engine;
        t->period_ns = period_ns;
        return t;
    }
    """
    seq_ticker_t* seq_ticker_new(void (*inc)(wasm_engine_t*) noexcept nogil, wasm_engine_t* engine,
                                 long period_ns)

# ------------------------------------------------------------------ the wasmtime library

WASMTIME_VERSION = "50.0.1"  # the C API layouts in wasmtime_capi.pxd are this release's

cdef seq_wt_api_t wt


def _load_wasmtime_api() -> None:
    installed = importlib.metadata.version("wasmtime")
    if installed != WASMTIME_VERSION:
        raise ImportError(
            f"sequence_edge.host declares the C API of wasmtime {WASMTIME_VERSION} but wasmtime "
            f"{installed} is installed; install wasmtime=={WASMTIME_VERSION} (or update "
            f"wasmtime_capi.pxd and the pin together)")
    sizes = {"wasmtime_func_t": (sizeof(wasmtime_func_t), ctypes.sizeof(_wt_ffi.wasmtime_func_t)),
             "wasmtime_memory_t": (sizeof(wasmtime_memory_t), ctypes.sizeof(_wt_ffi.wasmtime_memory_t)),
             "wasmtime_val_raw_t": (sizeof(wasmtime_val_raw_t), ctypes.sizeof(_wt_ffi.wasmtime_val_raw_t))}
    for name, (ours, theirs) in sizes.items():
        if ours != theirs:
            raise ImportError(f"{name} is {ours} bytes in wasmtime_capi.pxd but {theirs} bytes in the "
                              f"installed wasmtime package")
    cdef bytes path = str(_wt_ffi.filename).encode()
    cdef const char* missing = seq_wt_load(&wt, path)
    if missing != NULL:
        raise ImportError(f"cannot resolve {missing.decode()} in {_wt_ffi.filename}")


_load_wasmtime_api()


cdef size_t _addr(object ctypes_pointer) except? 0:
    """Address held by a ctypes pointer returned by the wasmtime package (e.g. Store._context())."""
    return ctypes.cast(ctypes_pointer, ctypes.c_void_p).value or 0


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


# ------------------------------------------------------------------ Python-facing types and errors

class BundleError(ValueError):
    """A bundle the host refuses to load; the message says what to fix."""


class NotWasmError(BundleError):
    pass


class CompileError(BundleError):
    pass


class MissingExportError(BundleError):
    pass


class ExportSignatureError(BundleError):
    pass


class ImportMismatchError(BundleError):
    pass


class AbiMismatchError(BundleError):
    pass


class IoBlockError(BundleError):
    pass


class InstantiationError(BundleError):
    pass


class UnknownDeploymentError(LookupError):
    pass


class InstanceStateError(RuntimeError):
    """The operation is not possible in the instance's current state (e.g. starting a failed one)."""


# --- native (.so) instances and seq.subscribe: see algo/native_host.pxi
include "algo/native_host.pxi"


class Action(NamedTuple):
    kind: int
    side: int
    order_type: int
    symbol_idx: int
    order_id: int
    px_1e8: int
    qty_1e8: int


class LogLine(NamedTuple):
    ts_ns: int
    level: str
    text: str


class OpenOrder(NamedTuple):
    order_id: int
    px_1e8: int
    qty_1e8: int
    filled_1e8: int
    symbol_idx: int
    side: int
    order_type: int


_CAP_BITS = {
    "algo_on_nbbo": CAP_NBBO,
    "algo_on_message": CAP_MESSAGE,
    "algo_on_heartbeat": CAP_HEARTBEAT,
    "algo_on_start": CAP_START,
    "algo_on_stop": CAP_STOP,
    "algo_on_shutdown": CAP_SHUTDOWN,
    "algo_on_pause": CAP_PAUSE,
    "algo_on_resume": CAP_RESUME,
    "algo_on_subscribed": CAP_SUBSCRIBED,
    "algo_on_unsubscribed": CAP_UNSUBSCRIBED,
}


def _error_summary(text: str) -> str:
    """One line from a wasmtime error: "<context>: <cause>", or just the cause of a trap (wasmtime
    puts the cause after "Caused by:", below a backtrace or a generic first line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    if "Caused by:" not in lines:
        return lines[0]
    cause = "; ".join(line.removeprefix("wasm trap: ") for line in lines[lines.index("Caused by:") + 1:])
    if lines[0].startswith("error while executing"):
        return cause
    return f"{lines[0]}: {cause}"


def _signature(functype) -> tuple:
    return (tuple(str(t) for t in functype.params), tuple(str(t) for t in functype.results))


def _fmt_sig(sig: tuple) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


def _check_module_interface(module) -> frozenset:
    """Exports and imports against the ABI; returns the optional exports present."""
    exports = {e.name: e.type for e in module.exports}
    missing = [name for name in abi.REQUIRED_EXPORTS if name not in exports]
    if missing:
        raise MissingExportError(
            f"bundle is missing required export(s): {', '.join(missing)} (an ABI v{abi.ABI_VERSION} "
            f"algo exports {', '.join(abi.REQUIRED_EXPORTS)}; with the Rust SDK, use export_algo!)")
    memory = exports["memory"]
    if not isinstance(memory, wasmtime.MemoryType):
        raise ExportSignatureError(f"export 'memory' must be a linear memory, got {type(memory).__name__}")
    if memory.is_64:
        raise ExportSignatureError("export 'memory' is a 64-bit memory; ABI v1 needs a 32-bit memory "
                                   "(build for wasm32-unknown-unknown)")
    wrong = []
    for name, (params, results) in abi.EXPORTS.items():
        ty = exports.get(name)
        if ty is None:
            continue
        if not isinstance(ty, wasmtime.FuncType):
            wrong.append(f"{name} must be a function {_fmt_sig((params, results))}, got {type(ty).__name__}")
            continue
        got = _signature(ty)
        if got != (params, results):
            wrong.append(f"{name} must be {_fmt_sig((params, results))}, got {_fmt_sig(got)}")
    if wrong:
        raise ExportSignatureError("bundle exports with the wrong signature: " + "; ".join(wrong))
    provided = ", ".join(f"{abi.IMPORT_MODULE}.{n}" for n in abi.IMPORTS)
    for imp in module.imports:
        spec = abi.IMPORTS.get(imp.name) if imp.module == abi.IMPORT_MODULE else None
        if spec is None:
            raise ImportMismatchError(
                f"bundle imports {imp.module}.{imp.name}, which the host does not provide "
                f"(available: {provided})")
        if not isinstance(imp.type, wasmtime.FuncType) or _signature(imp.type) != spec[:2]:
            got = _fmt_sig(_signature(imp.type)) if isinstance(imp.type, wasmtime.FuncType) \
                else type(imp.type).__name__
            raise ImportMismatchError(
                f"bundle imports {imp.module}.{imp.name} as {got}, but the host provides "
                f"{_fmt_sig(spec[:2])}")
    return frozenset(name for name in _CAP_BITS if isinstance(exports.get(name), wasmtime.FuncType))


def _check_symbols(symbols) -> tuple:
    if isinstance(symbols, str):
        symbols = [symbols]
    symbols = tuple(symbols)
    if not 1 <= len(symbols) <= abi.MAX_SYMBOLS:
        raise ValueError(f"a deployment needs 1..{abi.MAX_SYMBOLS} symbols, got {len(symbols)}")
    for sym in symbols:
        if not isinstance(sym, str) or not sym:
            raise ValueError(f"symbols must be non-empty strings, got {sym!r}")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols must be unique, got {list(symbols)}")
    return symbols


def _as_text(kind: str, value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"{kind} must be a string or a number, got {type(value).__name__}")


cdef bytes _utf8(str s):
    return s.encode("utf-8")


# ------------------------------------------------------------------ AlgoInstance

cdef class AlgoInstance:
    """One deployment's algo on this host: its store, memory, exports and C-side state."""

    def __cinit__(self):
        self.slot = <seq_slot_t*>calloc(1, sizeof(seq_slot_t))
        if self.slot == NULL:
            raise MemoryError()
        self._keepalive = []
        self.runtime = "wasm"
        self.slot.max_symbols = SEQ_MAX_SYMBOLS

    def __dealloc__(self):
        if self.slot != NULL and self._native_lib is not None:
            _detach_native(self)  # destroy() before the library reference goes
        if self.slot != NULL:
            free(self.slot.params)
            free(self.slot.venues)
            free(self.slot)
            self.slot = NULL

    # ---- cdef API for the edge loop / OMS (see host.pxd)

    cdef int on_book(self, Book book, uint16_t symbol_idx) noexcept nogil:
        return slot_on_book(self.slot, book, symbol_idx)

    cdef int on_fill(self, const seq_fill_t* fill) noexcept nogil:
        cdef seq_slot_t* s = self.slot
        cdef seq_io_block_t* io
        if s.state != SLOT_RUNNING and s.state != SLOT_STOPPED and s.state != SLOT_PAUSED:
            return 1
        io = slot_begin(s)
        io.fill = fill[0]
        return slot_simple(s, &s.f_on_fill, "algo_on_fill")

    cdef int on_reject(self, const seq_reject_t* reject) noexcept nogil:
        cdef seq_slot_t* s = self.slot
        cdef seq_io_block_t* io
        if s.state != SLOT_RUNNING and s.state != SLOT_STOPPED and s.state != SLOT_PAUSED:
            return 1
        io = slot_begin(s)
        io.reject = reject[0]
        return slot_simple(s, &s.f_on_reject, "algo_on_reject")

    cdef seq_action_t* actions(self) noexcept nogil:
        return &self.slot.action_queue[0]

    cdef uint32_t action_count(self) noexcept nogil:
        return self.slot.action_count

    cdef void consume_actions(self, uint32_t n) noexcept nogil:
        cdef seq_slot_t* s = self.slot
        if n >= s.action_count:
            s.action_count = 0
            return
        memmove(&s.action_queue[0], &s.action_queue[n], (s.action_count - n) * sizeof(seq_action_t))
        s.action_count -= n

    cdef seq_algo_state_t* algo_state(self) noexcept nogil:
        return &self.slot.algo_state

    cdef void mark_state_dirty(self) noexcept nogil:
        self.slot.state_dirty = True

    # ---- set-up (called by AlgoHost.load)

    cdef _set_tables(self, tuple symbols, dict params, tuple venues):
        cdef seq_slot_t* s = self.slot
        cdef bytes b, k, v
        cdef uint32_t i
        self.symbols = symbols
        self.params = params
        self.venue_names = venues
        s.n_symbols = len(symbols)
        for i, sym in enumerate(symbols):
            b = _utf8(sym)
            self._keepalive.append(b)
            s.symbols[i].data = <const uint8_t*>PyBytes_AS_STRING(b)
            s.symbols[i].len = len(b)
        s.params = <seq_param_t*>calloc(len(params) + 1, sizeof(seq_param_t))
        s.venues = <seq_str_t*>calloc(len(venues) + 1, sizeof(seq_str_t))
        if s.params == NULL or s.venues == NULL:
            raise MemoryError()
        s.n_params = len(params)
        for i, (key, value) in enumerate(params.items()):
            k, v = _utf8(key), _utf8(value)
            self._keepalive += [k, v]
            s.params[i].key.data = <const uint8_t*>PyBytes_AS_STRING(k)
            s.params[i].key.len = len(k)
            s.params[i].value.data = <const uint8_t*>PyBytes_AS_STRING(v)
            s.params[i].value.len = len(v)
        s.n_venues = len(venues)
        for i, name in enumerate(venues):
            b = _utf8(name)
            self._keepalive.append(b)
            s.venues[i].data = <const uint8_t*>PyBytes_AS_STRING(b)
            s.venues[i].len = len(b)
        s.algo_state.symbol_count = len(symbols)
        s.algo_state.next_id = 1
        s.state_dirty = True

    cdef _instantiate(self, object engine, object module, uint64_t tick_ns, double deadline_ms,
                      uint64_t memory_limit):
        cdef seq_slot_t* s = self.slot
        cdef bytes mod_name = abi.IMPORT_MODULE.encode()
        cdef bytes name
        cdef wasmtime_error_t* err
        cdef wasm_byte_vec_t msg
        cdef int32_t value
        s.deadline_ms = deadline_ms
        s.deadline_ticks = <uint64_t>math.ceil(deadline_ms * 1e6 / tick_ns) + 1
        s.tick_ns = tick_ns
        s.verify_ticks = max(2, (s.deadline_ticks + 1) // 2)
        s.memory_limit = memory_limit
        store = wasmtime.Store(engine)
        store.set_limits(memory_size=memory_limit)
        wt.store_epoch_deadline_callback(<wasmtime_store_t*>_addr(store.ptr()), on_epoch_deadline, s, NULL)
        store.set_epoch_deadline(s.deadline_ticks)  # also bounds the module's start function
        linker = wasmtime.Linker(engine)
        for imp_name, (params, results, _doc) in abi.IMPORTS.items():
            functype = wasmtime.FuncType([getattr(wasmtime.ValType, t)() for t in params],
                                         [getattr(wasmtime.ValType, t)() for t in results])
            name = imp_name.encode()
            err = wt.linker_define_func_unchecked(
                <wasmtime_linker_t*>_addr(linker.ptr()), mod_name, len(mod_name), name, len(name),
                <const wasm_functype_t*>_addr(functype.ptr()),
                <wasmtime_func_unchecked_callback_t><size_t>_IMPORT_CALLBACKS[imp_name], s, NULL)
            if err != NULL:
                wt.error_message(err, &msg)
                text = (<bytes>msg.data[:msg.size]).decode("utf-8", "replace")
                wt.byte_vec_delete(&msg)
                wt.error_delete(err)
                raise RuntimeError(f"defining seq.{imp_name} failed: {text}")
        try:
            instance = linker.instantiate(store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise InstantiationError(f"instantiating the bundle failed: {_error_summary(str(exc))}") from None
        self._store, self._instance, self._module, self._linker = store, instance, module, linker
        s.ctx = <wasmtime_context_t*>_addr(store._context())
        exports = instance.exports(store)
        memcpy(&s.memory, <void*><size_t>ctypes.addressof(exports["memory"]._memory),
               sizeof(wasmtime_memory_t))
        s.memory_ready = True
        for export_name, field in (("algo_on_book", "on_book"), ("algo_on_fill", "on_fill"),
                                   ("algo_on_reject", "on_reject"), ("algo_on_nbbo", "on_nbbo"),
                                   ("algo_on_message", "on_message"), ("algo_on_heartbeat", "on_heartbeat"),
                                   ("algo_on_start", "on_start"), ("algo_on_stop", "on_stop"),
                                   ("algo_on_shutdown", "on_shutdown"), ("algo_on_pause", "on_pause"),
                                   ("algo_on_resume", "on_resume"), ("algo_on_subscribed", "on_subscribed"),
                                   ("algo_on_unsubscribed", "on_unsubscribed")):
            func = exports.get(export_name)
            if isinstance(func, wasmtime.Func):
                memcpy(self._func_slot(field), <void*><size_t>ctypes.addressof(func._func),
                       sizeof(wasmtime_func_t))
        # ABI version first: a bundle of another ABI may define algo_io differently.
        self._probe(exports["algo_abi_version"], b"algo_abi_version", &value)
        if value != SEQ_ABI_VERSION:
            raise AbiMismatchError(f"AbiMismatch {{ got: {value}, expected: {SEQ_ABI_VERSION} }}")
        self._probe(exports["algo_io"], b"algo_io", &value)
        io = <uint32_t>value
        size = wt.memory_data_size(s.ctx, &s.memory)
        if io % 8:
            raise IoBlockError(f"algo_io() returned {io:#x}, which is not 8-byte aligned (the IoBlock "
                               f"must be #[repr(C, align(8))])")
        if io + sizeof(seq_io_block_t) > size:
            raise IoBlockError(f"algo_io() returned {io:#x}: the {sizeof(seq_io_block_t)}-byte IoBlock "
                               f"would end at {io + sizeof(seq_io_block_t):#x}, past the end of linear "
                               f"memory ({size:#x} bytes)")
        s.io_offset = io
        s.io = slot_io(s)

    cdef wasmtime_func_t* _func_slot(self, str field):
        cdef seq_slot_t* s = self.slot
        if field == "on_book":
            return &s.f_on_book
        if field == "on_fill":
            return &s.f_on_fill
        if field == "on_reject":
            return &s.f_on_reject
        if field == "on_nbbo":
            return &s.f_on_nbbo
        if field == "on_message":
            return &s.f_on_message
        if field == "on_heartbeat":
            return &s.f_on_heartbeat
        if field == "on_start":
            return &s.f_on_start
        if field == "on_stop":
            return &s.f_on_stop
        if field == "on_pause":
            return &s.f_on_pause
        if field == "on_resume":
            return &s.f_on_resume
        if field == "on_subscribed":
            return &s.f_on_subscribed
        if field == "on_unsubscribed":
            return &s.f_on_unsubscribed
        return &s.f_on_shutdown

    cdef _probe(self, object func, bytes what, int32_t* value):
        cdef wasmtime_func_t f
        memcpy(&f, <void*><size_t>ctypes.addressof(func._func), sizeof(wasmtime_func_t))
        if slot_call_value(self.slot, &f, what, value) != 0:
            raise BundleError(f"{what.decode()}() failed at load: {self.reason}")

    cdef _release(self):
        """Drop the store (and with it the instance and its memory); no callback runs after this."""
        self.slot.state = SLOT_REMOVED
        self.slot.memory_ready = False
        self.slot.ctx = NULL
        if self._native_lib is not None:
            _detach_native(self)
        self._instance = None
        self._linker = None
        self._store = None

    # ---- Python view

    @property
    def state(self) -> str:
        return _state_name(self.slot.state)

    @property
    def reason(self) -> str | None:
        """Why the instance failed, or None."""
        if self.slot.state != SLOT_FAILED:
            return None
        return self.slot.reason.decode("utf-8", "replace")

    @property
    def wants_nbbo(self) -> bool:
        return bool(self.slot.caps & CAP_NBBO)

    @property
    def callbacks(self) -> int:
        return self.slot.callbacks

    def latency_ns(self, double q) -> int:
        """Callback latency quantile (0 < q <= 1) from the histogram, in ns (about 6% resolution)."""
        if not 0.0 < q <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {q}")
        return hist_quantile(&self.slot.latency, q)

    def status(self) -> dict:
        cdef seq_slot_t* s = self.slot
        memory = wt.memory_data_size(s.ctx, &s.memory) if s.memory_ready else 0
        return {
            "deployment_id": self.deployment_id,
            "runtime": self.runtime,
            "state": self.state,
            "reason": self.reason,
            "symbols": list(self.symbols),
            "unsubscribed": [sym for i, sym in enumerate(self.symbols) if (s.muted >> i) & 1],
            "max_symbols": s.max_symbols,
            "capabilities": sorted(self.capabilities),
            "bundle_sha256": self.bundle_sha256,
            "callbacks": s.callbacks,
            "books": s.books,
            "stale_skipped": s.stale_skipped,
            "traps": s.traps,
            "deadline_hits": s.deadline_hits,
            "deadline_windows": s.deadline_windows,
            "abi_violations": s.abi_violations,
            "actions": s.actions_total,
            "actions_pending": s.action_count,
            "actions_dropped": s.actions_dropped,
            "sends": s.sends,
            "send_errors": s.send_errors,
            "outbox_dropped": s.outbox_dropped,
            "logs": s.logs,
            "logs_dropped": s.logs_dropped,
            "next_id": s.algo_state.next_id,
            "latency_ns": {"count": s.latency.count, "p50": hist_quantile(&s.latency, 0.5),
                           "p99": hist_quantile(&s.latency, 0.99), "max": s.latency.max_v},
            "memory_bytes": memory,
            "memory_limit_bytes": s.memory_limit,
            "deadline_ms": s.deadline_ms,
        }

    def __repr__(self) -> str:
        return f"<AlgoInstance {self.deployment_id} {self.state} symbols={list(self.symbols)}>"


# ------------------------------------------------------------------ Router

cdef class Router:
    """symbol -> [(instance, symbol_idx)]: one cdef call per book update fans out in C."""

    def __cinit__(self):
        self._route_ids = {}
        self._route_subscribers = []
        self._entries = NULL
        self._counts = NULL
        self._n_routes = 0
        self._cap_routes = 0

    def __dealloc__(self):
        cdef uint32_t i
        if self._entries != NULL:
            for i in range(self._n_routes):
                free(self._entries[i])
            free(self._entries)
        free(self._counts)

    cdef int route_of(self, str symbol) except -1:
        cdef int route = self._route_ids.get(symbol, -1)
        cdef seq_route_entry_t** entries
        cdef uint32_t* counts
        cdef uint32_t cap
        if route >= 0:
            return route
        if self._n_routes == self._cap_routes:
            cap = self._cap_routes * 2 if self._cap_routes else 16
            entries = <seq_route_entry_t**>calloc(cap, sizeof(seq_route_entry_t*))
            counts = <uint32_t*>calloc(cap, sizeof(uint32_t))
            if entries == NULL or counts == NULL:
                free(entries)
                free(counts)
                raise MemoryError()
            if self._n_routes:
                memcpy(entries, self._entries, self._n_routes * sizeof(seq_route_entry_t*))
                memcpy(counts, self._counts, self._n_routes * sizeof(uint32_t))
            free(self._entries)
            free(self._counts)
            self._entries, self._counts, self._cap_routes = entries, counts, cap
        route = self._n_routes
        self._n_routes += 1
        self._route_ids[symbol] = route
        self._route_subscribers.append([])
        return route

    cdef uint32_t dispatch(self, int route, Book book) noexcept nogil:
        cdef uint32_t i, n, ran = 0
        cdef seq_route_entry_t* e
        if route < 0 or <uint32_t>route >= self._n_routes:
            return 0
        n = self._counts[route]
        e = self._entries[route]
        for i in range(n):
            if slot_on_book(e[i].slot, book, e[i].symbol_idx) != 1:
                ran += 1
        return ran

    cdef list subscribers(self, int route):
        return [inst for inst, _idx in self._route_subscribers[route]]

    cdef void _set_route(self, int route, list subs) except *:
        cdef seq_route_entry_t* entries = NULL
        cdef AlgoInstance inst
        cdef uint32_t i
        if subs:
            entries = <seq_route_entry_t*>calloc(len(subs), sizeof(seq_route_entry_t))
            if entries == NULL:
                raise MemoryError()
            for i, (inst, idx) in enumerate(subs):
                entries[i].slot = inst.slot
                entries[i].symbol_idx = idx
        free(self._entries[route])
        self._entries[route] = entries
        self._counts[route] = len(subs)
        self._route_subscribers[route] = list(subs)

    def rebuild(self, instances) -> None:
        """Recompute every route from `instances` (in order); called when instances change."""
        cdef AlgoInstance a
        wanted = {}
        for inst in instances:
            a = <AlgoInstance>inst
            if a.slot.state == SLOT_STOPPED or a.slot.state == SLOT_FAILED:
                continue  # stopped instances release their routes (paused ones keep them)
            for idx, sym in enumerate(a.symbols):
                if not (a.slot.muted >> idx) & 1:
                    wanted.setdefault(sym, []).append((inst, idx))
        for sym in wanted:
            self.route_of(sym)
        for sym, route in self._route_ids.items():
            self._set_route(route, wanted.get(sym, []))

    def route_subscribers(self, str symbol) -> list:
        """Deployment ids on a symbol's route, in dispatch order."""
        route = self._route_ids.get(symbol, -1)
        return [] if route < 0 else [inst.deployment_id for inst, _idx in self._route_subscribers[route]]

    def route(self, str symbol) -> int:
        """Stable id of a symbol's route (the edge caches it per book)."""
        return self.route_of(symbol)

    def on_book(self, Book book) -> int:
        """Dispatch one book update to every running subscriber; returns the callbacks run."""
        cdef int route = self._route_ids.get(book.symbol, -1)
        if route < 0:
            return 0
        return self.dispatch(route, book)

    def run_updates(self, Book book, updates, bint consume_actions=True) -> tuple:
        """Apply records [side, px_1e8, qty_1e8, seq, ts_ns] (uint64, like Book.apply_many) to `book`
        and dispatch after each applied update, all in C without the GIL. With consume_actions the
        subscribers' action queues are emptied after each dispatch (standing in for the OMS).
        Returns (updates applied, callbacks run)."""
        cdef const uint64_t[::1] flat = memoryview(updates).cast("B").cast("Q")
        cdef Py_ssize_t n = flat.shape[0] // 5
        cdef Py_ssize_t i
        cdef uint64_t applied = 0, ran = 0
        cdef int route = self.route_of(book.symbol)
        cdef uint32_t j
        cdef seq_route_entry_t* e
        cdef const uint64_t* rec
        if n == 0:
            return (0, 0)
        rec = &flat[0]
        with nogil:
            for i in range(n):
                if (rec[0] == 1 or rec[0] == 2) and rec[1] != 0 and \
                        book.apply_level(<uint8_t>rec[0], rec[1], rec[2], rec[3], rec[4]) == BOOK_OK:
                    applied += 1
                    ran += self.dispatch(route, book)
                    if consume_actions:
                        e = self._entries[route]
                        for j in range(self._counts[route]):
                            e[j].slot.action_count = 0
                rec += 5
        return (applied, ran)

    def bench_dispatch(self, Book book, int batches, int batch_size, bint cpu_time=False) -> list:
        """Mean ns per dispatch of `book` (copy-in, callback, actions read back and consumed) for
        each of `batches` batches of `batch_size` dispatches, timed in C around each batch with
        CLOCK_MONOTONIC, or with this thread's CPU clock (time preempted excluded) if cpu_time."""
        cdef int clock = CLOCK_THREAD_CPUTIME_ID if cpu_time else CLOCK_MONOTONIC
        cdef int route = self.route_of(book.symbol)
        cdef int b, k
        cdef uint32_t j
        cdef uint64_t t0, t1
        cdef seq_route_entry_t* e
        if batches <= 0 or batch_size <= 0:
            raise ValueError("batches and batch_size must be > 0")
        if self._counts[route] == 0:
            raise ValueError(f"no instance subscribes to {book.symbol!r}")
        out = []
        e = self._entries[route]
        for b in range(batches):
            with nogil:
                t0 = seq_clock_ns(clock)
                for k in range(batch_size):
                    self.dispatch(route, book)
                    for j in range(self._counts[route]):
                        e[j].slot.action_count = 0
                t1 = seq_clock_ns(clock)
            out.append((t1 - t0) / <double>batch_size)
        return out


# ------------------------------------------------------------------ AlgoHost

_live_hosts = weakref.WeakSet()


def _stop_tickers_at_exit() -> None:
    """At interpreter exit wasmtime's finalizers free Engines that a host not closed yet still
    references; its ticker thread must not tick a freed Engine (that segfaults the exit)."""
    for host in list(_live_hosts):
        (<AlgoHost>host)._stop_ticker()


atexit.register(_stop_tickers_at_exit)  # registered after wasmtime's import: runs before its hooks


cdef class AlgoHost:
    """Hosts the WASM algos of one edge: load/start/stop/remove, callbacks, drains, status.

    One wasmtime Engine (epoch interruption, Cranelift `speed`) and one epoch ticker thread per
    host; modules are compiled once per sha256; each deployment gets its own Store + Instance
    covering all of its symbols.
    """

    def __cinit__(self):
        self._ticker = NULL
        self._engine_ptr = NULL
        self._carried = NULL
        self._n_carried = 0
        self._carried_keepalive = []

    def __init__(self, *, tick_us: float = 100.0, latency_sample_every: int = 8):
        """tick_us: epoch ticker period (deadline resolution). latency_sample_every: time one
        on_book callback in N (a power of 2) for the latency histogram; 1 times all of them."""
        if not 10.0 <= tick_us <= 100_000.0:
            raise ValueError(f"tick_us must be within 10..100000, got {tick_us}")
        if latency_sample_every < 1 or latency_sample_every & (latency_sample_every - 1):
            raise ValueError(f"latency_sample_every must be a power of 2, got {latency_sample_every}")
        self.latency_sample_every = latency_sample_every
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.cranelift_opt_level = "speed"
        self.engine = wasmtime.Engine(config)
        self._engine_ptr = <wasm_engine_t*>_addr(self.engine.ptr())
        self.tick_ns = <uint64_t>(tick_us * 1000)
        self.router = Router()
        self._instances = {}
        self._modules = {}
        ticker = seq_ticker_new(wt.engine_increment_epoch, self._engine_ptr, <long>self.tick_ns)
        if ticker == NULL:
            raise MemoryError()
        if seq_ticker_start(ticker) != 0:
            free(ticker)
            raise OSError("could not start the epoch ticker thread")
        self._ticker = ticker
        _live_hosts.add(self)

    def __dealloc__(self):
        self._stop_ticker()

    cdef void _stop_ticker(self) noexcept:
        if self._ticker != NULL:
            with nogil:
                seq_ticker_stop(<seq_ticker_t*>self._ticker)
            free(self._ticker)
            self._ticker = NULL

    def close(self) -> None:
        """Discard every instance (no callbacks) and stop the ticker thread."""
        for inst in self._instances.values():
            (<AlgoInstance>inst)._release()
        self._instances.clear()
        self.router.rebuild([])
        self._stop_ticker()

    @property
    def epoch_ticks(self) -> int:
        """Ticks the ticker thread has made (it runs while the host is open)."""
        return seq_ticker_count(<seq_ticker_t*>self._ticker) if self._ticker != NULL else 0

    # ---- loading

    def compile(self, wasm_bytes) -> tuple:
        """(wasmtime.Module, sha256 hex) for a bundle, compiled once per sha256."""
        if not isinstance(wasm_bytes, (bytes, bytearray, memoryview)):
            raise NotWasmError(f"bundle must be bytes, got {type(wasm_bytes).__name__}")
        data = bytes(wasm_bytes)
        if data[:4] != b"\0asm":
            raise NotWasmError(f"bundle is not a WebAssembly module: it starts with {data[:8]!r}, not the "
                               f"\\0asm magic (pass the .wasm file built for wasm32-unknown-unknown)")
        if data[4:8] != b"\x01\x00\x00\x00":
            raise NotWasmError(f"bundle is a WebAssembly component or an unknown binary version "
                               f"({data[4:8].hex()}); the host runs core modules (version 01000000)")
        sha = hashlib.sha256(data).hexdigest()
        module = self._modules.get(sha)
        if module is not None:
            self.cache_hits += 1
            return module, sha
        try:
            module = wasmtime.Module(self.engine, data)
        except wasmtime.WasmtimeError as exc:
            raise CompileError(f"bundle does not compile: {_error_summary(str(exc))}") from None
        self.compile_count += 1
        self._modules[sha] = module
        self._evict_modules()
        return module, sha

    cdef _evict_modules(self):
        """Keep at most 32 cached modules, dropping ones no instance uses (oldest first)."""
        if len(self._modules) <= 32:
            return
        in_use = {inst.bundle_sha256 for inst in self._instances.values()}
        for sha in list(self._modules):
            if len(self._modules) <= 32:
                break
            if sha not in in_use:
                del self._modules[sha]

    def load(self, str deployment_id, wasm_bytes, symbols, params=None, *, deadline_ms: float = 1.0,
             memory_limit_bytes: int = 64 << 20, venue_names=None, max_symbols=None) -> AlgoInstance:
        """Validate, instantiate and register a deployment's bundle (state "loaded").

        Loading an id that exists hot-swaps it: the new instance replaces the old one only after it
        validated (a bad bundle leaves the old one running); it inherits the old AlgoState
        (next_id, PnL, positions and open orders of symbols it still trades) and whatever the old
        one emitted that was not drained yet (actions, outbox, logs), and is started if the old one
        was running. The old instance gets no callback. `max_symbols` bounds what seq.subscribe
        may add (default: the symbols given, so subscribing is off).
        """
        cdef AlgoInstance inst
        sym_tuple, param_dict, venues = self._check_load(deployment_id, symbols, params, venue_names)
        if not (isinstance(deadline_ms, (int, float)) and math.isfinite(deadline_ms)
                and 0 < deadline_ms <= 60_000):
            raise ValueError(f"deadline_ms must be > 0 and <= 60000, got {deadline_ms!r}")
        if not isinstance(memory_limit_bytes, int) or memory_limit_bytes < (1 << 16):
            raise ValueError(f"memory_limit_bytes must be an int >= 65536, got {memory_limit_bytes!r}")
        module, sha = self.compile(wasm_bytes)
        capabilities = _check_module_interface(module)
        inst = AlgoInstance()
        inst.deployment_id = deployment_id
        inst.bundle_sha256 = sha
        inst.capabilities = capabilities
        for name in capabilities:
            inst.slot.caps |= _CAP_BITS[name]
        inst._set_tables(sym_tuple, param_dict, venues)
        self._set_limits(inst, max_symbols)
        try:
            inst._instantiate(self.engine, module, self.tick_ns, float(deadline_ms), memory_limit_bytes)
        except BaseException:
            inst._release()
            raise
        return self._install(inst)

    def load_native(self, str deployment_id, NativeLibrary library, symbols, params=None, *,
                    venue_names=None, max_symbols=None) -> AlgoInstance:
        """Create a native instance of an opened library (see algo/native.pyx) for a deployment;
        the same lifecycle, hot swap and callbacks as `load`, without the sandbox."""
        cdef AlgoInstance inst
        sym_tuple, param_dict, venues = self._check_load(deployment_id, symbols, params, venue_names)
        if library.closed:
            raise ValueError("the native library is closed")
        inst = AlgoInstance()
        inst.deployment_id = deployment_id
        inst.bundle_sha256 = library.sha256
        inst._set_tables(sym_tuple, param_dict, venues)
        self._set_limits(inst, max_symbols)
        _attach_native(inst, library)
        inst.capabilities = frozenset(n for n, bit in _CAP_BITS.items() if inst.slot.caps & bit)
        return self._install(inst)

    def _check_load(self, str deployment_id, symbols, params, venue_names) -> tuple:
        if self._ticker == NULL:
            raise RuntimeError("this AlgoHost is closed")
        if not deployment_id:
            raise ValueError("deployment_id must be a non-empty string")
        sym_tuple = _check_symbols(symbols)
        param_dict = {}
        for key, value in (params or {}).items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"param names must be non-empty strings, got {key!r}")
            param_dict[key] = _as_text(f"param {key!r}", value)
        venues = tuple(_as_text("venue name", v) for v in (venue_names or ()))
        if len(venues) > 255:
            raise ValueError("at most 255 venue names (Nbbo venue indexes are u8)")
        return sym_tuple, param_dict, venues

    cdef _set_limits(self, AlgoInstance inst, max_symbols):
        n = len(inst.symbols) if max_symbols is None else max_symbols
        if not isinstance(n, int) or not len(inst.symbols) <= n <= abi.MAX_SYMBOLS:
            raise ValueError(f"max_symbols must be an int within {len(inst.symbols)}..{abi.MAX_SYMBOLS} "
                             f"(at least the deployment's symbols), got {max_symbols!r}")
        inst.slot.max_symbols = n
        if self._carried_keepalive:
            self._give_carried(inst)
        inst.slot.latency_mask = self.latency_sample_every - 1

    cdef AlgoInstance _install(self, AlgoInstance inst):
        cdef AlgoInstance old = self._instances.get(inst.deployment_id)
        was_running = old is not None and old.slot.state == SLOT_RUNNING
        if old is not None:
            _inherit_state(inst, old)
            old._release()
        self._instances[inst.deployment_id] = inst
        self.router.rebuild(list(self._instances.values()))
        if was_running:
            self.start(inst.deployment_id)
        return inst

    def set_carried_symbols(self, symbols) -> None:
        """The symbols this edge carries: seq.subscribe accepts only these (until called, none)."""
        cdef _CarriedTable table = _CarriedTable([str(sym) for sym in symbols])
        self._carried_keepalive.append(table)
        self._carried = table.table
        self._n_carried = table.n
        for inst in self._instances.values():
            self._give_carried(<AlgoInstance>inst)

    cdef _give_carried(self, AlgoInstance inst):
        # The instance keeps the table alive: its symbols may point into it after a subscribe.
        inst._keepalive.append(self._carried_keepalive[len(self._carried_keepalive) - 1])  # no wraparound
        inst.slot.carried = self._carried
        inst.slot.n_carried = self._n_carried

    # ---- lifecycle

    cdef AlgoInstance _get(self, str deployment_id):
        inst = self._instances.get(deployment_id)
        if inst is None:
            raise UnknownDeploymentError(f"no deployment {deployment_id!r} on this host")
        return <AlgoInstance>inst

    def get(self, str deployment_id) -> AlgoInstance:
        return self._get(deployment_id)

    def __contains__(self, deployment_id) -> bool:
        return deployment_id in self._instances

    def start(self, str deployment_id) -> str:
        """Run algo_on_start (if exported) and start receiving books. Returns the new state."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        if s.state == SLOT_FAILED:
            raise InstanceStateError(f"{deployment_id} failed ({inst.reason}); load the bundle again")
        if s.state == SLOT_PAUSED:
            raise InstanceStateError(f"{deployment_id} is paused; resume it (start is for stopped ones)")
        if s.state == SLOT_RUNNING:
            return inst.state
        s.state = SLOT_RUNNING
        self.router.rebuild(list(self._instances.values()))
        if s.caps & CAP_START:
            slot_begin(s)
            slot_simple(s, &s.f_on_start, "algo_on_start")
        return inst.state

    def stop(self, str deployment_id) -> str:
        """Run algo_on_stop (if exported); keep state and memory, deliver no more books."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        if s.state != SLOT_RUNNING and s.state != SLOT_PAUSED:
            return inst.state
        if s.caps & CAP_STOP:
            slot_begin(s)
            if slot_simple(s, &s.f_on_stop, "algo_on_stop") != 0:
                return inst.state
        s.state = SLOT_STOPPED
        self.router.rebuild(list(self._instances.values()))  # stop releases its routes
        return inst.state

    def pause(self, str deployment_id) -> str:
        """Run algo_on_pause; no books, NBBO, messages or heartbeats until resume, but the
        instance keeps its routes and subscriptions (resume is immediate). Only from running."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        if s.state == SLOT_PAUSED:
            return inst.state
        if s.state != SLOT_RUNNING:
            raise InstanceStateError(f"{deployment_id} is {inst.state}; only a running instance can pause")
        if s.caps & CAP_PAUSE:
            slot_begin(s)
            if slot_simple(s, &s.f_on_pause, "algo_on_pause") != 0:
                return inst.state
        s.state = SLOT_PAUSED
        return inst.state

    def resume(self, str deployment_id) -> str:
        """Run algo_on_resume and deliver books again. Only from paused."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        if s.state == SLOT_RUNNING:
            return inst.state
        if s.state != SLOT_PAUSED:
            raise InstanceStateError(f"{deployment_id} is {inst.state}; only a paused instance can resume")
        s.state = SLOT_RUNNING
        if s.caps & CAP_RESUME:
            slot_begin(s)
            slot_simple(s, &s.f_on_resume, "algo_on_resume")
        return inst.state

    def apply_subscriptions(self, before_callbacks=None) -> list:
        """Make seq.subscribe/unsubscribe calls take effect: update each instance's symbols and
        routes, then deliver algo_on_subscribed / algo_on_unsubscribed. Returns
        [(deployment_id, symbols tuple)] of the instances whose symbol list grew; for each,
        `before_callbacks(deployment_id, symbols)` runs first (the edge gives the account the
        new books, so orders placed in on_subscribed can use them)."""
        cdef AlgoInstance inst
        cdef seq_slot_t* s
        cdef wasmtime_val_raw_t arg
        cdef uint32_t i, added, removed
        grown = []
        changed = False
        for obj in list(self._instances.values()):
            inst = <AlgoInstance>obj
            s = inst.slot
            added, removed = s.subscribed_new, s.unsubscribed_new
            if not (added or removed):
                continue
            s.subscribed_new = s.unsubscribed_new = 0
            changed = True
            if s.n_symbols > len(inst.symbols):
                inst.symbols = tuple((<char*>s.symbols[i].data)[:s.symbols[i].len].decode("utf-8", "replace")
                                     for i in range(s.n_symbols))
                grown.append((inst.deployment_id, inst.symbols))
                if before_callbacks is not None:
                    before_callbacks(inst.deployment_id, inst.symbols)
            for i in range(SEQ_MAX_SYMBOLS):
                arg.i64 = 0
                arg.i32 = i
                if (added >> i) & 1 and s.caps & CAP_SUBSCRIBED and s.state != SLOT_FAILED:
                    slot_begin(s)
                    slot_call(s, &s.f_on_subscribed, &arg, 1, "algo_on_subscribed")
                if (removed >> i) & 1 and s.caps & CAP_UNSUBSCRIBED and s.state != SLOT_FAILED:
                    slot_begin(s)
                    slot_call(s, &s.f_on_unsubscribed, &arg, 1, "algo_on_unsubscribed")
        if changed:
            self.router.rebuild(list(self._instances.values()))
        return grown

    def remove(self, str deployment_id) -> list:
        """Run algo_on_shutdown (unless failed), free the instance; returns its undrained actions
        (including on_shutdown's) so the venue side can act on leftovers."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        if s.state != SLOT_FAILED and s.caps & CAP_SHUTDOWN:
            slot_begin(s)
            slot_simple(s, &s.f_on_shutdown, "algo_on_shutdown")
        actions = _drain_actions(inst)
        del self._instances[deployment_id]
        self.router.rebuild(list(self._instances.values()))
        inst._release()
        return actions

    # ---- callbacks other than on_book

    cdef bint _ready(self, AlgoInstance inst, bint stopped_ok):
        cdef int st = inst.slot.state
        return st == SLOT_RUNNING or (stopped_ok and st == SLOT_STOPPED)

    def on_book(self, Book book) -> int:
        """Dispatch one book update to its subscribers (see Router.on_book)."""
        return self.router.on_book(book)

    def deliver_fill(self, str deployment_id, *, order_id: int, px_1e8: int, qty_1e8: int,
                     symbol_idx: int, side: int, fee_1e8: int = 0, ts_ns: int = 0, flags: int = 0) -> bool:
        """algo_on_fill (running or stopped: resting orders still fill). True if it ran cleanly.
        The edge's engine calls AlgoInstance.on_fill directly (no Python per fill)."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_fill_t fill
        memset(&fill, 0, sizeof(fill))
        fill.order_id = order_id
        fill.px_1e8 = px_1e8
        fill.qty_1e8 = qty_1e8
        fill.fee_1e8 = fee_1e8
        fill.ts_ns = ts_ns
        fill.symbol_idx = symbol_idx
        fill.side = side
        fill.flags = flags
        return inst.on_fill(&fill) == 0

    def deliver_reject(self, str deployment_id, order_id: int, reason, symbol_idx: int,
                       action_kind: int) -> bool:
        """algo_on_reject (running or stopped). `reason` is a REJECT_* code or its name."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_reject_t reject
        if isinstance(reason, str):
            if reason not in abi.REJECT_CODES:
                raise ValueError(f"unknown reject reason {reason!r}; one of {sorted(abi.REJECT_CODES)}")
            reason = abi.REJECT_CODES[reason]
        memset(&reject, 0, sizeof(reject))
        reject.order_id = order_id
        reject.reason = reason
        reject.symbol_idx = symbol_idx
        reject.action_kind = action_kind
        return inst.on_reject(&reject) == 0

    def deliver_message(self, str deployment_id, str from_label, payload) -> bool:
        """algo_on_message, only if exported and running. False when not delivered."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        cdef seq_io_block_t* io
        cdef bytes label = _utf8(from_label)
        cdef bytes data = bytes(payload)
        if not 1 <= len(label) <= SEQ_MAX_LABEL:
            raise ValueError(f"from_label must be 1..{SEQ_MAX_LABEL} bytes, got {len(label)}")
        if len(data) > SEQ_MAX_PAYLOAD:
            raise ValueError(f"payload must be <= {SEQ_MAX_PAYLOAD} bytes, got {len(data)}")
        if not (s.caps & CAP_MESSAGE) or not self._ready(inst, False):
            return False
        io = slot_begin(s)
        memset(&io.message, 0, sizeof(io.message))
        memcpy(io.message.from_label, PyBytes_AS_STRING(label), len(label))
        io.message.from_len = len(label)
        memcpy(io.message.payload, PyBytes_AS_STRING(data), len(data))
        io.message.payload_len = len(data)
        # a callback that declines (not implemented) did not receive anything
        return slot_simple(s, &s.f_on_message, "algo_on_message") == 0 and bool(s.caps & CAP_MESSAGE)

    def deliver_nbbo(self, str deployment_id, *, symbol_idx: int, bid_px_1e8: int, bid_qty_1e8: int,
                     ask_px_1e8: int, ask_qty_1e8: int, ts_ns: int = 0, bid_venue: int = 0,
                     ask_venue: int = 0) -> bool:
        """algo_on_nbbo, only if exported and running. False when not delivered."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        cdef seq_io_block_t* io
        if not (s.caps & CAP_NBBO) or not self._ready(inst, False):
            return False
        io = slot_begin(s)
        memset(&io.nbbo, 0, sizeof(io.nbbo))
        io.nbbo.bid_px_1e8 = bid_px_1e8
        io.nbbo.bid_qty_1e8 = bid_qty_1e8
        io.nbbo.ask_px_1e8 = ask_px_1e8
        io.nbbo.ask_qty_1e8 = ask_qty_1e8
        io.nbbo.ts_ns = ts_ns
        io.nbbo.symbol_idx = symbol_idx
        io.nbbo.bid_venue = bid_venue
        io.nbbo.ask_venue = ask_venue
        return slot_simple(s, &s.f_on_nbbo, "algo_on_nbbo") == 0 and bool(s.caps & CAP_NBBO)

    def on_nbbo(self, str symbol, **nbbo) -> int:
        """Deliver a cross-venue NBBO of `symbol` to every running instance that trades it and
        exports algo_on_nbbo (with its own symbol index). Returns how many received it."""
        delivered = 0
        for inst in list(self._instances.values()):
            if symbol in inst.symbols and inst.wants_nbbo:
                delivered += self.deliver_nbbo(inst.deployment_id, symbol_idx=inst.symbols.index(symbol),
                                               **nbbo)
        return delivered

    def heartbeat(self, now_ns: int | None = None) -> int:
        """algo_on_heartbeat(now_ns) on every running instance exporting it; returns how many ran."""
        cdef AlgoInstance inst
        cdef seq_slot_t* s
        cdef wasmtime_val_raw_t arg
        cdef int ran = 0
        cdef int64_t ts = now_ns if now_ns is not None else <int64_t>seq_clock_ns(CLOCK_REALTIME)
        for obj in list(self._instances.values()):
            inst = <AlgoInstance>obj
            s = inst.slot
            if s.state != SLOT_RUNNING or not (s.caps & CAP_HEARTBEAT):
                continue
            slot_begin(s)
            arg.i64 = ts
            if slot_call(s, &s.f_on_heartbeat, &arg, 1, "algo_on_heartbeat") == 0:
                ran += 1
        return ran

    # ---- drains

    def drain_actions(self, str deployment_id) -> list:
        return _drain_actions(self._get(deployment_id))

    def drain_outbox(self, str deployment_id, *, timestamps: bool = False) -> list:
        """[(label, payload bytes)] sent since the last drain, oldest first; with `timestamps`,
        [(label, payload, ts_ns)] where ts_ns is when the algo called seq.send (CLOCK_REALTIME)."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        cdef seq_outbox_entry_t* e
        out = []
        while s.outbox_count:
            e = &s.outbox[s.outbox_head]
            label = (<char*>e.label)[:e.label_len].decode("utf-8", "replace")
            payload = PyBytes_FromStringAndSize(<char*>e.payload, e.payload_len)
            out.append((label, payload, e.ts_ns) if timestamps else (label, payload))
            s.outbox_head = (s.outbox_head + 1) % OUTBOX_CAP
            s.outbox_count -= 1
        return out

    def drain_logs(self, str deployment_id) -> list:
        """[LogLine(ts_ns, level name, text)] logged since the last drain, oldest first."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        cdef seq_log_entry_t* e
        out = []
        while s.log_count:
            e = &s.log_ring[s.log_head]
            out.append(LogLine(e.ts_ns, abi.LOG_LEVELS.get(e.level, f"LEVEL{e.level}"),
                               (<char*>e.text)[:e.len].decode("utf-8", "replace")))
            s.log_head = (s.log_head + 1) % LOG_RING_CAP
            s.log_count -= 1
        return out

    # ---- AlgoState (the venue side's view of the algo's trading state)

    def set_position(self, str deployment_id, int symbol_idx, int64_t qty_1e8, uint64_t avg_px_1e8) -> None:
        cdef AlgoInstance inst = self._get(deployment_id)
        if not 0 <= symbol_idx < len(inst.symbols):
            raise ValueError(f"symbol_idx {symbol_idx} out of range for {list(inst.symbols)}")
        inst.slot.algo_state.positions[symbol_idx].qty_1e8 = qty_1e8
        inst.slot.algo_state.positions[symbol_idx].avg_px_1e8 = avg_px_1e8

    def set_pnl(self, str deployment_id, *, realized_1e8: int, unrealized_1e8: int, fees_1e8: int) -> None:
        cdef AlgoInstance inst = self._get(deployment_id)
        inst.slot.algo_state.realized_pnl_1e8 = realized_1e8
        inst.slot.algo_state.unrealized_pnl_1e8 = unrealized_1e8
        inst.slot.algo_state.fees_1e8 = fees_1e8

    def set_open_orders(self, str deployment_id, orders) -> None:
        """Mirror the resting orders (OpenOrder tuples, oldest first; only the first 32 fit)."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_algo_state_t* st = &inst.slot.algo_state
        cdef uint32_t i = 0
        rows = [OpenOrder(*o) for o in orders][:SEQ_MAX_OPEN_ORDERS]
        memset(&st.open_orders[0], 0, sizeof(st.open_orders))
        for i, o in enumerate(rows):
            st.open_orders[i].order_id = o.order_id
            st.open_orders[i].px_1e8 = o.px_1e8
            st.open_orders[i].qty_1e8 = o.qty_1e8
            st.open_orders[i].filled_1e8 = o.filled_1e8
            st.open_orders[i].symbol_idx = o.symbol_idx
            st.open_orders[i].side = o.side
            st.open_orders[i].order_type = o.order_type
        st.open_order_count = len(rows)
        inst.slot.state_dirty = True

    def set_next_id(self, str deployment_id, uint64_t next_id) -> None:
        self._get(deployment_id).slot.algo_state.next_id = next_id

    # ---- status

    def status(self, str deployment_id) -> dict:
        return self._get(deployment_id).status()

    def instances(self) -> list:
        """status() of every instance, in load order."""
        return [inst.status() for inst in self._instances.values()]

    def cache_info(self) -> dict:
        return {"modules": len(self._modules), "compiles": self.compile_count, "hits": self.cache_hits}


cdef class _CarriedTable:
    """A C table of symbol names (seq_str_t) with the bytes it points into; freed with the object."""
    cdef seq_str_t* table
    cdef uint32_t n
    cdef list names

    def __cinit__(self, list symbols):
        cdef uint32_t i
        cdef bytes b
        self.names = [_utf8(sym) for sym in symbols]
        self.n = len(self.names)
        self.table = <seq_str_t*>calloc(self.n + 1, sizeof(seq_str_t))
        if self.table == NULL:
            raise MemoryError()
        for i, b in enumerate(self.names):
            self.table[i].data = <const uint8_t*>PyBytes_AS_STRING(b)
            self.table[i].len = len(b)

    def __dealloc__(self):
        free(self.table)


cdef list _drain_actions(AlgoInstance inst):
    cdef seq_slot_t* s = inst.slot
    cdef seq_action_t* a
    cdef uint32_t i
    out = []
    for i in range(s.action_count):
        a = &s.action_queue[i]
        out.append(Action(a.kind, a.side, a.order_type, a.symbol_idx, a.order_id, a.px_1e8, a.qty_1e8))
    s.action_count = 0
    return out


cdef void _inherit_state(AlgoInstance new, AlgoInstance old) except *:
    """Hot swap: carry next_id, PnL, positions/open orders of symbols the new bundle still trades,
    and what the old instance emitted but nobody drained yet (actions, mesh messages, log lines)."""
    cdef seq_algo_state_t* dst = &new.slot.algo_state
    cdef seq_algo_state_t* src = &old.slot.algo_state
    cdef uint32_t i, n = 0
    remap = {old_idx: new.symbols.index(sym) for old_idx, sym in enumerate(old.symbols) if sym in new.symbols}
    dst.next_id = src.next_id
    dst.realized_pnl_1e8 = src.realized_pnl_1e8
    dst.unrealized_pnl_1e8 = src.unrealized_pnl_1e8
    dst.fees_1e8 = src.fees_1e8
    for old_idx, new_idx in remap.items():
        dst.positions[new_idx] = src.positions[old_idx]
    for i in range(src.open_order_count):
        if src.open_orders[i].symbol_idx in remap:
            dst.open_orders[n] = src.open_orders[i]
            dst.open_orders[n].symbol_idx = remap[src.open_orders[i].symbol_idx]
            n += 1
    dst.open_order_count = n
    new.slot.state_dirty = True
    _copy_queues(new.slot, old.slot)


cdef void _copy_queues(seq_slot_t* dst, seq_slot_t* src) noexcept:
    memcpy(dst.action_queue, src.action_queue, src.action_count * sizeof(seq_action_t))
    dst.action_count = src.action_count
    memcpy(dst.outbox, src.outbox, sizeof(src.outbox))
    dst.outbox_head, dst.outbox_count = src.outbox_head, src.outbox_count
    memcpy(dst.log_ring, src.log_ring, sizeof(src.log_ring))
    dst.log_head, dst.log_count = src.log_head, src.log_count
