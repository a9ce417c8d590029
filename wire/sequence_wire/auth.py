"""Shared-secret bearer tokens for the edge API, the coordinator's API and its mesh port (docs/security.md).

Two scopes:

- `control`: everything (push, start, stop, delete, read deployments, orders, logs and traces,
  routing tables, topology) and the mesh HELLO;
- `metrics`: `GET /metrics` only (what Prometheus gets).

`/healthz` needs no token. Without a metrics token, `/metrics` takes the control token.

A server finds its control token in `--token-file PATH`, else in `SEQUENCE_TOKEN`, else it
generates one and writes it to a 0600 file named in its first log line; the metrics token in
`--metrics-token-file PATH`, else `SEQUENCE_METRICS_TOKEN`, else there is none. Clients send
`Authorization: Bearer <token>`; tokens are compared in constant time.

This module is pure (no aiohttp): the servers' middleware is `sequence_wire.http_auth`.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CONTROL: Literal["control"] = "control"
METRICS: Literal["metrics"] = "metrics"
Scope = Literal["control", "metrics"]

TOKEN_ENV = "SEQUENCE_TOKEN"
# The same token in a header of its own, for paths that consume `Authorization`: the Kubernetes
# API server's pod proxy authenticates the caller with it and does not forward it to the pod.
TOKEN_HEADER = "X-Sequence-Token"
METRICS_TOKEN_ENV = "SEQUENCE_METRICS_TOKEN"
MIN_TOKEN_CHARS = 16  # a shorter shared secret is refused: it could be guessed
MAX_TOKEN_CHARS = 4096
OPEN_PATHS = frozenset({"/healthz"})
METRICS_PATHS = frozenset({"/metrics"})


class TokenError(ValueError):
    """A token file or value that cannot be used; the message says which and why."""


def generate_token() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison: the time taken says nothing about how much of `given` was right."""
    return hmac.compare_digest(given.encode(), expected.encode())


def check_token(token: str, where: str) -> str:
    token = token.strip()
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
        raise TokenError(f"{where}: a token must be {MIN_TOKEN_CHARS}..{MAX_TOKEN_CHARS} characters")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise TokenError(f"{where}: a token must be printable ASCII without spaces")
    return token


def read_token_file(path: str | Path) -> str:
    """The token in `path` (surrounding whitespace and the trailing newline ignored)."""
    try:
        raw = Path(path).read_bytes()[: MAX_TOKEN_CHARS + 2]
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise TokenError(f"{path}: a token must be printable ASCII without spaces") from None
    return check_token(text, str(path))


def write_token_file(path: str | Path, token: str) -> Path:
    """Write `token` to `path`, readable by this user only (0600; missing directories 0700)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode on O_CREAT: tighten it
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    return path


def state_dir() -> Path:
    """Where generated token files go: $XDG_RUNTIME_DIR/sequence, else ~/.local/state/sequence."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "sequence"
    return Path.home() / ".local" / "state" / "sequence"


def default_token_path(role: str, port: int) -> Path:
    return state_dir() / f"{role}-{port}.token"


def token_from(flag_file: str | None, env_name: str, env: dict[str, str] | None = None) -> str | None:
    """A token from a file flag, else from an environment variable, else None."""
    if flag_file:
        return read_token_file(flag_file)
    value = (os.environ if env is None else env).get(env_name)
    if value:
        return check_token(value, f"${env_name}")
    return None


@dataclass(frozen=True)
class Credentials:
    """What a server accepts: the control token and, optionally, a read-only metrics token."""

    control: str
    metrics: str | None = None
    source: str = ""  # where the control token came from, for the first log line

    def __post_init__(self) -> None:
        if self.metrics is not None and tokens_equal(self.metrics, self.control):
            raise TokenError("the metrics token must differ from the control token")

    def scope_of(self, token: str | None) -> Scope | None:
        """The scope `token` grants, or None for a missing or unknown token."""
        if not token:
            return None
        # Both comparisons always run: which one matched must not show in the timing.
        is_control = tokens_equal(token, self.control)
        is_metrics = self.metrics is not None and tokens_equal(token, self.metrics)
        if is_control:
            return CONTROL
        return METRICS if is_metrics else None

    def allows_mesh(self, token: object) -> bool:
        """Is `token` (from a HELLO) the control token? The metrics token never joins the mesh."""
        return isinstance(token, str) and self.scope_of(token) == CONTROL


def load_credentials(
    role: str,
    port: int,
    token_file: str | None = None,
    metrics_token_file: str | None = None,
    env: dict[str, str] | None = None,
) -> Credentials:
    """The server's credentials (flag, else environment, else a generated control token written to
    a 0600 file; `source` names it). Raises TokenError for an unreadable or unusable token."""
    found = token_from(token_file, TOKEN_ENV, env)
    if found is not None:
        control = found
        source = f"token from {token_file}" if token_file else f"token from ${TOKEN_ENV}"
    else:
        control = generate_token()
        path = default_token_path(role, port)
        try:
            write_token_file(path, control)
        except OSError as exc:
            raise TokenError(
                f"no token given (--token-file or ${TOKEN_ENV}) and the generated one cannot be written "
                f"to {path}: {exc.strerror or exc}"
            ) from None
        source = f"generated a token into {path} (send it as 'Authorization: Bearer <token>')"
    metrics = token_from(metrics_token_file, METRICS_TOKEN_ENV, env)
    return Credentials(control, metrics, source)


def required_scope(path: str) -> Scope | None:
    """The scope a request path needs: None (open), metrics, or control (everything else)."""
    if path in OPEN_PATHS:
        return None
    if path in METRICS_PATHS:
        return METRICS
    return CONTROL


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def request_tokens(authorization: str | None, token_header: str | None) -> list[str]:
    """The tokens a request carries: in `Authorization: Bearer` and in the X-Sequence-Token header."""
    tokens = [bearer_token(authorization), token_header.strip() if token_header else None]
    return [t for t in tokens if t]


def bearer_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def authorize(
    creds: Credentials, path: str, header: str | None, token_header: str | None = None
) -> tuple[int, str, str] | None:
    """None if the request may proceed, else (status, reason, message) to answer with. `header` is
    the Authorization header, `token_header` the X-Sequence-Token header."""
    needed = required_scope(path)
    if needed is None:
        return None
    tokens = request_tokens(header, token_header)
    scopes = {creds.scope_of(t) for t in tokens}  # either header may carry it
    scope = CONTROL if CONTROL in scopes else METRICS if METRICS in scopes else None
    if scope is None:
        what = "an unknown bearer token" if tokens else "no bearer token"
        return 401, "Unauthorized", f"{path} needs 'Authorization: Bearer <token>'; the request had {what}"
    if scope == METRICS and needed == CONTROL:
        return 403, "Forbidden", f"the metrics token may only read /metrics, not {path}"
    return None
