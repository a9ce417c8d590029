# The native algorithm ABI (docs/abi.md, "Native path"; sdk/include/sequence_algo.h) for the
# edge's Cython core: the C-ABI vtable a first-party `.so` exports, the host-services table the
# host hands to `create`, and one-call dispatch helpers. Nothing here touches Python, so the hot
# loop can call a native algorithm with one indirect call and no Python frame.
#
#     from sequence_edge.algo.native cimport NativeLibrary, seq_native_vtable_t, native_on_book
#     lib = NativeLibrary.open(path, sha256)      # ELF check, dlopen, dlsym, ABI version, caps
#     inst = lib.vtable.create(&host_api)         # one instance per deployment
#     rc = native_on_book(lib.vtable, inst, &book, &state, &features, &actions)
#     lib.vtable.destroy(inst)                    # always before the library is closed
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

from sequence_edge.algo.abi cimport (
    seq_actions_t,
    seq_algo_state_t,
    seq_features_t,
    seq_fill_t,
    seq_l2book_t,
    seq_message_t,
    seq_nbbo_t,
    seq_reject_t,
)

cdef extern from *:
    """
    typedef struct seq_host_api_t {
        void *ctx;
        void (*log)(void *ctx, uint32_t level, const uint8_t *msg, uint32_t len);
        int32_t (*send)(void *ctx, const uint8_t *label, uint32_t label_len, const uint8_t *payload,
                        uint32_t payload_len);
        int64_t (*now_ns)(void *ctx);
        int32_t (*param)(void *ctx, const uint8_t *key, uint32_t key_len, uint8_t *buf, uint32_t cap);
        int64_t (*position)(void *ctx, uint32_t symbol_idx);
        int32_t (*symbol)(void *ctx, uint32_t idx, uint8_t *buf, uint32_t cap);
        int32_t (*venue_name)(void *ctx, uint32_t venue_idx, uint8_t *buf, uint32_t cap);
        int32_t (*subscribe)(void *ctx, const uint8_t *symbol, uint32_t len);
        int32_t (*unsubscribe)(void *ctx, const uint8_t *symbol, uint32_t len);
    } seq_host_api_t;

    typedef struct seq_native_vtable_t {
        uint32_t abi_version;
        uint32_t capabilities;
        void *(*create)(const seq_host_api_t *host);
        void (*destroy)(void *instance);
        int32_t (*on_book)(void *, const seq_l2book_t *, seq_algo_state_t *, const seq_features_t *,
                           seq_actions_t *);
        int32_t (*on_fill)(void *, const seq_fill_t *, seq_algo_state_t *);
        int32_t (*on_reject)(void *, const seq_reject_t *);
        int32_t (*on_nbbo)(void *, const seq_nbbo_t *, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_message)(void *, const seq_message_t *, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_heartbeat)(void *, uint64_t, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_start)(void *, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_stop)(void *, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_shutdown)(void *, seq_algo_state_t *, seq_actions_t *);
        /* only with SEQ_CAP_EXTENDED_TABLE */
        int32_t (*on_pause)(void *, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_resume)(void *, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_subscribed)(void *, uint32_t, seq_algo_state_t *, seq_actions_t *);
        int32_t (*on_unsubscribed)(void *, uint32_t, seq_algo_state_t *, seq_actions_t *);
    } seq_native_vtable_t;

    /* The hot-path call: one indirect call through the table, nothing else. */
    static inline int32_t seq_native_on_book(const seq_native_vtable_t *vt, void *inst,
                                             const seq_l2book_t *book, seq_algo_state_t *state,
                                             const seq_features_t *features, seq_actions_t *actions) {
        return vt->on_book(inst, book, state, features, actions);
    }
    """
    ctypedef struct seq_host_api_t:
        void* ctx
        void (*log)(void*, uint32_t, const uint8_t*, uint32_t) noexcept nogil
        int32_t (*send)(void*, const uint8_t*, uint32_t, const uint8_t*, uint32_t) noexcept nogil
        int64_t (*now_ns)(void*) noexcept nogil
        int32_t (*param)(void*, const uint8_t*, uint32_t, uint8_t*, uint32_t) noexcept nogil
        int64_t (*position)(void*, uint32_t) noexcept nogil
        int32_t (*symbol)(void*, uint32_t, uint8_t*, uint32_t) noexcept nogil
        int32_t (*venue_name)(void*, uint32_t, uint8_t*, uint32_t) noexcept nogil
        int32_t (*subscribe)(void*, const uint8_t*, uint32_t) noexcept nogil
        int32_t (*unsubscribe)(void*, const uint8_t*, uint32_t) noexcept nogil

    ctypedef struct seq_native_vtable_t:
        uint32_t abi_version
        uint32_t capabilities
        void* (*create)(const seq_host_api_t*) noexcept nogil
        void (*destroy)(void*) noexcept nogil
        int32_t (*on_book)(void*, const seq_l2book_t*, seq_algo_state_t*, const seq_features_t*,
                           seq_actions_t*) noexcept nogil
        int32_t (*on_fill)(void*, const seq_fill_t*, seq_algo_state_t*) noexcept nogil
        int32_t (*on_reject)(void*, const seq_reject_t*) noexcept nogil
        int32_t (*on_nbbo)(void*, const seq_nbbo_t*, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_message)(void*, const seq_message_t*, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_heartbeat)(void*, uint64_t, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_start)(void*, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_stop)(void*, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_shutdown)(void*, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_pause)(void*, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_resume)(void*, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_subscribed)(void*, uint32_t, seq_algo_state_t*, seq_actions_t*) noexcept nogil
        int32_t (*on_unsubscribed)(void*, uint32_t, seq_algo_state_t*, seq_actions_t*) noexcept nogil

    int32_t native_on_book "seq_native_on_book"(
        const seq_native_vtable_t* vt, void* inst, const seq_l2book_t* book, seq_algo_state_t* state,
        const seq_features_t* features, seq_actions_t* actions) noexcept nogil

# Capability bits of seq_native_vtable_t.capabilities (abi.CAPABILITIES).
cdef enum:
    NCAP_NBBO = 1
    NCAP_MESSAGE = 2
    NCAP_HEARTBEAT = 4
    NCAP_START = 8
    NCAP_STOP = 16
    NCAP_SHUTDOWN = 32
    NCAP_PAUSE = 64
    NCAP_RESUME = 128
    NCAP_SUBSCRIBED = 256
    NCAP_UNSUBSCRIBED = 512
    NCAP_EXTENDED_TABLE = 0x80000000
    NATIVE_CALLBACK_OK = 0
    NATIVE_CALLBACK_PANICKED = -1

cdef class NativeLibrary:
    cdef void* _handle                         # dlopen handle; NULL once closed
    cdef const seq_native_vtable_t* vtable     # static table inside the library
    cdef readonly str path
    cdef readonly str sha256
    cdef readonly uint32_t abi_version
    cdef readonly uint32_t capabilities        # declared bits (EXTENDED_TABLE masked off)
    cdef readonly bint extended                # the table has on_pause..on_unsubscribed
    cdef readonly uint64_t instances           # live instances created through create()
    # Instances: `create` returns NULL on failure; every instance must be destroyed (through
    # destroy, which keeps count) before close() unmaps the library.
    cdef void* create(self, const seq_host_api_t* host) noexcept
    cdef void destroy(self, void* instance) noexcept
