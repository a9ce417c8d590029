"""The coordinator's HTTP API and Prometheus metrics, and `serve()` that runs both with the mesh port.

    GET    /healthz                   {"ok": true, "edges": n}
    GET    /metrics                   Prometheus text
    GET    /v1/mesh                   {"groups": [topology...]}; ?deployment_id=ID -> that instance's group
    GET    /v1/mesh/{group}           topology (instances, links, drops; see Group.topology)
    PUT    /v1/mesh/{group}           routing table {"members": [{deployment, label, venue, peers}]}
    DELETE /v1/mesh/{group}           forget the routing table (registered labels define the group again)
    GET    /v1/edges                  connected edges with their client-side counters
    /v1/graphs...                     execution graphs (api_graphs.py, docs/graphs.md)

Bodies are the models of `sequence_wire.coordinator_api`; errors are 4xx with
{"error": {"reason": "CamelCase", "message": "..."}} and the edge API's reasons (`sequence_wire.errors`),
also for unknown routes and wrong methods.
Every route but /healthz needs `Authorization: Bearer <control token>`; /metrics also takes the
metrics token (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from pydantic import ValidationError

from sequence_wire import coordinator_api as wire
from sequence_wire.auth import Credentials
from sequence_wire.errors import RequestError, describe
from sequence_wire.http_auth import auth_middleware
from sequence_wire.mesh import LATENCY_BUCKETS_NS
from sequence_wire.process_metrics import add_process_metrics
from sequence_wire.server import json_errors, read_json, reply

from .api_graphs import GraphCollector, add_graph_routes
from .api_route import add_route_routes
from .graphs.gateway import GraphGateway
from .graphs.journal import GraphJournal
from .router import DROP_REASONS, GROUP_RE, Coordinator, EdgeConnection, Member

log = logging.getLogger("sequence.coordinator")

COORDINATOR_KEY = web.AppKey("coordinator", Coordinator)


def parse_members(body: Any) -> list[Member]:
    """Validate a routing table; RequestError(InvalidRoutingTable) naming the bad field."""
    if not isinstance(body, dict):
        raise RequestError(
            "InvalidRoutingTable",
            'body must be {"members": [{"deployment", "label", "venue", "peers"}, ...]}',
        )
    try:
        table = wire.RoutingTable.model_validate(body)
    except ValidationError as exc:
        raise RequestError("InvalidRoutingTable", describe(exc)) from None
    return [Member(m.deployment, m.label, m.venue, tuple(m.peers)) for m in table.members]


def make_app(coordinator: Coordinator, graphs: GraphGateway | None = None) -> web.Application:
    app = web.Application(middlewares=[auth_middleware(coordinator.credentials), json_errors])
    app[COORDINATOR_KEY] = coordinator
    registry = CollectorRegistry(auto_describe=True)
    registry.register(CoordinatorCollector(coordinator))
    add_process_metrics(registry, "sequence_coordinator")

    async def healthz(_request: web.Request) -> web.Response:
        return reply(wire.CoordinatorHealth(ok=True, edges=len(coordinator.edges())))

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")

    async def all_groups(request: web.Request) -> web.Response:
        deployment = request.query.get("deployment_id")
        if deployment is not None:
            group = coordinator.group_of_deployment(deployment)
            if group is None:
                raise RequestError("NotFound", f"no mesh group has deployment {deployment!r}")
            return reply(wire.Topology.model_validate(group.topology(deployment)))
        groups = [coordinator.groups[name].topology() for name in sorted(coordinator.groups)]
        return reply(wire.MeshGroups.model_validate({"groups": groups}))

    async def one_group(request: web.Request) -> web.Response:
        name = request.match_info["group"]
        group = coordinator.groups.get(name)
        if group is None:
            raise RequestError("NotFound", f"mesh group {name!r} has no table and no registered instance")
        return reply(wire.Topology.model_validate(group.topology(request.query.get("deployment_id"))))

    async def put_table(request: web.Request) -> web.Response:
        name = request.match_info["group"]
        if not GROUP_RE.match(name):
            raise RequestError(
                "BadGroupName",
                f"{name!r} is not a mesh group name (letters, digits, '-', '_', '.'; at most 253)",
            )
        members = parse_members(await read_json(request))
        group = coordinator.set_table(name, members)
        return reply(wire.Topology.model_validate(group.topology()))

    async def delete_table(request: web.Request) -> web.Response:
        name = request.match_info["group"]
        if not coordinator.delete_table(name):
            raise RequestError("NotFound", f"mesh group {name!r} has no routing table")
        return reply(wire.GroupDeleted(deleted=name))

    async def edges(_request: web.Request) -> web.Response:
        return reply(wire.ConnectedEdges.model_validate({"edges": coordinator.edges()}))

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/mesh", all_groups)
    app.router.add_get("/v1/mesh/{group}", one_group)
    app.router.add_put("/v1/mesh/{group}", put_table)
    app.router.add_delete("/v1/mesh/{group}", delete_table)
    app.router.add_get("/v1/edges", edges)
    if graphs is not None:
        add_graph_routes(app, graphs)  # /v1/graphs (api_graphs.py)
        add_route_routes(app, graphs)  # /v1/graphs-engine/route (api_route.py)
        registry.register(GraphCollector(graphs))
    return app


class CoordinatorCollector:
    """Exports the coordinator's own counters at scrape time (nothing extra on the routing path)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    def collect(self) -> Iterator[Metric]:
        c = self.coordinator
        routed = CounterMetricFamily(
            "sequence_mesh_routed", "Messages routed to a receiving edge", labels=["group"]
        )
        dropped = CounterMetricFamily(
            "sequence_mesh_dropped", "Messages the coordinator dropped, by reason", labels=["group", "reason"]
        )
        link_messages = CounterMetricFamily(
            "sequence_mesh_link_messages",
            "Messages delivered to on_message per link (reported by the receiver)",
            labels=["group", "from", "to"],
        )
        link_drops = CounterMetricFamily(
            "sequence_mesh_link_drops",
            "Messages lost on a link (before, in and after the coordinator)",
            labels=["group", "from", "to"],
        )
        latency = HistogramMetricFamily(
            "sequence_mesh_link_latency_seconds",
            "Send in the sending algo to on_message at the receiving edge",
            labels=["group", "from", "to"],
        )
        instances = GaugeMetricFamily("sequence_mesh_instances", "Registered instances", labels=["group"])
        for name, group in sorted(c.groups.items()):
            routed.add_metric([name], group.routed)
            instances.add_metric([name], len(group.instances))
            for reason in DROP_REASONS:
                dropped.add_metric([name, reason], group.drops[reason])
            for (src, dst), stats in sorted(group.links.items()):
                link_messages.add_metric([name, src, dst], stats.delivered)
                link_drops.add_metric([name, src, dst], stats.drops)
                cumulative, buckets = 0, []
                for bound, count in zip(LATENCY_BUCKETS_NS, stats.buckets, strict=False):
                    cumulative += count
                    buckets.append((repr(bound / 1e9), cumulative))
                buckets.append(("+Inf", cumulative + stats.buckets[-1]))
                latency.add_metric([name, src, dst], buckets, stats.sum_ns / 1e9)
        for reason in DROP_REASONS:
            if c.drops[reason]:
                dropped.add_metric(["", reason], c.drops[reason])
        yield routed
        yield dropped
        yield link_messages
        yield link_drops
        yield latency
        yield instances
        yield GaugeMetricFamily("sequence_mesh_connected_edges", "Edges connected", value=len(c.edges()))
        yield CounterMetricFamily(
            "sequence_mesh_tob_updates", "Top-of-book updates received", value=c.tob_updates
        )
        yield CounterMetricFamily(
            "sequence_mesh_nbbo_pushes", "NBBO deliveries to instances", value=c.nbbo_pushes
        )
        yield CounterMetricFamily(
            "sequence_mesh_protocol_errors", "Connections closed for protocol errors", value=c.protocol_errors
        )
        yield CounterMetricFamily(
            "sequence_mesh_hello_refusals",
            "HELLOs refused: no or an unknown token, or the venue already connected",
            value=c.hello_refusals,
        )


