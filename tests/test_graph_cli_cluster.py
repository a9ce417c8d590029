"""`sequence --target cluster graph ...`: the calls reach the namespace's coordinator through the API
server's service proxy (`/api/v1/namespaces/<ns>/services/sequence-coordinator:control/proxy/...`)
with the namespace's token in X-Sequence-Token. A stand-in for the API server (the service proxy
and a missing token Secret, nothing else) forwards to a real coordinator with a real edge."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from .conftest import TEST_TOKEN, sequence_cli
from .graph_procs import Coordinator, Edge
from .mesh_support import wait_until

NAMESPACE = "desk"
KUBE_CREDENTIAL = "kube-credential"
SERVICE_PREFIX = f"/api/v1/namespaces/{NAMESPACE}/services/sequence-coordinator:control/proxy"

pytestmark = pytest.mark.slow


class ApiServerStandIn:
    """The two things `sequence graph` asks the API server: the token Secret (absent: 404, so the
    CLI falls back to $SEQUENCE_TOKEN) and the service proxy to the coordinator's API port."""

    def __init__(self, coordinator_port: int) -> None:
        self.coordinator_port = coordinator_port
        self.seen: list[dict[str, str]] = []  # method, path, authorization, token header
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "authorization": request.headers.get("Authorization", ""),
                "token": request.headers.get("X-Sequence-Token", ""),
            }
        )
        if request.headers.get("Authorization") != f"Bearer {KUBE_CREDENTIAL}":
            return web.json_response({"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401)
        if not request.path.startswith(SERVICE_PREFIX):
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        # like the API server: the caller's credential stays here, the other headers go on
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "host")}
        url = f"http://127.0.0.1:{self.coordinator_port}{request.path[len(SERVICE_PREFIX) :]}"
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, url, headers=headers, params=request.query, data=await request.read()
            ) as upstream,
        ):
            body = await upstream.read()
            return web.Response(status=upstream.status, body=body, content_type=upstream.content_type)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Coordinator]]:
    tmp = tmp_path_factory.mktemp("graph-cluster")
    coordinator = Coordinator(tmp)
    edge = Edge(tmp, coordinator, "kraken", seed=4)
    api = ApiServerStandIn(coordinator.port)
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{api.port}"}}],
                "users": [{"name": "u", "user": {"token": KUBE_CREDENTIAL}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": NAMESPACE}}],
                "current-context": "c",
            }
        )
    )
    try:
        wait_until(lambda: coordinator.venues_up("kraken"), 30, "kraken in the graph engine")
        yield kubeconfig, coordinator
    finally:
        api.close()
        edge.close()
        coordinator.close()
    assert all(s["authorization"] == f"Bearer {KUBE_CREDENTIAL}" for s in api.seen)
    proxied = [s for s in api.seen if s["path"].startswith(SERVICE_PREFIX)]
    assert proxied and all(s["token"] == TEST_TOKEN for s in proxied)


def cli(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "SEQUENCE_TARGET": "cluster"}
    return subprocess.run(
        [*sequence_cli(), "graph", *args],
        cwd=kubeconfig.parent,  # no Sequence.toml here: graphs by id or client id
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_graph_verbs_reach_the_cluster_coordinator_through_the_service_proxy(
    cluster: tuple[Path, Coordinator],
) -> None:
    kubeconfig, coordinator = cluster
    graph: dict[str, Any] = {
        "client_id": "desk/bid",
        "nodes": {
            "bid": {
                "side": "buy",
                "symbol": "BTC-USD",
                "qty": 0.01,
                "venue": "kraken",
                "limit_price": 48_000.0,
            }
        },
    }
    path = kubeconfig.parent / "bid.json"
    path.write_text(json.dumps(graph))
    submitted = cli(kubeconfig, "submit", str(path), "-o", "json")
    assert submitted.returncode == 0, submitted.stderr
    graph_id = json.loads(submitted.stdout)["graph_id"]
    assert coordinator.graph(graph_id)["client_id"] == "desk/bid"  # it is in the real engine

    status = cli(kubeconfig, "status", "desk/bid", "-o", "json")
    assert status.returncode == 0, status.stderr
    shown, direct = json.loads(status.stdout), coordinator.graph(graph_id)
    assert set(shown) == set(direct) and (shown["graph_id"], shown["nodes"].keys()) == (graph_id, {"bid"})
    listing = cli(kubeconfig, "list")
    assert (
        listing.returncode == 0 and graph_id in listing.stdout and "cluster namespace desk" in listing.stdout
    )

    cancelled = cli(kubeconfig, "cancel", graph_id, "-o", "json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert coordinator.graph(graph_id)["status"] == "aborted"
    refused = cli(kubeconfig, "resume", graph_id)
    assert refused.returncode == 1 and "GraphStateError" in refused.stderr
