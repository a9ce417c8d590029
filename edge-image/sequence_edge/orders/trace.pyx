# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Per-order lifecycle traces with nanosecond timestamps, in a fixed-size ring.

Every order the OMS sees gets an order ref `P-<8 hex>` ("P" for paper). The ref is a 32-bit
bijection of a per-process counter mixed with a random salt, so refs look unrelated, differ
between edge processes, and map back to their ring slot in O(1): `find` inverts the bijection
and checks that the slot still holds that order (the ring keeps the last TRACE_CAP orders).

Events (kind, ts_ns, px, qty, code) are appended as the order moves: tick (the market-data
update the algo reacted to), submit, risk_checked, ack, fill..., amend, cancel / expire /
reject. At most TRACE_EVENTS are kept per order; later events overwrite the last slot, so the
final event is always there, and `dropped_events` counts what was overwritten.
"""

import os

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from sequence_edge.algo import abi

cdef uint32_t MUL = 0x9E3779B1u  # odd, so multiplication mod 2**32 is invertible

EVENT_NAMES = {EV_TICK: "tick", EV_SUBMIT: "submit", EV_RISK: "risk_checked", EV_ACK: "ack",
               EV_FILL: "fill", EV_AMEND: "amend", EV_CANCEL: "cancel", EV_EXPIRE: "expire",
               EV_REJECT: "reject", EV_RESTORED: "restored"}
STATE_NAMES = {OS_NEW: "new", OS_OPEN: "open", OS_FILLED: "filled", OS_CANCELLED: "cancelled",
               OS_REJECTED: "rejected", OS_EXPIRED: "expired"}
SIDE_NAMES = {1: "buy", 2: "sell"}
TYPE_NAMES = {abi.ORDER_LIMIT: "limit", abi.ORDER_MARKET: "market", abi.ORDER_IOC: "ioc",
              abi.ORDER_POST_ONLY: "post_only"}


cdef inline uint32_t mix(uint32_t x, uint32_t salt) noexcept nogil:
    x = (x ^ salt) * MUL
    return x ^ (x >> 16)


cdef inline uint32_t unmix(uint32_t y, uint32_t salt, uint32_t mul_inv) noexcept nogil:
    y ^= y >> 16
    return (y * mul_inv) ^ salt


def parse_ref(str text) -> int:
    """'P-8f3a1b2c' -> 0x8f3a1b2c; ValueError for anything else."""
    if len(text) != 10 or not text.startswith("P-"):
        raise ValueError(f"order refs look like P-8f3a1b2c, got {text!r}")
    try:
        return int(text[2:], 16)
    except ValueError:
        raise ValueError(f"order refs look like P-8f3a1b2c, got {text!r}") from None


def format_ref(uint32_t ref) -> str:
    return f"P-{ref:08x}"


cdef class TraceStore:
    def __cinit__(self, salt=None):
        self.recs = <trace_rec_t*>calloc(TRACE_CAP, sizeof(trace_rec_t))
        if self.recs == NULL:
            raise MemoryError()
        self.salt = int.from_bytes(os.urandom(4), "little") if salt is None else salt
        self.mul_inv = pow(int(MUL), -1, 1 << 32)
        self.book_names = []
        self.account_names = {}

    def __dealloc__(self):
        free(self.recs)

    cdef trace_rec_t* new_order(self, uint32_t account, uint32_t book, uint64_t client_id, uint8_t side,
                                uint8_t order_type, uint64_t px_1e8, uint64_t qty_1e8) noexcept nogil:
        cdef uint32_t n = self.counter
        cdef trace_rec_t* r = &self.recs[n % TRACE_CAP]
        self.counter += 1
        memset(r, 0, <size_t>(<char*>&r.events[0] - <char*>r))  # events are written as they come
        r.ref = mix(n, self.salt)
        r.account = account
        r.book = book
        r.client_id = client_id
        r.side = side
        r.order_type = order_type
        r.px_1e8 = px_1e8
        r.qty_1e8 = qty_1e8
        return r

    cdef trace_rec_t* find(self, uint32_t ref) noexcept nogil:
        cdef trace_rec_t* r = &self.recs[unmix(ref, self.salt, self.mul_inv) % TRACE_CAP]
        if r.ref != ref or r.account == 0:   # account serials start at 1: 0 = never used
            return NULL
        return r

    cdef void event(self, uint32_t ref, uint8_t kind, uint64_t ts_ns, uint64_t px_1e8, uint64_t qty_1e8,
                    uint32_t code) noexcept nogil:
        cdef trace_rec_t* r = self.find(ref)
        cdef trace_event_t* e
        if r == NULL:
            return
        if r.n_events < TRACE_EVENTS:
            e = &r.events[r.n_events]
            r.n_events += 1
        else:
            e = &r.events[TRACE_EVENTS - 1]
            r.dropped_events += 1
        e.ts_ns = ts_ns
        e.px_1e8 = px_1e8
        e.qty_1e8 = qty_1e8
        e.code = code
        e.kind = kind

    cdef void set_state(self, uint32_t ref, uint8_t state, uint64_t filled_1e8) noexcept nogil:
        cdef trace_rec_t* r = self.find(ref)
        if r != NULL:
            r.state = state
            r.filled_1e8 = filled_1e8

    # ---- durable state (journal.py): refs are never reused across restarts

    @property
    def issued(self) -> int:
        """How many refs this store has handed out (the next ref is mix(issued, salt))."""
        return self.counter

    @property
    def ref_salt(self) -> int:
        return self.salt

    def resume(self, uint32_t issued) -> None:
        """Continue the ref sequence after `issued` refs (a restarted edge, same salt)."""
        if issued < self.counter:
            raise ValueError(f"cannot move the ref counter back from {self.counter} to {issued}")
        self.counter = issued

    def restore_order(self, uint32_t ref, uint32_t account, uint32_t book, uint64_t client_id, uint8_t side,
                      uint8_t order_type, uint64_t px_1e8, uint64_t qty_1e8, uint64_t filled_1e8,
                      uint64_t ts_ns) -> None:
        """Put a resting order restored from the journal back in its ring slot (same ref), with a
        `restored` event, so `trace` and `orders` show it again."""
        cdef trace_rec_t* r = &self.recs[unmix(ref, self.salt, self.mul_inv) % TRACE_CAP]
        memset(r, 0, sizeof(trace_rec_t))
        r.ref = ref
        r.account = account
        r.book = book
        r.client_id = client_id
        r.side = side
        r.order_type = order_type
        r.px_1e8 = px_1e8
        r.qty_1e8 = qty_1e8
        r.filled_1e8 = filled_1e8
        r.state = OS_OPEN
        self.event(ref, EV_RESTORED, ts_ns, px_1e8, qty_1e8 - filled_1e8, 0)

    # ---- Python view

    def name_account(self, uint32_t serial, str deployment_id) -> None:
        self.account_names[serial] = deployment_id

    def name_book(self, uint32_t index, str symbol) -> None:
        while len(self.book_names) <= index:
            self.book_names.append("")
        self.book_names[index] = symbol

    cdef dict _order_dict(self, trace_rec_t* r):
        return {
            "order_ref": format_ref(r.ref),
            "deployment_id": self.account_names.get(r.account, ""),
            "order_id": r.client_id,
            "symbol": self.book_names[r.book] if r.book < len(self.book_names) else "",
            "side": SIDE_NAMES.get(r.side, str(r.side)),
            "type": TYPE_NAMES.get(r.order_type, str(r.order_type)),
            "px": abi.from_fixed(r.px_1e8),
            "qty": abi.from_fixed(r.qty_1e8),
            "filled": abi.from_fixed(r.filled_1e8),
            "state": STATE_NAMES.get(r.state, str(r.state)),
            # the book's mid when the OMS received the order (kept in the first event, `tick`)
            "arrival_mid": abi.from_fixed(r.events[0].px_1e8)
            if r.n_events and r.events[0].kind == EV_TICK and r.events[0].px_1e8 else None,
        }

    def trace(self, str order_ref) -> dict | None:
        """{order_ref, deployment_id, ..., events: [{event, ts_ns, ...}]} or None when unknown/evicted."""
        cdef trace_rec_t* r = self.find(parse_ref(order_ref))
        cdef trace_event_t* e
        cdef int i
        if r == NULL:
            return None
        out = self._order_dict(r)
        events = []
        for i in range(r.n_events):
            e = &r.events[i]
            ev = {"event": EVENT_NAMES.get(e.kind, str(e.kind)), "ts_ns": e.ts_ns}
            if e.kind == EV_FILL:
                ev.update(px=abi.from_fixed(e.px_1e8), qty=abi.from_fixed(e.qty_1e8),
                          maker=bool(e.code & abi.FILL_FLAG_MAKER), final=bool(e.code & abi.FILL_FLAG_FINAL))
            elif e.kind == EV_AMEND:
                ev.update(px=abi.from_fixed(e.px_1e8), qty=abi.from_fixed(e.qty_1e8))
            elif e.kind == EV_REJECT:
                ev["reason"] = abi.REJECT_REASONS.get(e.code, str(e.code))
            elif e.kind in (EV_CANCEL, EV_EXPIRE, EV_RESTORED):
                ev["qty"] = abi.from_fixed(e.qty_1e8)
            events.append(ev)
        out["events"] = events
        if r.dropped_events:
            out["dropped_events"] = r.dropped_events
        return out

    def orders(self, uint32_t account, int limit=500) -> list:
        """The newest `limit` orders of one account still in the ring, oldest first."""
        cdef uint32_t i, n = self.counter if self.counter < TRACE_CAP else TRACE_CAP
        cdef trace_rec_t* r
        out = []
        for i in range(n):
            r = &self.recs[(self.counter - 1 - i) % TRACE_CAP]
            if r.account == account:
                out.append(self._order_dict(r))
                if len(out) >= limit:
                    break
        out.reverse()
        return out
