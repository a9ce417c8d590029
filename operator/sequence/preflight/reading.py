"""What `sequence preflight` reads from a running target: a local `sequence up` session's edges and
coordinator, or the cluster's VenueEdges, AlgoDeployments and Secrets.

Every reading is turned into check lines (checks.py) plus, per venue, the `Market` an edge
reported (mids, spreads, account, gateway) for the risk and capital checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from sequence_wire.edge_api import EdgeInfo

from ..client import ApiError, CoordinatorClient, EdgeClient
from ..cluster import PROJECT_LABEL, ClusterTarget
from ..local.state import LocalState
from ..models import GROUP, VERSION
from ..project import Project
from ..render.render import resource_name
from .checks import CREDENTIAL_FILES, Check, Market, failed, passed, skipped

Readings = tuple[list[Check], dict[str, Market]]


def used_venues(project: Project) -> dict[str, list[str]]:
    """venue -> the symbols its deploy blocks trade."""
    venues: dict[str, list[str]] = {}
    for block in project.config.deploy.values():
        symbols = venues.setdefault(block.venue, [])
        symbols += [s for s in block.symbols if s not in symbols]
    return dict(sorted(venues.items()))


def market_of(info: EdgeInfo, venue: str) -> Market:
    """Mids and spreads from the edge's books, its account from the graph-orders paper account or
    the live gateway's balance (when the edge reports one)."""
    market = Market(venue, account="live" if info.mode == "live" else "paper")
    for symbol, book in info.books.items():
        if book.stale or not book.bids or not book.asks:
            continue
        bid, ask = book.bids[0][0], book.asks[0][0]
        mid = (bid + ask) / 2
        if mid > 0:
            market.mids[symbol] = mid
            market.spreads_bps[symbol] = (ask - bid) / mid * 10_000
    if info.graph_orders is not None:
        market.available_usd = info.graph_orders.available_usd
    if info.gateway is not None:
        market.gateway = info.gateway
        usd = info.gateway.balances.get("USD")  # the live account's cash, at the last reconcile
        if usd is not None:
            market.available_usd, market.account = usd, "live"
    return market


def edge_check(
    venue: str, info: EdgeInfo, health_ok: bool, health_reason: str | None, symbols: list[str]
) -> Check:
    """Healthy, feed live, and a live book for every symbol the project trades there."""
    label = f"edge {venue}"
    if not health_ok:
        return failed(label, f"unhealthy: {health_reason or 'no reason given'}")
    feed = info.feed
    if not feed.healthy:
        return failed(label, f"{feed.kind} feed not live (lag {feed.lag_ms:.0f} ms, {feed.updates} updates)")
    stale = [s for s in symbols if s not in info.books or info.books[s].stale or not info.books[s].bids]
    if stale:
        return failed(
            label, f"no live book for {', '.join(stale)} (the edge carries {', '.join(info.symbols)})"
        )
    return passed(
        label, f"healthy, {feed.kind} feed live (lag {feed.lag_ms:.1f} ms), books live: {', '.join(symbols)}"
    )


# ---------------------------------------------------------------- a local session


def local_readings(project: Project, state: LocalState) -> Readings:
    checks: list[Check] = []
    markets: dict[str, Market] = {}
    token = state.token()
    if state.coordinator_url:
        with CoordinatorClient(state.coordinator_url, token=token) as coordinator:
            try:
                answer = coordinator.health()
                checks.append(
                    passed("coordinator", f"healthy at {state.coordinator_url} ({answer.edges} edges)")
                )
            except ApiError as exc:
                checks.append(failed("coordinator", f"unreachable: {exc}"))
    deployed: dict[str, str] = {}  # deployment id -> venue
    for venue, symbols in used_venues(project).items():
        url = state.edges.get(venue)
        if url is None:
            checks.append(
                failed(
                    f"edge {venue}",
                    "the running session has no edge for this venue: `sequence down`, then deploy again",
                )
            )
            continue
        with EdgeClient(url, token=token) as client:
            try:
                health = client.health()
                info = client.info()
                deployed |= {d.deployment_id: venue for d in client.deployments()}
            except ApiError as exc:
                checks.append(failed(f"edge {venue}", f"unreachable at {url}: {exc}"))
                continue
        checks.append(edge_check(venue, info, health.ok, health.reason, symbols))
        markets[venue] = market_of(info, venue)
    checks += local_name_checks(project, state, deployed)
    return checks, markets


