"""What every handler shares (kopf's `memo`): settings, API clients, caches, per-object locks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import kopf

from ..client import ApiError, AsyncCoordinatorClient, AsyncEdgeClient, DeploymentStatus, NotFound
from ..models import API_VERSION
from . import api
from .api import KubeApi
from .bundles import BundleCache
from .credentials import NamespaceTokens
from .metrics import EDGE_CALLS
from .settings import OperatorSettings
from .status import changes, settled


class EdgeSnapshots:
    """`GET /v1/deployments` of each edge, shared by all AlgoDeployments polling that edge.

    A thousand deployments on one edge cost one request per edge per half poll interval, not a
    thousand; concurrent readers of the same endpoint wait for one request in flight.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, asyncio.Future[dict[str, dict[str, Any]]]]] = {}

    async def get(self, client: AsyncEdgeClient) -> dict[str, dict[str, Any]]:
        entry = self._entries.get(client.endpoint)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            future = asyncio.ensure_future(self._fetch(client))
            entry = (time.monotonic(), future)
            self._entries[client.endpoint] = entry
        return await asyncio.shield(entry[1])

    async def _fetch(self, client: AsyncEdgeClient) -> dict[str, dict[str, Any]]:
        return {status.deployment_id: as_report(status) for status in await client.deployments()}

    def update(self, endpoint: str, deployment_id: str, status: dict[str, Any] | None) -> None:
        """Record what an action just returned, so the next reader does not see the old state."""
        entry = self._entries.get(endpoint)
        if entry is None or not entry[1].done() or entry[1].exception() is not None:
            return
        snapshot = entry[1].result()
        if status is None:
            snapshot.pop(deployment_id, None)
        else:
            snapshot[deployment_id] = status

    def forget(self, endpoint: str) -> None:
        self._entries.pop(endpoint, None)


