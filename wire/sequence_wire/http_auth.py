"""The aiohttp middleware both servers (edge control API, coordinator API) put first (docs/security.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from .auth import TOKEN_HEADER, Credentials, authorize

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(creds: Credentials) -> Middleware:
    """401 without a known bearer token, 403 for the metrics token outside /metrics; /healthz is open.
    It runs before the route's handler, so a refused request changes nothing and reads no body."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = authorize(
            creds, request.path, request.headers.get("Authorization"), request.headers.get(TOKEN_HEADER)
        )
        if refusal is None:
            return await handler(request)
        status, reason, message = refusal
        headers = {"WWW-Authenticate": 'Bearer realm="sequence"'} if status == 401 else None
        return web.json_response(
            {"error": {"reason": reason, "message": message}}, status=status, headers=headers
        )

    return require_token
