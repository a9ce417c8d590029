"""What both control-API servers (edge, coordinator) share on the aiohttp side: JSON answers built
from the wire models, and one middleware that turns every refusal into the one error shape.

Only the servers import this module (it needs aiohttp); clients use the models alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .base import Reply
from .errors import RequestError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("sequence.api")

# aiohttp's own refusals (no route, wrong method, body too large), in the shared vocabulary
HTTP_REASONS = {404: "UnknownRoute", 405: "MethodNotAllowed", 413: "BodyTooLarge"}


def reply(body: Reply | list[Any], status: int = 200) -> web.Response:
    """A JSON answer from a reply model (or a list of them): only declared fields go out."""
    data = [item.to_json() for item in body] if isinstance(body, list) else body.to_json()
    return web.json_response(data, status=status)


def refuse(exc: RequestError) -> web.Response:
    return web.json_response(exc.reply().model_dump(), status=exc.status)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or RequestError(BadJson)."""
    try:
        return await request.json(loads=json.loads)
    except ValueError as exc:  # not JSON, not UTF-8, or an integer too long to parse
        raise RequestError("BadJson", f"the body is not JSON: {str(exc)[:200]}") from None


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal answers `{"error": {"reason", "message"}}`: RequestError from the handlers,
    aiohttp's 404/405/413 (unknown route, wrong method, body too large), and bugs (500 Internal)."""
    try:
        return await handler(request)
    except RequestError as exc:
        return refuse(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = HTTP_REASONS.get(exc.status)
        if reason is None:
            raise
        message = {
            "UnknownRoute": f"no route {request.path}",
            "MethodNotAllowed": f"{request.method} is not allowed on {request.path}",
            "BodyTooLarge": f"the body of {request.method} {request.path} is too large",
        }[reason]
        allowed = exc.headers.get("Allow") if reason == "MethodNotAllowed" else None
        if allowed:
            message += f" (allowed: {allowed})"
        response = refuse(RequestError(reason, message))
        if allowed:
            response.headers["Allow"] = allowed
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return refuse(RequestError("Internal", f"{request.method} {request.path} failed; see the server log"))
