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

from sequence_edge.algo import abi
from sequence_wire.types import param_text
from sequence_edge.algo.abi cimport (
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
from sequence_edge.market.book cimport Book, BOOK_OK
from sequence_edge.util cimport hist_quantile, hist_record
from sequence_edge.algo.wasmtime_capi cimport (
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

# The host is one Cython module (one compilation unit, so the hot path inlines across parts),
# split into files by concern; each part's header says what it holds.
include "wasm_capi.pxi"
include "wasm_calls.pxi"
include "wasm_imports.pxi"
include "wasm_checks.pxi"
include "instance.pxi"
include "router.pxi"
include "algo_host.pxi"
