# The subset of wasmtime's C API that the WASM host's hot path uses.
#
# Declared by hand for wasmtime 50.0.1 (the exact version pinned in pyproject.toml), from
# crates/c-api/include/{wasm.h, wasmtime/func.h, val.h, store.h, engine.h, memory.h, extern.h,
# linker.h, trap.h, error.h} of that release, cross-checked against the `wasmtime` Python wheel's
# own generated `wasmtime/_bindings.py` (generated from the same headers).
#
# Why the version is pinned: the wheel ships `_libwasmtime.so` but no headers, so nothing checks
# these declarations at compile time. The by-value structs (`wasmtime_func_t`, `wasmtime_memory_t`,
# `wasmtime_val_raw_t`) and the numbering of `wasmtime_trap_code_t` change between wasmtime
# releases; a silent mismatch would corrupt memory. host.pyx refuses to import when the installed
# wheel is another version, and checks the struct sizes below against the wheel's ctypes
# declarations at import. Upgrading wasmtime = re-read the headers, update this file and the pin.
#
# Symbols are not linked at build time (setup.py links nothing): host.pyx dlopen()s the very file
# the Python package already loaded (`wasmtime._ffi.filename`, so the same handle and the same
# global state) and fills a `seq_wt_api_t` table of function pointers with dlsym().
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

