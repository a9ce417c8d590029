# Part of sequence_edge.algo.host (included by host.pyx).
# AlgoInstance: one deployment's algorithm on this host (its store, memory, exports and C state).

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


