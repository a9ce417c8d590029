"""Prometheus metrics of the operator (served on settings.metricsPort, 9090 in the chart)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

from sequence_wire.process_metrics import add_process_metrics

RECONCILES = Counter(
    "sequence_operator_reconciles_total",
    "Reconcile passes by kind and result (ok, error)",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "sequence_operator_reconcile_duration_seconds",
    "Time of one reconcile pass, including the edge and coordinator calls it makes",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ERRORS = Counter(
    "sequence_operator_errors_total",
    "Failures seen while reconciling, by kind and reason (EdgeUnreachable, PushRejected, ...)",
    ["kind", "reason"],
)
EDGE_CALLS = Counter(
    "sequence_operator_edge_requests_total",
    "Control-API calls to edges and coordinators, by outcome (ok, unreachable, rejected; 404 counts as ok)",
    ["outcome"],
)
EDGES_REACHABLE = Gauge(
    "sequence_operator_edges_reachable",
    "Edges of a VenueEdge whose control API answered on the last poll",
    ["namespace", "venue_edge"],
)
EDGES_DESIRED = Gauge(
    "sequence_operator_edges_desired",
    "Edges a VenueEdge should have (replicas, or its external endpoints)",
    ["namespace", "venue_edge"],
)

# The default registry already has the process collector.
add_process_metrics(REGISTRY, "sequence_operator", process=False)


@contextmanager
def reconcile_timer(kind: str) -> Iterator[None]:
    """Count and time one pass; an exception counts as result=error and propagates."""
    start = time.perf_counter()
    try:
        yield
    except Exception:
        RECONCILES.labels(kind, "error").inc()
        raise
    else:
        RECONCILES.labels(kind, "ok").inc()
    finally:
        RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - start)


def forget_venue_edge(namespace: str, name: str) -> None:
    for gauge in (EDGES_REACHABLE, EDGES_DESIRED):
        with suppress(KeyError):
            gauge.remove(namespace, name)


def serve(port: int, host: str = "0.0.0.0") -> None:
    if port:
        start_http_server(port, addr=host)
