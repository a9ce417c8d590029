"""Credentials `sequence login` stores: a token per remote target, in the user's config directory.

One JSON file, `logins.json`, in $SEQUENCE_CONFIG_DIR, else $XDG_CONFIG_HOME/sequence, else
~/.config/sequence; the file is 0600 and the directory 0700, rewritten atomically. A login is
keyed by what it unlocks:

- `context:<name>`: the edge and coordinator token of a kubeconfig context's namespace;
- `url:<scheme://host:port>`: a remote session (an edge or coordinator reachable at that URL);
- `default`: a key given with no target (`sequence login` on a machine with no kubeconfig).

A login made with `--sandbox` is paper-only: the CLI refuses anything live while it is in use.
The client sends a URL login's token to that URL only (never to another host).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

CONFIG_DIR_ENV = "SEQUENCE_CONFIG_DIR"
FILE_NAME = "logins.json"
DEFAULT_KEY = "default"


class LoginError(ValueError):
    """An unusable logins file or login; the message says which and why."""


@dataclass(frozen=True)
class Login:
    key: str  # context:<name>, url:<origin> or default
    token: str
    sandbox: bool = False
    saved_at: float = 0.0

    @property
    def target(self) -> str:
        """What the login is for, in words."""
        kind, _, name = self.key.partition(":")
        if kind == "context":
            return f"kubeconfig context {name}"
        if kind == "url":
            return f"remote session {name}"
        return "the default target"


def config_dir() -> Path:
    configured = os.environ.get(CONFIG_DIR_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "sequence"


def logins_path() -> Path:
    return config_dir() / FILE_NAME


def origin(url: str) -> str:
    """`scheme://host:port` of a URL or `host:port` (the default port made explicit)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoginError(f"{url!r} is not an http:// or https:// URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def context_key(context: str) -> str:
    return f"context:{context}"


def url_key(url: str) -> str:
    return f"url:{origin(url)}"


def load_logins() -> dict[str, Login]:
    """Every stored login (none when the file does not exist); refuses a file others can read."""
    path = logins_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    if info.st_mode & 0o077:
        raise LoginError(
            f"{path} is readable by others (mode {info.st_mode & 0o777:o}): run `chmod 600 {path}`"
        )
    try:
        rows = json.loads(path.read_text())["logins"]
        return {key: Login(key=key, **row) for key, row in rows.items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise LoginError(f"{path} is not a logins file ({exc}); remove it and log in again") from None


def save_login(key: str, token: str, sandbox: bool) -> Login:
    """Store (or replace) the login KEY; returns it."""
    logins = load_logins()
    login = Login(key=key, token=token, sandbox=sandbox, saved_at=round(time.time(), 3))
    logins[key] = login
    _write(logins)
    return login


def remove_login(key: str) -> bool:
    logins = load_logins()
    if logins.pop(key, None) is None:
        return False
    _write(logins)
    return True


def _write(logins: dict[str, Login]) -> None:
    path = logins_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    rows = {key: {k: v for k, v in asdict(login).items() if k != "key"} for key, login in logins.items()}
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps({"logins": rows}, indent=2).encode())
    finally:
        os.close(fd)
    tmp.replace(path)


def login_for_url(url: str) -> Login | None:
    """The stored login of the remote session at URL's origin, or None (also for an unreadable
    file: a client call must not fail because of a login it does not need)."""
    try:
        return load_logins().get(url_key(url))
    except LoginError:
        return None
