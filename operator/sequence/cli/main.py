"""The `sequence` command line (also `kubectl sequence` as a kubectl plugin).

This file is the table of contents: the global options and, for every subcommand, the
"module:attribute" of the click command that implements it. A subcommand's module is
imported only when that subcommand runs (or `--help` lists it), so `sequence render` loads
no Kubernetes client, `sequence status` loads no edge, and `sequence edge` / `sequence
coordinator` load the data plane and nothing of the operator. Subcommands share what they
need through common.py and never import this module.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .. import __version__
from .common import Context

SUBCOMMANDS = {
    # an algorithm's source
    "init": "sequence.cli.scaffold:init",
    "build": "sequence.cli.build:build",
    # project files
    "render": "sequence.cli.project_cmds:render",
    "validate": "sequence.cli.project_cmds:validate",
    "crds": "sequence.cli.project_cmds:crds",
    # a cluster
    "deploy": "sequence.cli.deploy:deploy",
    "operator": "sequence.cli.operator_cmd:operator",
    # this machine
    "up": "sequence.cli.up:up",
    "down": "sequence.cli.up:down",
    # a running project, local or in the cluster
    "status": "sequence.cli.verbs:status",
    "start": "sequence.cli.verbs:start",
    "stop": "sequence.cli.verbs:stop",
    "pause": "sequence.cli.verbs:pause",
    "resume": "sequence.cli.verbs:resume",
    "undeploy": "sequence.cli.verbs:undeploy",
    "logs": "sequence.cli.verbs:logs",
    "mesh": "sequence.cli.verbs:mesh",
    "watch": "sequence.cli.verbs:watch",
    "trace": "sequence.cli.verbs:trace",
    "kill-switch": "sequence.cli.kill_switch:kill_switch",
    # the data plane's processes (what the images run)
    "edge": "sequence_edge.cli:edge",
    "coordinator": "sequence_coordinator.cli:coordinator",
    "record": "sequence_edge.record:record",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are "module:attribute" strings, imported on use."""

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_subcommands:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy_subcommands[cmd_name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
                raise  # a missing dependency inside the module: show the real error
            return _not_installed(cmd_name, module_name)
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        return command


def _not_installed(name: str, module: str) -> click.Command:
    """Stands in for a subcommand whose package is not installed here (e.g. the edge's)."""

    def run() -> None:
        raise click.ClickException(f"`sequence {name}` needs the {module.split('.')[0]} package")

    return click.Command(name, callback=run, help=f"(not installed here: {module.split('.')[0]})")


@click.group(
    cls=LazyGroup,
    lazy_subcommands=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--sandbox",
    is_flag=True,
    envvar="SEQUENCE_SANDBOX",
    help="Paper-trading only: refuse anything that would reach a live venue.",
)
@click.option(
    "--target",
    type=click.Choice(["auto", "local", "cluster"]),
    default="auto",
    envvar="SEQUENCE_TARGET",
    show_default=True,
    help="Where the verbs act: a local `sequence up` session, or the cluster.",
)
@click.option(
    "--context", "kube_context", envvar="SEQUENCE_CONTEXT", help="kubeconfig context (default: current)."
)
@click.option("--namespace", "-n", envvar="SEQUENCE_NAMESPACE", help="Namespace (default: the context's).")
@click.version_option(__version__, prog_name="sequence")
@click.pass_context
def cli(
    ctx: click.Context, sandbox: bool, target: str, kube_context: str | None, namespace: str | None
) -> None:
    """Run sandboxed trading algorithms declared in Sequence.toml, locally or on Kubernetes."""
    ctx.obj = Context(sandbox=sandbox, target=target, context=kube_context, namespace=namespace)


def main() -> None:
    cli(prog_name="sequence")


if __name__ == "__main__":
    main()
