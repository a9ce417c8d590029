"""The poll loop: every settings.pollInterval, one reconcile pass for every object of ours.

Why not kopf timers: kopf puts a finalizer on every object that has a timer, so deleting a
VenueEdge or MeshGroup would hang whenever the operator is not running. Only AlgoDeployment
needs a finalizer (its teardown must call the edges); the others get polled from here instead.
The loop starts with the first watch event, inside kopf's task context, so Events posted from a
pass reach kopf's event poster like those from any handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import kopf

from .context import Runtime

logger = logging.getLogger(__name__)

Reconcile = Callable[..., Awaitable[None]]  # (runtime, body, full=False)
PARALLEL = 32  # passes in flight at once; edge calls are shared per edge (EdgeSnapshots)


class Poller:
    def __init__(
        self, rt: Runtime, reconcilers: Mapping[str, Reconcile], finalized: Mapping[str, str] | None = None
    ) -> None:
        self.rt = rt
        self.reconcilers = reconcilers
        self.finalized = dict(finalized or {})  # plural -> the finalizer kopf puts on its objects
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[str] = set()  # uids with a pass from a watch event under way

    def observe(self, plural: str, event_type: str, body: dict[str, Any]) -> None:
        self.rt.observe(plural, event_type, body)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sequence-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.rt.settings.poll_interval
        while True:
            started = loop.time()
            await self.tick()
            # A slow tick (many objects, slow edges) delays the next; ticks never overlap.
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

    def awaits_finalizer(self, plural: str, body: kopf.Body | dict[str, Any]) -> bool:
        """A new object of a kind with a finalizer, before kopf has added it: pass it by (the watch
        event of kopf's patch brings it back) rather than write its status under kopf's patch."""
        finalizer = self.finalized.get(plural)
        meta = body.get("metadata") or {}
        return (
            bool(finalizer) and finalizer not in (meta.get("finalizers") or []) and not self.rt.is_gone(body)
        )

    async def run(self, plural: str, body: dict[str, Any], full: bool = False) -> None:
        """One pass; a FULL one that succeeded marks its generation reconciled (Runtime.needs_full_pass)."""
        meta = body.get("metadata", {})
        uid = meta.get("uid") or ""
        self._in_flight.add(uid)
        try:
            await self.reconcilers[plural](self.rt, kopf.Body(cast(Any, body)), full=full)
        except Exception:  # one object's failure must not stop the others' polling
            logger.exception("pass of %s %s/%s failed", plural, meta.get("namespace"), meta.get("name"))
            return
        finally:
            self._in_flight.discard(uid)
        if full:
            self.rt.reconciled(body)

    async def tick(self) -> None:
        limit = asyncio.Semaphore(PARALLEL)

        async def one(plural: str, body: dict[str, Any]) -> None:
            if body.get("metadata", {}).get("uid") in self._in_flight or self.awaits_finalizer(plural, body):
                return  # a watch event's pass is on it, or will be once kopf's finalizer is on
            async with limit:
                # full when this generation's full pass has not succeeded yet: it is retried each poll
                await self.run(plural, body, full=self.rt.needs_full_pass(body))

        await asyncio.gather(
            *(
                one(plural, body)
                for (plural, _, _), body in list(self.rt.bodies.items())
                if plural in self.reconcilers
            )
        )
