"""`sequence graph submit|list|status|cancel|resume|amend`: execution graphs on the coordinator of
the local `sequence up` session, of the cluster, or at `--coordinator URL` (graph_targets.py).

A graph is named by its graph id (`graph_...`), its client id, or the name of its `[graph.NAME]`
block in Sequence.toml (client id `<project>/NAME`, what `sequence up --start` and `sequence graph
submit NAME` use). `-o json` prints the API's answer as it is (the GraphStatusResponse shape).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console

from sequence_wire.graphs import GraphSubmitRequest, graph_problems, graph_warnings

from ..client import ApiError
from ..local.graph_views import edges_table, graphs_table, nodes_table
from ..local.graphs import client_id as project_client_id
from ..local.graphs import graph_body
from .common import fail, load_or_exit
from .graph_targets import GraphAPI, graph_api, load_json_graph
from .targets import project_option

console = Console(width=None if sys.stdout.isatty() else 160)
output_option = click.option(
    "-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
)
coordinator_option = click.option(
    "--coordinator",
    metavar="URL",
    envvar="SEQUENCE_COORDINATOR",
    help="Talk to this coordinator's API (e.g. http://127.0.0.1:7171) instead of the local session "
    "or the cluster; its token is $SEQUENCE_TOKEN.",
)


def _api(project_path: Path, coordinator: str | None) -> GraphAPI:
    return graph_api(project_path, coordinator)


def _call(fn: Any, *args: Any) -> Any:
    """FN(*ARGS), a refusal or an unreachable coordinator shown as a CLI error (exit 1)."""
    try:
        return fn(*args)
    except ApiError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.message}") from None


def _print_json(model: BaseModel) -> None:
    click.echo(json.dumps(model.model_dump(mode="json", by_alias=True), indent=2))


def resolve_id(api: GraphAPI, ref: str) -> str:
    """The graph id REF names: a graph id, a client id, or a Sequence.toml graph name."""
    graphs = _call(api.list).graphs
    wanted = {ref, f"{api.project}/{ref}"} if api.project else {ref}
    for graph in graphs:
        if graph.graph_id == ref:
            return str(graph.graph_id)
    matches = [gr for gr in graphs if gr.client_id in wanted]
    if not matches:
        known = ", ".join(gr.client_id or gr.graph_id for gr in graphs) or "none"
        raise click.ClickException(f"no graph {ref!r} on {api.where} (graphs: {known})")
    running = [gr for gr in matches if gr.status not in ("completed", "aborted", "expired")]
    return str((running or matches)[-1].graph_id)  # a finished graph's client id can be used again


def _show(status: BaseModel, output: str) -> None:
    if output == "json":
        _print_json(status)
        return
    data = status.model_dump(mode="json", by_alias=True)
    title = f"graph {data['graph_id']} ({data.get('client_id') or 'no client id'}): {data['status']}"
    console.print(title, style="bold")
    if data.get("reason"):
        console.print(f"  reason: {data['reason']}", style="yellow")
    console.print(nodes_table(data))
    if data.get("edges"):
        console.print(edges_table(data))
    for breach in data.get("breaches") or []:
        console.print(f"  breach: {breach}", style="red")
    console.print(f"  pnl {data.get('pnl_usd', 0.0):+.2f} USD, sandbox {data.get('sandbox')}", style="dim")


@click.group()
def graph() -> None:
    """Execution graphs: submit one from Sequence.toml or a JSON file, follow, cancel, resume, amend."""


@graph.command()
@click.argument("graph_ref", metavar="NAME|FILE.json")
@click.option(
    "-f",
    "--file",
    "file_path",
    default=".",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Sequence.toml (or its directory) with the [graph.NAME] block",
)
@click.option("--client-id", help="Client id (default: <project>/NAME; a JSON file's own client_id)")
@coordinator_option
@output_option
def submit(
    graph_ref: str, file_path: Path, client_id: str | None, coordinator: str | None, output: str
) -> None:
    """Submit graph NAME of Sequence.toml, or the graph in FILE.json (its wire form). Submitting the
    client id of a running graph returns that graph: a retried submit never runs it twice."""
    as_file = Path(graph_ref)
    if graph_ref.endswith(".json") or as_file.is_file():
        try:
            body = load_json_graph(as_file)
        except ValueError as exc:
            fail([exc])
        project_path = file_path
        name = None
    else:
        project = load_or_exit(file_path)
        try:
            body = graph_body(project, graph_ref)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        project_path, name = project.root, graph_ref
        client_id = client_id or project_client_id(project.name, graph_ref)
    _check(body, graph_ref)
    api = _api(project_path, coordinator)
    result = _call(api.submit, body, client_id)
    if output == "json":
        _print_json(result)
        return
    for warning in result.warnings:
        console.print(f"warning: {warning}", style="yellow")
    label = name or graph_ref
    console.print(f"graph {label}: {result.graph_id} ({result.client_id or 'no client id'}) {result.status}")


def _check(body: dict[str, Any], ref: str) -> None:
    """The graph's problems before anything is sent (exit 2, like `sequence validate`)."""
    try:
        request = GraphSubmitRequest.model_validate(body)
    except ValidationError as exc:
        fail([f"{ref}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()])
    problems = graph_problems(request)
    if problems:
        fail([f"{ref}: {'.'.join(map(str, loc))}: {msg}" for loc, msg in problems])
    for loc, msg in graph_warnings(request):
        click.echo(f"{ref}: warning: {'.'.join(map(str, loc))}: {msg}", err=True)


@graph.command(name="list")
@click.option("--running", is_flag=True, help="Running graphs only (default: finished ones too, for 24 h)")
@project_option
@coordinator_option
@output_option
def list_(running: bool, project_path: Path, coordinator: str | None, output: str) -> None:
    """List the graphs of the coordinator with their status."""
    api = _api(project_path, coordinator)
    result = _call(api.list, not running)
    if output == "json":
        _print_json(result)
        return
    rows = [gr.model_dump(mode="json", by_alias=True) for gr in result.graphs]
    console.print(graphs_table(rows, title=f"graphs ({api.where})"))


@graph.command()
@click.argument("graph_ref", metavar="GRAPH")
@project_option
@coordinator_option
@output_option
def status(graph_ref: str, project_path: Path, coordinator: str | None, output: str) -> None:
    """A graph's status: every node (filled/target, orders, TWAP slices) and edge (fired, count)."""
    api = _api(project_path, coordinator)
    _show(_call(api.status, resolve_id(api, graph_ref)), output)


@graph.command()
@click.argument("graph_ref", metavar="GRAPH")
@click.option("--reason", help="Why (kept in the graph's status)")
@project_option
@coordinator_option
@output_option
def cancel(
    graph_ref: str, reason: str | None, project_path: Path, coordinator: str | None, output: str
) -> None:
    """Cancel a graph: every open order is cancelled and the graph ends aborted."""
    api = _api(project_path, coordinator)
    _show(_call(api.cancel, resolve_id(api, graph_ref), reason), output)


@graph.command()
@click.argument("graph_ref", metavar="GRAPH")
@project_option
@coordinator_option
@output_option
def resume(graph_ref: str, project_path: Path, coordinator: str | None, output: str) -> None:
    """Resume a paused graph (paused by a failure action): its slices continue where they stopped."""
    api = _api(project_path, coordinator)
    _show(_call(api.resume, resolve_id(api, graph_ref)), output)


@graph.command()
@click.argument("graph_ref", metavar="GRAPH")
@click.argument("node")
@click.option("--urgency", type=click.Choice(["low", "normal", "high", "urgent"]))
@click.option("--max-slippage-bps", type=click.FloatRange(min=0))
@click.option("--horizon-ms", type=click.IntRange(min=1), help="From the node's start")
@project_option
@coordinator_option
@output_option
def amend(
    graph_ref: str,
    node: str,
    urgency: str | None,
    max_slippage_bps: float | None,
    horizon_ms: int | None,
    project_path: Path,
    coordinator: str | None,
    output: str,
) -> None:
    """Retune a pending or working NODE: urgency, slippage cap or horizon; it re-prices at once."""
    fields = {"urgency": urgency, "max_slippage_bps": max_slippage_bps, "horizon_ms": horizon_ms}
    amend_body = {k: v for k, v in fields.items() if v is not None}
    if not amend_body:
        raise click.UsageError("give at least one of --urgency, --max-slippage-bps, --horizon-ms")
    api = _api(project_path, coordinator)
    _show(_call(api.amend, resolve_id(api, graph_ref), node, amend_body), output)
