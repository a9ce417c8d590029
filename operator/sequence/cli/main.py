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
import os
import sys
from typing import Any

import click

from .. import __version__
from .common import Context

SUBCOMMANDS = {
    # an algorithm's source
    "init": "sequence.cli.scaffold:init",
    "build": "sequence.cli.build:build",
    "preflight": "sequence.cli.preflight:preflight",
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
    "orders": "sequence.cli.verbs:orders",
    "trace": "sequence.cli.verbs:trace",
    "graph": "sequence.cli.graph_cmd:graph",
    # analyses of a running project
    "tca": "sequence.cli.tca:tca",
    "intel": "sequence.cli.intel:intel",
    "kill-switch": "sequence.cli.kill_switch:kill_switch",
    # the data plane's processes (what the images run)
    "edge": "sequence_edge.cli:edge",
    "coordinator": "sequence_coordinator.cli:coordinator",
    "record": "sequence_edge.record:record",
    # this CLI: credentials for remote targets, self-update
    "login": "sequence.cli.login:login",
    "update": "sequence.cli.update:update",
}


# The cluster options kubectl users type after the subcommand too (`kubectl sequence status -n
# prod`): option spelling -> the group parameter it sets.
CLUSTER_OPTIONS = {
    "-n": "namespace",
    "--namespace": "namespace",
    "--context": "kube_context",
    "--kubeconfig": "kubeconfig",
}


def hoist_cluster_options(args: list[str], own: set[str]) -> tuple[list[str], dict[str, str]]:
    """ARGS without the cluster options (`-n X`, `--namespace=X`, `-nX`, ...) a subcommand does
    not define itself (OWN: its option spellings), and their values by group parameter. Stops at
    `--`; a later repeat wins, as on the command line."""
    rest: list[str] = []
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        spelling, eq, value = arg.partition("=")
        if not eq and arg.startswith("-n") and len(arg) > 2 and not arg.startswith("--"):
            spelling, value, eq = "-n", arg[2:], "="  # -nprod
        if spelling in CLUSTER_OPTIONS and spelling not in own:
            if not eq:
                if i + 1 >= len(args):
                    raise click.UsageError(f"option {spelling} needs a value")
                value = args[i + 1]
                i += 1
            found[CLUSTER_OPTIONS[spelling]] = value
        else:
            rest.append(arg)
        i += 1
    return rest, found


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

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The subcommand, with `-n`, `--context` and `--kubeconfig` after it moved to the group
        (the group's callback runs after this, so they reach every subcommand's Context)."""
        name, command, rest = super().resolve_command(ctx, args)
        if command is None or isinstance(command, click.Group):
            return name, command, rest
        own = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        rest, found = hoist_cluster_options(rest, own)
        ctx.params.update(found)
        return name, command, rest


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
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).",
)
@click.version_option(__version__, prog_name="sequence")
@click.pass_context
def cli(
    ctx: click.Context,
    sandbox: bool,
    target: str,
    kube_context: str | None,
    namespace: str | None,
    kubeconfig: str | None,
) -> None:
    """Run sandboxed trading algorithms declared in Sequence.toml, locally or on Kubernetes.

    -n/--namespace, --context and --kubeconfig go before or after the subcommand
    (`sequence -n prod status` = `sequence status -n prod`, as `kubectl sequence status -n prod`).
    """
    if kubeconfig:
        _use_kubeconfig(os.path.abspath(kubeconfig))
    ctx.obj = Context(sandbox=sandbox, target=target, context=kube_context, namespace=namespace)


def _use_kubeconfig(path: str) -> None:
    """PATH as the kubeconfig of this process and its children: the Kubernetes client reads
    $KUBECONFIG once, when first imported, so an already imported client is told too."""
    os.environ["KUBECONFIG"] = path
    kube_config: Any = sys.modules.get("kubernetes.config.kube_config")
    if kube_config is not None:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = path


def main() -> None:
    cli(prog_name="sequence")


if __name__ == "__main__":
    main()
