"""`sequence login`: tokens stored 0600 in the config directory, sent by the client to the URL
they were stored for only, and sandbox logins that make the CLI refuse live venues."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sequence.client import EdgeClient

from .conftest import EXAMPLES, sequence_cli

TOKEN = "login-test-token-0123456789abcdef"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("SEQUENCE_CONFIG_DIR", str(directory))
    monkeypatch.setenv("SEQUENCE_STATE_DIR", str(tmp_path / "state"))
    return directory


def login(*args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sequence_cli(), "login", *args], input=token + "\n", capture_output=True, text=True, timeout=60
    )


def test_a_login_is_stored_for_this_user_only_and_listed_without_its_token(config: Path) -> None:
    done = login("--context", "prod", "--token-stdin")
    assert done.returncode == 0, done.stderr
    assert "stored a live login for kubeconfig context prod" in done.stdout
    path = config / "logins.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())["logins"]["context:prod"]
    assert stored["token"] == TOKEN and stored["sandbox"] is False
    listed = login("--list")
    assert "context:prod" in listed.stdout and "live" in listed.stdout and TOKEN not in listed.stdout
    assert login("--remove", "--context", "prod").returncode == 0
    assert json.loads(path.read_text())["logins"] == {}


def test_a_bad_token_or_url_is_refused_and_nothing_is_stored(config: Path) -> None:
    short = login("--token-stdin", token="short")
    assert short.returncode != 0 and "16..4096 characters" in short.stderr
    bad_url = login("--url", "ftp://host:1", "--token-stdin")
    assert bad_url.returncode != 0 and "not an http:// or https:// URL" in bad_url.stderr
    assert not (config / "logins.json").exists()


def test_a_logins_file_others_can_read_is_refused(config: Path) -> None:
    assert login("--token-stdin").returncode == 0
    (config / "logins.json").chmod(0o644)
    listed = login("--list")
    assert listed.returncode != 0 and "readable by others" in listed.stderr


class HeaderRecorder:
    """An HTTP server answering /healthz like an edge and recording the Authorization it gets."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.seen.append(self.headers.get("Authorization"))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorders() -> Iterator[tuple[HeaderRecorder, HeaderRecorder]]:
    pair = HeaderRecorder(), HeaderRecorder()
    yield pair
    for recorder in pair:
        recorder.server.shutdown()


def test_the_client_sends_a_url_login_to_that_url_only(
    config: Path, recorders: tuple[HeaderRecorder, HeaderRecorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = recorders
    assert login("--url", f"http://127.0.0.1:{mine.port}/", "--token-stdin").returncode == 0
    monkeypatch.delenv("SEQUENCE_TOKEN")  # the stored login is used only when it is not set
    with EdgeClient(f"127.0.0.1:{mine.port}") as client:
        assert client.health().ok
    with EdgeClient(f"http://127.0.0.1:{other.port}") as client:
        assert client.health().ok
    assert mine.seen == [f"Bearer {TOKEN}"]
    assert other.seen == [None]  # never sent to another host
    monkeypatch.setenv("SEQUENCE_TOKEN", "from-the-environment-123456")
    with EdgeClient(f"127.0.0.1:{mine.port}") as client:
        client.health()
    assert mine.seen[-1] == "Bearer from-the-environment-123456"


def live_project(tmp_path: Path) -> Path:
    project = tmp_path / "live-mm"
    project.mkdir()
    source = EXAMPLES / "market-maker"
    text = (source / "Sequence.toml").read_text()
    text = text.replace('mode = "sandbox"', 'mode = "live"\ncredentials = "kraken-keys"', 1)
    text = text.replace('kind = "sim"\nsim = {', 'kind = "live"\n# sim = {', 1)  # live trades its real book
    (project / "Sequence.toml").write_text(text)
    (project / "market_maker.wasm").write_bytes((source / "market_maker.wasm").read_bytes())
    return project


def test_a_sandbox_login_makes_up_refuse_a_live_venue(config: Path, tmp_path: Path) -> None:
    project = live_project(tmp_path)
    done = login("--sandbox", "--token-stdin")
    assert done.returncode == 0 and "sandbox (paper-only" in done.stdout
    up = subprocess.run(
        [*sequence_cli(), "up", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert up.returncode != 0
    assert (
        "the sandbox login for the default target" in up.stderr and "refuses live venues: kraken" in up.stderr
    )
    assert not (tmp_path / "state").exists()  # nothing started


def test_the_sandbox_flag_refuses_a_live_venue_without_any_login(config: Path, tmp_path: Path) -> None:
    project = live_project(tmp_path)
    up = subprocess.run(
        [*sequence_cli(), "--sandbox", "up", str(project)], capture_output=True, text=True, timeout=60
    )
    assert up.returncode != 0 and "--sandbox refuses live venues: kraken" in up.stderr
    assert not (tmp_path / "state").exists()


def test_a_sandbox_login_makes_deploy_refuse_a_live_venue_and_start_nothing(
    config: Path, tmp_path: Path
) -> None:
    project = live_project(tmp_path)
    assert login("--context", "prod", "--sandbox", "--token-stdin").returncode == 0

    def deploy(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sequence_cli(), *args, "deploy", "--skip-build"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )

    refused = deploy("--context", "prod")  # the context whose login is paper-only
    assert refused.returncode != 0
    assert "the sandbox login for kubeconfig context prod" in refused.stderr
    assert "refuses live venues: kraken" in refused.stderr
    flag = deploy("--sandbox")
    assert flag.returncode != 0 and "--sandbox refuses live venues: kraken" in flag.stderr
    assert not (tmp_path / "state").exists()  # no session was started


def test_start_and_resume_refuse_a_live_deployment_when_paper_only(config: Path, tmp_path: Path) -> None:
    project = live_project(tmp_path)
    for verb in ("start", "resume"):
        done = subprocess.run(
            [*sequence_cli(), "--sandbox", verb, "mm", "-p", str(project)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0 and "--sandbox refuses live venues: kraken" in done.stderr, done.stderr
