"""`sequence update` against a local HTTP server that speaks PyPI's JSON API and serves a wheel:
the version check, the changelog line, the refusals, the hash check and a real pip install into a
throwaway virtual environment."""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sequence import selfupdate

from .conftest import sequence_cli

INSTALLED = selfupdate.installed_version()
PROBE = "sequence_update_probe"


def make_wheel(version: str) -> tuple[str, bytes]:
    """A minimal wheel of `sequence-k8s` VERSION holding one module (never the real package)."""
    dist_info = f"sequence_k8s-{version}.dist-info"
    files = {
        f"{PROBE}.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: sequence-k8s\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},," + "\n" for name in files) + f"{dist_info}/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in {**files, f"{dist_info}/RECORD": record}.items():
            wheel.writestr(name, text)
    return f"sequence_k8s-{version}-py3-none-any.whl", buffer.getvalue()


class IndexStandIn:
    """PyPI's `/pypi/<name>/json` and the files it links to, on loopback; records every path asked."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests.append(self.path)
                if self.path == "/pypi/sequence-k8s/json":
                    body, kind = json.dumps(stand_in.answer).encode(), "application/json"
                elif self.path.startswith("/files/") and self.path[7:] in stand_in.files:
                    body, kind = stand_in.files[self.path[7:]], "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(
        self, version: str, wheel: tuple[str, bytes] | None = None, sha256: str | None = None
    ) -> None:
        name, data = wheel or make_wheel(version)
        self.files[name] = data
        self.answer = {
            "info": {
                "name": "sequence-k8s",
                "version": version,
                "description": f"# Changelog\n\n## {version} — sequence preflight and sequence update\n\n## 0.1.0 — first\n",
                "project_urls": {"Changelog": "https://example.invalid/CHANGELOG.md"},
            },
            "urls": [
                {
                    "filename": name,
                    "packagetype": "bdist_wheel",
                    "url": f"/files/{name}",
                    "digests": {"sha256": sha256 or hashlib.sha256(data).hexdigest()},
                }
            ],
        }


@pytest.fixture
def index() -> Iterator[IndexStandIn]:
    stand_in = IndexStandIn()
    yield stand_in
    stand_in.server.shutdown()


def update(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sequence_cli(), "update", *args], capture_output=True, text=True, timeout=120)


def test_the_installed_version_is_up_to_date(index: IndexStandIn) -> None:
    index.publish(INSTALLED)
    result = update("--index-url", index.url)
    assert result.returncode == 0, result.stderr
    assert f"sequence {INSTALLED} is up to date" in result.stdout
    assert not any(p.startswith("/files/") for p in index.requests)  # nothing downloaded


def test_a_newer_release_is_found_with_its_changelog_line(index: IndexStandIn) -> None:
    index.publish("99.0.0")
    env = {**os.environ, "SEQUENCE_INDEX_URL": index.url}  # the environment override works too
    result = subprocess.run(
        [*sequence_cli(), "update", "--check"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert f"sequence 99.0.0 is available (installed: {INSTALLED})" in result.stdout
    assert "99.0.0 — sequence preflight and sequence update" in result.stdout


def test_a_source_tree_is_not_upgraded_and_nothing_is_downloaded(index: IndexStandIn) -> None:
    # the tests run this tree from PYTHONPATH (or an editable install): never a release install
    index.publish("99.0.0")
    result = update("--index-url", index.url)
    assert result.returncode != 0
    assert "not updating:" in result.stderr and ("editable" in result.stderr or "git" in result.stderr)
    assert not any(p.startswith("/files/") for p in index.requests)
    assert metadata.version("sequence-k8s") == INSTALLED


def _fake_dist(site: Path, direct_url: dict[str, Any] | None) -> metadata.Distribution:
    info = site / "sequence_k8s-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sequence-k8s\nVersion: 0.1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    (site / "sequence").mkdir()
    return next(iter(metadata.distributions(path=[str(site)])))


def test_an_editable_or_local_install_is_refused_and_a_release_install_is_not(tmp_path: Path) -> None:
    editable = _fake_dist(tmp_path / "a", {"url": "file:///src/sequence", "dir_info": {"editable": True}})
    problem = selfupdate.install_problem(editable, tmp_path / "a/sequence")
    assert problem is not None and "editable install (file:///src/sequence)" in problem
    local = _fake_dist(tmp_path / "b", {"url": "file:///src/sequence", "dir_info": {}})
    assert "development install" in (selfupdate.install_problem(local, tmp_path / "b/sequence") or "")
    release = _fake_dist(tmp_path / "c", None)
    assert selfupdate.install_problem(release, tmp_path / "c/sequence") is None
    # the same release install, but the code running is another tree (PYTHONPATH)
    assert "PYTHONPATH" in (selfupdate.install_problem(release, tmp_path / "a/sequence") or "")
    assert "not installed" in (selfupdate.install_problem(None, tmp_path) or "")


def test_a_file_whose_digest_differs_from_the_index_is_not_installed(index: IndexStandIn) -> None:
    index.publish("99.0.0", sha256="0" * 64)
    release = selfupdate.latest_release(index.url)
    with pytest.raises(selfupdate.UpdateError, match="does not match the index's 0000"):
        selfupdate.install(release)
    assert metadata.version("sequence-k8s") == INSTALLED


def test_an_index_answer_without_a_digest_is_refused(index: IndexStandIn) -> None:
    index.publish("99.0.0")
    del index.answer["urls"][0]["digests"]
    with pytest.raises(selfupdate.UpdateError, match="no sha256 digest"):
        selfupdate.latest_release(index.url)


@pytest.mark.slow
def test_the_release_is_installed_by_pip_with_its_hash_into_a_venv(
    index: IndexStandIn, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    index.publish("99.0.0")
    release = selfupdate.latest_release(index.url)
    assert release.url == f"{index.url}/files/sequence_k8s-99.0.0-py3-none-any.whl"
    selfupdate.install(release, python=python)
    version = subprocess.run(
        [
            python,
            "-c",
            f"import importlib.metadata as m, {PROBE}; print(m.version('sequence-k8s'), {PROBE}.VERSION)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.split() == ["99.0.0", "99.0.0"]
