"""Prometheus metrics of an edge, read from the engine, the host and the accounts at scrape time.

Nothing is counted twice or on the hot path: the Cython side keeps plain counters and
histograms, and this collector turns them into metric families when /metrics is scraped.
Deployment metrics carry `deployment` (and `symbol` / `reason` where relevant) labels; every
metric carries `edge` and `venue`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from sequence_wire.process_metrics import add_process_metrics

from ..algo import abi
from ..engine import callback_histogram

if TYPE_CHECKING:
    from ..edge import Edge

# callback latency buckets, ns (the host's histogram has ~6% resolution)
LATENCY_BOUNDS_NS = (
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
    10_000_000,
)
STATES = ("loaded", "running", "stopped", "failed")


class EdgeCollector(Collector):
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def collect(self) -> Iterator[Metric]:
        edge = self.edge
        base = [edge.config.edge_id, edge.config.venue]
        labels = ["edge", "venue"]
        stats = edge.engine.stats()

        updates = CounterMetricFamily("sequence_edge_book_updates", "Book updates applied", labels=labels)
        updates.add_metric(base, stats["applied"])
        yield updates
        records = CounterMetricFamily("sequence_edge_feed_records", "Feed records processed", labels=labels)
        records.add_metric(base, stats["records"])
        yield records
        stale = CounterMetricFamily(
            "sequence_edge_book_stale_events", "Gaps or crossed books detected", labels=labels
        )
        stale.add_metric(base, stats["stale_events"])
        yield stale
        feed = edge.feed_status()
        lag = GaugeMetricFamily(
            "sequence_edge_feed_lag_seconds",
            "Wall clock minus the feed time of the last record processed",
            labels=labels,
        )
        lag.add_metric(base, feed.lag_ms / 1000.0)
        yield lag
        healthy = GaugeMetricFamily(
            "sequence_edge_feed_healthy", "1 when the feed is delivering valid books", labels=labels
        )
        healthy.add_metric(base, 1.0 if feed.healthy else 0.0)
        yield healthy
        if feed.kind == "live":
            yield from live_feed_metrics(feed.as_dict(), labels, base)
        killed = GaugeMetricFamily(
            "sequence_edge_kill_switch_engaged",
            "1 while the edge's kill switch is engaged (every order refused, none resting)",
            labels=labels,
        )
        killed.add_metric(base, 1.0 if edge.kill_switch.engaged else 0.0)
        yield killed
        if edge.live is not None:
            yield from gateway_metrics(edge.live.info(edge.kill_switch.engaged).model_dump(), labels, base)
        dropped = CounterMetricFamily(
            "sequence_edge_mesh_dropped",
            "Mesh messages this edge dropped before they reached the coordinator (its client's queue, no "
            "coordinator, oversize), by reason; the coordinator's own drops are sequence_mesh_dropped_total",
            labels=[*labels, "reason"],
        )
        for reason, n in edge.mesh_drops().items():
            dropped.add_metric([*base, reason], n)
        yield dropped
        connected = GaugeMetricFamily(
            "sequence_edge_mesh_connected", "1 while connected to the coordinator", labels=labels
        )
        connected.add_metric(base, 1.0 if edge.mesh is not None and edge.mesh.client.connected else 0.0)
        yield connected
        if edge.mesh is not None:
            client = edge.mesh.client.stats()
            frames = CounterMetricFamily(
                "sequence_edge_mesh_messages",
                "Mesh messages this edge's client sent to / received from the coordinator",
                labels=[*labels, "direction"],
            )
            frames.add_metric([*base, "sent"], client["sent"])
            frames.add_metric([*base, "received"], client["received"])
            yield frames
            reconnects = CounterMetricFamily(
                "sequence_edge_mesh_reconnects", "Reconnections to the coordinator", labels=labels
            )
            reconnects.add_metric(base, client["reconnects"])
            yield reconnects
        if edge.graph_orders is not None:
            graph = edge.graph_orders.status()
            events = CounterMetricFamily(
                "sequence_edge_graph_order_events",
                "Execution-graph order outcomes on this edge (orders received, acks, fills, cancels, rejects)",
                labels=[*labels, "kind"],
            )
            for kind in ("orders", "acks", "fills", "cancels", "rejects"):
                events.add_metric([*base, kind], graph[kind])
            yield events
            resting = GaugeMetricFamily(
                "sequence_edge_graph_orders_open",
                "Execution-graph orders resting on this edge",
                labels=labels,
            )
            resting.add_metric(base, graph["open"])
            yield resting
        yield from self._deployments(base, labels)

    def _deployments(self, base: list[str], labels: list[str]) -> Iterator[Metric]:
        dl = [*labels, "deployment"]
        fams: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "callbacks": CounterMetricFamily("sequence_algo_callbacks", "Algo callbacks run", labels=dl),
            "traps": CounterMetricFamily("sequence_algo_traps", "Traps of the algo", labels=dl),
            "deadline": CounterMetricFamily(
                "sequence_algo_deadline_hits", "Callbacks stopped at their deadline", labels=dl
            ),
            "orders": CounterMetricFamily(
                "sequence_algo_orders", "Orders accepted by the paper OMS", labels=dl
            ),
            "fills": CounterMetricFamily("sequence_algo_fills", "Fills", labels=dl),
            "cancels": CounterMetricFamily("sequence_algo_cancels", "Orders cancelled", labels=dl),
            "rejects": CounterMetricFamily(
                "sequence_algo_rejects", "Actions refused, by reason", labels=[*dl, "reason"]
            ),
            "open": GaugeMetricFamily("sequence_algo_open_orders", "Resting orders", labels=dl),
            "position": GaugeMetricFamily("sequence_algo_position", "Position", labels=[*dl, "symbol"]),
            "pnl": GaugeMetricFamily(
                "sequence_algo_pnl", "PnL in quote currency (fees included in realized)", labels=[*dl, "kind"]
            ),
            "state": GaugeMetricFamily(
                "sequence_algo_state", "1 for the instance's current state", labels=[*dl, "state"]
            ),
            "killed": GaugeMetricFamily(
                "sequence_algo_kill_switch", "1 when the kill switch has tripped", labels=dl
            ),
            "mesh": CounterMetricFamily(
                "sequence_algo_mesh_messages",
                "Mesh messages the instance sent / received",
                labels=[*dl, "direction"],
            ),
        }
        latency = HistogramMetricFamily(
            "sequence_algo_callback_latency_seconds",
            f"Time of one algo callback; sampled: 1 on_book call in {self.edge.host.latency_sample_every} "
            "is timed, every other callback (on_fill, on_message, ...) is",
            labels=dl,
        )
        t2o = HistogramMetricFamily(
            "sequence_algo_tick_to_order_seconds",
            "Feed update received to OMS ack, for every order placed from on_book",
            labels=dl,
        )
        for dep_id, dep in list(self.edge.deployments.items()):
            lv = [*base, dep_id]
            acct, inst = dep.account, dep.instance
            st = inst.status()
            fams["callbacks"].add_metric(lv, st["callbacks"])
            fams["traps"].add_metric(lv, st["traps"])
            fams["deadline"].add_metric(lv, st["deadline_hits"])
            fams["orders"].add_metric(lv, acct.n_orders)
            fams["fills"].add_metric(lv, acct.n_fills)
            fams["cancels"].add_metric(lv, acct.n_cancels)
            for reason, n in acct.rejects_by_reason().items():
                fams["rejects"].add_metric([*lv, reason], n)
            fams["open"].add_metric(lv, acct.n_open)
            for i, symbol in enumerate(acct.symbols):
                fams["position"].add_metric([*lv, symbol], abi.from_fixed(acct.position(i)[0]))
            pnl = acct.pnl()
            for kind in ("realized", "unrealized", "fees"):
                fams["pnl"].add_metric([*lv, kind], abi.from_fixed(pnl[f"{kind}_1e8"]))
            for state in STATES:
                fams["state"].add_metric([*lv, state], 1.0 if inst.state == state else 0.0)
            fams["killed"].add_metric(lv, 1.0 if acct.killed else 0.0)
            counts, total, sum_ns = acct.tick_to_order_buckets(LATENCY_BOUNDS_NS)
            t2o.add_metric(lv, _buckets(counts, total), sum_ns / 1e9)
            fams["mesh"].add_metric([*lv, "sent"], dep.mesh_sent)
            fams["mesh"].add_metric([*lv, "received"], dep.mesh_received)
            counts, total, sum_ns = callback_histogram(inst, LATENCY_BOUNDS_NS)
            latency.add_metric(lv, _buckets(counts, total), sum_ns / 1e9)
        yield from fams.values()
        yield latency
        yield t2o


def _buckets(counts: list[int], total: int) -> list[tuple[str, float]]:
    return [*((f"{b / 1e9:g}", c) for b, c in zip(LATENCY_BOUNDS_NS, counts, strict=True)), ("+Inf", total)]


def make_registry(edge: Edge) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(edge))
    add_process_metrics(registry, "sequence_edge")
    return registry


def live_feed_metrics(feed: dict[str, Any], labels: list[str], base: list[str]) -> Iterator[Metric]:
    """A live feed's connection and consistency counters (market/live.py)."""
    connected = GaugeMetricFamily(
        "sequence_edge_feed_connected", "1 while the live feed is connected to its venue", labels=labels
    )
    connected.add_metric(base, 1.0 if feed.get("connected") else 0.0)
    yield connected
    age = feed.get("last_update_age_s")
    last = GaugeMetricFamily(
        "sequence_edge_feed_last_update_age_seconds",
        "Seconds since the live feed's last book message (-1 before the first)",
        labels=labels,
    )
    last.add_metric(base, -1.0 if age is None else float(age))
    yield last
    for name, key, text in (
        ("sequence_edge_feed_gaps", "gaps", "Sequence gaps detected in the venue's stream"),
        ("sequence_edge_feed_checksum_failures", "checksum_failures", "Book checksums that did not match"),
        ("sequence_edge_feed_resyncs", "resyncs", "Books made valid again from a fresh snapshot"),
        ("sequence_edge_feed_disconnects", "disconnects", "Connections to the venue lost"),
    ):
        counter = CounterMetricFamily(name, text, labels=labels)
        counter.add_metric(base, float(feed.get(key, 0)))
        yield counter


def gateway_metrics(gw: dict[str, Any], labels: list[str], base: list[str]) -> Iterator[Metric]:
    """Mode live: the order gateway's connection and counters (orders/live_orders.py)."""
    for name, key, text in (
        ("sequence_edge_gateway_connected", "connected", "1 while the order gateway reaches its venue"),
        ("sequence_edge_gateway_reconciled", "reconciled", "1 once open orders were reconciled"),
        ("sequence_edge_gateway_dry_run", "dry_run", "1 when orders are logged and not sent"),
        ("sequence_edge_gateway_open_orders", "open_orders", "Orders this edge has open at the venue"),
    ):
        gauge = GaugeMetricFamily(name, text, labels=labels)
        gauge.add_metric(base, float(gw[key]))
        yield gauge
    events = CounterMetricFamily(
        "sequence_edge_gateway_orders",
        "Order gateway outcomes at the venue (sent, acked, rejected, cancelled, fills, errors)",
        labels=[*labels, "kind"],
    )
    for kind in ("sent", "acked", "rejected", "cancelled", "fills", "errors", "retries_avoided"):
        events.add_metric([*base, kind], float(gw[kind]))
    yield events
