"""A KMock Kubernetes emulator with the bookkeeping kopf and the operator rely on.

KMock stores objects and serves list/watch/get/create/patch/delete over real
HTTP, but leaves metadata alone. A real API server assigns `uid`,
`resourceVersion`, `generation` and `creationTimestamp`, and applies the
status-subresource split (a `/status` PATCH changes only `.status`, a main
PATCH never changes `.status`). kopf waits for its own resourceVersions and
`observedGeneration` needs `generation`, so this subclass adds exactly those
rules and nothing else. It runs in a background thread with its own event loop
so synchronous tests can drive it over HTTP like any cluster.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import re
import threading
import uuid
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock

from .kube import RESOURCES


class _DirectDispatch(kmock.RawHandler):
    """Serve Kubernetes actions straight from the emulator's handlers.

    KMock matches each request against its DSL reactions by re-filtering every request it has
    ever served, so a request costs O(requests so far): fine for a unit test, minutes for the
    thousands of requests of bench/operator_scale.py. Nothing here uses DSL reactions, so the
    Kubernetes actions go straight to the emulator's _serve_* methods; discovery and anything else
    still takes the DSL path.
    """

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        serve = {
            kmock.action.LIST: "_serve_list",
            kmock.action.WATCH: "_serve_watch",
            kmock.action.FETCH: "_serve_fetch",
            kmock.action.CREATE: "_serve_create",
            kmock.action.UPDATE: "_serve_update",
            kmock.action.DELETE: "_serve_delete",
        }.get(request.action)  # type: ignore[call-overload]
        if request.resource is None or not request.resource.plural or serve is None:  # discovery: DSL
            return await super()._handle(request)
        result = getattr(self, serve)(request)
        if request.action != kmock.action.WATCH:
            return aiohttp.web.json_response(await result)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)
        async for item in result:
            if item:
                await response.write(json.dumps(item).encode() + b"\n")
        return response


@attrs.define(kw_only=True)
class SequenceKubernetes(kmock.KubernetesEmulator, _DirectDispatch):
    _versions: itertools.count = attrs.field(factory=lambda: itertools.count(1000), init=False)
    # Server-side apply, emulated for one field manager: the configuration last applied to each
    # object. A field in it that the next apply leaves out is removed, as a real API server removes
    # a field its only manager stopped applying.
    _applied: dict[Any, dict[str, Any]] = attrs.field(factory=dict, init=False)

    # KMock finds the object of a get/create/patch/delete by scanning every stored object; with
    # thousands of objects (bench/operator_scale.py) that dominates. These four look it up by key.
    def _object(self, request: kmock.Request, namespace: str | None, name: str | None) -> Any:
        key = (request.resource, namespace, name)
        if key not in self.objects:
            raise kmock.KubernetesNotFoundError(reason="NotFound", message=f"{name} not found")
        return self.objects[key]

    async def _serve_fetch(self, request: kmock.Request) -> Any:
        obj = self._object(request, request.namespace, request.name)
        if obj.deleted:
            raise kmock.KubernetesNotFoundError(reason="NotFound", message=f"{request.name} not found")
        return obj.raw

    async def _serve_create(self, request: kmock.Request) -> Any:
        meta = request.data.get("metadata", {})
        return self._object(request, request.namespace or meta.get("namespace"), meta.get("name")).last.raw

    async def _serve_update(self, request: kmock.Request) -> Any:
        return self._object(request, request.namespace, request.name).last.raw

    async def _serve_delete(self, request: kmock.Request) -> Any:
        return self._object(request, request.namespace, request.name).last.raw

    def _stored(self, request: kmock.Request) -> dict[str, Any] | None:
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return dict(self.objects[key].raw)

    async def _handle(self, request: kmock.Request) -> Any:  # type: ignore[override]
        raw = getattr(request, "_raw_request", None)
        proxied = POD_PROXY.fullmatch(raw.path) if raw is not None else None
        if proxied is not None:
            return await _proxy_to_loopback(raw, int(proxied["port"]), proxied["rest"])
        key = (request.resource, request.namespace, request.name)
        if self._is_apply(request) and self._stored(request) is not None:
            # Apply to an existing object: a merge patch of the new configuration, plus a deletion
            # for every field the previous apply set and this one does not.
            applied = copy.deepcopy(request.data)
            request.data.clear()
            request.data.update(_merge_over(_removals(self._applied.get(key, {}), applied), applied))
            self._applied[key] = applied
            stored = self._stored(request)
            if _merge(stored, request.data) == stored:  # a real API server does not write a no-op apply
                return aiohttp.web.json_response(stored)
        elif self._is_apply(request):
            # Server-side apply creates what does not exist yet (`sequence deploy` relies on it).
            self._applied[key] = copy.deepcopy(request.data)
            body = copy.deepcopy(request.data)
            meta = body.setdefault("metadata", {})
            meta.update(
                namespace=request.namespace,
                uid=str(uuid.uuid4()),
                resourceVersion=str(next(self._versions)),
                generation=1,
                creationTimestamp=_now(),
            )
            async with self._lock:
                self.objects[key] = body
                # and tell the watchers, as KMock's own create does
                await self._buses[request.resource].put({"type": "ADDED", "object": self.objects[key].raw})
            # 201, as a real API server answers an apply that created the object
            return aiohttp.web.json_response(self.objects[key].raw, status=201)
        if request.resource is not None and isinstance(request.data, (dict, list)):
            try:
                self._add_bookkeeping(request)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise kmock.KubernetesError(status=422, reason="Invalid", message=str(exc)) from exc
        return await super()._handle(request)

    @staticmethod
    def _is_apply(request: kmock.Request) -> bool:
        raw = getattr(request, "_raw_request", None)
        return (
            request.action == kmock.action.UPDATE
            and request.resource is not None
            and isinstance(request.data, dict)
            and raw is not None
            and "apply-patch" in (raw.headers.get("Content-Type") or "")
        )

    def _add_bookkeeping(self, request: kmock.Request) -> None:
        version = str(next(self._versions))
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            meta.setdefault("namespace", request.namespace)
            if not meta.get("name") and meta.get("generateName"):  # kopf's Events use generateName
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:10]
            meta["uid"] = str(uuid.uuid4())
            meta["resourceVersion"] = version
            meta["generation"] = 1
            meta["creationTimestamp"] = _now()
            return
        if request.action != kmock.action.UPDATE:
            return
        old = self._stored(request)
        if old is None:
            return
        has_status = "status" in RESOURCES.get(_key(request.resource), {}).get("subresources", ())
        data = request.data
        if isinstance(data, list):  # JSON patch (kopf's finalizers): evaluate it to see what changes
            new = jsonpatch.apply_patch(copy.deepcopy(old), data)
            data.append({"op": "add", "path": "/metadata/resourceVersion", "value": version})
            if new.get("spec") != old.get("spec"):
                data.append({"op": "add", "path": "/metadata/generation", "value": _gen(old) + 1})
            return
        if has_status and request.subresource == "status":
            for key in list(data):
                if key != "status":
                    del data[key]
        elif has_status:
            data.pop("status", None)
        meta = data.setdefault("metadata", {})
        meta["resourceVersion"] = version
        if "spec" in data and _merge(old.get("spec"), data["spec"]) != old.get("spec"):
            meta["generation"] = _gen(old) + 1


# GET /api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/<path>: the API server's pod proxy.
POD_PROXY = re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/:]+:(?P<port>\d+)/proxy(?P<rest>/.*)?")


async def _proxy_to_loopback(raw: aiohttp.web.Request, port: int, rest: str | None) -> aiohttp.web.Response:
    """The pod proxy for test pods, which all run on loopback: forward to 127.0.0.1:PORT.

    Like a real API server it keeps `Authorization` (the caller's credential for the API server)
    to itself and forwards the other headers.
    """
    headers = {k: v for k, v in raw.headers.items() if k.lower() not in ("authorization", "host")}
    url = f"http://127.0.0.1:{port}{rest or '/'}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(raw.method, url, headers=headers, params=raw.query) as upstream,
    ):
        body = await upstream.read()
        return aiohttp.web.Response(status=upstream.status, body=body, content_type=upstream.content_type)


def _key(resource: Any) -> str:
    return f"{resource.group}/{resource.version}/{resource.plural}".lstrip("/")


def _gen(obj: dict[str, Any]) -> int:
    return int(obj.get("metadata", {}).get("generation") or 1)


def _merge(old: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(old, dict):
        return patch
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(old.get(key), value)
    return out


def _removals(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """None (merge patch: delete) for every map key in BEFORE that AFTER lacks, at any depth."""
    out: dict[str, Any] = {}
    for key, value in before.items():
        if key not in after:
            out[key] = None
        elif (
            isinstance(value, dict)
            and isinstance(after[key], dict)
            and (nested := _removals(value, after[key]))
        ):
            out[key] = nested
    return out


def _merge_over(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        old = out.get(key)
        out[key] = _merge_over(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KMockThread:
    """KMock served on 127.0.0.1:<random port> from a daemon thread."""

    def __init__(self) -> None:
        self.url = ""
        self.emulator: SequenceKubernetes | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)

    def __enter__(self) -> KMockThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("KMock did not start within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with SequenceKubernetes() as emulator, kmock.Server(emulator) as server:
            for name, info in RESOURCES.items():
                emulator.resources[name] = kmock.ResourceInfo(
                    kind=info["kind"],
                    namespaced=info["namespaced"],
                    subresources=set(info.get("subresources", ())),
                    verbs={"get", "list", "watch", "create", "patch", "update", "delete"},
                )
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()
