"""Durable trading state: one append-only journal file per deployment, in the edge's state dir.

Layout of `--state-dir`:
  edge.json                the order-ref salt and the ref floor (refs below it may have been used)
  <deployment>.journal     8-byte magic, then frames: u32 payload length, u32 CRC-32 of
                           (type byte + payload), u8 type, payload
                             type 1 META   JSON: deployment id, bundle sha256, symbols (each push)
                             type 2 BATCH  the events since the last flush + a checkpoint
                                           (orders/journal.pyx)
A deployment id's "/" becomes "~" in its file name ("~" is not allowed in ids).

Writes: `flush()` runs from the edge loop after every step that changed something (and after
pushes, starts, stops and mesh deliveries): one write() per deployment that traded, never one
per book update. Everything a client or a mesh peer can see has been written before the edge
answers or sends it, so a process crash (kill -9, OOM) loses nothing anyone saw. fsync: a
background thread fsyncs the files written since its last pass every `fsync_ms` (0: fsync in the
loop right after each write); META records and edge.json are fsynced when written. A machine
crash can lose at most the last `fsync_ms` of batches (the file then ends at an earlier, complete
checkpoint). Reading stops at the first torn or corrupt frame and the file is cut there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .orders.journal import pending_indexes, read_batch, take_batch

log = logging.getLogger("sequence.edge.journal")

MAGIC = b"SEQJRN1\n"
FRAME = struct.Struct("<IIB")
META, BATCH = 1, 2
MAX_FRAME = 64 << 20
COMPACT_BYTES = 64 << 20  # a file past this is rewritten as its last META + last BATCH
# Refs reserved in edge.json ahead of use (re-reserved when half are used). Not a multiple of the
# trace ring (16384 slots, indexed by ref counter): a restarted edge resumes at the floor, and a
# multiple would send its first new orders into the ring slots of the orders it just restored,
# evicting their traces after a few hundred orders; half a ring apart they last >= 8192 orders.
REF_RESERVE = (1 << 20) + 8192


def file_name(deployment_id: str) -> str:
    return deployment_id.replace("/", "~") + ".journal"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame(kind: int, payload: bytes) -> bytes:
    return FRAME.pack(len(payload), zlib.crc32(bytes([kind]) + payload), kind) + payload


def read_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(type, payload) of every complete frame, and the offset where the valid part ends."""
    if not data.startswith(MAGIC):
        raise ValueError("not a Sequence journal (bad magic)")
    frames, pos = [], len(MAGIC)
    while pos + FRAME.size <= len(data):
        size, crc, kind = FRAME.unpack_from(data, pos)
        end = pos + FRAME.size + size
        if size > MAX_FRAME or end > len(data):
            break
        payload = data[pos + FRAME.size : end]
        if zlib.crc32(bytes([kind]) + payload) != crc or kind not in (META, BATCH):
            break
        frames.append((kind, payload))
        pos = end
    return frames, pos


@dataclass
class Recovered:
    """What a journal held for a deployment when the edge (re)opened it."""

    meta: dict[str, Any]
    batch: bytes | None  # the last checkpoint (None: pushed, never traded)
    torn_bytes: int  # bytes cut off the end (a write the crash interrupted)

    @property
    def symbols(self) -> list[str]:
        if self.batch is not None:
            return list(read_batch(self.batch)["symbols"])
        return list(self.meta.get("symbols", []))


