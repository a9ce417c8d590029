"""`GET /v1/graphs-engine/route?symbol=&side=&qty=&sandbox=`: the graph engine's routing choice, read only.

The answer is what `execution.choose_venue` (the smart order router of every `sor` node) would pick
for an order of that side now, from the quotes the engine holds, with every venue's touch beside
it, so `sequence intel` can show the routing preference without submitting a graph.
"""

from __future__ import annotations

import math

from aiohttp import web
from pydantic import ValidationError

from sequence_wire import coordinator_api as wire
from sequence_wire.errors import RequestError, describe
from sequence_wire.graphs import GraphNode
from sequence_wire.server import reply

from .graphs.execution import choose_venue
from .graphs.gateway import GraphGateway

ROUTE_GATEWAY_KEY = web.AppKey("route_graphs", GraphGateway)


def _query(request: web.Request) -> tuple[GraphNode, bool]:
    query = request.query
    sandbox_text = query.get("sandbox", "0")
    if sandbox_text not in ("0", "1", "true", "false"):
        raise RequestError("BadQuery", f"sandbox must be 0 or 1, got {sandbox_text!r}")
    try:
        qty = float(query.get("qty", "1"))
    except ValueError:
        raise RequestError("BadQuery", f"qty must be a number, got {query.get('qty')!r}") from None
    if not math.isfinite(qty) or qty <= 0:
        raise RequestError("BadQuery", f"qty must be a finite number above 0, got {query.get('qty')!r}")
    try:
        node = GraphNode.model_validate(
            {"symbol": query.get("symbol", ""), "side": query.get("side", "buy"), "qty": qty}
        )
    except ValidationError as exc:
        raise RequestError("BadQuery", describe(exc)) from None
    return node, sandbox_text in ("1", "true")


async def route(request: web.Request) -> web.Response:
    node, sandbox = _query(request)
    market = request.app[ROUTE_GATEWAY_KEY].engine.market
    venue, touch = choose_venue(node, market, sandbox, None)
    far = (touch.ask_1e8 if node.side == "buy" else touch.bid_1e8) if venue else 0
    venues = [
        wire.VenueTouch(
            venue=name,
            bid=q.bid_1e8 / 1e8,
            bid_qty=q.bid_qty_1e8 / 1e8,
            ask=q.ask_1e8 / 1e8,
            ask_qty=q.ask_qty_1e8 / 1e8,
            eligible=market.eligible(name, node.symbol, sandbox),
        )
        for name, q in sorted(market.quotes.get(node.symbol, {}).items())
    ]
    return reply(
        wire.RoutePreference(
            symbol=node.symbol,
            side=node.side,
            qty=node.qty,
            sandbox=sandbox,
            venue=venue,
            price=far / 1e8 if far else None,
            venues=venues,
        )
    )


def add_route_routes(app: web.Application, gateway: GraphGateway) -> None:
    app[ROUTE_GATEWAY_KEY] = gateway
    app.router.add_get("/v1/graphs-engine/route", route)
