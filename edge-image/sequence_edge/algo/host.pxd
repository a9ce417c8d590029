# Interface of the WASM algo host (host.pyx) for the edge's Cython loop (feed -> book -> algos ->
# risk -> OMS). Python callers use AlgoHost's def methods; Cython callers cimport these classes:
#
#     from sequence_edge.algo.host cimport AlgoHost, AlgoInstance, Router
#     route = host.router.route_of(book.symbol)          # once per book, at subscription time
#     host.router.dispatch(route, book)                  # per update: no Python frame, GIL optional
#     for inst in host.router.subscribers(route):        # then per instance, the OMS takes the actions
#         n = inst.action_count(); acts = inst.actions()
#         ... risk + OMS on acts[0:n] ...
#         inst.consume_actions(n)
#
# Every callback (on_book, on_fill, on_start, ...) appends the actions it emitted to the instance's
# action queue (capacity ACTION_QUEUE_CAP; when nobody drains it, further actions are dropped and
# counted in `actions_dropped`). The AlgoState the algo sees is `algo_state()`; after changing it
# from Cython call `mark_state_dirty()` so the whole block is rewritten before the next callback.
# `inst.slot.state` (SLOT_*) says whether an instance is still running after a dispatch.
#
# Route ids are stable for the life of the router; AlgoHost.load/remove rebuild the subscriber
# arrays, so re-read `subscribers(route)` after either. Not thread-safe: the thread that owns the
# AlgoHost makes every call (the GIL may be released around dispatch; nothing else may run on the
# host meanwhile).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from sequence_edge.algo.abi cimport seq_action_t, seq_algo_state_t, seq_fill_t, seq_io_block_t, seq_reject_t
from sequence_edge.market.book cimport Book
# --- native algorithms (algo/native.pxd): a slot runs either a wasm instance or a native one
from sequence_edge.algo.native cimport seq_host_api_t, seq_native_vtable_t
from sequence_edge.util cimport hist_t  # latency histogram shared with the OMS
from sequence_edge.algo.wasmtime_capi cimport wasm_engine_t, wasmtime_context_t, wasmtime_func_t, wasmtime_memory_t

# Instance states (AlgoInstance.state names them: loaded/running/stopped/failed/removed/paused).
cdef enum:
    SLOT_LOADED = 0
    SLOT_RUNNING = 1
    SLOT_STOPPED = 2
    SLOT_FAILED = 3
    SLOT_REMOVED = 4
    SLOT_PAUSED = 5

# Optional exports, as bits of seq_slot_t.caps.
cdef enum:
    CAP_NBBO = 1
    CAP_MESSAGE = 2
    CAP_HEARTBEAT = 4
    CAP_START = 8
    CAP_STOP = 16
    CAP_SHUTDOWN = 32
    CAP_PAUSE = 64
    CAP_RESUME = 128
    CAP_SUBSCRIBED = 256
    CAP_UNSUBSCRIBED = 512

cdef enum:
    ACTION_QUEUE_CAP = 4096   # actions held per instance until drained
    OUTBOX_CAP = 256          # mesh messages held per instance until drained (oldest dropped)
    LOG_RING_CAP = 512        # log lines held per instance until drained (oldest dropped)
    LOG_TEXT_MAX = 240        # bytes kept per log line (longer lines are truncated)
    REASON_MAX = 384          # bytes of the failure reason

cdef struct seq_str_t:
    const uint8_t* data       # points into a bytes object the AlgoInstance keeps alive
    uint32_t len

cdef struct seq_param_t:
    seq_str_t key
    seq_str_t value

cdef struct seq_log_entry_t:
    uint64_t ts_ns
    uint32_t level
    uint32_t len
    uint8_t text[LOG_TEXT_MAX]

cdef struct seq_outbox_entry_t:
    uint64_t ts_ns            # CLOCK_REALTIME when the algo called seq.send (mesh latency starts here)
    uint32_t label_len
    uint32_t payload_len
    uint8_t label[32]
    uint8_t payload[256]

