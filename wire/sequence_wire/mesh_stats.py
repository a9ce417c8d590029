"""Per-link mesh statistics: counts, drops, and latency from send-in-algo to on_message.

The receiving edge measures every delivered message (`now - send_ts_ns`, both
taken from the host's CLOCK_REALTIME, so the two ends must share a clock:
same host or NTP/PTP-disciplined hosts) and reports per link every few hundred
milliseconds: delivered count, sequence gaps, duplicates refused, histogram
bucket counts and a reservoir sample of latencies. The coordinator adds the
drops it made itself on that link and keeps a ring of recent samples for the
p50/p99 in the topology.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from random import random
from typing import Any

from .mesh import LATENCY_BUCKETS_NS

RESERVOIR = 256  # latency samples per link per report (uniformly sampled when busier)
RECENT = 4096  # samples the coordinator keeps per link for p50/p99


def quantile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank quantile of an already sorted, non-empty list."""
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


class RxLink:
    """What a receiving edge accumulates for one (sender label -> local instance) link between reports."""

    __slots__ = ("buckets", "delivered", "dups", "gaps", "samples", "sum_ns")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.delivered = 0
        self.gaps = 0
        self.dups = 0
        self.sum_ns = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS_NS) + 1)
        self.samples: list[int] = []

    def observe(self, latency_ns: int) -> None:
        self.delivered += 1
        self.sum_ns += latency_ns
        self.buckets[bisect_left(LATENCY_BUCKETS_NS, latency_ns)] += 1
        if self.delivered <= RESERVOIR:
            self.samples.append(latency_ns)
        else:  # reservoir sampling keeps a uniform sample of the interval
            slot = int(random() * self.delivered)
            if slot < RESERVOIR:
                self.samples[slot] = latency_ns

    def pending(self) -> bool:
        return bool(self.delivered or self.gaps or self.dups)

    def report(self) -> dict[str, Any]:
        """The counts since the last report; resets them."""
        out = {
            "delivered": self.delivered,
            "gaps": self.gaps,
            "dups": self.dups,
            "sum_ns": self.sum_ns,
            "buckets": self.buckets,
            "samples": self.samples,
        }
        self.reset()
        return out


class LinkStats:
    """The coordinator's view of one (from label -> to label) link of a mesh group."""

    __slots__ = (
        "buckets",
        "cc_drops",
        "delivered",
        "dups",
        "gaps",
        "recent",
        "routed",
        "sender_gaps",
        "sum_ns",
    )

    def __init__(self) -> None:
        self.routed = 0  # DELIVER frames the coordinator wrote for this link
        self.cc_drops = (
            0  # dropped in the coordinator: no live instance, no on_message, oversize, backpressure
        )
        self.sender_gaps = 0  # sender sequence numbers that never reached the coordinator
        self.delivered = 0  # handed to on_message at the receiving edge (reported)
        self.gaps = 0  # DELIVER frames the receiver never saw (reported; hop numbers)
        self.dups = 0  # duplicates the receiver refused (reported; should stay 0)
        self.sum_ns = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS_NS) + 1)
        self.recent: deque[int] = deque(maxlen=RECENT)

    @property
    def drops(self) -> int:
        # Each loss is seen in exactly one place: before the coordinator (gap in the sender's sequence),
        # in it (counted where it drops), or after it (gap in the hop numbers at the receiver).
        return self.sender_gaps + self.cc_drops + self.gaps

    def merge(self, report: dict[str, Any]) -> None:
        self.delivered += _count(report, "delivered")
        self.gaps += _count(report, "gaps")
        self.dups += _count(report, "dups")
        self.sum_ns += _count(report, "sum_ns")
        buckets = report.get("buckets")
        if isinstance(buckets, list) and len(buckets) == len(self.buckets):
            for i, n in enumerate(buckets):
                if isinstance(n, int) and n > 0:
                    self.buckets[i] += n
        samples = report.get("samples")
        if isinstance(samples, list):
            self.recent.extend(s for s in samples if isinstance(s, int))

    def quantiles_us(self) -> tuple[float | None, float | None]:
        if not self.recent:
            return None, None
        ordered = sorted(self.recent)
        return round(quantile(ordered, 0.50) / 1000, 1), round(quantile(ordered, 0.99) / 1000, 1)


def _count(report: dict[str, Any], key: str) -> int:
    value = report.get(key, 0)
    return value if isinstance(value, int) and value > 0 else 0
