"""`sequence coordinator` (also `python -m sequence_coordinator`): the Central Coordinator of a
namespace (mesh routing, NBBO, execution graphs).

The `sequence` CLI loads this command by name only when it runs; importing this module loads
click and nothing else of the coordinator.
"""

from __future__ import annotations

import logging
import os

import click


# the same help options as under `sequence`, so `python -m` reads the same
@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--port", default=7171, show_default=True, type=click.IntRange(0, 65535), help="HTTP API port")
@click.option(
    "--mesh-port",
    default=7172,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port edges connect to",
)
@click.option(
    "--bind", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a pod)"
)
@click.option(
    "--heartbeat",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.01, 60),
    help="Seconds between heartbeats to edges",
)
@click.option(
    "--peer-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.05, 600),
    help="Seconds of silence after which an edge's instances leave the topology",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="File holding the token edges send in HELLO and clients as 'Authorization: Bearer'  "
    "[default: $SEQUENCE_TOKEN, else a generated token written to a 0600 file named in the first log line]",
)
@click.option(
    "--metrics-token-file",
    type=click.Path(dir_okay=False),
    help="File holding a token that may only read /metrics  [default: $SEQUENCE_METRICS_TOKEN, else "
    "/metrics needs the control token]",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, writable=True),
    default=None,
    help="Directory of the execution-graph journal (graphs.sqlite): a restart resumes every running "
    "graph  [default: none, graphs live in memory only]",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning"])
)
def coordinator(
    port: int,
    mesh_port: int,
    bind: str,
    heartbeat: float,
    peer_timeout: float,
    token_file: str | None,
    metrics_token_file: str | None,
    state_dir: str | None,
    log_level: str,
) -> None:
    """Run the coordinator: edges connect on --mesh-port; topology, routing tables and metrics on --port."""
    if peer_timeout <= heartbeat:
        raise click.BadParameter("must be longer than --heartbeat", param_hint="--peer-timeout")
    if port == mesh_port and port != 0:
        raise click.BadParameter("--port and --mesh-port must differ", param_hint="--mesh-port")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from sequence_wire.auth import TokenError, load_credentials

    from .api import run

    if state_dir is not None:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
    try:
        credentials = load_credentials("coordinator", port, token_file, metrics_token_file)
    except (TokenError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        run(
            bind,
            port,
            mesh_port,
            credentials=credentials,
            heartbeat_s=heartbeat,
            peer_timeout_s=peer_timeout,
            state_dir=state_dir,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {bind}:{port}/{mesh_port}: {exc}") from exc
