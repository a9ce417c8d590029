"""The namespace's `sequence-token` Secret as the operator and the CLI read it (reconcilers/credentials.py)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from sequence.reconcilers.credentials import CredentialError, new_secret, token_of


def secret(**keys: str) -> dict[str, Any]:
    data = {k.replace("_", "-"): base64.b64encode(v.encode()).decode() for k, v in keys.items()}
    return {"metadata": {"name": "sequence-token", "namespace": "trading"}, "data": data}


def test_generated_secret_has_two_distinct_256_bit_tokens() -> None:
    first, second = new_secret("trading"), new_secret("trading")
    assert first["metadata"]["namespace"] == "trading" and first["metadata"]["name"] == "sequence-token"
    token = token_of(first)
    assert len(token) == 43  # secrets.token_urlsafe(32)
    assert token != token_of(second)  # random per namespace, not derived from anything
    metrics = base64.b64decode(first["data"]["metrics-token"]).decode()
    assert metrics != token and len(metrics) == 43


def test_a_user_secret_is_used_as_it_is() -> None:
    assert (
        token_of(secret(token="my-own-token-0123456789\n", metrics_token="m" * 20))
        == "my-own-token-0123456789"
    )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"metrics_token": "m" * 20}, "has no 'token' key"),
        ({"token": "t" * 20}, "has no 'metrics-token' key"),
        ({"token": "short", "metrics_token": "m" * 20}, "'token' must be 16+ printable characters"),
        ({"token": "has a space in it 123", "metrics_token": "m" * 20}, "no spaces"),
        ({"token": "t" * 20, "metrics_token": "t" * 20}, "'metrics-token' must differ from 'token'"),
    ],
)
def test_a_broken_secret_is_refused_naming_the_key(keys: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialError, match=re.escape(message)) as raised:
        token_of(secret(**keys))
    assert "Secret trading/sequence-token" in str(raised.value)
    assert "t" * 20 not in str(raised.value)  # never echoes a token


def test_the_cli_needs_only_the_control_token() -> None:
    assert token_of(secret(token="t" * 20), with_metrics=False) == "t" * 20
