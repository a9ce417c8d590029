"""`sequence preflight [PATH]`: the pre-deploy checklist (the checks are in sequence/preflight/)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..project import ConfigError, load_project
from .common import Context, fail, internal
from .sandbox import paper_only_reason
from .wasm_check import abi_problems

MARKS = {"pass": ("✓", "green"), "fail": ("✗", "red"), "skip": ("-", "yellow")}


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A checklist, or JSON ({project, ok, checks: [{name, status, reason}]}).",
)
@click.pass_obj
def preflight(ctx: Context | None, path: Path, output: str) -> None:
    """Check PATH's project (default: here) is ready to deploy: the target's edges reachable,
    healthy and their feeds live, the bundles valid, the risk limits set and sane at the venue's
    prices, no deployment-name conflicts, enough capital for the limits, credentials for live
    venues. Exits 1 when any check fails. Checks that need a running target are skipped (and say
    why) when `sequence deploy` would start a new local session."""
    from ..preflight import run_preflight

    try:
        project = load_project(path, check_files=False)  # a missing bundle is a check line, not an error
    except ConfigError as exc:
        fail(list(exc.problems))
    except Exception as exc:
        fail([internal(path, "loading", exc)])
    checks = run_preflight(
        project,
        mode=ctx.target if ctx else "auto",
        namespace=ctx.namespace if ctx else None,
        kube_context=ctx.kube_context if ctx else None,
        paper_only=paper_only_reason(ctx),
        abi_problems=abi_problems,
    )
    ok = all(check.status != "fail" for check in checks)
    if output == "json":
        body = {"project": project.name, "ok": ok, "checks": [c.as_dict() for c in checks]}
        click.echo(json.dumps(body, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            mark, colour = MARKS[check.status]
            click.echo(f"{click.style(mark, fg=colour)} {check.name:{width}}  {check.reason}")
        failures = sum(c.status == "fail" for c in checks)
        skips = sum(c.status == "skip" for c in checks)
        summary = f"{failures} failed" if failures else "ready to deploy"
        click.echo(f"\n{project.name}: {summary} ({len(checks)} checks, {skips} skipped)")
    if not ok:
        raise SystemExit(1)