cdef extern from *:
    """
    #include <stdbool.h>
    #include <stddef.h>
    #include <stdint.h>

    /* Opaque handles (wasm.h and the wasmtime headers). */
    typedef struct wasm_engine_t wasm_engine_t;
    typedef struct wasm_functype_t wasm_functype_t;
    typedef struct wasm_trap_t wasm_trap_t;
    typedef struct wasmtime_context wasmtime_context_t;
    typedef struct wasmtime_store wasmtime_store_t;
    typedef struct wasmtime_caller wasmtime_caller_t;
    typedef struct wasmtime_linker wasmtime_linker_t;
    typedef struct wasmtime_error wasmtime_error_t;

    /* wasm.h: wasm_byte_vec_t (also wasm_name_t and wasm_message_t). */
    typedef struct wasm_byte_vec_t { size_t size; uint8_t *data; } wasm_byte_vec_t;

    /* extern.h (v50): 16 bytes. */
    typedef struct wasmtime_func { uint64_t store_id; void *__private; } wasmtime_func_t;

    /* extern.h (v50): an anonymous {store_id, __private1} struct then __private2; 24 bytes. */
    typedef struct wasmtime_memory {
        struct { uint64_t store_id; uint32_t __private1; } __anon;
        uint32_t __private2;
    } wasmtime_memory_t;

    /* val.h (v50): 16 bytes (v128 is the widest member). */
    typedef union wasmtime_val_raw {
        int32_t i32; int64_t i64; float f32; double f64; uint8_t v128[16];
        uint32_t anyref; uint32_t externref; uint32_t exnref; void *funcref;
    } wasmtime_val_raw_t;

    /* trap.h (v50) */
    typedef uint8_t wasmtime_trap_code_t;

    /* store.h (v50) */
    typedef uint8_t wasmtime_update_deadline_kind_t;
    typedef wasmtime_error_t *(*seq_epoch_deadline_cb_t)(
        wasmtime_context_t *context, void *data, uint64_t *epoch_deadline_delta,
        wasmtime_update_deadline_kind_t *update_kind);

    /* func.h (v50) */
    typedef wasm_trap_t *(*wasmtime_func_unchecked_callback_t)(
        void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args_and_results,
        size_t num_args_and_results);

    /* The functions host.pyx resolves with dlsym(); signatures exactly as in the v50 headers. */
    typedef struct seq_wt_api_t {
        /* func.h */
        wasmtime_error_t *(*func_call_unchecked)(wasmtime_context_t *store, const wasmtime_func_t *func,
                                                 wasmtime_val_raw_t *args_and_results,
                                                 size_t args_and_results_len, wasm_trap_t **trap);
        wasmtime_context_t *(*caller_context)(wasmtime_caller_t *caller);
        /* store.h */
        void (*context_set_epoch_deadline)(wasmtime_context_t *context, uint64_t ticks_beyond_current);
        void (*store_epoch_deadline_callback)(wasmtime_store_t *store, seq_epoch_deadline_cb_t func,
                                              void *data, void (*finalizer)(void *));
        /* engine.h */
        void (*engine_increment_epoch)(wasm_engine_t *engine);
        /* memory.h */
        uint8_t *(*memory_data)(const wasmtime_context_t *store, const wasmtime_memory_t *memory);
        size_t (*memory_data_size)(const wasmtime_context_t *store, const wasmtime_memory_t *memory);
        /* linker.h */
        wasmtime_error_t *(*linker_define_func_unchecked)(
            wasmtime_linker_t *linker, const char *module, size_t module_len, const char *name,
            size_t name_len, const wasm_functype_t *ty, wasmtime_func_unchecked_callback_t cb,
            void *data, void (*finalizer)(void *));
        /* trap.h / wasm.h */
        bool (*trap_code)(const wasm_trap_t *trap, wasmtime_trap_code_t *code);
        void (*trap_message)(const wasm_trap_t *trap, wasm_byte_vec_t *out);
        void (*trap_delete)(wasm_trap_t *trap);
        /* error.h */
        wasmtime_error_t *(*error_new)(const char *message);
        void (*error_message)(const wasmtime_error_t *error, wasm_byte_vec_t *message);
        void (*error_delete)(wasmtime_error_t *error);
        /* wasm.h */
        void (*byte_vec_delete)(wasm_byte_vec_t *vec);
    } seq_wt_api_t;
    """
    ctypedef struct wasm_engine_t
    ctypedef struct wasm_functype_t
    ctypedef struct wasm_trap_t
    ctypedef struct wasmtime_context_t
    ctypedef struct wasmtime_store_t
    ctypedef struct wasmtime_caller_t
    ctypedef struct wasmtime_linker_t
    ctypedef struct wasmtime_error_t

    ctypedef struct wasm_byte_vec_t:
        size_t size
        uint8_t* data

    ctypedef struct wasmtime_func_t:
        uint64_t store_id

    ctypedef struct wasmtime_memory_t:
        pass

    ctypedef union wasmtime_val_raw_t:
        int32_t i32
        int64_t i64
        float f32
        double f64

    ctypedef uint8_t wasmtime_trap_code_t
    ctypedef uint8_t wasmtime_update_deadline_kind_t

    ctypedef wasmtime_error_t* (*seq_epoch_deadline_cb_t)(
        wasmtime_context_t* context, void* data, uint64_t* epoch_deadline_delta,
        wasmtime_update_deadline_kind_t* update_kind) noexcept nogil

    ctypedef wasm_trap_t* (*wasmtime_func_unchecked_callback_t)(
        void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args_and_results,
        size_t num_args_and_results) noexcept nogil

    ctypedef struct seq_wt_api_t:
        wasmtime_error_t* (*func_call_unchecked)(wasmtime_context_t*, const wasmtime_func_t*,
                                                 wasmtime_val_raw_t*, size_t, wasm_trap_t**) noexcept nogil
        wasmtime_context_t* (*caller_context)(wasmtime_caller_t*) noexcept nogil
        void (*context_set_epoch_deadline)(wasmtime_context_t*, uint64_t) noexcept nogil
        void (*store_epoch_deadline_callback)(wasmtime_store_t*, seq_epoch_deadline_cb_t, void*,
                                              void (*)(void*) noexcept nogil) noexcept nogil
        void (*engine_increment_epoch)(wasm_engine_t*) noexcept nogil
        uint8_t* (*memory_data)(const wasmtime_context_t*, const wasmtime_memory_t*) noexcept nogil
        size_t (*memory_data_size)(const wasmtime_context_t*, const wasmtime_memory_t*) noexcept nogil
        wasmtime_error_t* (*linker_define_func_unchecked)(
            wasmtime_linker_t*, const char*, size_t, const char*, size_t, const wasm_functype_t*,
            wasmtime_func_unchecked_callback_t, void*, void (*)(void*) noexcept nogil) noexcept nogil
        bint (*trap_code)(const wasm_trap_t*, wasmtime_trap_code_t*) noexcept nogil
        void (*trap_message)(const wasm_trap_t*, wasm_byte_vec_t*) noexcept nogil
        void (*trap_delete)(wasm_trap_t*) noexcept nogil
        wasmtime_error_t* (*error_new)(const char*) noexcept nogil
        void (*error_message)(const wasmtime_error_t*, wasm_byte_vec_t*) noexcept nogil
        void (*error_delete)(wasmtime_error_t*) noexcept nogil
        void (*byte_vec_delete)(wasm_byte_vec_t*) noexcept nogil

# wasmtime_trap_code_t values (trap.h, v50: WASMTIME_TRAP_CODE_*). Only the ones the host names.
cdef enum:
    WT_TRAP_STACK_OVERFLOW = 0
    WT_TRAP_MEMORY_OUT_OF_BOUNDS = 1
    WT_TRAP_INTEGER_DIVISION_BY_ZERO = 7
    WT_TRAP_UNREACHABLE_CODE_REACHED = 9
    WT_TRAP_INTERRUPT = 10
    WT_TRAP_OUT_OF_FUEL = 11

# wasmtime_update_deadline_kind_t (store.h, v50)
cdef enum:
    WT_UPDATE_DEADLINE_CONTINUE = 0
    WT_UPDATE_DEADLINE_YIELD = 1