async def serve(
    bind: str,
    port: int,
    mesh_port: int,
    *,
    credentials: Credentials,
    heartbeat_s: float = 1.0,
    peer_timeout_s: float = 5.0,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    state_dir: str | None = None,
) -> None:
    """Run the coordinator until `stop` is set (or SIGTERM/SIGINT when stop is None).

    The execution-graph engine runs on the same loop; with `state_dir` its journal is
    `STATE_DIR/graphs.sqlite` and a restart resumes every graph that had not finished."""
    log.info("coordinator: %s", credentials.source)  # the first line: names a generated token's file
    loop = asyncio.get_running_loop()
    coordinator = Coordinator(credentials=credentials, heartbeat_s=heartbeat_s, peer_timeout_s=peer_timeout_s)
    journal = GraphJournal(os.path.join(state_dir, "graphs.sqlite")) if state_dir else None
    graphs = GraphGateway(coordinator, journal=journal)
    graphs.start()
    mesh_server = await loop.create_server(
        lambda: EdgeConnection(coordinator), bind, mesh_port, reuse_address=True
    )
    runner = web.AppRunner(make_app(coordinator, graphs), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, bind, port, reuse_address=True).start()
    heartbeat = asyncio.create_task(coordinator.heartbeat_loop())
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    log.info("coordinator: HTTP on %s:%d, mesh on %s:%d", bind, port, bind, mesh_port)
    if on_ready is not None:
        on_ready()
    try:
        await stop.wait()
    finally:
        heartbeat.cancel()
        graphs.close()
        mesh_server.close()
        for conn in list(coordinator.connections):
            conn.close(abort=True)
        await runner.cleanup()


def run(bind: str, port: int, mesh_port: int, **kwargs: Any) -> None:
    """Blocking entry point of `sequence coordinator` (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(bind, port, mesh_port, **kwargs))
    else:
        uvloop.run(serve(bind, port, mesh_port, **kwargs))
