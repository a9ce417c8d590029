"""The coordinator's execution-graph HTTP API (docs/graphs.md, "HTTP API").

    POST   /v1/graphs                      submit (GraphSubmitRequest) -> 201 GraphSubmitResponse
                                           (200 with the running graph when its client_id is known)
    GET    /v1/graphs                      GraphListResponse; ?include_finished=0 for running only
    GET    /v1/graphs/{id}                 GraphStatusResponse
    POST   /v1/graphs/{id}/cancel          CancelGraphRequest (optional body) -> GraphStatusResponse
    POST   /v1/graphs/{id}/resume          a paused graph continues -> GraphStatusResponse
    PUT    /v1/graphs/{id}/nodes/{node}    AmendNodeRequest -> GraphStatusResponse
    GET    /v1/graphs-engine               the engine's counters, venues and journal

Errors: `{"error": {"reason", "message"}}` (sequence_wire.errors) with the engine error's status:
422 AdmissionError (invalid or refused graph; nothing was placed; the message lists every problem),
404 GraphNotFound, 409 GraphStateError (finished, or not paused), 400 GraphError / BadJson /
InvalidBody.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import BaseModel, ValidationError

from sequence_wire.errors import RequestError, describe
from sequence_wire.graphs import CancelGraphRequest, ResumeGraphRequest
from sequence_wire.server import read_json

from .graphs.engine import AdmissionError, GraphError, GraphNotFound, GraphStateError
from .graphs.gateway import GraphGateway

GATEWAY_KEY = web.AppKey("graphs", GraphGateway)
# the engine's errors by class, as reasons of the coordinator's error vocabulary (sequence_wire.errors)
ENGINE_REASONS: dict[type[GraphError], str] = {
    AdmissionError: "AdmissionError",
    GraphNotFound: "GraphNotFound",
    GraphStateError: "GraphStateError",
    GraphError: "GraphError",
}


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json", by_alias=True), status=status)


async def _body(request: web.Request, *, optional: bool = False) -> Any:
    """The JSON body; `optional`: an empty body is {}."""
    if not (await request.read()).strip():
        if optional:
            return {}
        raise RequestError("InvalidBody", "the request needs a JSON object body")
    return await read_json(request)  # aiohttp keeps the bytes read above


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _answers_errors(handler: Handler) -> Handler:
    """Engine and body errors become the API's error shape (nothing was changed)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except GraphError as exc:
            raise RequestError(ENGINE_REASONS.get(type(exc), "GraphError"), str(exc)) from None
        except ValidationError as exc:
            raise RequestError("InvalidBody", describe(exc)) from None

    return wrapped


def add_graph_routes(app: web.Application, gateway: GraphGateway) -> None:
    app[GATEWAY_KEY] = gateway
    engine = gateway.engine

    @_answers_errors
    async def submit(request: web.Request) -> web.Response:
        body = await _body(request)
        known = set(engine.runs)
        response = gateway.call(engine.submit, body)
        return _json(response, 200 if response.graph_id in known else 201)

    @_answers_errors
    async def list_graphs(request: web.Request) -> web.Response:
        include = request.query.get("include_finished", "1") not in ("0", "false")
        return _json(engine.list_graphs(include_finished=include))

    @_answers_errors
    async def status(request: web.Request) -> web.Response:
        return _json(engine.status(request.match_info["id"]))

    @_answers_errors
    async def cancel(request: web.Request) -> web.Response:
        body = CancelGraphRequest.model_validate(await _body(request, optional=True))
        return _json(gateway.call(engine.cancel, request.match_info["id"], body.reason))

    @_answers_errors
    async def resume(request: web.Request) -> web.Response:
        ResumeGraphRequest.model_validate(await _body(request, optional=True))
        return _json(gateway.call(engine.resume, request.match_info["id"]))

    @_answers_errors
    async def amend(request: web.Request) -> web.Response:
        body = await _body(request)
        graph_id, node = request.match_info["id"], request.match_info["node"]
        return _json(gateway.call(engine.amend_node, graph_id, node, body))

    @_answers_errors
    async def engine_status(_request: web.Request) -> web.Response:
        return web.json_response(gateway.status())

    app.router.add_post("/v1/graphs", submit)
    app.router.add_get("/v1/graphs", list_graphs)
    app.router.add_get("/v1/graphs/{id}", status)
    app.router.add_post("/v1/graphs/{id}/cancel", cancel)
    app.router.add_post("/v1/graphs/{id}/resume", resume)
    app.router.add_put("/v1/graphs/{id}/nodes/{node}", amend)
    app.router.add_get("/v1/graphs-engine", engine_status)


class GraphCollector:
    """The graph engine's numbers on the coordinator's /metrics, read at scrape time."""

    def __init__(self, gateway: GraphGateway) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        g = self.gateway
        running = sum(1 for r in g.engine.runs.values() if r.g.final_status is None)
        yield GaugeMetricFamily("sequence_graphs_running", "Execution graphs not finished", value=running)
        yield GaugeMetricFamily(
            "sequence_graphs_known",
            "Execution graphs in memory (finished ones for 24 h)",
            value=len(g.engine.runs),
        )
        yield CounterMetricFamily(
            "sequence_graph_orders_sent", "Graph orders sent to edges", value=g.counts["orders_sent"]
        )
        yield CounterMetricFamily(
            "sequence_graph_cancels_sent", "Graph order cancels sent to edges", value=g.counts["cancels_sent"]
        )
        yield CounterMetricFamily(
            "sequence_graph_order_events", "Order events received from edges", value=g.counts["events"]
        )
        yield CounterMetricFamily(
            "sequence_graph_bad_order_events",
            "Order events refused: malformed, or about an order another edge has",
            value=g.counts["bad_events"],
        )
