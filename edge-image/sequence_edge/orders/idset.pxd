# The duplicate-id set of an Account (oms.pyx): the last IDSET_CAP client order ids an algo
# used, so a reused id is refused with DUPLICATE_ID. A FIFO ring remembers the order they came
# in (the oldest is forgotten first); a linear-probing hash set (ids are never 0, so 0 marks a
# free slot) answers "seen?" in O(1). Declarations only, all inline: no module of its own.
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free

cdef enum:
    IDSET_CAP = 16384          # client order ids remembered for DUPLICATE_ID (FIFO)
    IDSET_SLOTS = 32768        # hash slots (power of two, twice IDSET_CAP)

cdef struct idset_t:
    uint64_t* ring             # the ids, oldest at `head`
    uint64_t* slots            # hash set of the same ids
    uint32_t head
    uint32_t count


cdef inline bint idset_init(idset_t* s) noexcept nogil:
    """Allocate the ring and the slots; False when out of memory."""
    s.ring = <uint64_t*>calloc(IDSET_CAP, sizeof(uint64_t))
    s.slots = <uint64_t*>calloc(IDSET_SLOTS, sizeof(uint64_t))
    s.head = 0
    s.count = 0
    return s.ring != NULL and s.slots != NULL


cdef inline void idset_free(idset_t* s) noexcept nogil:
    free(s.ring)
    free(s.slots)


cdef inline uint32_t id_hash(uint64_t x) noexcept nogil:
    x *= 0x9E3779B97F4A7C15ULL
    return <uint32_t>(x >> 40) & (IDSET_SLOTS - 1)


cdef inline bint idset_contains(const idset_t* s, uint64_t client_id) noexcept nogil:
    cdef uint32_t i = id_hash(client_id)
    while s.slots[i]:
        if s.slots[i] == client_id:
            return True
        i = (i + 1) & (IDSET_SLOTS - 1)
    return False


cdef inline void idset_remove_slot(idset_t* s, uint64_t client_id) noexcept nogil:
    """Linear-probing delete with backward shift (no tombstones)."""
    cdef uint32_t mask = IDSET_SLOTS - 1
    cdef uint32_t i = id_hash(client_id), j, k
    while s.slots[i] != client_id:
        if s.slots[i] == 0:
            return
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        if s.slots[j] == 0:
            break
        k = id_hash(s.slots[j])
        # the entry at j may move to i only if its home k is not cyclically within (i, j]
        if (i <= j and i < k <= j) or (i > j and (k > i or k <= j)):
            continue
        s.slots[i] = s.slots[j]
        i = j
    s.slots[i] = 0


cdef inline void idset_add(idset_t* s, uint64_t client_id) noexcept nogil:
    cdef uint32_t i
    if s.count == IDSET_CAP:          # forget the oldest id
        idset_remove_slot(s, s.ring[s.head])
        s.head = (s.head + 1) % IDSET_CAP
        s.count -= 1
    s.ring[(s.head + s.count) % IDSET_CAP] = client_id
    s.count += 1
    i = id_hash(client_id)
    while s.slots[i]:
        i = (i + 1) & (IDSET_SLOTS - 1)
    s.slots[i] = client_id
