"""The attack suite: what someone who reaches an edge's or the coordinator's ports tries, against real
`sequence edge` and `sequence coordinator` processes (docs/security.md lists what each attack gets).

Every attack is counted; the module prints "attacks tried N, refused M" at the end.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sequence_wire import mesh as mp

from .conftest import EXAMPLES, TEST_TOKEN, sequence_cli
from .mesh_support import CoordinatorProcess, Peer, free_port, instance, wait_until
from .test_edge_process import RAW, EdgeProcess, push_body

METRICS_TOKEN = "metrics-" + "m" * 32
PX = 100_000_000
BTC = "BTC-USD"
HEDGER = EXAMPLES / "mesh-arb/hedger.wasm"
TEAM = "team-a"  # the mesh group the real edge's hedger is in
HEDGER_ID = f"{TEAM}/hedger"  # the deployment id (namespace/name), URL-encoded in paths
HEDGER_PATH = "/v1/deployments/team-a%2Fhedger"


class Tally:
    def __init__(self) -> None:
        self.tried: list[tuple[str, bool]] = []

    def refused(self, attack: str, refused: bool) -> None:
        self.tried.append((attack, refused))
        assert refused, f"attack not refused: {attack}"


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    t = Tally()
    yield t
    refused = sum(1 for _, ok in t.tried if ok)
    line = f"attack suite: attacks tried {len(t.tried)}, refused {refused}"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown without -s, in CI logs too
            reporter.write_line("\n" + line)
            for name, ok in t.tried:
                reporter.write_line(f"  {'refused' if ok else 'NOT REFUSED'}: {name}")


@pytest.fixture(scope="module")
def metrics_token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "metrics.token"
    path.write_text(METRICS_TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def cc(metrics_token_file: Path) -> Iterator[CoordinatorProcess]:
    coordinator = CoordinatorProcess(args=("--metrics-token-file", str(metrics_token_file)))
    status, _ = coordinator.request(
        "PUT",
        f"/v1/mesh/{TEAM}",
        {
            "members": [
                {"deployment": HEDGER_ID, "label": "hedger", "venue": "kraken"},
                {"deployment": f"{TEAM}/maker", "label": "maker", "venue": "coinbase", "peers": ["hedger"]},
            ]
        },
    )
    assert status == 200
    yield coordinator
    coordinator.stop()


@pytest.fixture(scope="module")
def edge(
    tmp_path_factory: pytest.TempPathFactory, cc: CoordinatorProcess, metrics_token_file: Path
) -> Iterator[EdgeProcess]:
    """The real kraken edge: hosts team-a's hedger (running) and a stopped raw algo, on the mesh."""
    proc = EdgeProcess(
        tmp_path_factory.mktemp("edge"),
        "--venue",
        "kraken",
        "--symbols",
        BTC,
        "--coordinator",
        f"127.0.0.1:{cc.mesh_port}",
        "--metrics-token-file",
        str(metrics_token_file),
    )
    resp = proc.http.put(HEDGER_PATH, json=push_body(HEDGER, label="hedger", mesh_group=TEAM))
    assert resp.status_code == 201, resp.text
    assert proc.push("quiet", RAW, state="Stopped").status_code == 201
    wait_until(lambda: cc.group(TEAM).get("instances"), 60, what="the real hedger to register")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def watcher(cc: CoordinatorProcess) -> Iterator[Peer]:
    """A legitimate NBBO subscriber of BTC-USD on another venue (a real MeshClient with the token)."""
    peer = Peer(cc, "coinbase-0", "coinbase")
    peer.register(instance("watch/nbbo", "watch", "watcher", symbols=[BTC], on_nbbo=True))
    wait_until(lambda: peer.of("nbbo"), 60, what="the watcher's first NBBO")
    yield peer
    peer.close()


# ---------------------------------------------------------------- the edge's control API


