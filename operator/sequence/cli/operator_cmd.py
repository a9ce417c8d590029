"""`sequence operator`: run the reconcilers (kopf) against the current cluster."""

from __future__ import annotations

import logging
import sys

import click


@click.command("operator")
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="Serve only this namespace (repeat for several). Matches the chart's watch.namespaces.",
)
@click.option("--all-namespaces", "-A", "all_namespaces", is_flag=True, help="Serve every namespace.")
@click.option(
    "--settings",
    "settings_path",
    envvar="SEQUENCE_OPERATOR_SETTINGS",
    type=click.Path(dir_okay=False),
    help="Settings YAML (the chart's settings ConfigMap); env SEQUENCE_OPERATOR_SETTINGS. Defaults if unset.",
)
@click.option(
    "--log-level",
    envvar="SEQUENCE_LOG_LEVEL",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="json: one object per line for log collectors.",
)
def operator(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    settings_path: str | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run the Sequence operator: VenueEdges, AlgoDeployments and MeshGroups -> edges and coordinator.

    Liveness on 0.0.0.0:<healthPort>/healthz (8080), Prometheus metrics on :<metricsPort>/metrics (9090).
    Run exactly one replica.
    """
    import kopf

    from ..reconcilers import build, metrics
    from ..reconcilers.settings import SettingsError, load_settings

    if bool(namespaces) == all_namespaces:
        raise click.UsageError("give --namespace NS (one or more) or --all-namespaces, not both or neither")
    try:
        settings = load_settings(settings_path)
    except SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    kopf.configure(
        verbose=log_level.lower() == "debug",
        log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(log_level.upper())
    # kopf logs "Handler ... succeeded" for every watch event of every object; at info the log is
    # the operator's own lines (sequence.operator: every action and transition, as posted in Events).
    if log_level.lower() != "debug":
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    registry, kopf_settings, runtime = build(settings, clusterwide=all_namespaces)
    try:
        metrics.serve(settings.metrics_port)
    except OSError as exc:
        click.echo(f"error: cannot serve metrics on port {settings.metrics_port}: {exc}", err=True)
        sys.exit(1)
    logging.getLogger("sequence.operator").info(
        "starting: %s, poll every %gs, metrics on :%d, liveness on :%d/healthz",
        "all namespaces" if all_namespaces else "namespaces " + ",".join(namespaces),
        settings.poll_interval,
        settings.metrics_port,
        settings.health_port,
    )
    kopf.run(
        registry=registry,
        settings=kopf_settings,
        standalone=True,
        clusterwide=all_namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
        memo=kopf.Memo(runtime=runtime),
    )