def local_name_checks(project: Project, state: LocalState, deployed: dict[str, str]) -> list[Check]:
    """A session of the same project name from another directory, or an edge already holding a
    deployment id that is not this deploy block's."""
    recorded = Path(state.root)  # absolute since `sequence up` records it so; older files: unknown
    if recorded.is_absolute() and recorded.resolve() != project.root.resolve():
        return [
            failed(
                "names",
                f"a session named {project.name} runs from {state.root}: deploying here would replace "
                "its deployments; rename [project] name or stop it with `sequence down`",
            )
        ]
    checks = []
    for name, block in project.config.deploy.items():
        dep_id = resource_name(project.name, name)
        mine = state.deployments.get(name)
        if dep_id not in deployed:
            checks.append(passed(f"name {name}", f"{dep_id} is free on the {block.venue} edge"))
        elif mine is not None and mine.deployment_id == dep_id:
            checks.append(
                passed(f"name {name}", f"{dep_id} is deployed: `sequence deploy` replaces it in place")
            )
        else:
            checks.append(
                failed(
                    f"name {name}",
                    f"{dep_id} already exists on the {deployed[dep_id]} edge and is not "
                    f"this project's [deploy.{name}]: rename the block",
                )
            )
    return checks


# ---------------------------------------------------------------- the cluster


def cluster_readings(project: Project, target: ClusterTarget) -> Readings:
    from kubernetes.client.exceptions import ApiException

    checks: list[Check] = []
    markets: dict[str, Market] = {}
    ns = target.namespace
    for venue, symbols in used_venues(project).items():
        label = f"edge {venue}"
        try:
            obj = cast(
                dict[str, Any],
                target.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "venueedges", venue),
            )
        except ApiException as exc:
            if exc.status == 404:
                checks.append(
                    skipped(label, f"VenueEdge {ns}/{venue} does not exist yet: `sequence deploy` creates it")
                )
            else:
                checks.append(failed(label, f"cannot read VenueEdge {ns}/{venue}: {exc.status} {exc.reason}"))
            continue
        owner = obj["metadata"].get("labels", {}).get(PROJECT_LABEL)
        if owner and owner != project.name:
            checks.append(
                failed(
                    label, f"VenueEdge {ns}/{venue} belongs to project {owner}: deploying would take it over"
                )
            )
            continue
        status = obj.get("status") or {}
        state, ready, desired = (
            status.get("lifecycleState"),
            status.get("readyEdges", 0),
            status.get("desiredEdges", 0),
        )
        if state != "Ready":
            checks.append(
                failed(
                    label,
                    f"VenueEdge {ns}/{venue} is {state or 'not reported'} ({ready}/{desired} edges with a healthy feed)",
                )
            )
            continue
        info = _cluster_edge_info(target, status.get("endpoints") or [])
        if info is None:
            checks.append(
                passed(
                    label, f"Ready: {ready}/{desired} edges with a healthy feed (no edge answered /v1/edge)"
                )
            )
            continue
        checks.append(edge_check(venue, info, True, None, symbols))
        markets[venue] = market_of(info, venue)
    checks += cluster_name_checks(project, target)
    return checks, markets


def _cluster_edge_info(target: ClusterTarget, endpoints: list[dict[str, Any]]) -> EdgeInfo | None:
    """/v1/edge of the first reachable edge (pod proxy or direct), or None."""
    for endpoint in endpoints:
        if not endpoint.get("reachable"):
            continue
        try:
            response = target._edge_get(endpoint, "/v1/edge")  # the cluster target's one way to an edge
            status = getattr(response, "status_code", None) or getattr(response, "status", 0)
            body: bytes = getattr(response, "content", None) or getattr(response, "data", None) or b""
            if status == 200:
                return EdgeInfo.model_validate(json.loads(body))
        except Exception:  # one unreadable edge: try the next
            continue
    return None


def cluster_name_checks(project: Project, target: ClusterTarget) -> list[Check]:
    existing = cast(
        dict[str, Any],
        target.custom.list_namespaced_custom_object(GROUP, VERSION, target.namespace, "algodeployments"),
    )
    owners = {
        item["metadata"]["name"]: item["metadata"].get("labels", {}).get(PROJECT_LABEL)
        for item in existing.get("items", [])
    }
    checks = []
    for name in project.config.deploy:
        dep = resource_name(project.name, name)
        where = f"AlgoDeployment {target.namespace}/{dep}"
        if dep not in owners:
            checks.append(passed(f"name {name}", f"{where} is free"))
        elif owners[dep] == project.name:
            checks.append(passed(f"name {name}", f"{where} exists: `sequence deploy` updates it"))
        else:
            checks.append(
                failed(
                    f"name {name}", f"{where} belongs to project {owners[dep] or '(none)'}: rename the block"
                )
            )
    return checks


def cluster_secret_problem(target: ClusterTarget, secret: str) -> str | None:
    """Why the live venue's Secret cannot be used, or None when it has api_key and api_secret."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        found = client.CoreV1Api(target.api_client).read_namespaced_secret(secret, target.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return f"Secret {target.namespace}/{secret} not found"
        return f"cannot read Secret {target.namespace}/{secret}: {exc.status} {exc.reason}"
    keys = set((found.data or {}).keys())
    missing = [k for k in CREDENTIAL_FILES if k not in keys]
    return f"Secret {target.namespace}/{secret} has no {', '.join(missing)}" if missing else None
