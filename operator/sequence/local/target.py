"""The CLI verbs against a running `sequence up` session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .api import ApiError, CoordinatorClient, EdgeClient
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

    def labels(self, name: str | None) -> set[str]:
        return {d.label for d in self.select(name)}

    def _edge(self, dep: LocalDeployment) -> EdgeClient:
        return EdgeClient(self.state.edge_url(dep))

    def _each(self, name: str | None, action: str) -> list[dict[str, Any]]:
        results = []
        for dep in self.select(name):
            client = self._edge(dep)
            try:
                result = getattr(client, action)(dep.deployment_id) or {}
            except ApiError as exc:
                result = {"state": "Error", "last_error": {"message": str(exc)}}
            except Exception as exc:
                result = {"state": "Unreachable", "last_error": {"message": f"edge {dep.venue}: {exc}"}}
            finally:
                client.close()
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
        for dep in self.select(name):
            self.state.deployments.pop(dep.name, None)
        self.state.save()
        return results

    def logs(self, name: str | None, tail: int, follow: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        deps = self.select(name)
        if follow and len(deps) > 1:
            raise TargetError("--follow needs one deployment name: " + ", ".join(d.name for d in deps))
        for dep in deps:
            client = self._edge(dep)
            try:
                for entry in client.logs(dep.deployment_id, tail=tail, follow=follow):
                    yield dep.name, entry
            finally:
                client.close()

    def mesh(self) -> dict[str, Any]:
        if not self.state.coordinator_url:
            raise TargetError("this session runs no coordinator")
        client = CoordinatorClient(self.state.coordinator_url)
        try:
            return client.mesh(self.project)
        finally:
            client.close()

    def trace(self, order_ref: str) -> dict[str, Any]:
        for url in self.state.edges.values():
            client = EdgeClient(url)
            try:
                return client.trace(order_ref)
            except ApiError as exc:
                if exc.status != 404:
                    raise
            finally:
                client.close()
        raise TargetError(f"order {order_ref} not found on any edge of {self.project}")
