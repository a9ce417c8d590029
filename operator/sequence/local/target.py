"""The CLI verbs against a running `sequence up` session."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from ..client import ApiError, CoordinatorClient, EdgeClient, NotFound, Unreachable
from .state import LocalDeployment, LocalState


class TargetError(Exception):
    pass


T = TypeVar("T")


def interleave(streams: Sequence[Iterable[T]]) -> Iterator[T]:
    """The items of every stream as they arrive (one reader thread each), until all have ended;
    a stream's exception is raised here. The readers are daemon threads: Ctrl-C ends the CLI."""
    if len(streams) == 1:
        yield from streams[0]
        return
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1024)

    def read(stream: Iterable[T]) -> None:
        try:
            for item in stream:
                items.put(("item", item))
        except BaseException as exc:  # handed to the consumer, who raises it
            items.put(("error", exc))
        finally:
            items.put(("end", None))

    for stream in streams:
        threading.Thread(target=read, args=(stream,), daemon=True).start()
    running = len(streams)
    while running:
        kind, value = items.get()
        if kind == "item":
            yield value
        elif kind == "error":
            raise value
        else:
            running -= 1


class LocalTarget:
    kind = "local"

    def __init__(self, state: LocalState) -> None:
        self.state = state

    @property
    def project(self) -> str:
        return self.state.project

    def select(self, name: str | None) -> list[LocalDeployment]:
        deps = list(self.state.deployments.values())
        if name is None:
            return deps
        chosen = [d for d in deps if name in (d.name, d.deployment_id, d.label)]
        if not chosen:
            known = ", ".join(d.name for d in deps)
            raise TargetError(f"no deployment {name!r} in {self.project} (deployments: {known})")
        return chosen

    def process_restarts(self) -> dict[str, dict[str, int]]:
        """{"edge/<venue>" / "coordinator": {"exited" / "hung": n}} as `sequence up` recorded them."""
        return dict(self.state.restarts)

    def labels(self, name: str | None) -> set[str]:
        return {d.label for d in self.select(name)}

    def _edge(self, dep: LocalDeployment) -> EdgeClient:
        return EdgeClient(self.state.edge_url(dep), token=self.state.token())

    def _each(self, name: str | None, action: str) -> list[dict[str, Any]]:
        results = []
        for dep in self.select(name):
            with self._edge(dep) as client:
                try:
                    result = getattr(client, action)(dep.deployment_id).as_dict()
                except Unreachable as exc:
                    result = {"state": "Unreachable", "last_error": {"message": f"edge {dep.venue}: {exc}"}}
                except ApiError as exc:
                    result = {"state": "Error", "last_error": {"message": str(exc)}}
            results.append({**result, "name": dep.name, "venue": dep.venue, "label": dep.label})
        return results

    def status(self, name: str | None) -> list[dict[str, Any]]:
        return self._each(name, "status")

    def start(self, name: str | None) -> list[dict[str, Any]]:
        return self._each(name, "start")

    def stop(self, name: str | None) -> list[dict[str, Any]]:
        return self._each(name, "stop")

    def pause(self, name: str | None) -> list[dict[str, Any]]:
        return self._each(name, "pause")

    def resume(self, name: str | None) -> list[dict[str, Any]]:
        return self._each(name, "resume")

    def undeploy(self, name: str | None) -> list[dict[str, Any]]:
        results = self._each(name, "remove")
        gone = [dep.name for dep in self.select(name)]
        for dep_name in gone:
            self.state.deployments.pop(dep_name, None)

        def forget(fresh: LocalState) -> None:
            for dep_name in gone:
                fresh.deployments.pop(dep_name, None)

        LocalState.update(self.state.path, forget)
        return results

    def logs(self, name: str | None, tail: int, follow: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        """(deployment name, log line); following several deployments, their lines interleaved
        as they arrive."""
        deps = self.select(name)
        if not follow:
            for dep in deps:
                yield from self._logs(dep, tail, follow)
            return
        yield from interleave([self._logs(dep, tail, follow) for dep in deps])

    def _logs(self, dep: LocalDeployment, tail: int, follow: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        with self._edge(dep) as client:
            for entry in client.logs(dep.deployment_id, tail=tail, follow=follow):
                yield dep.name, entry.as_dict()

    def orders(self, name: str | None, open_only: bool) -> list[dict[str, Any]]:
        """Every order of the selected deployments (the edge keeps them all), oldest first, each
        with `name` (its deployment) added; OPEN_ONLY: only resting ones, with `queue_ahead`."""
        rows: list[dict[str, Any]] = []
        for dep in self.select(name):
            with self._edge(dep) as client:
                try:
                    orders = client.orders(dep.deployment_id, open_only=open_only)
                except ApiError as exc:
                    raise TargetError(f"{dep.name}: {exc}") from exc
            rows.extend({**order.as_dict(), "name": dep.name} for order in orders)
        return rows

    def mesh(self) -> dict[str, Any]:
        if not self.state.coordinator_url:
            raise TargetError("this session runs no coordinator")
        with CoordinatorClient(self.state.coordinator_url, token=self.state.token()) as client:
            return client.topology(self.project).as_dict()

    def trace(self, order_ref: str) -> dict[str, Any]:
        for url in self.state.edges.values():
            with EdgeClient(url, token=self.state.token()) as client:
                try:
                    return client.trace(order_ref).as_dict()
                except NotFound:
                    continue
        raise TargetError(f"order {order_ref} not found on any edge of {self.project}")
