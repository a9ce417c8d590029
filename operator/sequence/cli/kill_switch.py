"""`sequence kill-switch on|off|status [--venue V]`: the edge-wide kill switch of a running project's
edges, local (`sequence up`) or in the cluster (its VenueEdges), through `POST /v1/kill-switch`.

On: every resting order of every deployment is cancelled (at the venue too, for a live venue) and
every new order is refused with KILL_SWITCH until it is turned off. Status shows it per edge, with
the live order gateway's state where there is one."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import click
import httpx

from ..client import ApiError, EdgeClient, Unreachable
from ..local.target import LocalTarget
from ..models import GROUP, VERSION
from .targets import Target, project_option, resolve_target

EdgeCall = Callable[[str, str, dict[str, Any] | None], dict[str, Any]]  # method, path, body -> answer


@click.command("kill-switch")
@click.argument("action", type=click.Choice(["on", "off", "status"]))
@click.option(
    "--venue", default=None, help="Only the edges of this venue (default: every edge of the project)"
)
@click.option("--reason", default="", help="on: why (shown in the edges' status and logs)")
@project_option
def kill_switch(action: str, venue: str | None, reason: str, project_path: Path) -> None:
    """Stop all trading at once (on), allow it again (off), or show it (status)."""
    target = resolve_target(project_path)
    edges = _edges(target, venue)
    if not edges:
        where = f" for venue {venue!r}" if venue else ""
        raise click.ClickException(f"no edge{where} in {target.project} ({target.kind})")
    failed = False
    for name, send in edges:
        try:
            if action == "status":
                info = send("GET", "/v1/edge", None)
                _show(name, info.get("kill_switch") or {}, info.get("gateway"))
            else:
                body = {"engaged": action == "on", "reason": reason}
                _show(name, send("POST", "/v1/kill-switch", body), None)
        except (ApiError, OSError, httpx.HTTPError, ValueError) as exc:
            failed = True
            click.echo(f"{name:<12} FAILED: {exc}", err=True)
    if failed:
        sys.exit(1)


def _show(name: str, switch: dict[str, Any], gateway: dict[str, Any] | None) -> None:
    if switch.get("engaged"):
        why = f" ({switch['reason']})" if switch.get("reason") else ""
        line = f"kill switch ENGAGED since {switch.get('since')}{why}: {switch.get('cancelled', 0)} order(s) cancelled"
    else:
        line = "kill switch released: orders accepted"
    click.echo(f"{name:<12} {line}")
    if gateway:
        click.echo(
            f"{'':<12} live gateway: {'dry run, ' if gateway.get('dry_run') else ''}"
            f"{'connected' if gateway.get('connected') else 'DISCONNECTED'}, "
            f"{gateway.get('open_orders')} open order(s) at the venue, can_trade {gateway.get('can_trade')}, "
            f"can_withdraw {gateway.get('can_withdraw')}"
        )


def _edges(target: Target, venue: str | None) -> list[tuple[str, EdgeCall]]:
    if isinstance(target, LocalTarget):
        token = target.state.token()
        return [
            (name, _local_call(url, token))
            for name, url in sorted(target.state.edges.items())
            if venue is None or name == venue
        ]
    items = cast(
        dict[str, Any],
        target.custom.list_namespaced_custom_object(GROUP, VERSION, target.namespace, "venueedges"),
    )
    found: list[tuple[str, EdgeCall]] = []
    for item in items.get("items", []):
        spec, status = item.get("spec") or {}, item.get("status") or {}
        if venue is not None and spec.get("venue") != venue:
            continue
        endpoints = [{"endpoint": e, "pod": None} for e in spec.get("external") or []] or [
            {"endpoint": e.get("endpoint"), "pod": e.get("pod")} for e in status.get("endpoints") or []
        ]
        for i, edge in enumerate(endpoints):
            label = f"{spec.get('venue')}-{i}" if len(endpoints) > 1 else str(spec.get("venue"))
            found.append((label, _cluster_call(target, edge)))
    return found


def _local_call(url: str, token: str | None) -> EdgeCall:
    def send(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        with EdgeClient(url, token=token) as client:
            if method == "GET":
                return client.info().as_dict()
            assert body is not None
            return client.kill_switch(bool(body["engaged"]), str(body["reason"])).as_dict()

    return send


def _cluster_call(target: Any, edge: dict[str, Any]) -> EdgeCall:
    """Through the API server's pod proxy for managed edges, directly for external ones."""

    def send(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        if edge.get("pod"):
            port = (edge.get("endpoint") or ":7070").rsplit(":", 1)[-1]
            url = f"/api/v1/namespaces/{target.namespace}/pods/{quote(edge['pod'])}:{port}/proxy{path}"
            headers = {"X-Sequence-Token": target.token(), "Content-Type": "application/json"}
            request = target.api_client.param_serialize(
                method, url, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = target.api_client.call_api(*request, _request_timeout=30).response
            status, text = response.status, response.data.decode()
        else:
            headers = {"Authorization": f"Bearer {target.token()}"}
            reply = httpx.request(
                method, f"http://{edge['endpoint']}{path}", json=body, headers=headers, timeout=30
            )
            status, text = reply.status_code, reply.text
        if status >= 400:
            raise Unreachable(str(edge.get("endpoint")), f"answered {status}: {text[:300]}", status)
        answer: dict[str, Any] = json.loads(text)
        return answer

    return send