# All C-side state of one instance. Host imports get a pointer to it as their `env`, so nothing
# here may be a Python object. Allocated once per instance (its address never changes).
cdef struct seq_slot_t:
    # wasmtime handles, valid while state != SLOT_REMOVED
    wasmtime_context_t* ctx
    wasmtime_memory_t memory
    bint memory_ready          # imports touch memory only after the exports were resolved
    wasmtime_func_t f_on_book
    wasmtime_func_t f_on_fill
    wasmtime_func_t f_on_reject
    wasmtime_func_t f_on_nbbo
    wasmtime_func_t f_on_message
    wasmtime_func_t f_on_heartbeat
    wasmtime_func_t f_on_start
    wasmtime_func_t f_on_stop
    wasmtime_func_t f_on_shutdown
    wasmtime_func_t f_on_pause
    wasmtime_func_t f_on_resume
    wasmtime_func_t f_on_subscribed
    wasmtime_func_t f_on_unsubscribed
    uint32_t caps              # callbacks still offered (a declined one loses its bit)
    # native instances (native != NULL): the f_on_* fields above only name the callback
    const seq_native_vtable_t* native
    void* native_inst
    seq_host_api_t native_api  # ctx = this slot
    # subscriptions (seq.subscribe / unsubscribe)
    uint32_t max_symbols       # limit of n_symbols (the deployment's max_symbols)
    uint32_t muted             # bit i: symbol i was unsubscribed (no books; the index stays)
    uint32_t subscribed_new    # bit i: subscribed in a callback, on_subscribed not delivered yet
    uint32_t unsubscribed_new  # bit i: unsubscribed in a callback, on_unsubscribed not delivered yet
    seq_str_t* carried         # symbols the edge carries (AlgoHost table); NULL: none yet
    uint32_t n_carried
    uint32_t io_offset         # address of the IoBlock in linear memory (validated at load)
    seq_io_block_t* io         # host address of the IoBlock as of the end of the last call (memory
                               # moves only while wasm runs, so it is valid until the next call)
    int state
    # limits
    uint64_t deadline_ticks    # epoch ticks per callback (ticker period: AlgoHost.tick_ns)
    double deadline_ms
    uint64_t tick_ns
    uint64_t verify_ticks      # length of the check window after the deadline is reached
    uint64_t verify_cpu_ns     # this thread's CPU clock when the window opened
    bint deadline_armed        # 0 at the start of each call; 1 once the deadline was reached
    bint deadline_expired      # set by the epoch callback when it ends the call
    uint64_t memory_limit
    # tables the imports read (set at load)
    seq_str_t symbols[16]
    uint32_t n_symbols
    seq_str_t* venues
    uint32_t n_venues
    seq_param_t* params
    uint32_t n_params
    # trading state mirrored into the IoBlock before every callback
    seq_algo_state_t algo_state
    bint state_dirty           # rewrite all 1576 bytes (else header + used entries only)
    # per-callback
    uint32_t sends_this_callback
    # counters
    uint64_t callbacks
    uint64_t books
    uint64_t stale_skipped
    uint64_t traps
    uint64_t deadline_hits
    uint64_t deadline_windows  # check windows opened (a callback reached its deadline, see host.pyx)
    uint64_t abi_violations
    uint64_t actions_total
    uint64_t actions_dropped
    uint64_t sends
    uint64_t send_errors
    uint64_t outbox_dropped
    uint64_t logs
    uint64_t logs_dropped
    hist_t latency  # ns per wasm callback, measured around the call (sampled, below)
    uint64_t latency_mask      # time on_book when books & mask == 0 (a clock read costs ~20-40 ns)
    # queues drained by the host's owner
    uint32_t action_count
    seq_action_t action_queue[ACTION_QUEUE_CAP]
    uint32_t outbox_head
    uint32_t outbox_count
    seq_outbox_entry_t outbox[OUTBOX_CAP]
    uint32_t log_head
    uint32_t log_count
    seq_log_entry_t log_ring[LOG_RING_CAP]
    char reason[REASON_MAX]    # why the instance failed (NUL-terminated)
    uint64_t call_seq          # wasm calls started (any export)
    uint64_t last_error_seq    # call_seq of the last ERROR log line (an SDK panic logs one, then traps)
    char last_error[160]

