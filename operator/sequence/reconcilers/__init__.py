"""The Sequence operator: kopf handlers for VenueEdge, AlgoDeployment, MeshGroup and ExecutionGraph.

`build(settings)` returns a kopf registry, kopf settings and the shared runtime; `sequence
operator` (cli/operator_cmd.py) runs them with kopf.run().

Every object gets a full reconcile pass on create, spec change and operator start (from its watch
events) and again every pollInterval (poller.py); AlgoDeployment and ExecutionGraph deletion go
through a finalizer.

kopf's own bookkeeping (the deletion handler's progress) stays in annotations under sequence.dev/,
never in status: status is ours and matches the CRD's schema. Which spec was reconciled is the
status's observedGeneration; kopf records no last-handled spec (no change handlers).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf

from ..models import GROUP, VERSION
from . import algos, edges, graphs, kube, mesh, teardown
from .api import KubeApi
from .context import Runtime
from .poller import Poller
from .settings import OperatorSettings

FINALIZER = "sequence.dev/finalizer"
ANNOTATION_PREFIX = "sequence.dev"
CHILD_LABELS = {"app.kubernetes.io/managed-by": kube.MANAGED_BY}
EDGE_POD_LABELS = {**CHILD_LABELS, "app.kubernetes.io/component": kube.EDGE_COMPONENT}


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf keeps no last-handled spec on our kinds (an annotation write per object and change).

    The operator has no create/update/resume handlers for them to diff for: their full passes follow
    the generation (Runtime.needs_full_pass). They read as unchanged to kopf, which then runs only
    the watch-event, index and deletion handlers, and never patches a diff base. Other kinds (change
    handlers of their own) keep kopf's usual annotation under sequence.dev/.
    """

    def __init__(self, kinds: frozenset[str]) -> None:
        super().__init__()
        self.kinds = kinds
        self.others = kopf.AnnotationsDiffBaseStorage(
            prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
        )

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        if body.get("kind") in self.kinds:
            return super().build(body=body, extra_fields=extra_fields)
        return self.others.build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        if body.get("kind") in self.kinds:
            return self.build(body=body)
        return self.others.fetch(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        if body.get("kind") not in self.kinds:
            self.others.store(body=body, patch=patch, essence=essence)


def kopf_settings(ours: OperatorSettings, clusterwide: bool) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # Serving named namespaces, kopf would list/watch Namespace objects to see them come and go; the
    # chart grants that only cluster-wide. The names are exact (no globs), so nothing is lost.
    settings.scanning.disabled = not clusterwide
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = NoDiffBase(
        frozenset({edges.KIND, algos.KIND, mesh.KIND, graphs.KIND})
    )
    settings.posting.level = logging.getLevelName(ours.event_level)
    settings.posting.reporting_component = "sequence-operator"

    # Watch only the pods and Deployments the operator made (the API server filters), not every pod.
    def selector(labels: dict[str, str]) -> str:
        return ",".join(f"{k}={v}" for k, v in labels.items())

    settings.watching.label_selectors["v1", "pods"] = selector(EDGE_POD_LABELS)
    settings.watching.label_selectors["apps", "v1", "deployments"] = selector(CHILD_LABELS)
    # One replica, no peering objects (the chart grants no access to kopf's peering CRDs).
    settings.peering.standalone = True
    # Watches are re-established regularly, so a silently dropped connection costs minutes, not hours.
    settings.watching.server_timeout = ours.watch_server_timeout
    settings.watching.client_timeout = ours.watch_client_timeout
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    # A handler that raised is retried soon; reconciles are idempotent.
    settings.execution.max_workers = 4
    return settings


def _login(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo | None:
    log = logging.getLogger("sequence.reconcilers.login")
    return kopf.login_via_client(logger=log, settings=settings)


def build(
    ours: OperatorSettings, clusterwide: bool = False
) -> tuple[kopf.OperatorRegistry, kopf.OperatorSettings, Runtime]:
    settings = kopf_settings(ours, clusterwide)
    runtime = Runtime(settings=ours, kube=KubeApi(lambda: _login(settings)), login=lambda: _login(settings))
    registry = kopf.OperatorRegistry()
    reconcilers = {
        edges.PLURAL: edges.reconcile,
        algos.PLURAL: algos.reconcile,
        mesh.PLURAL: mesh.reconcile,
        graphs.PLURAL: graphs.reconcile,
    }
    # A new AlgoDeployment's or ExecutionGraph's first pass waits for kopf's finalizer: kopf adds it
    # by a JSON patch that tests the resourceVersion, which a status write just before would fail.
    poller = Poller(runtime, reconcilers, finalized={algos.PLURAL: FINALIZER, graphs.PLURAL: FINALIZER})

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo | None:
        info = _login(settings)
        if info is not None:
            await runtime.kube.use(info)
        return info

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await poller.stop()
        await runtime.close()

    # AlgoDeployments find their edges here; kopf fills indexes before any handler runs, so an
    # operator restart never mistakes "not listed yet" for "no VenueEdge" (and creates a sandbox one).
    kopf.index(GROUP, VERSION, edges.PLURAL, id="venue_edges", registry=registry)(cast(Any, edges.index))
    # Edge pods and the operator's Deployments, kept by watches (server-side label selectors, see
    # kopf_settings) instead of listed on every pass: a pass reads them from memory.
    kopf.index("v1", "pods", id="edge_pods", labels=EDGE_POD_LABELS, registry=registry)(
        cast(Any, edges.pod_index)
    )
    kopf.index("apps", "v1", "deployments", id="child_deployments", labels=CHILD_LABELS, registry=registry)(
        cast(Any, edges.deployment_index)
    )

    for plural, reconcile in reconcilers.items():
        _register_kind(registry, runtime, poller, plural, reconcile)
    graphs.register(registry, runtime)

    @kopf.on.delete(GROUP, VERSION, algos.PLURAL, registry=registry, id="undeploy")
    async def undeploy(**kwargs: Any) -> None:
        body: kopf.Body = kwargs["body"]
        runtime.use_indexes(kwargs)
        await teardown.delete(
            runtime, body, algos.deployment_id(body.metadata["namespace"], body.metadata["name"])
        )

    @kopf.on.event(GROUP, VERSION, mesh.PLURAL, registry=registry, id="coordinator")
    async def mesh_gone(**kwargs: Any) -> None:
        if kwargs["type"] == "DELETED":
            await mesh.on_deleted(
                runtime, kwargs["namespace"], kwargs["name"], kwargs["body"].metadata.get("uid")
            )

    return registry, settings, runtime


def _register_kind(
    registry: kopf.OperatorRegistry, rt: Runtime, poller: Poller, plural: str, reconcile: Any
) -> None:
    """Every watch event feeds the poller's object list; a generation not yet reconciled (a new
    object, a spec change, the first sight after an operator start) gets a full pass at once.

    Event handlers, not kopf's create/update/resume handlers: those record their progress and the
    last handled spec in annotations, two more PATCHes of every object on creation (three writes of
    kopf's plus the status write, per AlgoDeployment); the status's observedGeneration already says
    which spec was reconciled, and the poller retries a full pass that failed."""

    # kopf passes every handler all of its keyword arguments; **kwargs keeps the signatures honest.
    async def on_event(**kwargs: Any) -> None:
        rt.use_indexes(kwargs)
        kind = kwargs.get("type") or "ADDED"
        body = kwargs["body"]
        poller.observe(plural, kind, dict(body))
        if kind != "DELETED" and rt.needs_full_pass(body) and not poller.awaits_finalizer(plural, body):
            await poller.run(plural, dict(body), full=True)

    kopf.on.event(GROUP, VERSION, plural, registry=registry, id="observe")(on_event)