class DeploymentJournal:
    """One deployment's journal file, open for appending."""

    def __init__(self, path: Path, *, fsync_now: bool) -> None:
        self.path = path
        self.fsync_now = fsync_now
        self.recovered: Recovered | None = None
        self.last_meta: bytes = b""
        self.last_batch: bytes = b""
        torn = 0
        if path.exists():
            data = path.read_bytes()
            frames, end = read_frames(data)
            torn = len(data) - end
            metas = [json.loads(p) for k, p in frames if k == META]
            batches = [p for k, p in frames if k == BATCH]
            if metas:
                self.recovered = Recovered(metas[-1], batches[-1] if batches else None, torn)
                self.last_meta = json.dumps(metas[-1], sort_keys=True).encode()
                self.last_batch = batches[-1] if batches else b""
            if torn:
                log.warning("%s: ignoring %d torn byte(s) at the end (an interrupted write)", path, torn)
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            os.ftruncate(self.fd, end)
        else:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self.fd, MAGIC)
            os.fsync(self.fd)
            _fsync_dir(path.parent)
        self.size = os.fstat(self.fd).st_size
        self.batches = 0

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.last_meta = json.dumps(meta, sort_keys=True).encode()
        self._append(_frame(META, self.last_meta))
        os.fsync(self.fd)

    def write_batch(self, batch: bytes) -> None:
        self.last_batch = batch
        self._append(_frame(BATCH, batch))
        self.batches += 1
        if self.fsync_now:
            os.fsync(self.fd)

    def _append(self, data: bytes) -> None:
        os.write(self.fd, data)  # O_APPEND: one write per frame (a crash leaves at most a torn tail)
        self.size += len(data)

    def compact(self) -> None:
        """Rewrite as MAGIC + last META + last BATCH (tmp file, fsync, rename, fsync the dir)."""
        tmp = self.path.with_suffix(".compact")
        body = (
            MAGIC
            + _frame(META, self.last_meta)
            + (_frame(BATCH, self.last_batch) if self.last_batch else b"")
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = len(body)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class StateDirError(Exception):
    """The state dir cannot be used (another edge holds it, or it is unreadable)."""


class StateDir:
    """The edge's journals: opens them, flushes accounts into them, fsyncs them in the background."""

    def __init__(self, path: str | Path, *, fsync_ms: int = 200) -> None:
        self.path = Path(path).resolve()
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateDirError(f"state dir {self.path}: {exc}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel drops it if we die
        except OSError:
            os.close(self._lock_fd)
            raise StateDirError(f"state dir {self.path} is in use by another edge process") from None
        self.fsync_ms = fsync_ms
        self.journals: dict[str, DeploymentJournal] = {}
        self._edge_file = self.path / "edge.json"
        edge = json.loads(self._edge_file.read_text()) if self._edge_file.exists() else {}
        self.ref_salt: int | None = edge.get("ref_salt")
        self.ref_floor: int = int(edge.get("ref_floor", 0))
        self._refs_at_start = self.ref_floor
        self.flushes = 0
        self.bytes_written = 0
        self._lock = threading.Lock()
        self._unsynced: set[int] = set()
        self._wake = threading.Event()
        self._closing = False
        self._syncer: threading.Thread | None = None
        if fsync_ms > 0:
            self._syncer = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
            self._syncer.start()

    # ------------------------------------------------------------------ order refs

    def start_refs(self, salt: int) -> int:
        """The order-ref salt to use: the journaled one, else `salt` (saved). Refs continue from
        `ref_floor`."""
        if self.ref_salt is None:
            self.ref_salt = salt
            self._save_edge()
        return self.ref_salt

    def _reserve_refs(self, issued: int) -> None:
        if issued != self._refs_at_start and issued + REF_RESERVE // 2 > self.ref_floor:
            self.ref_floor = min(issued + REF_RESERVE, 0xFFFFFFFF)
            self._save_edge()

    def _save_edge(self) -> None:
        tmp = self._edge_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"ref_salt": self.ref_salt, "ref_floor": self.ref_floor}))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self._edge_file)
        _fsync_dir(self.path)

    # ------------------------------------------------------------------ deployments

    def open(self, deployment_id: str) -> DeploymentJournal:
        """The deployment's journal (what it held is in `.recovered` the first time it is opened)."""
        j = self.journals.get(deployment_id)
        if j is None:
            j = DeploymentJournal(self.path / file_name(deployment_id), fsync_now=self.fsync_ms == 0)
            self.journals[deployment_id] = j
        return j

    def peek(self, deployment_id: str) -> Recovered | None:
        """What the journal holds for a deployment not open in this process (read only)."""
        if deployment_id in self.journals:
            return None
        path = self.path / file_name(deployment_id)
        if not path.exists():
            return None
        frames, _end = read_frames(path.read_bytes())
        metas = [json.loads(p) for k, p in frames if k == META]
        batches = [p for k, p in frames if k == BATCH]
        return Recovered(metas[-1], batches[-1] if batches else None, 0) if metas else None

    def delete(self, deployment_id: str) -> None:
        """The deployment was removed: its journal goes (a later push starts fresh)."""
        j = self.journals.pop(deployment_id, None)
        if j is not None:
            with self._lock:
                self._unsynced.discard(j.fd)
                j.close()
        (self.path / file_name(deployment_id)).unlink(missing_ok=True)
        _fsync_dir(self.path)

    def flush(self, accounts: dict[str, Any], refs_issued: int) -> int:
        """Write a batch for every account that changed since the last flush; returns how many."""
        return self.flush_accounts(list(accounts), list(accounts.values()), lambda: refs_issued)

    def flush_accounts(self, ids: list[str], accounts: list[Any], refs_issued: Callable[[], int]) -> int:
        """flush() for parallel lists of deployment ids and accounts (the edge keeps them between
        steps, so a step that changed nothing costs one C call)."""
        ready = pending_indexes(accounts)
        if ready is None:
            return 0
        issued = refs_issued()
        written = 0
        for i in ready:
            j = self.journals.get(ids[i])
            batch = take_batch(accounts[i], issued)
            if j is None or batch is None:
                continue
            j.write_batch(batch)
            written += 1
            self.bytes_written += len(batch)
            if j.size > COMPACT_BYTES:
                j.compact()
            elif self._syncer is not None:
                with self._lock:
                    self._unsynced.add(j.fd)
        if written:
            self.flushes += 1
            self._reserve_refs(issued)
        return written

    # ------------------------------------------------------------------ fsync thread

    def _sync_loop(self) -> None:
        while not self._closing:
            self._wake.wait(self.fsync_ms / 1000)
            self.sync()

    def sync(self) -> None:
        """fsync every journal written since the last pass (the background thread calls this)."""
        with self._lock:
            fds, self._unsynced = self._unsynced, set()
        for fd in fds:
            with contextlib.suppress(OSError):  # closed meanwhile (deleted deployment): nothing to keep
                os.fsync(fd)

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
        self.sync()
        for j in self.journals.values():
            with contextlib.suppress(OSError):
                os.fsync(j.fd)
            j.close()
        self.journals.clear()
        os.close(self._lock_fd)

    def info(self) -> dict[str, Any]:
        return {
            "dir": str(self.path),
            "fsync_ms": self.fsync_ms,
            "deployments": sorted(self.journals),
            "flushes": self.flushes,
            "bytes_written": self.bytes_written,
        }