cdef class AlgoInstance:
    cdef seq_slot_t* slot
    cdef readonly str deployment_id
    cdef readonly tuple symbols
    cdef readonly dict params
    cdef readonly tuple venue_names
    cdef readonly str bundle_sha256
    cdef readonly frozenset capabilities
    cdef object _store            # wasmtime.Store (owns the instance and its memory)
    cdef object _instance         # wasmtime.Instance
    cdef object _module           # wasmtime.Module (shared through the module cache)
    cdef object _linker           # wasmtime.Linker whose host functions carry `slot` as env
    cdef list _keepalive          # bytes objects the seq_str_t tables point into
    cdef readonly str runtime     # "wasm" or "native"
    cdef object _native_lib       # NativeLibrary (native): mapped while this instance exists

    # Hot path: one book update for `symbol_idx`; returns 0 dispatched, 1 skipped (stale book or
    # not running), -1 the callback failed the instance.
    cdef int on_book(self, Book book, uint16_t symbol_idx) noexcept nogil
    # algo_on_fill / algo_on_reject (running or stopped instances: resting orders still resolve);
    # 0 ran, 1 skipped (not running/stopped), -1 the callback failed the instance.
    cdef int on_fill(self, const seq_fill_t* fill) noexcept nogil
    cdef int on_reject(self, const seq_reject_t* reject) noexcept nogil
    # Actions queued by callbacks since the last consume, oldest first.
    cdef seq_action_t* actions(self) noexcept nogil
    cdef uint32_t action_count(self) noexcept nogil
    cdef void consume_actions(self, uint32_t n) noexcept nogil
    # The AlgoState mirrored into the algo's memory before each callback.
    cdef seq_algo_state_t* algo_state(self) noexcept nogil
    cdef void mark_state_dirty(self) noexcept nogil
    # Implementation (host.pyx).
    cdef _set_tables(self, tuple symbols, dict params, tuple venues)
    cdef _instantiate(self, object engine, object module, uint64_t tick_ns, double deadline_ms,
                      uint64_t memory_limit)
    cdef wasmtime_func_t* _func_slot(self, str field)
    cdef _probe(self, object func, bytes what, int32_t* value)
    cdef _release(self)

cdef struct seq_route_entry_t:
    seq_slot_t* slot
    uint16_t symbol_idx

cdef class Router:
    cdef dict _route_ids          # symbol -> route id (stable for the router's life)
    cdef list _route_subscribers  # route id -> list of (AlgoInstance, symbol_idx); keeps them alive
    cdef seq_route_entry_t** _entries
    cdef uint32_t* _counts
    cdef uint32_t _n_routes
    cdef uint32_t _cap_routes

    cdef int route_of(self, str symbol) except -1
    # Fan one book update out to every running instance subscribed to the route. Returns how many
    # callbacks ran. Safe with or without the GIL held.
    cdef uint32_t dispatch(self, int route, Book book) noexcept nogil
    cdef list subscribers(self, int route)
    cdef void _set_route(self, int route, list subs) except *

cdef class AlgoHost:
    cdef object __weakref__       # host.pyx keeps a WeakSet of live hosts (tickers stopped at exit)
    cdef readonly Router router
    cdef readonly object engine   # wasmtime.Engine shared by every instance of this host
    cdef readonly uint64_t tick_ns
    cdef readonly uint32_t latency_sample_every  # 1 = time every on_book; other callbacks always
    cdef dict _instances          # deployment id -> AlgoInstance
    cdef dict _modules            # sha256 hex -> wasmtime.Module
    cdef readonly uint64_t compile_count
    cdef readonly uint64_t cache_hits
    cdef wasm_engine_t* _engine_ptr
    cdef seq_str_t* _carried      # symbols the edge carries (seq.subscribe accepts only these)
    cdef uint32_t _n_carried
    cdef list _carried_keepalive  # _CarriedTable objects, newest last (instances hold theirs too)
    cdef void* _ticker            # the epoch ticker thread (see host.pyx)
    cdef void _stop_ticker(self) noexcept
    cdef _evict_modules(self)
    cdef AlgoInstance _get(self, str deployment_id)
    cdef bint _ready(self, AlgoInstance inst, bint stopped_ok)
    cdef _set_limits(self, AlgoInstance inst, max_symbols)
    cdef AlgoInstance _install(self, AlgoInstance inst)
    cdef _give_carried(self, AlgoInstance inst)
