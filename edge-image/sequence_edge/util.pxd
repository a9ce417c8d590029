# Small C helpers shared by risk, the paper OMS, the sim feed and the edge loop: clocks, 128-bit
# fixed-point arithmetic and a log-linear latency histogram. Everything here is inline C.
from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <time.h>
    static inline uint64_t seq_util_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    }
    /* a * b / d without overflow (prices x quantities in 1e8 fixed point exceed 64 bits). The
       128-bit division is a libgcc call, so products that fit in 64 bits take the short way. */
    static inline uint64_t seq_util_muldiv(uint64_t a, uint64_t b, uint64_t d) {
        uint64_t p;
        if (!__builtin_mul_overflow(a, b, &p)) return p / d;
        return (uint64_t)(((unsigned __int128)a * b) / d);
    }
    static inline int64_t seq_util_smuldiv(int64_t a, int64_t b, int64_t d) {
        int64_t p;
        if (!__builtin_mul_overflow(a, b, &p)) return p / d;
        return (int64_t)(((__int128)a * b) / d);
    }
    /* Average price of held@avg plus qty@px, rounded to nearest. */
    static inline uint64_t seq_util_wavg(uint64_t held, uint64_t avg, uint64_t qty, uint64_t px) {
        unsigned __int128 total = (unsigned __int128)held * avg + (unsigned __int128)qty * px;
        unsigned __int128 n = (unsigned __int128)held + qty;
        return n ? (uint64_t)((total + n / 2) / n) : 0;
    }
    static inline int seq_util_clz64(uint64_t v) { return __builtin_clzll(v); }
    """
    uint64_t now_ns "seq_util_now_ns"() noexcept nogil
    uint64_t muldiv "seq_util_muldiv"(uint64_t a, uint64_t b, uint64_t d) noexcept nogil
    int64_t smuldiv "seq_util_smuldiv"(int64_t a, int64_t b, int64_t d) noexcept nogil
    uint64_t wavg "seq_util_wavg"(uint64_t held, uint64_t avg, uint64_t qty, uint64_t px) noexcept nogil
    int clz64 "seq_util_clz64"(uint64_t v) noexcept nogil

cdef enum:
    FIXED = 100000000          # 1e8
    HIST_BUCKETS = 496         # exact below 16 ns, then 8 buckets per power of two (~6% resolution)

cdef struct hist_t:
    uint64_t count
    uint64_t max_v
    uint64_t buckets[HIST_BUCKETS]


cdef inline uint32_t hist_index(uint64_t v) noexcept nogil:
    cdef int e
    if v < 16:
        return <uint32_t>v
    e = 63 - clz64(v)
    return 16 + <uint32_t>(e - 4) * 8 + <uint32_t>((v >> (e - 3)) & 7)


cdef inline uint64_t hist_upper(uint32_t i) noexcept nogil:
    """Largest value that lands in bucket i."""
    cdef uint32_t e, sub
    cdef uint64_t width
    if i < 16:
        return i
    e = (i - 16) // 8 + 4
    sub = (i - 16) % 8
    width = (<uint64_t>1) << (e - 3)
    return (9 + <uint64_t>sub) * width - 1


cdef inline void hist_record(hist_t* h, uint64_t v) noexcept nogil:
    h.count += 1
    if v > h.max_v:
        h.max_v = v
    h.buckets[hist_index(v)] += 1


cdef inline uint64_t hist_quantile(const hist_t* h, double q) noexcept nogil:
    """Upper edge of the bucket holding the q-quantile (capped at the max seen); 0 when empty."""
    cdef uint64_t rank, seen = 0, v
    cdef int i
    if h.count == 0:
        return 0
    rank = <uint64_t>(q * h.count)
    if rank < q * h.count or rank == 0:
        rank += 1
    for i in range(HIST_BUCKETS):
        seen += h.buckets[i]
        if seen >= rank:
            v = hist_upper(i)
            return v if v < h.max_v else h.max_v
    return h.max_v