def anonymous(edge: EdgeProcess, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{edge.port}{path}", timeout=10.0, **kw)


def unauthorized(resp: httpx.Response) -> bool:
    body = resp.json()
    return (
        resp.status_code == 401
        and body["error"]["reason"] == "Unauthorized"
        and resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
    )


def test_edge_api_refuses_every_unauthenticated_control_request(edge: EdgeProcess, tally: Tally) -> None:
    before = sorted((d["deployment_id"], d["state"]) for d in edge.http.get("/v1/deployments").json())
    attacks = [
        ("push without a token", "PUT", "/v1/deployments/stranger", {"json": push_body(RAW)}),
        ("start without a token", "POST", "/v1/deployments/quiet/start", {}),
        ("stop without a token", "POST", f"{HEDGER_PATH}/stop", {}),
        ("delete without a token", "DELETE", HEDGER_PATH, {}),
        ("order read without a token", "GET", f"{HEDGER_PATH}/orders", {}),
        ("logs without a token", "GET", f"{HEDGER_PATH}/logs?tail=10", {}),
        ("trace without a token", "GET", "/v1/orders/1/trace", {}),
        ("deployment list without a token", "GET", "/v1/deployments", {}),
        ("status without a token", "GET", HEDGER_PATH, {}),
        ("edge info without a token", "GET", "/v1/edge", {}),
        ("metrics without a token", "GET", "/metrics", {}),
    ]
    for name, method, path, kw in attacks:
        tally.refused(name, unauthorized(anonymous(edge, method, path, **kw)))
    wrong = {"Authorization": "Bearer " + "x" * 43}
    resp = anonymous(edge, "PUT", "/v1/deployments/stranger", json=push_body(RAW), headers=wrong)
    tally.refused("push with a wrong token", unauthorized(resp))
    basic = {"Authorization": f"Basic {TEST_TOKEN}"}
    tally.refused(
        "push with the token under another scheme",
        unauthorized(anonymous(edge, "PUT", "/v1/deployments/stranger", json=push_body(RAW), headers=basic)),
    )
    # Nothing changed: no new deployment, the stopped one is stopped, the running one runs.
    after = sorted((d["deployment_id"], d["state"]) for d in edge.http.get("/v1/deployments").json())
    assert after == before
    assert anonymous(edge, "GET", "/healthz").status_code == 200  # liveness stays open


def test_the_metrics_token_reads_metrics_and_nothing_else(edge: EdgeProcess, tally: Tally) -> None:
    metrics = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    resp = anonymous(edge, "PUT", "/v1/deployments/stranger", json=push_body(RAW), headers=metrics)
    tally.refused(
        "push with the metrics token",
        resp.status_code == 403 and resp.json()["error"]["reason"] == "Forbidden",
    )
    resp = anonymous(edge, "GET", f"{HEDGER_PATH}/orders", headers=metrics)
    tally.refused("order read with the metrics token", resp.status_code == 403)
    scrape = anonymous(edge, "GET", "/metrics", headers=metrics)
    assert scrape.status_code == 200 and "sequence_" in scrape.text
    assert edge.http.get("/metrics").status_code == 200  # the control token reads metrics too
    assert edge.http.get("/v1/deployments/stranger").status_code == 404


def test_with_the_token_everything_works_as_before(edge: EdgeProcess) -> None:
    assert edge.http.post("/v1/deployments/quiet/start").json()["state"] == "Running"
    assert edge.http.post("/v1/deployments/quiet/stop").json()["state"] == "Stopped"
    assert isinstance(edge.http.get(f"{HEDGER_PATH}/orders").json(), list)
    assert edge.http.get(f"{HEDGER_PATH}/logs?tail=5").status_code == 200
    # Through the Kubernetes pod proxy, Authorization is the API server's: the token has its own header.
    via_proxy = {"Authorization": "Bearer kube-api-token", "X-Sequence-Token": TEST_TOKEN}
    assert anonymous(edge, "GET", "/v1/deployments", headers=via_proxy).status_code == 200


# ---------------------------------------------------------------- the coordinator's HTTP API


def test_coordinator_api_refuses_routing_tables_without_the_control_token(
    cc: CoordinatorProcess, edge: EdgeProcess, tally: Tally
) -> None:
    drop_hedger = {"members": [{"deployment": f"{TEAM}/maker", "label": "maker", "venue": "coinbase"}]}
    for name, headers, expected in [
        ("routing table PUT without a token", {}, 401),
        ("routing table PUT with a wrong token", {"Authorization": "Bearer " + "y" * 43}, 401),
        ("routing table PUT with the metrics token", {"Authorization": f"Bearer {METRICS_TOKEN}"}, 403),
    ]:
        status, _ = cc.request("PUT", f"/v1/mesh/{TEAM}", drop_hedger, headers=headers)
        tally.refused(name, status == expected)
    status, _ = cc.request("DELETE", f"/v1/mesh/{TEAM}", headers={})
    tally.refused("routing table DELETE without a token", status == 401)
    status, _ = cc.request("GET", "/v1/mesh", headers={})
    tally.refused("topology read without a token", status == 401)
    status, _ = cc.request("GET", "/metrics", headers={})
    tally.refused("coordinator metrics without a token", status == 401)
    status, text = cc.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and "sequence_mesh_hello_refusals" in text
    group = cc.group(TEAM)  # the table still routes to the hedger
    assert group["routing_table"] is True and group["missing_labels"] == ["maker"]
    assert [i["mesh_id"] for i in group["instances"]] == ["hedger@kraken-0"]
    assert cc.request("GET", "/healthz", headers={})[0] == 200


# ---------------------------------------------------------------- the mesh port


class RawMesh:
    """Speaks the mesh protocol by hand: what an attacker's script would send."""

    def __init__(self, cc: CoordinatorProcess) -> None:
        self.sock = socket.create_connection(("127.0.0.1", cc.mesh_port), timeout=10)
        self.reader = mp.FrameReader()
        self.frames: list[tuple[int, bytes]] = []
        self.closed = False

    def hello(self, venue: str, token: str | None, client_id: int = 7) -> None:
        body: dict[str, Any] = {
            "protocol": mp.PROTOCOL_VERSION,
            "edge_id": f"rogue-{venue}",
            "venue": venue,
            "client_id": client_id,
        }
        if token is not None:
            body["token"] = token
        self.sock.sendall(mp.json_frame(mp.HELLO, body))

    def send(self, frame: bytes) -> None:
        self.sock.sendall(frame)

    def register(self, *entries: dict[str, Any]) -> None:
        self.send(mp.json_frame(mp.REGISTER, {"generation": 1, "instances": list(entries)}))

    def _read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return  # nothing yet: the callers' deadlines decide
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return
        for frame_type, buf, start, end in self.reader.feed(data):
            self.frames.append((frame_type, bytes(buf[start:end])))

    def wait_raw(self, frame_type: int, start: int = 0) -> bytes:
        """The body of the first frame of `frame_type` at or after index `start` of `frames`."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for kind, body in self.frames[start:]:
                if kind == frame_type:
                    return body
            if self.closed:
                break
            self._read()
        raise AssertionError(f"no {mp.FRAME_NAMES[frame_type]} frame; got {self.frames}")

    def wait_frame(self, frame_type: int) -> dict[str, Any]:
        return json.loads(self.wait_raw(frame_type))

    def refused_and_closed(self, reason: str) -> bool:
        error = self.wait_frame(mp.ERROR)
        deadline = time.monotonic() + 60
        while not self.closed and time.monotonic() < deadline:
            self._read()
        welcomed = any(kind == mp.WELCOME for kind, _ in self.frames)
        return self.closed and error["reason"] == reason and not welcomed

    def close(self) -> None:
        self.sock.close()


def tob(symbol: str, bid: float, ask: float) -> bytes:
    return mp.tob_frame(symbol.encode(), int(bid * PX), 10 * PX, int(ask * PX), 10 * PX, time.time_ns())


def test_hello_without_the_token_gets_an_error_frame_and_the_connection_closes(
    cc: CoordinatorProcess, edge: EdgeProcess, watcher: Peer, tally: Tally
) -> None:
    cases = [
        ("HELLO without a token", None),
        ("HELLO with a wrong token", "z" * 43),
        ("HELLO with the metrics token", METRICS_TOKEN),
    ]
    for name, token in cases:
        raw = RawMesh(cc)
        raw.hello("forged", token)
        # A forged top of book right behind the HELLO: bid 1,000,000.
        raw.send(tob(BTC, 1_000_000, 1_000_001))
        tally.refused(name, raw.refused_and_closed("Unauthorized"))
        raw.close()
    raw = RawMesh(cc)
    raw.send(tob(BTC, 1_000_000, 1_000_001))
    tally.refused("TOB before any HELLO", raw.refused_and_closed("ProtocolError"))
    raw.close()
    assert "forged" not in json.dumps(cc.get("/v1/edges"))
    metrics = cc.metrics()
    assert "sequence_mesh_hello_refusals_total 3.0" in metrics  # counted apart from protocol errors
    assert_nbbo_never_forged(watcher)


def assert_nbbo_never_forged(watcher: Peer) -> None:
    """Some NBBO updates later (the real edge keeps quoting), none carried the forged bid."""
    seen = len(watcher.of("nbbo"))
    wait_until(lambda: len(watcher.of("nbbo")) > seen + 3, 60, what="NBBO updates after the attack")
    bids = [e["bid_px_1e8"] for e in watcher.of("nbbo")]
    assert max(bids) < 1_000_000 * PX


def test_an_edge_cannot_claim_a_venue_that_is_already_connected(
    cc: CoordinatorProcess, edge: EdgeProcess, watcher: Peer, tally: Tally
) -> None:
    raw = RawMesh(cc)
    raw.hello("kraken", TEST_TOKEN, client_id=99)  # the real kraken edge is connected
    raw.send(tob(BTC, 1_000_000, 1_000_001))
    tally.refused("HELLO claiming a connected venue, then a forged TOB", raw.refused_and_closed("VenueTaken"))
    raw.close()
    assert_nbbo_never_forged(watcher)
    assert [e["edge_id"] for e in cc.get("/v1/edges")["edges"] if e["venue"] == "kraken"] == ["kraken-0"]


def test_an_edge_registers_only_its_venue_and_the_table_rows_of_its_venue(
    cc: CoordinatorProcess, edge: EdgeProcess, tally: Tally
) -> None:
    raw = RawMesh(cc)
    raw.hello("evil", TEST_TOKEN, client_id=1234)
    raw.wait_frame(mp.WELCOME)
    raw.register(
        {"handle": 1, "deployment_id": HEDGER_ID, "mesh_group": TEAM, "label": "hedger", "on_message": True},
        {"handle": 2, "deployment_id": "evil/x", "mesh_group": TEAM, "label": "maker2", "on_message": True},
        {"handle": 3, "deployment_id": "evil/y", "mesh_group": "own", "label": "y", "venue": "kraken"},
        {"handle": 4, "deployment_id": f"{TEAM}/maker", "mesh_group": TEAM, "label": "maker"},
    )
    reply = raw.wait_frame(mp.REGISTERED)
    reasons = {item["deployment_id"]: item["reason"] for item in reply["rejected"]}
    tally.refused(
        "registering label hedger of another team's group",
        "belongs to deployment" in reasons.get(HEDGER_ID, ""),
    )
    tally.refused(
        "registering a label outside the group's routing table",
        "not in the routing table" in reasons.get("evil/x", ""),
    )
    tally.refused(
        "registering an instance at a venue not bound to the connection",
        "not this connection's venue" in reasons.get("evil/y", ""),
    )
    tally.refused(
        "registering a table row of another venue", "at venue 'coinbase'" in reasons.get(f"{TEAM}/maker", "")
    )
    assert reply["accepted"] == []
    # Sends from the refused handles go nowhere: the real hedger receives none of them.
    before = edge.status("team-a%2Fhedger")["mesh"]["received"]
    for handle in (1, 2, 4):
        raw.send(mp.send_frame(handle, 1, time.time_ns(), b"hedger", b"\x00" * 48))
    raw.register({"handle": 5, "deployment_id": "evil/z", "mesh_group": "own", "label": "z"})
    assert raw.wait_frame(mp.REGISTERED) is not None  # the coordinator has read everything before it
    assert [i["mesh_id"] for i in cc.group(TEAM)["instances"]] == ["hedger@kraken-0"]
    assert edge.status("team-a%2Fhedger")["mesh"]["received"] == before
    raw.close()


# ---------------------------------------------------------------- credentials and defaults


def run_generated(role: str, tmp: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    """Start `sequence <role>` with no token flag or environment, and default bind address."""
    env = {k: v for k, v in os.environ.items() if k not in ("SEQUENCE_TOKEN", "SEQUENCE_METRICS_TOKEN")}
    env["XDG_RUNTIME_DIR"] = str(tmp)
    port = free_port()
    log = tmp / f"{role}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*sequence_cli(), role, "--port", str(port), *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    return proc, log, port


@pytest.mark.parametrize("role", ["coordinator", "edge"])
def test_without_a_token_a_server_generates_one_into_a_0600_file_named_first(
    tmp_path: Path, role: str, tally: Tally
) -> None:
    args = ("--mesh-port", str(free_port())) if role == "coordinator" else ("--venue", "kraken")
    proc, log, port = run_generated(role, tmp_path, *args)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: b"listening on" in log.read_bytes() or b"HTTP on" in log.read_bytes(), 60, "start")
        first = log.read_text().splitlines()[0]
        path = tmp_path / "sequence" / f"{role}-{port}.token"
        assert f"generated a token into {path}" in first
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        token = path.read_text().strip()
        assert len(token) >= 43
        assert f"127.0.0.1:{port}" in log.read_text()  # loopback unless told otherwise
        path_v1 = "/v1/mesh" if role == "coordinator" else "/v1/deployments"
        tally.refused(
            f"{role} with a generated token: request without it", httpx.get(url + path_v1).status_code == 401
        )
        assert httpx.get(url + path_v1, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_unusable_token_files_stop_the_server_with_a_clear_error(tmp_path: Path) -> None:
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    for args, needle in [
        (("--token-file", str(tmp_path / "missing.token")), "cannot read token file"),
        (("--token-file", str(short)), "a token must be 16..4096 characters"),
    ]:
        run = subprocess.run(
            [
                *sequence_cli(),
                "coordinator",
                "--port",
                str(free_port()),
                "--mesh-port",
                str(free_port()),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 1 and needle in run.stderr, run.stderr


def test_an_edge_with_the_wrong_coordinator_token_stays_off_the_mesh_and_says_why(
    tmp_path: Path, cc: CoordinatorProcess
) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("w" * 43)
    proc = EdgeProcess(
        tmp_path,
        "--venue",
        "bitstamp",
        "--coordinator",
        f"127.0.0.1:{cc.mesh_port}",
        "--coordinator-token-file",
        str(wrong),
    )
    try:
        wait_until(lambda: "Unauthorized" in proc.log_path.read_text(), 60, "the refusal in the edge's log")
        mesh = proc.http.get("/v1/edge").json()["mesh"]
        assert mesh["refused"].startswith("Unauthorized") and not mesh["registered"]
        assert "bitstamp" not in json.dumps(cc.get("/v1/edges"))
        assert proc.http.get("/healthz").status_code == 200  # it trades without the mesh
    finally:
        proc.stop()


def unregistered_sends(cc: CoordinatorProcess) -> float:
    for line in cc.metrics().splitlines():
        if line.startswith('sequence_mesh_dropped_total{group="",reason="unregistered_sender"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_routing_table_cuts_off_instances_registered_before_it(
    cc: CoordinatorProcess, tally: Tally
) -> None:
    receiver, spy = RawMesh(cc), RawMesh(cc)
    try:
        receiver.hello("bitfinex", TEST_TOKEN, client_id=501)
        receiver.register(
            {
                "handle": 1,
                "deployment_id": "team-b/hedger",
                "mesh_group": "team-b",
                "label": "hedger",
                "on_message": True,
            }
        )
        spy.hello("early", TEST_TOKEN, client_id=502)
        spy.register({"handle": 1, "deployment_id": "early/spy", "mesh_group": "team-b", "label": "spy"})
        assert spy.wait_frame(mp.REGISTERED)["accepted"] == ["early/spy"]  # no table yet: allowed
        assert receiver.wait_frame(mp.REGISTERED)["accepted"] == ["team-b/hedger"]
        spy.send(mp.send_frame(1, 1, time.time_ns(), b"hedger", b"before"))
        assert receiver.wait_raw(mp.DELIVER).endswith(b"before")  # the path works without a table
        table = {"members": [{"deployment": "team-b/hedger", "label": "hedger", "venue": "bitfinex"}]}
        assert cc.request("PUT", "/v1/mesh/team-b", table)[0] == 200
        before = unregistered_sends(cc)
        spy.send(mp.send_frame(1, 2, time.time_ns(), b"hedger", b"after"))
        wait_until(lambda: unregistered_sends(cc) > before, 60, what="the spy's send to be dropped")
        receiver.wait_raw(mp.PING, len(receiver.frames))  # a heartbeat later: anything sent has arrived
        delivered = [body for kind, body in receiver.frames if kind == mp.DELIVER]
        tally.refused(
            "sending from an instance the new routing table does not admit",
            len(delivered) == 1 and delivered[0].endswith(b"before"),
        )
    finally:
        receiver.close()
        spy.close()
        cc.request("DELETE", "/v1/mesh/team-b")
