"""When the CLI is paper-only, and refusing live venues then.

Paper-only means: the global `--sandbox` flag (or $SEQUENCE_SANDBOX), or a login stored with
`sequence login --sandbox` that the command would use: the default login (any target, `sequence
up` included), the current kubeconfig context's, or a remote session's. Anything that would reach
a live venue is then refused before it starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from ..client.logins import DEFAULT_KEY, Login, LoginError, context_key, load_logins, url_key
from ..project import ConfigError, load_project
from .common import Context


def current_context(explicit: str | None) -> str | None:
    """The kubeconfig context a cluster command would use (None without a kubeconfig)."""
    if explicit:
        return explicit
    try:
        from kubernetes import config

        _, active = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except Exception:  # no kube extra, no kubeconfig, or an unreadable one: no context in use
        return None
    return str(active["name"]) if active else None


def sandbox_login(kube_context: str | None = None, url: str | None = None) -> Login | None:
    """The paper-only login this command would use, if any."""
    try:
        logins = load_logins()
    except LoginError as exc:
        raise click.ClickException(str(exc)) from None
    keys = [DEFAULT_KEY]
    context = current_context(kube_context)
    if context:
        keys.append(context_key(context))
    if url:
        keys.append(url_key(url))
    return next((logins[k] for k in keys if k in logins and logins[k].sandbox), None)


def paper_only_reason(ctx: Context | None, url: str | None = None) -> str | None:
    """Why this command is paper-only, or None when live venues are allowed."""
    if ctx is not None and ctx.sandbox:
        return "--sandbox"
    login = sandbox_login(ctx.kube_context if ctx else None, url)
    if login is not None:
        return f"the sandbox login for {login.target} (`sequence login --sandbox`)"
    return None


def refuse_live(ctx: Context | None, live_venues: Iterable[str], url: str | None = None) -> None:
    """A CLI error when the command is paper-only and would use any of LIVE_VENUES."""
    live = sorted(set(live_venues))
    if not live:
        return
    reason = paper_only_reason(ctx, url)
    if reason:
        raise click.ClickException(
            f"{reason} refuses live venues: {', '.join(live)} (paper trading only: set "
            'mode = "sandbox" on them, or drop --sandbox / log in with a live key)'
        )


def live_venues(path: Path, name: str | None = None) -> list[str]:
    """The live venues PATH's deploy blocks use (only NAME's, when NAME is a block or a label);
    none when the file does not load: the command itself reports its problems."""
    try:
        config = load_project(path, check_files=False).config
    except (ConfigError, OSError):
        return []
    blocks = [b for n, b in config.deploy.items() if name in (n, config.label_of(n))] if name else []
    used = {block.venue for block in blocks or config.deploy.values()}
    return sorted(n for n, v in config.venue.items() if v.mode == "live" and n in used)


def paper_only(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates a command's function (under its click decorators) that takes a project as PATH
    or --project, and maybe a deployment NAME: refused first when the CLI is paper-only and the
    command would act on a live venue; the refusal names why (the flag, or which sandbox login)."""

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(Context)
        project = kwargs.get("path") or kwargs.get("project_path") or "."
        refuse_live(ctx, live_venues(Path(project), kwargs.get("name")))
        return callback(*args, **kwargs)

    return guarded
