"""`sequence update`: find a newer release of this package on the package index and install it.

The index is PyPI's JSON API (`<index>/pypi/<name>/json`; $SEQUENCE_INDEX_URL or --index-url
points elsewhere, e.g. a mirror). The release's file is downloaded, checked against the sha256 the
index publishes, and installed by pip with `--require-hashes`, so pip verifies the same digest
again. Only a release install is upgraded: an editable install, a source tree on PYTHONPATH, or
a build from a local directory or VCS is the developer's to update (git pull), and is refused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from packaging.version import InvalidVersion, Version

DIST_NAME = "sequence-k8s"
DEFAULT_INDEX = "https://pypi.org"
INDEX_ENV = "SEQUENCE_INDEX_URL"
TIMEOUT_S = 30.0


class UpdateError(Exception):
    """Why the update cannot go ahead; nothing was changed."""


@dataclass(frozen=True)
class Release:
    version: str
    url: str  # the file pip installs
    filename: str
    sha256: str
    changelog: str | None  # the release's line from the description, or its changelog URL


def installed_version() -> str:
    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        from . import __version__

        return __version__


def install_problem(dist: metadata.Distribution | None, running_from: Path) -> str | None:
    """Why this install must not be upgraded in place, or None for a release install.

    DIST is the installed distribution (None when there is none); RUNNING_FROM is the directory
    of the `sequence` package actually imported (a source tree on PYTHONPATH wins over the install).
    """
    if dist is None:
        return f"{DIST_NAME} is not installed: this is a source tree ({running_from}); update it with git"
    direct = dist.read_text("direct_url.json")
    if direct:
        info = json.loads(direct)
        where = info.get("url", "?")
        if info.get("dir_info", {}).get("editable"):
            return f"this is an editable install ({where}): update it with git, then reinstall"
        if "vcs_info" in info or where.startswith("file:"):
            return f"this is a development install from {where}: reinstall from there"
    package = Path(str(dist.locate_file("sequence/__init__.py"))).parent
    if package.resolve() != running_from.resolve():
        return (
            f"the running code ({running_from}) is not the installed {DIST_NAME} ({package}): "
            "a source tree on PYTHONPATH; update it with git"
        )
    return None


def current_install_problem() -> str | None:
    try:
        dist: metadata.Distribution | None = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError:
        dist = None
    return install_problem(dist, Path(__file__).resolve().parent)


def index_url(explicit: str | None, env: dict[str, str]) -> str:
    return (explicit or env.get(INDEX_ENV) or DEFAULT_INDEX).rstrip("/")


def latest_release(index: str, http: httpx.Client | None = None) -> Release:
    """The newest release on the index, with the file to install and its sha256."""
    url = f"{index}/pypi/{DIST_NAME}/json"
    client = http or httpx.Client(timeout=TIMEOUT_S, follow_redirects=True)
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise UpdateError(f"cannot reach the package index {index}: {exc}") from None
    finally:
        if http is None:
            client.close()
    if response.status_code == 404:
        raise UpdateError(f"{DIST_NAME} is not published on {index} ({url}: HTTP 404)")
    if response.status_code != 200:
        raise UpdateError(f"{url}: HTTP {response.status_code}")
    try:
        data = response.json()
        return _release(data, url)
    except (ValueError, KeyError, TypeError) as exc:
        raise UpdateError(f"{url}: not a package index answer ({exc!r})") from None


def _release(data: dict[str, Any], url: str) -> Release:
    info = data["info"]
    version = str(info["version"])
    files = [f for f in data.get("urls") or data.get("releases", {}).get(version, []) if not f.get("yanked")]
    wheels = [f for f in files if f.get("packagetype") == "bdist_wheel" and _compatible(f["filename"])]
    chosen = (wheels or [f for f in files if f.get("packagetype") == "sdist"] or [None])[0]
    if chosen is None:
        raise UpdateError(f"{url}: release {version} has no wheel for this Python and no source archive")
    sha256 = str(chosen.get("digests", {}).get("sha256", "")).lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise UpdateError(
            f"{url}: {chosen['filename']} has no sha256 digest: refusing to install it unchecked"
        )
    return Release(
        version, urljoin(url, chosen["url"]), chosen["filename"], sha256, _changelog(info, version)
    )


def _compatible(filename: str) -> bool:
    """A pure-Python wheel, or one built for this interpreter (cp311 on CPython 3.11)."""
    tags = filename[:-4].split("-")[-3:]
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return tags[0] in ("py3", f"py{sys.version_info.major}{sys.version_info.minor}", tag)


def _changelog(info: dict[str, Any], version: str) -> str | None:
    """The description's line about VERSION (a changelog heading or entry), else the project's
    changelog URL."""
    for line in (info.get("description") or "").splitlines():
        text = line.strip().lstrip("#*- ").strip()
        if text.startswith((version, f"v{version}", f"[{version}]")):
            return text
    urls = info.get("project_urls") or {}
    for key, value in urls.items():
        if key.lower().replace(" ", "") in ("changelog", "changes", "releasenotes", "history"):
            return f"changelog: {value}"
    return None


def is_newer(candidate: str, current: str) -> bool:
    try:
        return Version(candidate) > Version(current)
    except InvalidVersion as exc:
        raise UpdateError(f"cannot compare versions {candidate!r} and {current!r}: {exc}") from None


def install(release: Release, python: str = sys.executable, http: httpx.Client | None = None) -> str:
    """Download RELEASE's file, check its sha256, and pip-install it with --require-hashes into
    PYTHON's environment; returns pip's output. Nothing is installed when a check fails."""
    with tempfile.TemporaryDirectory(prefix="sequence-update-") as tmp:
        path = Path(tmp) / Path(release.filename).name
        client = http or httpx.Client(timeout=TIMEOUT_S, follow_redirects=True)
        try:
            with client.stream("GET", release.url) as response:
                if response.status_code != 200:
                    raise UpdateError(f"{release.url}: HTTP {response.status_code}")
                digest = hashlib.sha256()
                with path.open("wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise UpdateError(f"cannot download {release.url}: {exc}") from None
        finally:
            if http is None:
                client.close()
        if digest.hexdigest() != release.sha256:
            raise UpdateError(
                f"{release.filename}: sha256 {digest.hexdigest()} does not match the index's "
                f"{release.sha256}: not installed"
            )
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{path} --hash=sha256:{release.sha256}\n")
        cmd = [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--require-hashes",
            "--upgrade",
            "-r",
            str(requirements),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise UpdateError(f"pip refused {release.filename}:\n{(done.stderr or done.stdout).strip()}")
        check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
        if check.returncode != 0:
            return done.stdout + f"\nsome dependencies need attention (pip check):\n{check.stdout.strip()}"
        return done.stdout
