"""Pushes that cannot hurt the edge: compile limits, the capped compile worker, bundle_url rules.

Real `sequence edge` processes, real wasmtime, real HTTP and HTTPS servers on loopback (a
self-signed certificate the edge trusts through --bundle-ca-file).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from .test_edge_process import EXAMPLES, MM, RAW, EdgeProcess, push_body, summary, wait_for

RAW_WAT = EXAMPLES / "abi-raw/raw_algo.wat"


def many_functions(n: int) -> bytes:
    """raw_algo (a valid algo) plus `n` small functions nobody calls: compile cost grows with n."""
    base = RAW_WAT.read_text().rstrip()
    extra = "".join(f"(func (param i32) (result i32) local.get 0 i32.const {i} i32.add)\n" for i in range(n))
    return wasmtime.wat2wasm(base[:-1] + extra + ")")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def push_bytes(edge: EdgeProcess, dep_id: str, wasm: bytes, **fields: Any) -> Any:
    """PUT `wasm` as deployment `dep_id`; the long timeout only bounds a broken run (compiles are
    slow on a loaded machine)."""
    body = push_body(RAW, **fields)
    body.update(bundle=base64.b64encode(wasm).decode(), sha256=hashlib.sha256(wasm).hexdigest())
    return edge.http.put(f"/v1/deployments/{dep_id}", json=body, timeout=300)


# ---------------------------------------------------------------- compile limits


@pytest.fixture(scope="module")
def capped_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    proc = EdgeProcess(
        tmp_path_factory.mktemp("capped"),
        "--venue",
        "kraken",
        "--symbols",
        "BTC-USD",
        "--max-functions",
        "40000",
        "--compile-memory-mib",
        "256",
        "--max-bundle-bytes",
        "600000",
    )
    yield proc
    proc.stop()


def test_a_module_over_the_function_limit_is_refused_before_compiling(capped_edge: EdgeProcess) -> None:
    assert push_bytes(capped_edge, "canary", RAW.read_bytes(), state="Running").status_code == 201
    before = summary(capped_edge)
    resp = push_bytes(capped_edge, "many", many_functions(40_001))
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["reason"] == "TooManyFunctions"
    assert "40006 functions" in resp.json()["error"]["message"]  # raw_algo's 5 + 40,001
    assert summary(capped_edge) == before
    assert capped_edge.http.get("/v1/deployments/many").status_code == 404
    assert peak_rss_mib(capped_edge.proc.pid) < 256  # under the configured --compile-memory-mib


def test_a_large_module_compiles_in_the_worker_and_the_edge_stays_under_the_cap(
    capped_edge: EdgeProcess,
) -> None:
    # About 200 MB of Cranelift work: fits the worker's 256 MiB, but not the edge's own peak on top
    # of its ~70 MiB; the timeout only bounds a broken run on a loaded machine.
    wasm = many_functions(30_000)
    resp = push_bytes(capped_edge, "big", wasm, state="Running")
    assert resp.status_code == 201, resp.text
    assert resp.json()["size_bytes"] == len(wasm)
    wait_for(lambda: capped_edge.status("big")["callbacks"] > 0, what="the big module's callbacks")
    assert capped_edge.status("canary")["state"] == "Running"
    assert peak_rss_mib(capped_edge.proc.pid) < 256  # the compile's memory was another process's
    assert capped_edge.http.delete("/v1/deployments/big").status_code == 200


def test_a_compile_that_needs_more_than_the_worker_cap_is_refused(tmp_path: Path) -> None:
    edge = EdgeProcess(tmp_path, "--venue", "kraken", "--symbols", "BTC-USD", "--compile-memory-mib", "96")
    try:
        resp = push_bytes(edge, "big", many_functions(19_000))
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["reason"] == "CompileResourceLimit"
        assert "96 MiB" in resp.json()["error"]["message"]
        assert edge.http.get("/v1/deployments").json() == []
        assert edge.http.get("/healthz").status_code == 200
        assert push_bytes(edge, "small", RAW.read_bytes()).status_code == 201  # the edge still works
    finally:
        edge.stop()


def test_bundles_above_the_size_limit_and_non_wasm_are_refused(capped_edge: EdgeProcess) -> None:
    resp = push_bytes(capped_edge, "huge", b"\0asm\x01\0\0\0" + b"\0" * 600_000)
    assert resp.status_code == 413 and resp.json()["error"]["reason"] == "BundleTooLarge"
    resp = push_bytes(capped_edge, "huger", b"\0" * 2_000_000)  # refused while reading the body
    assert resp.status_code == 413 and resp.json()["error"]["reason"] == "BundleTooLarge"
    resp = push_bytes(capped_edge, "text", RAW_WAT.read_bytes())
    assert resp.status_code == 400 and resp.json()["error"]["reason"] == "NotWasm"
    resp = push_bytes(capped_edge, "broken", RAW.read_bytes()[:-7])
    assert resp.status_code == 400 and resp.json()["error"]["reason"] == "CompileError"


def test_deleting_a_deployment_frees_its_compiled_module() -> None:
    from sequence_edge.algo.host import AlgoHost

    host = AlgoHost()
    try:
        wasm = RAW.read_bytes()
        host.load("a", wasm, ["BTC-USD"])
        host.load("b", wasm, ["BTC-USD"])
        assert host.cache_info()["modules"] == 1
        host.remove("a")
        assert host.cache_info()["modules"] == 1  # b still runs it
        host.remove("b")
        assert host.cache_info()["modules"] == 0
        host.load("c", wasm, ["BTC-USD"])
        host.load("c", many_functions(3), ["BTC-USD"])  # a hot swap frees the replaced module
        assert host.cache_info()["modules"] == 1
    finally:
        host.close()


# ---------------------------------------------------------------- bundle_url


class Server:
    """A real HTTP(S) server on loopback: serves the market maker, a redirect, an error, a big file."""

    def __init__(self, tls: ssl.SSLContext | None = None, redirect_to: str = "") -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if self.path == "/mm.wasm":
                    self._answer(200, MM.read_bytes())
                elif self.path == "/big.wasm":
                    self._answer(200, b"\0asm\x01\0\0\0" + b"\0" * 300_000)
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._answer(404, b"SECRET-internal-page")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Internal", "SECRET-header")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    plain = Server()
    secure = Server(tls, redirect_to=plain.url("/mm.wasm"))
    yield secure, plain, cert
    secure.close()
    plain.close()


@pytest.fixture(scope="module")
def url_edge(
    tmp_path_factory: pytest.TempPathFactory, servers: tuple[Server, Server, Path]
) -> Iterator[EdgeProcess]:
    """Trusts the test CA and lets bundle_url reach loopback (like an in-cluster artifact server)."""
    proc = EdgeProcess(
        tmp_path_factory.mktemp("url"),
        "--venue",
        "kraken",
        "--symbols",
        "BTC-USD",
        "--bundle-ca-file",
        str(servers[2]),
        "--allow-bundle-network",
        "127.0.0.0/8",
        "--max-bundle-bytes",
        "200000",
    )
    yield proc
    proc.stop()


def url_push(edge: EdgeProcess, dep_id: str, url: str, sha256: str | None = None) -> Any:
    body = push_body(MM)
    del body["bundle"]
    body["bundle_url"] = url
    if sha256:
        body["sha256"] = sha256
    return edge.http.put(f"/v1/deployments/{dep_id}", json=body)


def test_an_https_bundle_url_the_edge_trusts_is_fetched(url_edge: EdgeProcess, servers: Any) -> None:
    secure, _, _ = servers
    resp = url_push(url_edge, "fetched", secure.url("/mm.wasm"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["bundle_sha256"] == hashlib.sha256(MM.read_bytes()).hexdigest()
    resp = url_push(url_edge, "by-name", secure.url("/mm.wasm", host="localhost"))
    assert resp.status_code == 201, resp.text


def test_plain_http_needs_allow_http_bundles(url_edge: EdgeProcess, servers: Any, tmp_path: Path) -> None:
    _, plain, _ = servers
    seen = len(plain.requests)
    resp = url_push(url_edge, "plain", plain.url("/mm.wasm"))
    assert resp.status_code == 400 and resp.json()["error"]["reason"] == "BundleUrlRefused"
    assert "--allow-http-bundles" in resp.json()["error"]["message"]
    assert len(plain.requests) == seen  # never contacted
    edge = EdgeProcess(
        tmp_path, "--venue", "kraken", "--allow-http-bundles", "--allow-bundle-network", "127.0.0.1/32"
    )
    try:
        assert url_push(edge, "plain", plain.url("/mm.wasm")).status_code == 201
    finally:
        edge.stop()


def test_redirects_are_not_followed(url_edge: EdgeProcess, servers: Any) -> None:
    secure, plain, _ = servers
    seen = len(plain.requests)
    resp = url_push(url_edge, "redirected", secure.url("/redirect"))
    assert resp.status_code == 400 and resp.json()["error"]["reason"] == "BundleDownloadFailed"
    assert "redirect" in resp.json()["error"]["message"]
    assert len(plain.requests) == seen


def test_refusals_leak_nothing_about_the_response(url_edge: EdgeProcess, servers: Any) -> None:
    secure, _, _ = servers
    wrong = hashlib.sha256(b"something else").hexdigest()
    for path, sha, reason in [
        ("/nothing-here", None, "BundleDownloadFailed"),
        ("/mm.wasm", wrong, "Sha256Mismatch"),
        ("/big.wasm", None, "BundleTooLarge"),
    ]:
        resp = url_push(url_edge, "leak", secure.url(path), sha)
        assert resp.status_code in (400, 413), resp.text
        error = resp.json()["error"]
        assert error["reason"] == reason
        text = resp.text
        assert "SECRET" not in text and "404" not in text
        assert hashlib.sha256(MM.read_bytes()).hexdigest() not in text  # what the URL really holds
    assert url_edge.http.get("/v1/deployments/leak").status_code == 404


def test_an_edge_with_default_rules_refuses_loopback_link_local_and_private_urls(
    tmp_path: Path, servers: Any
) -> None:
    secure, _, cert = servers
    edge = EdgeProcess(tmp_path, "--venue", "kraken", "--bundle-ca-file", str(cert))
    try:
        seen = len(secure.requests)
        for url in [
            secure.url("/mm.wasm"),
            secure.url("/mm.wasm", host="localhost"),  # a name that resolves to loopback
            "https://169.254.169.254/latest/meta-data",
            "https://10.1.2.3/x.wasm",
            "https://[::1]/x.wasm",
            "https://[::ffff:127.0.0.1]/x.wasm",
        ]:
            resp = url_push(edge, "ssrf", url)
            assert resp.status_code == 400, (url, resp.text)
            assert resp.json()["error"]["reason"] == "BundleUrlRefused", url
        assert len(secure.requests) == seen
        assert edge.http.get("/v1/deployments").json() == []
    finally:
        edge.stop()
