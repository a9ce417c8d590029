# Part of sequence_edge.algo.host (included by host.pyx).
# Router: symbol -> [(instance, symbol_idx)], so one cdef call per book update fans out in C.

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


