"""One deployment on an edge: its log ring (with followers for `logs?follow=1`), its record, and
how a host failure message is named in status (`last_error.reason`)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sequence_wire.edge_api import LastError, PushRequest

from .algo.host import AlgoInstance
from .orders.oms import Account

LOG_LINES = 5000  # per-deployment log ring


class LogRing:
    """The last LOG_LINES lines of one deployment, with followers for `logs?follow=1`."""

    def __init__(self) -> None:
        self.lines: deque[dict[str, Any]] = deque(maxlen=LOG_LINES)
        self.followers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def add(self, ts_ns: int, level: str, message: str) -> None:
        entry = {"ts_ns": ts_ns, "level": level, "message": message}
        self.lines.append(entry)
        for queue in self.followers:
            if queue.qsize() < 10_000:  # a stuck follower loses lines, never the edge memory
                queue.put_nowait(entry)

    def tail(self, n: int) -> list[dict[str, Any]]:
        return list(self.lines)[-n:] if n > 0 else []

    def follow(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.followers.add(queue)
        return queue

    def unfollow(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self.followers.discard(queue)

    def close(self) -> None:
        for queue in self.followers:
            queue.put_nowait(None)


@dataclass
class Deployment:
    deployment_id: str
    request: PushRequest
    size_bytes: int
    instance: AlgoInstance
    account: Account
    logs: LogRing = field(default_factory=LogRing)
    last_error: LastError | None = None
    last_heartbeat_ns: int = 0
    failure_seen: bool = False
    kill_seen: bool = False
    mesh_sent: int = 0
    mesh_received: int = 0
    mesh_dropped: int = 0
    mesh_undelivered: int = 0
    risk: dict[str, Any] = field(default_factory=dict)  # edge_policy.resolve_risk: limits and source

    def edge_log(self, level: str, message: str) -> None:
        self.logs.add(time.time_ns(), level, f"[edge] {message}")


def iso(ts_ns: int) -> str | None:
    if not ts_ns:
        return None
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns // 1_000_000:03d}Z"


def failure_reason(text: str) -> str:
    """CamelCase reason of a host failure message (host.pyx slot_fail_call)."""
    if text.startswith("deadline exceeded"):
        return "DeadlineExceeded"
    if text.startswith("ABI violation"):
        return "AbiViolation"
    if "memory.grow beyond the cap" in text:
        return "MemoryLimit"
    if text.startswith("trap"):
        return "Trap"
    return "Failed"
