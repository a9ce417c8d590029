"""`sequence login`: store the token of a remote target in the user's config directory (0600).

    sequence login --context prod              # the edge/coordinator token of a kubeconfig context
    sequence login --url https://host:7070      # a remote session's URL and token
    sequence login --sandbox                    # the default login, paper-only
    sequence login --list | --remove [--context C | --url U]

The token is read from a hidden prompt, or from stdin with --token-stdin (never from the command
line, where other users could see it in the process list).
"""

from __future__ import annotations

import sys
import time

import click

from sequence_wire.auth import TokenError, check_token

from ..client.logins import (
    DEFAULT_KEY,
    LoginError,
    context_key,
    load_logins,
    logins_path,
    remove_login,
    save_login,
    url_key,
)


def _key(context: str | None, url: str | None) -> str:
    if context and url:
        raise click.UsageError("give --context or --url, not both")
    try:
        return context_key(context) if context else url_key(url) if url else DEFAULT_KEY
    except LoginError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None


def _read_token(from_stdin: bool, sandbox: bool) -> str:
    if from_stdin:
        raw = sys.stdin.readline()
    else:
        kind = "sandbox (paper-only)" if sandbox else "live"
        raw = click.prompt(f"Sequence {kind} token", hide_input=True, err=True)
    try:
        return check_token(raw, "the token")
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None


def _list() -> None:
    logins = load_logins()
    if not logins:
        click.echo(f"no logins stored ({logins_path()})")
        return
    for login in sorted(logins.values(), key=lambda item: item.key):
        mode = "sandbox" if login.sandbox else "live"
        saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(login.saved_at))
        click.echo(f"{login.key:40} {mode:8} {login.token[:4]}…  saved {saved}")


@click.command("login")
@click.option(
    "--sandbox", is_flag=True, help="Mark this login paper-only: the CLI refuses live venues with it."
)
@click.option("--context", "kube_context", metavar="NAME", help="Store the token of this kubeconfig context.")
@click.option(
    "--url", metavar="URL", help="Store the token of the remote session at URL (scheme://host:port)."
)
@click.option("--token-stdin", is_flag=True, help="Read the token from stdin instead of a prompt.")
@click.option("--list", "list_logins", is_flag=True, help="List the stored logins (tokens shortened).")
@click.option("--remove", is_flag=True, help="Forget the login of --context, --url, or the default one.")
def login(
    sandbox: bool,
    kube_context: str | None,
    url: str | None,
    token_stdin: bool,
    list_logins: bool,
    remove: bool,
) -> None:
    """Store the token of a remote target (a kubeconfig context, or a remote session's URL) in
    the user's config directory, readable by this user only. Without --context or --url it is
    the default login. With --sandbox the login is paper-only: while it is in use, anything that
    would reach a live venue is refused."""
    try:
        if list_logins:
            _list()
            return
        key = _key(kube_context, url)
        if remove:
            if not remove_login(key):
                raise click.ClickException(f"no login stored for {key}")
            click.echo(f"removed the login for {key}")
            return
        token = _read_token(token_stdin, sandbox)
        stored = save_login(key, token, sandbox)
    except LoginError as exc:
        raise click.ClickException(str(exc)) from None
    mode = "sandbox (paper-only: live venues are refused)" if sandbox else "live"
    click.echo(f"stored a {mode} login for {stored.target} in {logins_path()}")
