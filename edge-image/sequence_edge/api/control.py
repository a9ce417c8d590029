"""The edge's HTTP control API (docs/edge-api.md), served by aiohttp on the edge loop's thread.

Every answer is built from the models of `sequence_wire.edge_api`; errors are
`{"error": {"reason": "CamelCase", "message": "..."}}` (`sequence_wire.errors`, also for unknown
routes and wrong methods) with a 4xx status and change nothing. A deployment id with a namespace
(`ns/name`) travels URL-encoded (`ns%2Fname`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ValidationError

from sequence_wire import edge_api as wire
from sequence_wire.auth import Credentials
from sequence_wire.errors import RequestError
from sequence_wire.http_auth import auth_middleware
from sequence_wire.server import json_errors, read_json, reply

from ..bundle_fetch import FetchRefused, fetch_bundle
from ..edge import Edge, EdgeConfig
from ..mesh.bridge import EdgeMesh, parse_address
from ..push import MAX_BUNDLE_BYTES, check_deployment_id, decode_bundle, parse_push
from .market_data import add_market_routes
from .metrics import make_registry

EDGE_KEY: web.AppKey[Edge] = web.AppKey("edge", Edge)
REGISTRY_KEY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)
log = logging.getLogger("sequence.edge")


def edge_of(request: web.Request) -> Edge:
    return request.app[EDGE_KEY]


def deployment_id(request: web.Request) -> str:
    dep_id = request.match_info["id"]
    check_deployment_id(dep_id)
    return dep_id


async def healthz(request: web.Request) -> web.Response:
    edge = edge_of(request)
    if edge.healthy():
        return reply(wire.Health(ok=True))
    return reply(wire.Health(ok=False, reason="the feed has not produced a valid book yet"), status=503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def edge_info(request: web.Request) -> web.Response:
    return reply(edge_of(request).edge_info())


async def push(request: web.Request) -> web.Response:
    dep_id = deployment_id(request)
    edge = edge_of(request)
    try:
        body = await read_json(request)
    except web.HTTPRequestEntityTooLarge:
        limit = edge.config.policy.compile.max_bundle_bytes
        raise RequestError(
            "BundleTooLarge", f"the push body is too large for a {limit}-byte bundle"
        ) from None
    req = parse_push(body, allow_http=edge.config.policy.fetch.allow_http)
    # safe pushes (bundle_fetch.py, compile_worker.py): fetch by the edge's rules, compile off-loop
    if req.bundle is not None:
        wasm = decode_bundle(req.bundle)
    else:
        policy = edge.config.policy
        try:
            wasm = await fetch_bundle(
                str(req.bundle_url), req.sha256, policy.compile.max_bundle_bytes, policy.fetch
            )
        except FetchRefused as exc:
            raise RequestError(exc.reason, exc.message) from None
    created = await edge.push_off_loop(dep_id, req, wasm)
    return reply(edge.status(dep_id), status=201 if created else 200)


async def start(request: web.Request) -> web.Response:
    edge, dep_id = edge_of(request), deployment_id(request)
    edge.start(dep_id)
    return reply(edge.status(dep_id))


async def stop(request: web.Request) -> web.Response:
    edge, dep_id = edge_of(request), deployment_id(request)
    edge.stop(dep_id)
    return reply(edge.status(dep_id))


async def pause(request: web.Request) -> web.Response:
    edge, dep_id = edge_of(request), deployment_id(request)
    edge.pause(dep_id)
    return reply(edge.status(dep_id))


async def resume(request: web.Request) -> web.Response:
    edge, dep_id = edge_of(request), deployment_id(request)
    edge.resume(dep_id)
    return reply(edge.status(dep_id))


async def delete(request: web.Request) -> web.Response:
    return reply(edge_of(request).remove(deployment_id(request)))


async def list_deployments(request: web.Request) -> web.Response:
    edge = edge_of(request)
    return reply([edge.status(d) for d in list(edge.deployments)])


async def status(request: web.Request) -> web.Response:
    return reply(edge_of(request).status(deployment_id(request)))


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise RequestError("BadQuery", f"{name} must be an integer in {lo}..{hi}, got {raw!r}")
    return int(raw)


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "0").lower()
    if raw not in ("0", "1", "true", "false", ""):
        raise RequestError("BadQuery", f"{name} must be 0/1 or true/false, got {raw!r}")
    return raw in ("1", "true", "")


async def logs(request: web.Request) -> web.StreamResponse:
    edge, dep_id = edge_of(request), deployment_id(request)
    ring = edge.get(dep_id).logs
    tail = _int_query(request, "tail", 100, 0, 5000)
    follow = _flag(request, "follow") if "follow" in request.query else False
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    queue = ring.follow() if follow else None  # subscribe before the tail: no line falls in between
    try:
        for line in ring.tail(tail):
            await resp.write(log_line(line))
        while queue is not None:
            entry: dict[str, Any] | None = await queue.get()
            if entry is None:  # the deployment was removed
                break
            await resp.write(log_line(entry))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        if queue is not None:
            ring.unfollow(queue)
    return resp


def log_line(entry: dict[str, Any]) -> bytes:
    return json.dumps(wire.LogLine(**entry).to_json()).encode() + b"\n"


async def orders(request: web.Request) -> web.Response:
    edge, dep_id = edge_of(request), deployment_id(request)
    return reply(edge.orders(dep_id, _flag(request, "open") if "open" in request.query else False))


async def graph_orders(request: web.Request) -> web.Response:
    """Execution-graph orders on this edge (each with its graph client order id); ?open=1: resting."""
    edge = edge_of(request)
    open_only = _flag(request, "open") if "open" in request.query else False
    rows = edge.graph_orders.orders(open_only) if edge.graph_orders is not None else []
    return web.json_response({"orders": rows})


async def kill_switch(request: web.Request) -> web.Response:
    """Engage (cancel every resting order, at the venue too; refuse new ones) or release."""
    edge = edge_of(request)
    body = await read_json(request)
    try:
        req = wire.KillSwitchRequest.model_validate(body)
    except ValidationError as exc:
        raise RequestError(
            "InvalidKillSwitch",
            f'expected {{"engaged": true|false, "reason": "..."}}: {exc.errors()[0]["msg"]}',
        ) from None
    if req.engaged:
        edge.kill_switch.engage(edge, req.reason)
    elif edge.kill_switch.engaged:
        edge.kill_switch.release(edge)
    return reply(edge.kill_switch.status())


async def trace(request: web.Request) -> web.Response:
    return reply(edge_of(request).trace(request.match_info["ref"]))


def make_app(edge: Edge, credentials: Credentials) -> web.Application:
    """Every route but /healthz needs the bearer token (docs/security.md); /metrics also takes the
    metrics token. The check runs first: a refused request reads no body and changes nothing."""
    # a push body holds the bundle in base64 (4/3 of its size) plus a little JSON
    body_limit = min(MAX_BUNDLE_BYTES, edge.config.policy.compile.max_bundle_bytes) * 4 // 3 + (1 << 20)
    app = web.Application(middlewares=[auth_middleware(credentials), json_errors], client_max_size=body_limit)
    app[EDGE_KEY] = edge
    app[REGISTRY_KEY] = make_registry(edge)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/edge", edge_info)
    app.router.add_get("/v1/deployments", list_deployments)
    app.router.add_put("/v1/deployments/{id}", push)
    app.router.add_get("/v1/deployments/{id}", status)
    app.router.add_delete("/v1/deployments/{id}", delete)
    app.router.add_post("/v1/deployments/{id}/start", start)
    app.router.add_post("/v1/deployments/{id}/stop", stop)
    app.router.add_post("/v1/deployments/{id}/pause", pause)
    app.router.add_post("/v1/deployments/{id}/resume", resume)
    app.router.add_get("/v1/deployments/{id}/logs", logs)
    app.router.add_get("/v1/deployments/{id}/orders", orders)
    app.router.add_get("/v1/orders/{ref}/trace", trace)
    app.router.add_get("/v1/graph-orders", graph_orders)
    add_market_routes(app, edge)  # /v1/book/{symbol}, /v1/mids/{symbol} (market_data.py)
    app.router.add_post("/v1/kill-switch", kill_switch)
    return app


async def serve(
    config: EdgeConfig,
    bind: str,
    port: int,
    coordinator: str | None = None,
    *,
    credentials: Credentials,
    coordinator_token: str | None = None,
) -> None:
    """Run an edge and its control API until SIGINT/SIGTERM; with `coordinator` (HOST:PORT of its
    mesh port) the edge joins the mesh (edge_mesh.EdgeMesh) and keeps trading while it is away.
    Its HELLO carries `coordinator_token` (default: this edge's own control token)."""
    log.info("edge %s: %s", config.edge_id, credentials.source)  # the first line: names a generated file
    if config.state_dir is None:
        log.warning("no --state-dir: trading state (positions, orders, PnL) is not kept across restarts")
    edge = Edge(config)
    mesh_token = coordinator_token or credentials.control
    mesh = EdgeMesh(edge, *parse_address(coordinator), token=mesh_token) if coordinator else None
    runner = web.AppRunner(make_app(edge, credentials), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, bind, port)
    await site.start()
    feed = edge.feed_status()
    log.info(
        "edge %s (venue %s, %s, %s feed) listening on %s:%d; symbols: %s",
        config.edge_id,
        config.venue,
        config.mode,
        feed.kind,
        bind,
        port,
        ", ".join(edge.engine.symbols) or "none yet",
    )
    if mesh is not None:
        await mesh.start()
        log.info(
            "edge %s: mesh coordinator %s, venue table %s", config.edge_id, mesh.address, edge.venue_names
        )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    task = asyncio.create_task(edge.run())
    waiter = asyncio.create_task(stopped.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    edge.stop_loop()
    waiter.cancel()
    await task  # re-raises if the loop died
    for dep in edge.deployments.values():
        dep.logs.close()
    if mesh is not None:
        await mesh.close()
    await runner.cleanup()
    edge.close()
    log.info("edge %s stopped", config.edge_id)
