"""The CLI verbs against a running `sequence up` session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..client import ApiError, CoordinatorClient, EdgeClient, NotFound, Unreachable
from .state import LocalDeployment, LocalState


class TargetError(Exception):
    pass


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

    def undeploy(self, name: str | None) -> list[dict[str, Any]]:
        results = self._each(name, "remove")
        for dep in self.select(name):
            self.state.deployments.pop(dep.name, None)
        self.state.save()
        return results

    def logs(self, name: str | None, tail: int, follow: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        deps = self.select(name)
        if follow and len(deps) > 1:
            raise TargetError("--follow needs one deployment name: " + ", ".join(d.name for d in deps))
        for dep in deps:
            with self._edge(dep) as client:
                for entry in client.logs(dep.deployment_id, tail=tail, follow=follow):
                    yield dep.name, entry.as_dict()

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
