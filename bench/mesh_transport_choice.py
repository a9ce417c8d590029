"""Which transport should carry mesh messages? pyzmq vs asyncio, against a plain TCP relay.

Runs the same hop -- sender process -> relay process (looks the destination
label up, re-frames) -> receiver process -- over three transports, on
127.0.0.1 between real processes, in one run:

  tcp      baseline: blocking sockets, the relay only cuts length-prefixed frames and forwards them
  asyncio  asyncio Protocol (uvloop if installed) relay; asyncio clients, as inside the edge's loop
  zmq      ROUTER relay (blocking loop); DEALER clients via zmq.asyncio, as inside the edge's loop

and prints one-way latency (send timestamp in the sender to parse in the
receiver, paced sends) and throughput (N senders blasting, messages per second
received), each as a ratio against the TCP baseline. This is what decided the
transport in sequence_edge/mesh_protocol.py; `bench/mesh_hop.py` and
`bench/coordinator_throughput.py` then measure the real coordinator.

    python bench/mesh_transport_choice.py [--messages 4000] [--rate 1000] [--blast 100000] [--senders 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import select
import socket
import struct
import subprocess
import sys
import time

try:
    import uvloop
except ImportError:  # pragma: no cover - optional
    uvloop = None

HDR = struct.Struct("<IB")
MSG = struct.Struct("<QQ")  # seq, send_ts_ns
PAYLOAD = bytes(64)
HELLO, SEND, DELIVER = 1, 5, 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_loop(coro):
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)


def send_body(dest: bytes, seq: int) -> bytes:
    return bytes([len(dest)]) + dest + MSG.pack(seq, time.time_ns()) + PAYLOAD


def frame(ftype: int, body: bytes) -> bytes:
    return HDR.pack(len(body) + 1, ftype) + body


def cut(buf: bytearray) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while len(buf) - pos >= 5:
        n, t = HDR.unpack_from(buf, pos)
        if len(buf) - pos - 4 < n:
            break
        out.append((t, bytes(buf[pos + 5 : pos + 4 + n])))
        pos += 4 + n
    del buf[:pos]
    return out


def reframe(src: bytes, body: bytes) -> bytes:
    """SEND body (dest label, seq/ts, payload) -> DELIVER body (from label, seq/ts, payload)."""
    n = body[0]
    return bytes([len(src)]) + src + body[1 + n :]


class Recorder:
    """Receiver side: latencies of DELIVER bodies, and first/last arrival for throughput."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.lat: list[int] = []
        self.first = 0
        self.last = 0

    def on_deliver(self, body: bytes) -> bool:
        now = time.time_ns()
        n = body[0]
        _seq, ts = MSG.unpack_from(body, 1 + n)
        if not self.lat:
            self.first = now
        self.last = now
        self.lat.append(now - ts)
        return len(self.lat) >= self.expected

    def report(self) -> None:
        lat = sorted(self.lat)
        out = {"received": len(lat)}
        if lat:
            out["p50_us"] = lat[len(lat) // 2] / 1000
            out["p99_us"] = lat[int(0.99 * (len(lat) - 1))] / 1000
            span = (self.last - self.first) / 1e9
            out["msgs_per_s"] = (len(lat) - 1) / span if span > 0 else 0.0
        print(json.dumps(out), flush=True)


# ------------------------------------------------------------------ tcp baseline


def relay_tcp(port: int) -> None:
    srv = socket.create_server(("127.0.0.1", port))
    print("READY", flush=True)
    rx: socket.socket | None = None
    conns: dict[socket.socket, bytearray] = {}
    while True:
        readable, _, _ = select.select([srv, *conns], [], [])
        for s in readable:
            if s is srv:
                c, _ = srv.accept()
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[c] = bytearray()
                continue
            data = s.recv(1 << 16)
            if not data:
                del conns[s]
                s.close()
                continue
            buf = conns[s]
            buf += data
            out = []
            for t, body in cut(buf):
                if t == HELLO and body == b"rx":
                    rx = s
                elif t == SEND and rx is not None:
                    out.append(frame(DELIVER, body))
            if out and rx is not None:
                rx.sendall(b"".join(out))


def connect_blocking(port: int, label: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(frame(HELLO, label))
    return s


def rx_tcp(port: int, expected: int) -> None:
    s = connect_blocking(port, b"rx")
    print("READY", flush=True)
    rec = Recorder(expected)
    buf = bytearray()
    s.settimeout(10)
    try:
        while True:
            data = s.recv(1 << 16)
            if not data:
                break
            buf += data
            if any(rec.on_deliver(body) for _t, body in cut(buf)):
                break
    except TimeoutError:
        pass
    rec.report()


def tx_tcp(port: int, count: int, interval: float, label: bytes) -> None:
    s = connect_blocking(port, label)
    time.sleep(0.2)
    if interval > 0:
        for i in range(count):
            s.sendall(frame(SEND, send_body(b"rx", i)))
            time.sleep(interval)
    else:
        for start in range(0, count, 100):
            s.sendall(b"".join(frame(SEND, send_body(b"rx", i)) for i in range(start, start + 100)))
    time.sleep(0.5)


# ------------------------------------------------------------------ asyncio


class AsyncRelay(asyncio.Protocol):
    routes: dict[bytes, asyncio.Transport] = {}

    def connection_made(self, transport) -> None:
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        self.buf = bytearray()
        self.label = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        pending: dict[asyncio.Transport, list[bytes]] = {}
        for t, body in cut(self.buf):
            if t == HELLO:
                self.label = body
                AsyncRelay.routes[body] = self.transport
            elif t == SEND:
                dest = AsyncRelay.routes.get(body[1 : 1 + body[0]])
                if dest is not None:
                    pending.setdefault(dest, []).append(frame(DELIVER, reframe(self.label, body)))
        for dest, frames in pending.items():
            dest.write(b"".join(frames))


async def relay_asyncio_main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(AsyncRelay, "127.0.0.1", port)
    print("READY", flush=True)
    async with server:
        await server.serve_forever()


class AsyncRx(asyncio.Protocol):
    def __init__(self, rec: Recorder, done: asyncio.Future) -> None:
        self.rec, self.done, self.buf = rec, done, bytearray()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        for _t, body in cut(self.buf):
            if self.rec.on_deliver(body) and not self.done.done():
                self.done.set_result(None)


async def rx_asyncio_main(port: int, expected: int) -> None:
    loop = asyncio.get_running_loop()
    rec = Recorder(expected)
    done = loop.create_future()
    transport, _ = await loop.create_connection(lambda: AsyncRx(rec, done), "127.0.0.1", port)
    transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport.write(frame(HELLO, b"rx"))
    print("READY", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done, 30)
    rec.report()


async def tx_asyncio_main(port: int, count: int, interval: float, label: bytes) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    writer.write(frame(HELLO, label))
    await asyncio.sleep(0.2)
    if interval > 0:
        for i in range(count):
            writer.write(frame(SEND, send_body(b"rx", i)))
            await asyncio.sleep(interval)
    else:
        for start in range(0, count, 100):
            writer.write(b"".join(frame(SEND, send_body(b"rx", i)) for i in range(start, start + 100)))
            await writer.drain()
    await asyncio.sleep(0.5)
    writer.close()


# ------------------------------------------------------------------ zmq


def relay_zmq(port: int) -> None:
    import zmq

    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.SNDHWM, 200_000)
    router.setsockopt(zmq.RCVHWM, 200_000)
    router.bind(f"tcp://127.0.0.1:{port}")
    print("READY", flush=True)
    labels: dict[bytes, bytes] = {}  # identity -> label
    while True:
        router.poll()
        for _ in range(1000):  # drain what is queued before polling again
            try:
                ident, body = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            t = body[0]
            if t == HELLO:
                labels[ident] = body[1:]
                labels[body[1:]] = ident
            elif t == SEND:
                dest = labels.get(body[2 : 2 + body[1]])
                if dest is not None:
                    router.send_multipart([dest, bytes([DELIVER]) + reframe(labels[ident], body[1:])])


def zmq_dealer(port: int):
    import zmq
    import zmq.asyncio

    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, 200_000)
    sock.setsockopt(zmq.RCVHWM, 200_000)
    sock.connect(f"tcp://127.0.0.1:{port}")
    return sock


