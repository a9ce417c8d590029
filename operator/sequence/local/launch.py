"""Launching a project on this machine: the coordinator and one edge per venue as local
processes on loopback, the coordinator's routes, and every deploy block pushed to its edge
(again, in its last state, after an edge restarts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..client import CoordinatorClient, EdgeClient
from ..models import Feed, VenueBlock
from ..project import Project
from ..render.edge_spec import feed_args, push_body
from ..render.render import algo_spec, resource_name
from .graph_edges import graph_risk_args, graph_symbols, graph_venues
from .state import LocalDeployment
from .supervision import Supervised


def venues(project: Project) -> list[str]:
    """Venues that get an edge: those some deploy block uses, and those the graphs trade on."""
    return sorted({block.venue for block in project.config.deploy.values()} | graph_venues(project))


def venue_table(project: Project) -> list[str]:
    """Every edge gives its algos this table, so NBBO venue indexes mean the same everywhere."""
    return sorted({*venues(project), *project.config.venue})


def check_bundles(project: Project) -> None:
    for name, block in project.config.deploy.items():
        if name not in project.bundles and not block.bundle.startswith("https://"):
            raise RuntimeError(
                f"deploy.{name}: sequence up runs local .wasm files and https:// bundles, not {block.bundle}"
            )


def coordinator_process(
    api_port: int, mesh_port: int, log_dir: Path, on_restart: Callable[[Supervised], None]
) -> Supervised:
    """`sequence coordinator` on loopback (not started yet). Its graph journal is in the session's
    state dir, so a coordinator the supervisor restarts continues every graph (docs/graphs.md)."""
    return Supervised(
        "coordinator",
        [
            *("coordinator", "--port", str(api_port), "--mesh-port", str(mesh_port), "--bind", "127.0.0.1"),
            *("--state-dir", str(log_dir / "state" / "coordinator")),
        ],
        f"http://127.0.0.1:{api_port}/healthz",
        log_dir / "coordinator.log",
        on_restart=on_restart,
    )


def edge_process(
    project: Project,
    venue: str,
    port: int,
    mesh_port: int,
    log_dir: Path,
    on_restart: Callable[[Supervised], None],
) -> Supervised:
    """`sequence edge` for VENUE on loopback, joined to the coordinator (not started yet)."""
    config = project.config
    feed = config.venue[venue].feed if venue in config.venue else Feed()
    symbols = sorted(
        {s for b in config.deploy.values() if b.venue == venue for s in b.symbols}
        | graph_symbols(project, venue)
    )
    args = [
        "edge",
        "--venue",
        venue,
        "--port",
        str(port),
        "--edge-id",
        f"{venue}-0",
        "--bind",
        "127.0.0.1",
        "--coordinator",
        f"127.0.0.1:{mesh_port}",
        "--venues",
        ",".join(venue_table(project)),
        "--symbols",
        ",".join(symbols),
        *feed_args(feed, str(project.root / feed.replay.file) if feed.replay else None, project.root),
        # the trading journal: a restarted edge continues where it was (docs/operations.md)
        "--state-dir",
        str(log_dir / "state" / venue),
        *graph_risk_args(project, venue),
    ]
    venue_block = config.venue.get(venue)
    if venue_block is not None and venue_block.allow_native:
        args.append("--allow-native")  # native (.so) algorithms: the venue opted in
    if venue_block is not None and venue_block.mode == "live":
        args += live_args(venue_block, project.root)
    return Supervised(
        f"edge/{venue}",
        args,
        f"http://127.0.0.1:{port}/healthz",
        log_dir / f"edge-{venue}.log",
        on_restart=on_restart,
    )


def live_args(venue: VenueBlock, root: Path) -> list[str]:
    """A live venue's edge flags: its credentials directory (files readable only by this user),
    dry run, the private REST endpoint override."""
    assert venue.credentials_dir  # project_problems: a live venue names its credentials
    args = ["--mode", "live", "--credentials-dir", str(root / venue.credentials_dir)]
    if venue.dry_run:
        args.append("--dry-run")
    if venue.orders_endpoint:
        args += ["--live-orders-endpoint", venue.orders_endpoint]
    return args


def local_deployments(project: Project) -> dict[str, LocalDeployment]:
    """What the session file records of each deploy block."""
    return {
        name: LocalDeployment(
            name,
            resource_name(project.name, name),
            block.venue,
            project.config.label_of(name),
            block.symbols,
        )
        for name, block in project.config.deploy.items()
    }


def set_routes(project: Project, coordinator_url: str) -> None:
    """Tell the coordinator who may message whom (the deploy blocks' `peers`)."""
    members = [
        {
            "deployment": resource_name(project.name, n),
            "label": project.config.label_of(n),
            "venue": b.venue,
            "peers": b.peers,
        }
        for n, b in project.config.deploy.items()
    ]
    with CoordinatorClient(coordinator_url) as client:
        client.set_routes(project.name, members)


def push_config(project: Project, name: str, state: str) -> dict[str, Any]:
    """The edge push body for one deploy block, minus the bundle: the operator's, with STATE."""
    body = push_body(algo_spec(project, name))
    body.pop("sha256")  # EdgeClient.push adds it next to the bytes
    return {**body, "state": state}


def push_venue(
    project: Project,
    venue: str,
    edge_url: str,
    desired: dict[str, str],
    skip: set[str],
    on_pushed: Callable[[str, str], None] | None = None,
) -> None:
    """Push every deploy block of VENUE (but SKIP) to its edge, each in its DESIRED state;
    ON_PUSHED(name, state the edge answered) after each."""
    with EdgeClient(edge_url, timeout=30.0) as client:
        for name, block in project.config.deploy.items():
            if block.venue != venue or name in skip:
                continue
            config = push_config(project, name, desired[name])
            dep_id = resource_name(project.name, name)
            bundle = project.bundles.get(name)
            if bundle is not None:
                status = client.push(dep_id, bundle.data, config, sha256=bundle.sha256)
            else:  # an https:// bundle: the edge downloads it and checks the sha256
                status = client.push_url(dep_id, block.bundle, str(block.sha256), **config)
            if on_pushed is not None:
                on_pushed(name, status.state)
