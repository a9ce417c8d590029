# Part of sequence_edge.algo.host (included by host.pyx).
# AlgoHost: the WASM algorithms of one edge (load, start, stop, remove, callbacks, drains,
# status), plus the hot-swap helpers that carry state from an old instance to a new one.

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

    def has_module(self, str sha256) -> bool:
        return sha256 in self._modules

    def add_module(self, str sha256, module) -> None:
        """Cache a module compiled elsewhere (the edge's compile worker, then Module.deserialize
        with this host's `engine`) for the bundle hashing to `sha256`: load() uses it as is."""
        if not isinstance(module, wasmtime.Module):
            raise TypeError(f"module must be a wasmtime.Module, got {type(module).__name__}")
        self._modules[sha256] = module
        self._evict_modules()

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
             memory_limit_bytes: int = 64 << 20, venue_names=None) -> AlgoInstance:
        """Validate, instantiate and register a deployment's bundle (state "loaded").

        Loading an id that exists hot-swaps it: the new instance replaces the old one only after it
        validated (a bad bundle leaves the old one running); it inherits the old AlgoState
        (next_id, PnL, positions and open orders of symbols it still trades) and whatever the old
        one emitted that was not drained yet (actions, outbox, logs), and is started if the old one
        was running. The old instance gets no callback.
        """
        cdef AlgoInstance inst
        cdef AlgoInstance old
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
        inst.slot.latency_mask = self.latency_sample_every - 1
        try:
            inst._instantiate(self.engine, module, self.tick_ns, float(deadline_ms), memory_limit_bytes)
        except BaseException:
            inst._release()
            raise
        old = self._instances.get(deployment_id)
        was_running = old is not None and old.slot.state == SLOT_RUNNING
        if old is not None:
            _inherit_state(inst, old)
            old._release()
        self._instances[deployment_id] = inst
        if old is not None:
            _drop_module_if_unused(self, old.bundle_sha256)
        self.router.rebuild(list(self._instances.values()))
        if was_running:
            self.start(deployment_id)
        return inst

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
        if s.state == SLOT_RUNNING:
            return inst.state
        s.state = SLOT_RUNNING
        if s.caps & CAP_START:
            slot_begin(s)
            slot_simple(s, &s.f_on_start, "algo_on_start")
        return inst.state

    def stop(self, str deployment_id) -> str:
        """Run algo_on_stop (if exported); keep state and memory, deliver no more books."""
        cdef AlgoInstance inst = self._get(deployment_id)
        cdef seq_slot_t* s = inst.slot
        if s.state != SLOT_RUNNING:
            return inst.state
        if s.caps & CAP_STOP:
            slot_begin(s)
            if slot_simple(s, &s.f_on_stop, "algo_on_stop") != 0:
                return inst.state
        s.state = SLOT_STOPPED
        return inst.state

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
        _drop_module_if_unused(self, inst.bundle_sha256)
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
        return slot_simple(s, &s.f_on_message, "algo_on_message") == 0

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
        return slot_simple(s, &s.f_on_nbbo, "algo_on_nbbo") == 0

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


cdef _drop_module_if_unused(AlgoHost host, str sha256):
    """Free a compiled module (its machine code can be tens of MB) once no instance runs it."""
    if all((<AlgoInstance>inst).bundle_sha256 != sha256 for inst in host._instances.values()):
        host._modules.pop(sha256, None)


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