async def rx_zmq_main(port: int, expected: int) -> None:
    import zmq

    sock = zmq_dealer(port)
    await sock.send(bytes([HELLO]) + b"rx")
    print("READY", flush=True)
    rec = Recorder(expected)
    done = False
    try:
        while not done:
            body = await asyncio.wait_for(sock.recv(), 10)
            done = rec.on_deliver(body[1:])
            while not done:  # drain without a loop round-trip per message
                try:
                    body = sock.recv(zmq.NOBLOCK).result()
                except zmq.Again:
                    break
                done = rec.on_deliver(body[1:])
    except TimeoutError:
        pass
    rec.report()


async def tx_zmq_main(port: int, count: int, interval: float, label: bytes) -> None:
    sock = zmq_dealer(port)
    await sock.send(bytes([HELLO]) + label)
    await asyncio.sleep(0.2)
    for i in range(count):
        if interval > 0:
            await sock.send(bytes([SEND]) + send_body(b"rx", i))
            await asyncio.sleep(interval)
        else:
            sock.send(bytes([SEND]) + send_body(b"rx", i))  # queued by the I/O thread up to the HWM
            if i % 100 == 99:
                await asyncio.sleep(0)
    await asyncio.sleep(0.5)
    sock.close(linger=1000)


# ------------------------------------------------------------------ driver

