"""Malformed mesh input against a real `sequence coordinator`: every bad frame gets an ERROR frame
and its connection closed, nothing escapes a connection task, and good edges keep being served."""

from __future__ import annotations

import json
import random
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sequence_wire import mesh as mp

from .conftest import TEST_TOKEN, sequence_cli
from .mesh_support import CoordinatorProcess, Peer, instance, labels_in, wait_until

HELLO = {
    "protocol": mp.PROTOCOL_VERSION,
    "edge_id": "fuzz-0",
    "venue": "fuzz",
    "client_id": 7,
    "token": TEST_TOKEN,
}


class LoggedCoordinator(CoordinatorProcess):
    """A coordinator whose stderr goes to a file, read after the run (nothing may have escaped)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        super().__init__()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*sequence_cli(), "coordinator", "--port", str(self.port), "--mesh-port", str(self.mesh_port),
                 "--heartbeat", str(self.heartbeat), "--peer-timeout", "30"],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )  # fmt: skip
        wait_until(self._healthy, 60, "the coordinator to answer /healthz")


@pytest.fixture(scope="module")
def cc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedCoordinator]:
    coordinator = LoggedCoordinator(tmp_path_factory.mktemp("cc") / "coordinator.log")
    yield coordinator
    coordinator.stop()
    text = coordinator.log_path.read_text()
    assert "Fatal error on transport" not in text
    assert "Traceback" not in text


@pytest.fixture(scope="module")
def good(cc: LoggedCoordinator) -> Iterator[tuple[Peer, Peer]]:
    maker, hedger = Peer(cc, "kraken-0", "kraken"), Peer(cc, "coinbase-0", "coinbase")
    maker.register(instance("maker", "g", "maker"))
    hedger.register(instance("hedger", "g", "hedger"))
    wait_until(lambda: {"maker@kraken-0", "hedger@coinbase-0"} <= labels_in(cc.group("g")), what="good edges")
    yield maker, hedger
    maker.close()
    hedger.close()


def frame(frame_type: int, body: bytes) -> bytes:
    return mp.FRAME_HEADER.pack(len(body) + 1, frame_type) + body


def read_until_closed(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame the coordinator sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames, pos = [], 0
    while pos + 5 <= len(data):
        length, frame_type = mp.FRAME_HEADER.unpack_from(data, pos)
        frames.append((frame_type, data[pos + 5 : pos + 4 + length]))
        pos += 4 + length
    return frames


def exchange(cc: CoordinatorProcess, *chunks: bytes) -> list[tuple[int, bytes]]:
    with socket.create_connection(("127.0.0.1", cc.mesh_port), timeout=20) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
        return read_until_closed(sock)


def assert_refused(frames: list[tuple[int, bytes]]) -> str:
    assert frames, "the coordinator closed without an ERROR frame"
    frame_type, body = frames[-1]
    assert frame_type == mp.ERROR, frames
    error = json.loads(body)
    assert error["reason"] == "ProtocolError" and error["message"]
    return str(error["message"])


def hello(**changes: object) -> bytes:
    return mp.json_frame(mp.HELLO, {**HELLO, **changes})


DEEP = b"[" * 200_000 + b"]" * 200_000
TOB_OK = struct.pack("<QQQQQB", 1, 1, 2, 1, 0, 7) + b"BTC-USD"

BEFORE_HELLO = {
    "http request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "zero length": b"\0\0\0\0\x05",
    "oversize": struct.pack("<IB", mp.MAX_FRAME + 1, mp.HELLO) + b"{}",
    "TOB first": frame(mp.TOB, TOB_OK),
    "SEND first": mp.send_frame(1, 1, 0, b"hedger", b"x"),
    "HELLO not JSON": frame(mp.HELLO, b"\xff\xfe{"),
    "HELLO deep JSON": frame(mp.HELLO, DEEP),
    "HELLO a list": frame(mp.HELLO, b"[1,2]"),
    "HELLO wrong protocol": hello(protocol=99),
    "HELLO long venue": hello(venue="v" * 100_000),
    "HELLO venue with spaces": hello(venue="New York"),
    "HELLO negative client": hello(client_id=-1),
    "HELLO client id a float": hello(client_id=1.5),
}

AFTER_HELLO = {
    "short SEND": frame(mp.SEND, b"\1\0\0\0\1"),
    "SEND label past the end": frame(mp.SEND, struct.pack("<IQQB", 1, 1, 0, 200) + b"hedger"),
    "short TOB": frame(mp.TOB, b"\0" * 10),
    "TOB symbol length mismatch": frame(mp.TOB, struct.pack("<QQQQQB", 1, 1, 2, 1, 0, 60) + b"BTC"),
    "STATS not JSON": frame(mp.STATS, b"nope"),
    "STATS links not a list": mp.json_frame(mp.STATS, {"links": 5}),
    "STATS unhashable handle": mp.json_frame(mp.STATS, {"links": [{"to": [1], "from": "maker"}]}),
    "STATS bad label": mp.json_frame(mp.STATS, {"links": [{"to": 1, "from": "x" * 500}]}),
    "STATS counters a list": mp.json_frame(mp.STATS, {"links": [], "counters": [1]}),
    "REGISTER deep JSON": frame(mp.REGISTER, DEEP),
    "REGISTER instances not a list": mp.json_frame(mp.REGISTER, {"instances": "all"}),
    "HELLO twice": hello(),
    "unknown type": frame(200, b"??"),
    "DELIVER from an edge": frame(mp.DELIVER, b"\0" * 50),
    "oversize": struct.pack("<IB", mp.MAX_FRAME + 1, mp.STATS),
}


@pytest.mark.parametrize("name", sorted(BEFORE_HELLO))
def test_malformed_frames_before_hello_get_an_error_and_the_close(cc, good, name: str) -> None:
    assert_refused(exchange(cc, BEFORE_HELLO[name]))


@pytest.mark.parametrize("name", sorted(AFTER_HELLO))
def test_malformed_frames_after_hello_get_an_error_and_the_close(cc, good, name: str) -> None:
    frames = exchange(cc, hello(), AFTER_HELLO[name])
    assert_refused(frames)
    assert all(t in (mp.WELCOME, mp.VENUES) for t, _ in frames[:-1])


def test_seeded_random_frames_never_break_the_coordinator(cc, good) -> None:
    rng = random.Random(20261201)
    types = [*mp.FRAME_NAMES, 0, 13, 99, 255]
    for _ in range(150):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        first = hello() if rng.random() < 0.7 else b""
        if rng.random() < 0.3:  # a valid frame cut short or with its tail replaced
            valid = mp.send_frame(1, 1, 0, b"hedger", b"x") if rng.random() < 0.5 else frame(mp.TOB, TOB_OK)
            cut = rng.randrange(5, len(valid))
            body = valid[5:cut] + junk[: rng.randrange(0, 8)]
            payload = frame(valid[4], body)
        else:
            payload = frame(rng.choice(types), junk)
        # a frame that is always refused last, in case the random one happened to be acceptable
        assert_refused(exchange(cc, first + payload + frame(250, b"")))
    deliveries_still_work(cc, *good)


def deliveries_still_work(cc: CoordinatorProcess, maker: Peer, hedger: Peer) -> None:
    before = len(hedger.messages("hedger"))
    maker.command("send", **{"from": "maker", "to": "hedger", "payload": "still-here"})
    wait_until(lambda: len(hedger.messages("hedger")) > before, what="a delivery after the fuzzing")
    assert hedger.messages("hedger")[-1]["payload"] == "still-here"
    assert cc.get("/healthz")["ok"]


def test_good_edges_are_served_after_every_malformed_frame(cc, good) -> None:
    deliveries_still_work(cc, *good)
    assert {e["edge_id"] for e in cc.get("/v1/edges")["edges"]} == {"kraken-0", "coinbase-0"}


def test_departed_venues_free_the_venue_table(cc, good) -> None:
    junk: list[socket.socket] = []
    try:
        free = mp.MAX_VENUES - 2  # kraken and coinbase hold two entries
        for i in range(free):
            sock = socket.create_connection(("127.0.0.1", cc.mesh_port), timeout=20)
            sock.sendall(hello(edge_id=f"junk-{i}", venue=f"junk-{i}"))
            junk.append(sock)
        wait_until(lambda: len(cc.get("/v1/edges")["edges"]) == free + 2, what="the junk edges to connect")
        message = assert_refused(exchange(cc, hello(edge_id="real-0", venue="real")))
        assert "venue table is full" in message
    finally:
        for sock in junk:
            sock.close()
    wait_until(lambda: len(cc.get("/v1/edges")["edges"]) == 2, what="the junk edges to leave")
    with socket.create_connection(("127.0.0.1", cc.mesh_port), timeout=20) as sock:
        sock.sendall(hello(edge_id="real-0", venue="real"))
        length, frame_type = struct.unpack("<IB", sock.recv(5, socket.MSG_WAITALL))
        assert frame_type == mp.WELCOME
        venues = json.loads(sock.recv(length - 1, socket.MSG_WAITALL))["venues"]
    assert "real" in venues and not any(v.startswith("junk") for v in venues)
    deliveries_still_work(cc, *good)