@dataclass
class Runtime:
    settings: OperatorSettings
    kube: KubeApi
    login: Callable[[], kopf.ConnectionInfo | None]
    bundles: BundleCache = field(default_factory=BundleCache)
    snapshots: EdgeSnapshots = field(init=False)
    # Each namespace's control token (its `sequence-token` Secret): what edges and the coordinator accept.
    tokens: NamespaceTokens = field(init=False)
    # The VenueEdge index (kopf.index "venue_edges"), kept from the first handler call for the poller.
    venue_edges: Any = None
    # The edge pods and the operator's Deployments (kopf.index "edge_pods", "child_deployments"): what
    # the watches keep, so a pass reads pods and rollout failures without an API call.
    edge_pods: Any = None
    child_deployments: Any = None
    # Every object of ours the operator has seen, by (plural, namespace, name): what the poller walks.
    bodies: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    # The status this operator last wrote, by uid. One replica is the only status writer, so this is
    # the current status even before the watch event of our own write arrives.
    _statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    _http: aiohttp.ClientSession | None = None
    _api_http: httpx.AsyncClient | None = None
    _locks: dict[tuple[str, str, str], asyncio.Lock] = field(default_factory=dict)
    # Tombstones: uids of objects whose deletion the operator has seen (deletionTimestamp or DELETED),
    # with when. A pass that took its body before the deletion checks here before it creates or sends
    # anything, and undoes what it sent if the deletion landed meanwhile: deletion never creates.
    _gone: dict[str, float] = field(default_factory=dict)
    # When the operator last wrote each object's status (by uid): fast-moving fields alone wait for
    # settings.statusRefreshInterval.
    _written_at: dict[str, float] = field(default_factory=dict)
    # The generation of each object (by uid) whose full pass succeeded: spec changes, new objects and
    # the first sight after a start get a full pass (create children, sandbox edges), polls do not.
    _reconciled: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.snapshots = EdgeSnapshots(ttl=self.settings.poll_interval / 2)
        self.tokens = NamespaceTokens(self.kube)

    @property
    def http(self) -> aiohttp.ClientSession:
        # Created lazily inside kopf's event loop; no connection limit per host beyond 16:
        # an edge serves many deployments, but a burst of pushes should not open hundreds of sockets.
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, limit_per_host=16))
        return self._http

    @property
    def api_http(self) -> httpx.AsyncClient:
        """One connection pool for every edge and coordinator control API (sequence.client)."""
        if self._api_http is None or self._api_http.is_closed:
            self._api_http = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64)
            )
        return self._api_http

    async def edge(
        self, namespace: str, endpoint: str, timeout: float | None = None, create_token: bool = True
    ) -> AsyncEdgeClient:
        """A client of the edge at ENDPOINT that sends NAMESPACE's token (CREATE_TOKEN: see
        NamespaceTokens.token)."""
        return AsyncEdgeClient(
            endpoint,
            timeout=timeout or self.settings.edge_timeout,
            http=self.api_http,
            on_call=count_call,
            token=await self.tokens.token(namespace, create=create_token),
        )

    async def coordinator(self, namespace: str, endpoint: str) -> AsyncCoordinatorClient:
        return AsyncCoordinatorClient(
            endpoint,
            timeout=self.settings.edge_timeout,
            http=self.api_http,
            on_call=count_call,
            token=await self.tokens.token(namespace),
        )

    def needs_full_pass(self, body: kopf.Body | dict[str, Any]) -> bool:
        """Whether BODY's generation (its spec) has not had a successful full pass in this process."""
        meta = body.get("metadata") or {}
        return self._reconciled.get(meta.get("uid") or "") != meta.get("generation")

    def reconciled(self, body: kopf.Body | dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        if meta.get("uid") and not self.is_gone(body):
            self._reconciled[meta["uid"]] = meta.get("generation")

    def use_indexes(self, kwargs: dict[str, Any]) -> None:
        """Keep kopf's indexes (passed to every handler) for the poller, which kopf does not call."""
        self.venue_edges = kwargs["venue_edges"]
        self.edge_pods = kwargs.get("edge_pods")
        self.child_deployments = kwargs.get("child_deployments")

    def lock(self, kind: str, namespace: str, name: str) -> asyncio.Lock:
        """One reconcile at a time per object: kopf runs a timer and event handlers concurrently."""
        return self._locks.setdefault((kind, namespace, name), asyncio.Lock())

    def forget(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        self._locks.pop((kind, namespace, name), None)
        if uid:
            self._statuses.pop(uid, None)
            self._written_at.pop(uid, None)
            self._reconciled.pop(uid, None)

    def observe(self, plural: str, event_type: str, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (plural, meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            self.bury(meta.get("uid"))
        if event_type == "DELETED":
            self.bodies.pop(key, None)
            self.forget(plural, key[1], key[2], meta.get("uid"))
        else:
            # A real API server's managedFields are most of a small object's size; no pass reads them.
            self.bodies[key] = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}

    def bury(self, uid: str | None) -> None:
        if not uid:
            return
        self._gone[uid] = time.monotonic()
        if len(self._gone) > 10_000:  # forget the oldest half: a pass never takes that long
            for old in sorted(self._gone, key=self._gone.__getitem__)[:5_000]:
                del self._gone[old]

    def is_gone(self, body: kopf.Body | dict[str, Any]) -> bool:
        """Whether BODY's object is being deleted or is gone, as far as the operator has seen."""
        meta = body.get("metadata") or {}
        return bool(meta.get("deletionTimestamp")) or meta.get("uid") in self._gone

    def previous_status(self, body: kopf.Body | dict[str, Any]) -> dict[str, Any]:
        uid = body.get("metadata", {}).get("uid")
        written = self._statuses.get(uid) if uid else None
        return dict(written if written is not None else body.get("status") or {})

    async def write_status(
        self, plural: str, body: kopf.Body | dict[str, Any], old: dict[str, Any], new: dict[str, Any]
    ) -> bool:
        """Merge-patch the changed status keys; False if nothing changed or the object is gone."""
        meta = body["metadata"]
        diff = changes(old, new)
        if not diff:
            return False
        uid = meta.get("uid")
        last = self._written_at.get(uid) if uid else None
        if (
            last is not None
            and not changes(settled(old), settled(new))
            and time.monotonic() - last < self.settings.status_refresh_interval
        ):
            return False  # only heartbeats, PnL, lag moved: /metrics has them, status can wait
        url = api.path(API_VERSION, plural, meta["namespace"], meta["name"], "status")
        try:
            await self.kube.patch(url, {"status": diff})
        except api.KubeError as exc:
            if exc.status == 404:
                return False
            raise
        if uid:
            self._statuses[uid] = {**old, **new}
            self._written_at[uid] = time.monotonic()
        return True

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._api_http is not None:
            await self._api_http.aclose()
        await self.kube.close()


def count_call(outcome: str) -> None:
    EDGE_CALLS.labels(outcome).inc()


def as_report(status: DeploymentStatus) -> dict[str, Any]:
    """A deployment's status as the edge sent it (the reconcilers read it as JSON)."""
    return status.as_dict()


async def report_of(client: AsyncEdgeClient, deployment_id: str) -> dict[str, Any] | None:
    """The deployment's status on that edge, None when the edge does not have it."""
    try:
        return as_report(await client.status(deployment_id))
    except NotFound:
        return None


__all__ = ["ApiError", "EdgeSnapshots", "Runtime", "as_report", "report_of"]
