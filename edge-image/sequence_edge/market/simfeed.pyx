# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Seeded synthetic L2 market, generated straight into a RecordBuffer (no Python object per update).

Prices. Every venue running with the same seed sees the same *common* mid per symbol, a
function of wall-clock time only:

    mid_v(t) = center * exp((X(t) + D_v(t)) * 1e-4)

X(t) (bps) is a random-access Brownian-like walk: a sum of value-noise octaves with periods
100 ms .. 7 min and amplitudes ~ sqrt(period), scaled so that its increments over 1 s have a
standard deviation of `volatility_bps` (it wanders around `center`, the start price, with a
stationary spread of about 11 x volatility_bps). D_v(t) is the venue's mean-reverting
dislocation: octaves of 50 ms .. 1.6 s from a venue-specific key, scaled to a stationary
standard deviation of `dislocation_bps`. Because both are pure functions of (seed, venue,
symbol, t), edges started at different times in different processes agree on the common
price, and a run is reproducible for a given origin.

Book. Each symbol's stream has `updates_per_sec` updates at ts_k = origin + k / rate. An
update is one level change: first whatever brings the book's touch to the target quotes
around mid_v(t) (delete a best level the price moved through, add the new best level: no
update ever crosses the book), then depth maintenance (back to `depth` levels per side,
filling the shallowest gap; it goes first when a side is more than 2 levels off), otherwise a random size change near the top (level i with
probability ~0.45 * 0.55^i, quantity x U(0.5, 1.5)) or, 4% of the time, a deleted level.
Tick = the largest 1/2/5 x 10^k <= spread/4; level sizes ~ 50k quote units; lots of 1/1000 of
that. The first records of a symbol are a snapshot (and again after skip_to()).
"""

from libc.math cimport exp, floor, sqrt
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memmove

from sequence_edge.market.records cimport REC_LEVEL, REC_SNAP_BEGIN, REC_SNAP_END, REC_SNAP_LEVEL, RecordBuffer, feed_rec_t

from sequence_edge.algo import abi

DEFAULT_START_PRICES = {"BTC": 65000.0, "ETH": 3200.0, "SOL": 150.0, "XRP": 0.6, "DOGE": 0.15,
                        "ADA": 0.45, "AVAX": 35.0, "LINK": 15.0, "LTC": 80.0, "DOT": 7.0,
                        "USDT": 1.0, "USDC": 1.0}
FALLBACK_START_PRICE = 100.0

cdef enum:
    LEVEL_CAP = 520            # > max depth (500) + room for transient adds
    X_OCTAVES = 13
    D_OCTAVES = 6
    N_OCTAVES = 19             # X's then D's

cdef double X_P0 = 0.1         # s, shortest period of the common walk (finer wiggles only make the
                               # book chase the price back and forth, not the 1 s volatility)
cdef double D_P0 = 0.05        # s, shortest period of the dislocation
cdef double X_SCALE = 1.0 / 1.27    # calibrated: unit-amplitude octaves give 1.27 per sqrt(s)
cdef double NOISE_VAR = 0.2476      # stationary variance of one value-noise octave (unit amplitude)


cdef inline uint64_t splitmix(uint64_t x) noexcept nogil:
    x += 0x9E3779B97F4A7C15ULL
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)


cdef inline double unit(uint64_t x) noexcept nogil:
    """[0, 1) from 53 random bits."""
    return (x >> 11) * (1.0 / 9007199254740992.0)


cdef inline double lattice(uint64_t key, int64_t k) noexcept nogil:
    return unit(splitmix(key ^ (<uint64_t>k * 0xD1B54A32D192ED03ULL))) * 2.0 - 1.0


cdef inline double vnoise(uint64_t key, double x) noexcept nogil:
    cdef double k = floor(x)
    cdef double f = x - k
    cdef double s = f * f * (3.0 - 2.0 * f)
    cdef double a = lattice(key, <int64_t>k)
    cdef double b = lattice(key, <int64_t>k + 1)
    return a + (b - a) * s


cdef inline double octaves(uint64_t key, double t, double p0, int n) noexcept nogil:
    cdef double total = 0.0, period = p0
    cdef int o
    for o in range(n):
        total += sqrt(period) * vnoise(splitmix(key + <uint64_t>o), t / period)
        period *= 2.0
    return total


cdef uint64_t fnv1a(bytes data):
    cdef uint64_t h = 0xCBF29CE484222325ULL
    for c in data:
        h = (h ^ <uint64_t>c) * 0x100000001B3ULL
    return h


def nice_floor(double x) -> float:
    """Largest 1, 2 or 5 x 10^k that is <= x (x > 0)."""
    cdef double p = 1.0
    while p > x:
        p /= 10.0
    while p * 10.0 <= x:
        p *= 10.0
    for m in (5.0, 2.0, 1.0):
        if m * p <= x:
            return m * p
    return p


def default_start_price(str symbol) -> float:
    return DEFAULT_START_PRICES.get(symbol.split("-")[0], FALLBACK_START_PRICE)


cdef struct sim_sym_t:
    uint32_t book
    uint64_t key_common
    uint64_t key_venue
    # value-noise octaves of X (common) then D (venue): key, and the lattice cell last used with
    # its two endpoint values, so an update only interpolates (the cells change every >= 20 ms)
    uint64_t oct_key[N_OCTAVES]
    int64_t oct_cell[N_OCTAVES]
    double oct_a[N_OCTAVES]
    double oct_b[N_OCTAVES]
    uint64_t rng
    double center
    double half_spread_frac
    uint64_t tick
    uint64_t lot
    uint64_t base_qty
    uint64_t seq
    uint64_t k                 # updates emitted
    uint64_t next_ts
    bint need_snapshot
    int nb
    int na
    uint64_t bid_px[LEVEL_CAP]  # best first
    uint64_t bid_qty[LEVEL_CAP]
    uint64_t ask_px[LEVEL_CAP]
    uint64_t ask_qty[LEVEL_CAP]


cdef class SimMarket:
    """The sim feed of one venue: add_symbol() per book, then generate() batches (see module doc)."""

    cdef readonly str venue
    cdef readonly uint64_t seed
    cdef readonly double updates_per_sec
    cdef readonly double volatility_bps
    cdef readonly double spread_bps
    cdef readonly double dislocation_bps
    cdef readonly int depth
    cdef readonly uint64_t origin_ns
    cdef dict start_prices
    cdef double x_amp
    cdef double d_amp
    cdef double oct_weight[N_OCTAVES]       # amplitude of each octave (bps)
    cdef double oct_inv_period[N_OCTAVES]   # 1 / period (1/s)
    cdef sim_sym_t** syms
    cdef int n_syms
    cdef readonly dict symbol_books          # symbol -> book index

    def __cinit__(self):
        self.syms = <sim_sym_t**>calloc(256, sizeof(sim_sym_t*))
        if self.syms == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef int i
        if self.syms != NULL:
            for i in range(self.n_syms):
                free(self.syms[i])
            free(self.syms)

    def __init__(self, str venue, *, seed: int = 1, updates_per_sec: float = 2000.0,
                 volatility_bps: float = 50.0, spread_bps: float = 2.0, dislocation_bps: float = 3.0,
                 depth: int = 25, start_prices=None, origin_ns: int):
        if not venue:
            raise ValueError("venue must be a non-empty name")
        if not 0 < updates_per_sec <= 10_000_000:
            raise ValueError(f"updates_per_sec must be in (0, 1e7], got {updates_per_sec}")
        if volatility_bps < 0 or dislocation_bps < 0 or not spread_bps > 0:
            raise ValueError("volatility_bps and dislocation_bps must be >= 0 and spread_bps > 0")
        if not 1 <= depth <= 500:
            raise ValueError(f"depth must be within 1..500, got {depth}")
        self.venue = venue
        self.seed = seed
        self.updates_per_sec = updates_per_sec
        self.volatility_bps = volatility_bps
        self.spread_bps = spread_bps
        self.dislocation_bps = dislocation_bps
        self.depth = depth
        self.origin_ns = origin_ns
        self.start_prices = dict(start_prices or {})
        self.x_amp = volatility_bps * X_SCALE
        self.d_amp = dislocation_bps / sqrt(NOISE_VAR * D_P0 * ((1 << D_OCTAVES) - 1))
        self.symbol_books = {}
        cdef int o
        for o in range(N_OCTAVES):
            period = X_P0 * (1 << o) if o < X_OCTAVES else D_P0 * (1 << (o - X_OCTAVES))
            self.oct_inv_period[o] = 1.0 / period
            self.oct_weight[o] = (self.x_amp if o < X_OCTAVES else self.d_amp) * sqrt(period)

    def add_symbol(self, str symbol, int book) -> None:
        """Start generating `symbol` into engine book `book` (a snapshot comes first)."""
        cdef sim_sym_t* s
        if symbol in self.symbol_books:
            raise ValueError(f"{symbol} is already generated")
        if self.n_syms == 256:
            raise ValueError("the sim feed generates at most 256 symbols")
        center = float(self.start_prices.get(symbol, default_start_price(symbol)))
        if not center > 0:
            raise ValueError(f"start price of {symbol} must be > 0, got {center}")
        s = <sim_sym_t*>calloc(1, sizeof(sim_sym_t))
        if s == NULL:
            raise MemoryError()
        s.book = book
        s.key_common = splitmix(fnv1a(f"{self.seed}/{symbol}".encode()))
        s.key_venue = splitmix(fnv1a(f"{self.seed}/{self.venue}/{symbol}".encode()))
        s.rng = s.key_venue ^ 0x5DEECE66DULL
        for o in range(N_OCTAVES):
            s.oct_key[o] = splitmix((s.key_common if o < X_OCTAVES else s.key_venue) + <uint64_t>(
                o if o < X_OCTAVES else o - X_OCTAVES))
            s.oct_cell[o] = -(1 << 62)
        s.center = center
        s.half_spread_frac = self.spread_bps * 1e-4 / 2.0
        s.tick = max(1, abi.to_fixed(nice_floor(center * self.spread_bps * 1e-4 / 4.0)))
        base = 50_000.0 / center
        s.base_qty = max(1, abi.to_fixed(base))
        s.lot = max(1, abi.to_fixed(nice_floor(base / 1000.0)))
        s.need_snapshot = True
        self.syms[self.n_syms] = s
        self.n_syms += 1
        self.symbol_books[symbol] = book
        self._schedule(s, self.origin_ns)

    cdef void _schedule(self, sim_sym_t* s, uint64_t at_ns) noexcept:
        """Next update at the first ts_k >= at_ns."""
        cdef double period = 1e9 / self.updates_per_sec
        cdef uint64_t k = 0
        if at_ns > self.origin_ns:
            k = <uint64_t>((at_ns - self.origin_ns) / period)
            while self.origin_ns + <uint64_t>(k * period) < at_ns:
                k += 1
        s.k = k
        s.next_ts = self.origin_ns + <uint64_t>(k * period)

    # ---- prices

    cdef double _mid(self, sim_sym_t* s, uint64_t ts_ns) noexcept:
        """center * exp((X + D) * 1e-4): the same sums as `octaves`, with cached lattice cells."""
        cdef double t = ts_ns * 1e-9
        cdef double total = 0.0, x, f
        cdef int64_t cell
        cdef int o
        for o in range(N_OCTAVES):
            x = t * self.oct_inv_period[o]
            cell = <int64_t>floor(x)
            if cell != s.oct_cell[o]:
                s.oct_cell[o] = cell
                s.oct_a[o] = lattice(s.oct_key[o], cell)
                s.oct_b[o] = lattice(s.oct_key[o], cell + 1)
            f = x - cell
            total += self.oct_weight[o] * (s.oct_a[o] + (s.oct_b[o] - s.oct_a[o]) * (f * f * (3.0 - 2.0 * f)))
        return s.center * exp(total * 1e-4)

    def mid_at(self, str symbol, uint64_t ts_ns) -> float:
        """This venue's target mid of `symbol` at ts_ns (natural units)."""
        return self._mid(self._sym(symbol), ts_ns)

    def common_mid_at(self, str symbol, uint64_t ts_ns) -> float:
        """The mid every venue with this seed shares, without this venue's dislocation."""
        cdef sim_sym_t* s = self._sym(symbol)
        return s.center * exp(self.x_amp * octaves(s.key_common, ts_ns * 1e-9, X_P0, X_OCTAVES) * 1e-4)

    def tick_of(self, str symbol) -> int:
        return self._sym(symbol).tick

    cdef sim_sym_t* _sym(self, str symbol) except NULL:
        cdef int i
        for i in range(self.n_syms):
            if self.syms[i].book == self.symbol_books.get(symbol, -1):
                return self.syms[i]
        raise KeyError(f"{symbol} is not generated by this sim feed")

    # ---- generation

    def generate(self, RecordBuffer buf, uint64_t until_ns, Py_ssize_t max_records=1 << 20) -> int:
        """Append every record due at or before until_ns (time order across symbols, at most
        max_records plus one snapshot); returns how many were appended."""
        cdef Py_ssize_t start = buf.count
        cdef sim_sym_t* s
        cdef int i, best
        cdef double period = 1e9 / self.updates_per_sec
        while buf.count - start < max_records:
            best = -1
            for i in range(self.n_syms):
                if self.syms[i].next_ts <= until_ns and (best < 0 or self.syms[i].next_ts < self.syms[best].next_ts):
                    best = i
            if best < 0:
                break
            s = self.syms[best]
            buf.reserve(buf.count + 2 * LEVEL_CAP + 4)
            if s.need_snapshot:
                self._snapshot(buf, s)
            else:
                self._step(buf, s)
            s.k += 1
            s.next_ts = self.origin_ns + <uint64_t>(s.k * period)
        return buf.count - start

    def next_due(self) -> int:
        """Timestamp of the oldest record not generated yet (0 without symbols)."""
        cdef int i
        cdef uint64_t best = 0
        for i in range(self.n_syms):
            if best == 0 or self.syms[i].next_ts < best:
                best = self.syms[i].next_ts
        return best

    def skip_to(self, uint64_t ts_ns) -> None:
        """Jump every symbol to ts_ns (the consumer fell behind): each restarts with a snapshot."""
        cdef int i
        for i in range(self.n_syms):
            self._schedule(self.syms[i], ts_ns)
            self.syms[i].need_snapshot = True

    cdef inline uint64_t _rand(self, sim_sym_t* s) noexcept:
        s.rng = splitmix(s.rng)
        return s.rng

    cdef uint64_t _fresh_qty(self, sim_sym_t* s, int level) noexcept:
        cdef double q = s.base_qty * (0.3 + 1.4 * unit(self._rand(s))) * (1.0 + 0.1 * level)
        cdef uint64_t lots = <uint64_t>(q / s.lot)
        return (lots if lots else 1) * s.lot

    cdef void _targets(self, sim_sym_t* s, uint64_t* tb, uint64_t* ta) noexcept:
        cdef double mid = self._mid(s, s.next_ts) * 1e8
        cdef double half = mid * s.half_spread_frac
        cdef uint64_t bid = <uint64_t>floor((mid - half) / s.tick) * s.tick
        cdef uint64_t ask = <uint64_t>((mid + half) / s.tick + 0.999999) * s.tick
        if bid < s.tick:
            bid = s.tick
        if ask <= bid:
            ask = bid + s.tick
        tb[0] = bid
        ta[0] = ask

    cdef void _snapshot(self, RecordBuffer buf, sim_sym_t* s) noexcept:
        cdef uint64_t tb, ta
        cdef int i
        self._targets(s, &tb, &ta)
        s.nb = s.na = self.depth
        for i in range(self.depth):
            s.bid_px[i] = tb - <uint64_t>i * s.tick if tb > <uint64_t>i * s.tick else 0
            s.bid_qty[i] = self._fresh_qty(s, i)
            s.ask_px[i] = ta + <uint64_t>i * s.tick
            s.ask_qty[i] = self._fresh_qty(s, i)
        while s.nb and s.bid_px[s.nb - 1] == 0:
            s.nb -= 1
        s.seq += 1
        _emit(buf, s, REC_SNAP_BEGIN, 0, 0, 0, 0)
        for i in range(s.nb):
            _emit(buf, s, REC_SNAP_LEVEL, 1, s.bid_px[i], s.bid_qty[i], 0)
        for i in range(s.na):
            _emit(buf, s, REC_SNAP_LEVEL, 2, s.ask_px[i], s.ask_qty[i], 0)
        _emit(buf, s, REC_SNAP_END, 0, 0, 0, s.seq)
        s.need_snapshot = False

    cdef void _step(self, RecordBuffer buf, sim_sym_t* s) noexcept:
        """One level update (see the module docstring for the order of preference)."""
        cdef uint64_t tb, ta, r
        cdef int side, i
        self._targets(s, &tb, &ta)
        if (s.nb > self.depth + 2 or s.na > self.depth + 2 or s.nb < self.depth - 2
                or s.na < self.depth - 2) and self._fix_depth(buf, s):
            return
        # 1-4: follow the price, never crossing
        if s.na and s.ask_px[0] < ta:
            if s.na == 1:
                self._set(buf, s, 2, ta, self._fresh_qty(s, 0))
                return
            self._set(buf, s, 2, s.ask_px[0], 0)
            return
        if s.nb and s.bid_px[0] > tb:
            if s.nb == 1:
                self._set(buf, s, 1, tb, self._fresh_qty(s, 0))
                return
            self._set(buf, s, 1, s.bid_px[0], 0)
            return
        if s.nb == 0 or s.bid_px[0] < tb:
            self._set(buf, s, 1, tb, self._fresh_qty(s, 0))
            return
        if s.na == 0 or s.ask_px[0] > ta:
            self._set(buf, s, 2, ta, self._fresh_qty(s, 0))
            return
        # 5: depth
        if self._fix_depth(buf, s):
            return
        # 6: random activity near the top
        r = self._rand(s)
        side = 1 if r & 1 else 2
        i = 0
        while i < 30 and unit(self._rand(s)) >= 0.45:
            i += 1
        if side == 1:
            i = i if i < s.nb else s.nb - 1
        else:
            i = i if i < s.na else s.na - 1
        if i > 0 and unit(self._rand(s)) < 0.04:
            self._set(buf, s, side, s.bid_px[i] if side == 1 else s.ask_px[i], 0)
            return
        self._resize(buf, s, side, i)

    cdef bint _fix_depth(self, RecordBuffer buf, sim_sym_t* s) noexcept:
        """One update towards `depth` levels per side (deepest level dropped, shallowest gap filled)."""
        if s.nb > self.depth:
            self._set(buf, s, 1, s.bid_px[s.nb - 1], 0)
            return True
        if s.na > self.depth:
            self._set(buf, s, 2, s.ask_px[s.na - 1], 0)
            return True
        if s.nb < self.depth and s.nb > 0 and self._fill_gap(buf, s, 1):
            return True
        if s.na < self.depth and s.na > 0 and self._fill_gap(buf, s, 2):
            return True
        return False

    cdef void _resize(self, RecordBuffer buf, sim_sym_t* s, int side, int i) noexcept:
        cdef uint64_t q = s.bid_qty[i] if side == 1 else s.ask_qty[i]
        cdef uint64_t px = s.bid_px[i] if side == 1 else s.ask_px[i]
        cdef uint64_t lots = <uint64_t>(q * (0.5 + unit(self._rand(s))) / s.lot)
        if lots == 0:
            lots = 1
        self._set(buf, s, side, px, lots * s.lot)

    cdef bint _fill_gap(self, RecordBuffer buf, sim_sym_t* s, int side) noexcept:
        """Add the shallowest missing level below the top (or extend the side); False if none."""
        cdef uint64_t* px = &s.bid_px[0] if side == 1 else &s.ask_px[0]
        cdef int n = s.nb if side == 1 else s.na
        cdef int i
        cdef uint64_t want
        for i in range(1, n + 1):
            if side == 1:
                if px[0] <= <uint64_t>i * s.tick:
                    return False
                want = px[0] - <uint64_t>i * s.tick
            else:
                want = px[0] + <uint64_t>i * s.tick
            if i == n or px[i] != want:
                self._set(buf, s, side, want, self._fresh_qty(s, i))
                return True
        return False

    cdef void _set(self, RecordBuffer buf, sim_sym_t* s, int side, uint64_t px, uint64_t qty) noexcept:
        """Apply a level change to the generator's own book and emit it."""
        cdef uint64_t* pxs = &s.bid_px[0] if side == 1 else &s.ask_px[0]
        cdef uint64_t* qtys = &s.bid_qty[0] if side == 1 else &s.ask_qty[0]
        cdef int n = s.nb if side == 1 else s.na
        cdef int i = 0
        # position: best first (bids descending, asks ascending)
        while i < n and ((side == 1 and pxs[i] > px) or (side == 2 and pxs[i] < px)):
            i += 1
        if i < n and pxs[i] == px:
            if qty == 0:
                memmove(&pxs[i], &pxs[i + 1], (n - i - 1) * sizeof(uint64_t))
                memmove(&qtys[i], &qtys[i + 1], (n - i - 1) * sizeof(uint64_t))
                n -= 1
            else:
                qtys[i] = qty
        elif qty != 0:
            if n == LEVEL_CAP:
                return
            memmove(&pxs[i + 1], &pxs[i], (n - i) * sizeof(uint64_t))
            memmove(&qtys[i + 1], &qtys[i], (n - i) * sizeof(uint64_t))
            pxs[i] = px
            qtys[i] = qty
            n += 1
        else:
            return
        if side == 1:
            s.nb = n
        else:
            s.na = n
        s.seq += 1
        _emit(buf, s, REC_LEVEL, side, px, qty, s.seq)


cdef inline void _emit(RecordBuffer buf, sim_sym_t* s, int kind, int side, uint64_t px, uint64_t qty,
                       uint64_t seq) noexcept:
    cdef feed_rec_t* r = &buf.recs[buf.count]
    r.px_1e8 = px
    r.qty_1e8 = qty
    r.seq = seq
    r.ts_ns = s.next_ts
    r.book = s.book
    r.side = side
    r.kind = kind
    r._pad = 0
    buf.count += 1
