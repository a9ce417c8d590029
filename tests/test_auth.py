"""The token model shared by the servers and clients (sequence_wire.auth, docs/security.md)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sequence_wire.auth import (
    CONTROL,
    METRICS,
    Credentials,
    TokenError,
    authorize,
    bearer_token,
    generate_token,
    load_credentials,
    read_token_file,
    write_token_file,
)

CONTROL_TOKEN = "c" * 43
METRICS_TOKEN = "m" * 43
CREDS = Credentials(CONTROL_TOKEN, METRICS_TOKEN)


def test_generated_tokens_are_long_urlsafe_and_distinct() -> None:
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_scopes() -> None:
    assert CREDS.scope_of(CONTROL_TOKEN) == CONTROL
    assert CREDS.scope_of(METRICS_TOKEN) == METRICS
    assert CREDS.scope_of("c" * 42) is None
    assert CREDS.scope_of(CONTROL_TOKEN + "c") is None
    assert CREDS.scope_of("") is None and CREDS.scope_of(None) is None
    assert CREDS.allows_mesh(CONTROL_TOKEN)
    assert not CREDS.allows_mesh(METRICS_TOKEN) and not CREDS.allows_mesh(123)


@pytest.mark.parametrize(
    ("path", "header", "expected"),
    [
        ("/healthz", None, None),
        ("/metrics", f"Bearer {METRICS_TOKEN}", None),
        ("/metrics", f"Bearer {CONTROL_TOKEN}", None),
        ("/metrics", None, 401),
        ("/v1/deployments/x", f"bearer {CONTROL_TOKEN}", None),  # the scheme is case-insensitive
        ("/v1/deployments/x", f"Bearer {METRICS_TOKEN}", 403),
        ("/v1/deployments/x", f"Basic {CONTROL_TOKEN}", 401),
        ("/v1/deployments/x", "Bearer ", 401),
        ("/v1/mesh/g", "Bearer wrong-token-wrong-token", 401),
        ("/no/such/route", None, 401),  # unknown routes say nothing before authentication
    ],
)
def test_authorize(path: str, header: str | None, expected: int | None) -> None:
    refusal = authorize(CREDS, path, header)
    assert (refusal[0] if refusal else None) == expected
    if refusal is not None:
        assert refusal[1] == {401: "Unauthorized", 403: "Forbidden"}[refusal[0]]


def test_the_token_header_stands_in_for_authorization() -> None:
    assert authorize(CREDS, "/v1/deployments", "Basic kube-user", CONTROL_TOKEN) is None  # pod proxy
    assert authorize(CREDS, "/v1/deployments", None, METRICS_TOKEN) is not None
    assert authorize(CREDS, "/v1/deployments", None, "  ") is not None


def test_bearer_token_parsing() -> None:
    assert bearer_token(f"Bearer  {CONTROL_TOKEN} ") == CONTROL_TOKEN
    assert bearer_token(None) is None and bearer_token("Token abc") is None


def test_without_a_metrics_token_only_the_control_token_reads_metrics() -> None:
    creds = Credentials(CONTROL_TOKEN)
    assert authorize(creds, "/metrics", f"Bearer {CONTROL_TOKEN}") is None
    assert authorize(creds, "/metrics", f"Bearer {METRICS_TOKEN}") is not None


def test_the_metrics_token_must_differ_from_the_control_token() -> None:
    with pytest.raises(TokenError, match="must differ"):
        Credentials(CONTROL_TOKEN, CONTROL_TOKEN)


def test_token_files_are_written_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "edge-7070.token"
    write_token_file(path, CONTROL_TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)  # an existing, too open file is tightened on rewrite
    write_token_file(path, METRICS_TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_token_file(path) == METRICS_TOKEN


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"short\n", "16..4096"), (b"has space inside the token\n", "without spaces"), (b"\xff" * 20, "ASCII")],
)
def test_unusable_token_files_are_refused(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "t"
    path.write_bytes(content)
    with pytest.raises(TokenError, match=needle):
        read_token_file(path)


def test_credentials_come_from_the_flag_then_the_environment_then_a_generated_file(tmp_path: Path) -> None:
    flag = tmp_path / "flag.token"
    flag.write_text(CONTROL_TOKEN)
    env = {"SEQUENCE_TOKEN": "e" * 43, "XDG_RUNTIME_DIR": str(tmp_path)}
    assert load_credentials("edge", 1, str(flag), env=env).control == CONTROL_TOKEN
    from_env = load_credentials("edge", 1, env=env)
    assert from_env.control == "e" * 43 and from_env.metrics is None
    assert load_credentials("edge", 1, env={"SEQUENCE_METRICS_TOKEN": METRICS_TOKEN, **env}).metrics == (
        METRICS_TOKEN
    )


def test_a_generated_token_is_written_where_the_source_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    creds = load_credentials("coordinator", 7171, env={})
    path = tmp_path / "sequence" / "coordinator-7171.token"
    assert str(path) in creds.source
    assert read_token_file(path) == creds.control


def test_a_generated_token_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "sequence").write_text("")  # a file where the token directory should be
    with pytest.raises(TokenError, match=r"no token given \(--token-file or \$SEQUENCE_TOKEN\)"):
        load_credentials("edge", 7070, env={})
