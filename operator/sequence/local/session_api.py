"""The session's own small API: `GET /v1/algos[?detail=edge]`, served by `sequence up`.

The symbol-keyed view needs every edge of the session and the session's deployment names, which
only `sequence up` holds (the coordinator knows mesh members, not the edges' control URLs): so
the supervisor serves it on loopback, behind the session's bearer token, and records its URL in
the session file (`api_url`), where `sequence.connect()` finds it. The rows are the wire model
of sequence_wire.algos, the same the SDK's `algos()` returns.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sequence_wire.algos import algo_rows
from sequence_wire.auth import bearer_token, tokens_equal

from ..client import ApiError, EdgeClient
from .state import LocalState


def session_rows(state_path: Path, token: str | None, per_edge: bool) -> list[Any]:
    """The rows of `GET /v1/algos` from the session file at STATE_PATH and its edges' statuses."""
    state = LocalState.load(state_path)
    names = {d.deployment_id: d.name for d in state.deployments.values()}
    statuses = []
    for url in state.edges.values():
        with EdgeClient(url, token=token, timeout=5.0) as client:
            statuses += client.deployments()
    return [row.to_json() for row in algo_rows(statuses, names, per_edge)]


class SessionApi:
    """A threaded HTTP server on 127.0.0.1 (a free port) until `close()`."""

    def __init__(self, state_path: Path, token: str | None) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # the live table owns the terminal

        self.state_path = state_path
        self.token = token
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="session-api", daemon=True)
        self._thread.start()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        if url.path == "/healthz":
            self._reply(request, 200, {"status": "ok"})
            return
        given = bearer_token(request.headers.get("Authorization"))
        if self.token and not (given and tokens_equal(given, self.token)):
            self._error(request, 401, "Unauthorized", "a valid bearer token is required")
            return
        if url.path != "/v1/algos":
            self._error(request, 404, "NotFound", f"no route {url.path} (this API serves GET /v1/algos)")
            return
        detail = parse_qs(url.query).get("detail", [""])[0]
        if detail not in ("", "edge"):
            self._error(request, 400, "BadRequest", f"detail must be 'edge', not {detail!r}")
            return
        try:
            rows = session_rows(self.state_path, self.token, per_edge=detail == "edge")
        except ApiError as exc:
            self._error(request, 503, "EdgeUnavailable", str(exc))
            return
        except (OSError, ValueError, TypeError) as exc:
            self._error(request, 503, "SessionUnavailable", f"the session file: {exc}")
            return
        self._reply(request, 200, rows)

    def _error(self, request: BaseHTTPRequestHandler, status: int, reason: str, message: str) -> None:
        self._reply(request, status, {"error": {"reason": reason, "message": message}})

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
