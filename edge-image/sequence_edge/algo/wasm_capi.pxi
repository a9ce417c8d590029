# Part of sequence_edge.algo.host (included by host.pyx).
# The wasmtime C API at run time: small C helpers (dlopen of the wheel's library, the epoch
# ticker thread, trap text), the function table resolved from the installed wasmtime, and its
# version and layout checks. Declarations of the C types are in wasmtime_capi.pxd.

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
            f"sequence_edge.algo.host declares the C API of wasmtime {WASMTIME_VERSION} but wasmtime "
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