ROLES = {
    ("relay", "tcp"): lambda a: relay_tcp(a.port),
    ("relay", "asyncio"): lambda a: run_loop(relay_asyncio_main(a.port)),
    ("relay", "zmq"): lambda a: relay_zmq(a.port),
    ("rx", "tcp"): lambda a: rx_tcp(a.port, a.count),
    ("rx", "asyncio"): lambda a: run_loop(rx_asyncio_main(a.port, a.count)),
    ("rx", "zmq"): lambda a: run_loop(rx_zmq_main(a.port, a.count)),
    ("tx", "tcp"): lambda a: tx_tcp(a.port, a.count, a.interval, a.label.encode()),
    ("tx", "asyncio"): lambda a: run_loop(tx_asyncio_main(a.port, a.count, a.interval, a.label.encode())),
    ("tx", "zmq"): lambda a: run_loop(tx_zmq_main(a.port, a.count, a.interval, a.label.encode())),
}


def spawn(*args: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    return p


def wait_ready(p: subprocess.Popen) -> None:
    line = p.stdout.readline()
    if line.strip() != "READY":
        raise RuntimeError(f"child did not start: {line!r}")


def run_case(mode: str, senders: int, count: int, interval: float) -> dict:
    port = free_port()
    relay = spawn("--role", "relay", "--mode", mode, "--port", str(port))
    wait_ready(relay)
    try:
        rx = spawn("--role", "rx", "--mode", mode, "--port", str(port), "--count", str(senders * count))
        wait_ready(rx)
        time.sleep(0.2)
        txs = [
            spawn(
                "--role",
                "tx",
                "--mode",
                mode,
                "--port",
                str(port),
                "--count",
                str(count),
                "--interval",
                str(interval),
                "--label",
                f"tx{i}",
            )
            for i in range(senders)
        ]
        out, _ = rx.communicate(timeout=300)
        for tx in txs:
            tx.wait(timeout=60)
        return json.loads(out.strip().splitlines()[-1])
    finally:
        relay.kill()
        relay.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["relay", "rx", "tx"])
    ap.add_argument("--mode", choices=["tcp", "asyncio", "zmq"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--label", default="tx0")
    ap.add_argument("--messages", type=int, default=4000, help="paced messages for the latency run")
    ap.add_argument(
        "--rate", type=float, default=1000, help="paced send rate (msgs/s); libuv timers have 1 ms resolution"
    )
    ap.add_argument("--blast", type=int, default=100_000, help="messages per sender for the throughput run")
    ap.add_argument("--senders", type=int, default=2)
    args = ap.parse_args()
    if args.role:
        ROLES[(args.role, args.mode)](args)
        return

    print(f"uvloop: {'yes' if uvloop else 'no'}; one relay hop, 64-byte payloads, 127.0.0.1")
    lat = {m: run_case(m, 1, args.messages, 1 / args.rate) for m in ("tcp", "asyncio", "zmq")}
    thr = {m: run_case(m, args.senders, args.blast, 0.0) for m in ("tcp", "asyncio", "zmq")}
    base_lat, base_thr = lat["tcp"], thr["tcp"]
    print(f"\none-way latency, {args.messages} msgs at {args.rate:.0f}/s (ratio = / tcp baseline)")
    for m, r in lat.items():
        print(
            f"  {m:8s} p50 {r['p50_us']:8.1f} us ({r['p50_us'] / base_lat['p50_us']:4.2f}x)"
            f"  p99 {r['p99_us']:8.1f} us ({r['p99_us'] / base_lat['p99_us']:4.2f}x)  received {r['received']}"
        )
    print(f"\nthroughput, {args.senders} senders x {args.blast} msgs (ratio = / tcp baseline)")
    for m, r in thr.items():
        print(
            f"  {m:8s} {r['msgs_per_s']:10.0f} msgs/s ({r['msgs_per_s'] / base_thr['msgs_per_s']:4.2f}x)"
            f"  received {r['received']}/{args.senders * args.blast}"
        )


if __name__ == "__main__":
    main()
