# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Loader of native (first-party, unsandboxed) algorithms: a shared library exporting
`sequence_algo_vtable_v1` (docs/abi.md, "Native path").

Opening a library checks, in this order, and refuses with a clear error at the first problem:

1. the file is an ELF shared object for this machine (magic, 64-bit class, little-endian,
   ET_DYN, e_machine) -- before anything is mapped, so a wrong file never runs a constructor;
2. `dlopen(RTLD_NOW | RTLD_LOCAL)` succeeds (every symbol it needs resolves);
3. it exports `sequence_algo_vtable_v1`, which returns a non-NULL table;
4. `abi_version` equals the host's: otherwise `AbiMismatch { got: N, expected: M }`;
5. the capability bits are known, and every function pointer the host may call is non-NULL.

`NativeLibrary.create`/`destroy` make instances; the library is unmapped (dlclose) only when
no instance is left, so `destroy` always runs before its code goes away. There is no sandbox:
whatever the library does (a wild pointer, an abort) happens inside the edge process.
"""

import hashlib
import os
import tempfile
from pathlib import Path

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from posix.time cimport CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, clock_gettime, timespec

from sequence_edge.algo import abi
from sequence_edge.algo.abi cimport (
    SEQ_ABI_VERSION,
    seq_actions_t,
    seq_algo_state_t,
    seq_features_t,
    seq_l2book_t,
)


cdef extern from *:
    """
    #include <dlfcn.h>
    #if defined(__x86_64__)
    #define SEQ_ELF_MACHINE 62
    #elif defined(__aarch64__)
    #define SEQ_ELF_MACHINE 183
    #else
    #define SEQ_ELF_MACHINE 0
    #endif
    """
    void* dlopen(const char* path, int flags) nogil
    void* dlsym(void* handle, const char* name) nogil
    int dlclose(void* handle) nogil
    char* dlerror() nogil
    int RTLD_NOW
    int RTLD_LOCAL
    int SEQ_ELF_MACHINE


ctypedef const seq_native_vtable_t* (*vtable_entry_t)() noexcept nogil

VTABLE_SYMBOL = abi.NATIVE_VTABLE_SYMBOL
ELF_MACHINES = {62: "x86-64", 183: "aarch64", 3: "i386", 40: "arm", 243: "riscv"}
_KNOWN_BITS = sum(abi.CAPABILITIES.values()) | abi.CAP_EXTENDED_TABLE
_EXTENDED_ONLY = sum(abi.CAPABILITIES[n] for n in ("OnPause", "OnResume", "OnSubscribed", "OnUnsubscribed"))


class NativeBundleError(ValueError):
    """A native library the host refuses to load; the message says what to fix."""


class NotElfError(NativeBundleError):
    pass


class DlopenError(NativeBundleError):
    pass


class MissingSymbolError(NativeBundleError):
    pass


class AbiMismatchError(NativeBundleError):
    pass


class CapabilitiesError(NativeBundleError):
    pass


class Sha256MismatchError(NativeBundleError):
    pass


def check_elf(bytes head) -> None:
    """Refuse anything but a 64-bit little-endian ELF shared object for this machine."""
    if head[:4] != b"\x7fELF":
        raise NotElfError(f"native bundle is not an ELF file: it starts with {head[:8]!r}, not the "
                          f"\\x7fELF magic (pass the .so that cargo built for this edge's platform)")
    if len(head) < 20:
        raise NotElfError("native bundle is truncated: shorter than an ELF header")
    if head[4] != 2:
        raise NotElfError("native bundle is a 32-bit ELF file; this edge loads 64-bit shared objects")
    if head[5] != 1:
        raise NotElfError("native bundle is a big-endian ELF file; this edge is little-endian")
    e_type = int.from_bytes(head[16:18], "little")
    if e_type != 3:
        raise NotElfError(f"native bundle is an ELF file of type {e_type}, not a shared object (ET_DYN): "
                          f"build the crate with crate-type = [\"cdylib\"]")
    machine = int.from_bytes(head[18:20], "little")
    if machine != SEQ_ELF_MACHINE:
        raise NotElfError(f"native bundle is built for {ELF_MACHINES.get(machine, f'ELF machine {machine}')}, "
                          f"this edge runs on {ELF_MACHINES.get(SEQ_ELF_MACHINE, str(SEQ_ELF_MACHINE))}")


def abi_mismatch_message(got: int, expected: int = SEQ_ABI_VERSION) -> str:
    return f"AbiMismatch {{ got: {got}, expected: {expected} }}"


cdef class NativeLibrary:
    """One opened native library (see the module docstring for what `open` checks)."""

    def __cinit__(self):
        self._handle = NULL
        self.vtable = NULL

    @staticmethod
    def open(path, sha256=None) -> NativeLibrary:
        """Check and open the library at `path`; with `sha256` (hex), refuse other contents."""
        cdef NativeLibrary lib = NativeLibrary()
        cdef bytes cpath
        cdef void* handle
        cdef vtable_entry_t entry
        cdef const seq_native_vtable_t* vt
        path = os.path.abspath(path)
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise Sha256MismatchError(f"native bundle sha256 is {digest}, but the deployment pins {sha256}")
        check_elf(data[:64])
        cpath = os.fsencode(path)
        dlerror()
        handle = dlopen(cpath, RTLD_NOW | RTLD_LOCAL)
        if handle == NULL:
            raise DlopenError(f"dlopen failed: {_dlerror_text()}")
        entry = <vtable_entry_t>dlsym(handle, VTABLE_SYMBOL.encode())
        if entry == NULL:
            dlclose(handle)
            raise MissingSymbolError(f"the library does not export {VTABLE_SYMBOL} (export it with "
                                     f"algo_sdk::export_native_algo!(YourType) in a cdylib)")
        vt = entry()
        if vt == NULL:
            dlclose(handle)
            raise MissingSymbolError(f"{VTABLE_SYMBOL}() returned NULL")
        if vt.abi_version != SEQ_ABI_VERSION:
            got = vt.abi_version
            dlclose(handle)
            raise AbiMismatchError(abi_mismatch_message(got) + f": the library was built for ABI {got}; "
                                   f"rebuild it against an SDK for ABI {SEQ_ABI_VERSION}")
        try:
            _check_table(vt)
        except BaseException:
            dlclose(handle)
            raise
        lib._handle = handle
        lib.vtable = vt
        lib.path = path
        lib.sha256 = digest
        lib.abi_version = vt.abi_version
        lib.extended = (vt.capabilities & NCAP_EXTENDED_TABLE) != 0
        lib.capabilities = vt.capabilities & ~(<uint32_t>NCAP_EXTENDED_TABLE)
        return lib

    @staticmethod
    def from_bytes(data, directory=None, sha256=None) -> NativeLibrary:
        """Check and open a library from its bytes (a push): they are written to a private
        directory (created 0700 under `directory`, default the temp dir) as <sha256>.so, then
        opened. Naming by content matters: the dynamic loader reuses an already-loaded library
        of the same path, which is then guaranteed to hold the same bytes."""
        data = bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise Sha256MismatchError(f"native bundle sha256 is {digest}, but the deployment pins {sha256}")
        check_elf(data[:64])
        directory = Path(directory or tempfile.gettempdir()) / f"sequence-native-{os.getuid()}"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_uid != os.getuid() or directory.stat().st_mode & 0o077:
            raise NativeBundleError(f"{directory} must be a directory only this user can access")
        target = directory / f"{digest}.so"
        if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".so.tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o500)
            os.replace(tmp, target)
        return NativeLibrary.open(target, digest)

    cdef void* create(self, const seq_host_api_t* host) noexcept:
        cdef void* inst
        if self._handle == NULL:
            return NULL
        inst = self.vtable.create(host)
        if inst != NULL:
            self.instances += 1
        return inst

    cdef void destroy(self, void* instance) noexcept:
        if instance != NULL and self._handle != NULL:
            self.vtable.destroy(instance)
            self.instances -= 1

    def capability_names(self) -> frozenset:
        return frozenset(n for n, bit in abi.CAPABILITIES.items() if self.capabilities & bit)

    @property
    def closed(self) -> bool:
        return self._handle == NULL

    def close(self) -> None:
        """dlclose the library; refused while an instance is alive (its destroy must run first)."""
        if self._handle == NULL:
            return
        if self.instances:
            raise RuntimeError(f"{self.instances} instance(s) of {self.path} are alive: destroy them first")
        dlclose(self._handle)
        self._handle = NULL
        self.vtable = NULL

    def __dealloc__(self):
        # With instances alive the mapping is kept (leaked) rather than unmapped under them.
        if self._handle != NULL and self.instances == 0:
            dlclose(self._handle)

    def __repr__(self) -> str:
        return f"<NativeLibrary {self.path} abi {self.abi_version} caps {sorted(self.capability_names())}>"


cdef str _dlerror_text():
    cdef char* err = dlerror()
    return err.decode("utf-8", "replace") if err != NULL else "unknown error"


cdef void _check_table(const seq_native_vtable_t* vt) except *:
    cdef uint32_t caps = vt.capabilities
    unknown = caps & ~(<uint32_t>_KNOWN_BITS)
    if unknown:
        raise CapabilitiesError(f"unknown capability bits {unknown:#x} (known: {sorted(abi.CAPABILITIES)})")
    if caps & _EXTENDED_ONLY and not caps & NCAP_EXTENDED_TABLE:
        raise CapabilitiesError("OnPause/OnResume/OnSubscribed/OnUnsubscribed need the extended table "
                                "(SEQ_CAP_EXTENDED_TABLE): the table has no such fields otherwise")
    missing = [name for name, ptr in (
        ("create", vt.create != NULL), ("destroy", vt.destroy != NULL), ("on_book", vt.on_book != NULL),
        ("on_fill", vt.on_fill != NULL), ("on_reject", vt.on_reject != NULL),
        ("on_nbbo", vt.on_nbbo != NULL), ("on_message", vt.on_message != NULL),
        ("on_heartbeat", vt.on_heartbeat != NULL), ("on_start", vt.on_start != NULL),
        ("on_stop", vt.on_stop != NULL), ("on_shutdown", vt.on_shutdown != NULL),
    ) if not ptr]
    if caps & NCAP_EXTENDED_TABLE:
        missing += [name for name, ptr in (
            ("on_pause", vt.on_pause != NULL), ("on_resume", vt.on_resume != NULL),
            ("on_subscribed", vt.on_subscribed != NULL), ("on_unsubscribed", vt.on_unsubscribed != NULL),
        ) if not ptr]
    if missing:
        raise CapabilitiesError(f"NULL function pointer(s) in the vtable: {', '.join(missing)} "
                                f"(every pointer must be set; the capability bits say which are called)")


cdef inline uint64_t _clock_ns(int clock) noexcept nogil:
    cdef timespec ts
    clock_gettime(clock, &ts)
    return <uint64_t>ts.tv_sec * 1000000000ULL + <uint64_t>ts.tv_nsec


def bench_raw_on_book(NativeLibrary lib, bytes book, bytes features, int batches, int batch_size,
                      bint cpu_time=False) -> list:
    """The seed's dispatch harness: mean ns per `vtable.on_book(instance, &book, &state,
    &features, &actions)` for each batch, with the inputs prepared once and the host table
    empty (every seq_* hook NULL). Timed around each batch (thread CPU clock if cpu_time)."""
    cdef seq_host_api_t host
    cdef void* inst
    cdef seq_l2book_t* b
    cdef seq_features_t* f
    cdef seq_algo_state_t* st
    cdef seq_actions_t* acts
    cdef int i, k, rc = 0
    cdef int clock = CLOCK_THREAD_CPUTIME_ID if cpu_time else CLOCK_MONOTONIC
    cdef uint64_t t0, t1
    cdef const seq_native_vtable_t* vt = lib.vtable
    if len(book) != sizeof(seq_l2book_t) or len(features) != sizeof(seq_features_t):
        raise ValueError("book and features must be one L2Book and one OnlineFeatures")
    memset(&host, 0, sizeof(host))
    inst = lib.create(&host)
    if inst == NULL:
        raise RuntimeError("create returned NULL")
    b = <seq_l2book_t*>malloc(sizeof(seq_l2book_t))
    f = <seq_features_t*>malloc(sizeof(seq_features_t))
    st = <seq_algo_state_t*>malloc(sizeof(seq_algo_state_t))
    acts = <seq_actions_t*>malloc(sizeof(seq_actions_t))
    out = []
    try:
        memcpy(b, <const char*>book, sizeof(seq_l2book_t))
        memcpy(f, <const char*>features, sizeof(seq_features_t))
        memset(st, 0, sizeof(seq_algo_state_t))
        memset(acts, 0, sizeof(seq_actions_t))
        st.next_id = 1
        for i in range(batches):
            with nogil:
                t0 = _clock_ns(clock)
                for k in range(batch_size):
                    rc |= native_on_book(vt, inst, b, st, f, acts)
                t1 = _clock_ns(clock)
            out.append((t1 - t0) / <double>batch_size)
    finally:
        lib.destroy(inst)
        free(b)
        free(f)
        free(st)
        free(acts)
    if rc != 0:
        raise RuntimeError("on_book returned an error (the strategy panicked)")
    return out
