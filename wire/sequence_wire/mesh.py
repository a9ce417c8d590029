"""Wire format between venue edges (MeshClient) and the coordinator.

Transport: one TCP connection per edge, asyncio (uvloop when installed) on both
ends, with the length-prefixed framing below. Chosen over pyzmq DEALER/ROUTER
by measurement (bench/mesh_transport_choice.py, real processes on 127.0.0.1,
one relay hop, same routing work, this project's shared 2-core VM):

                               busy box (load ~5)              quieter (load ~2)
    plain TCP relay baseline   p50 100 us  p99 2275 us  151k/s   p50  73 us  p99  157 us  365k/s
    asyncio + uvloop           p50 112 us  p99  388 us  139k/s   p50 112 us  p99  309 us  190k/s
    pyzmq DEALER/ROUTER        p50 313 us  p99 3313 us   16k/s   p50 278 us  p99 1276 us   53k/s

pyzmq hands every message to its I/O thread on both sides (two extra thread
wake-ups per hop) and hides connects/disconnects, which the mesh's failure
handling needs to see (drop-and-count while disconnected, re-register on
reconnect, forget an edge's instances when its connection ends). ZeroMQ's HWM
drop semantics are kept: above a write-buffer high-water mark, sends are
dropped and counted ("backpressure"). End-to-end numbers of the kept transport
against the TCP relay: bench/mesh_hop.py, bench/coordinator_throughput.py,
docs/mesh.md.

Every frame is `u32 length (little-endian) | u8 type | body`, where length
counts the type byte and the body. Hot frames (SEND, DELIVER, TOB, NBBO) have
fixed binary headers; rare control frames carry a JSON object.

    SEND     edge -> cc   from_handle u32, seq u64, send_ts_ns u64, label_len u8, label, payload
    DELIVER  cc -> edge   to_handle u32, sender_client u64, sender_handle u32, seq u64, hop u64,
                          send_ts_ns u64, from_len u8, from_label, payload
    TOB      edge -> cc   bid_px u64, bid_qty u64, ask_px u64, ask_qty u64, ts_ns u64, sym_len u8, symbol
    NBBO     cc -> edge   bid_px u64, bid_qty u64, ask_px u64, ask_qty u64, ts_ns u64,
                          bid_venue u8, ask_venue u8, sym_len u8, symbol, count u16, handles u32[count]
    HELLO, WELCOME, REGISTER, REGISTERED, VENUES, STATS, ERROR: JSON objects; PING: empty.

Execution-graph orders (the coordinator's graph engine trading through an edge's OMS; JSON
objects, see `graph_order_problem` and docs/graphs.md "Order path"):

    ORDER         cc -> edge  {"op": "place", "id", "symbol", "side", "qty_1e8", "price_1e8" | null,
                               "tif"} or {"op": "cancel", "id"}; `id` is the graph's client order id
    ORDER_EVENTS  edge -> cc  {"events": [{"id", "kind": "ack"|"fill"|"cancel"|"reject",
                               "qty_1e8", "price_1e8", "cum_filled_1e8", "reason"}, ...]}
    ACCOUNT       edge -> cc  {"equity_usd", "available_usd", "positions_1e8": {symbol: signed qty}}

`seq` is the sender's sequence number on the link (sending instance -> label),
assigned by the sending edge for every send, including the ones it had to
drop; `hop` counts DELIVER frames per (sending instance, receiving instance)
on one coordinator connection, so the receiver can see losses after the
coordinator without mistaking the coordinator's own (counted) drops for them.

Prices and quantities are the ABI's 1e8 fixed point. A handle is a small
integer the edge assigns to each of its instances (stable for the edge
process's lifetime), so hot frames never carry deployment ids.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

PROTOCOL_VERSION = 1

# Limits an algorithm sees through the ABI (docs/abi.md); the algorithm ABI re-exports them.
MAX_PAYLOAD = 256  # bytes per mesh message
MAX_LABEL = 32  # bytes in a mesh label

FRAME_HEADER = struct.Struct("<IB")  # length (type byte + body), type
MAX_FRAME = 1 << 20  # control frames (a registration of 256 instances is ~60 KiB)

HELLO = 1
WELCOME = 2
REGISTER = 3
REGISTERED = 4
SEND = 5
DELIVER = 6
TOB = 7
NBBO = 8
VENUES = 9
STATS = 10
PING = 11
ERROR = 12
ORDER = 13
ORDER_EVENTS = 14
ACCOUNT = 15

FRAME_NAMES = {
    HELLO: "HELLO",
    WELCOME: "WELCOME",
    REGISTER: "REGISTER",
    REGISTERED: "REGISTERED",
    SEND: "SEND",
    DELIVER: "DELIVER",
    TOB: "TOB",
    NBBO: "NBBO",
    VENUES: "VENUES",
    STATS: "STATS",
    PING: "PING",
    ERROR: "ERROR",
    ORDER: "ORDER",
    ORDER_EVENTS: "ORDER_EVENTS",
    ACCOUNT: "ACCOUNT",
}

SEND_HEADER = struct.Struct("<IQQB")
DELIVER_HEADER = struct.Struct("<IQIQQQB")
TOB_HEADER = struct.Struct("<QQQQQB")
NBBO_HEADER = struct.Struct("<QQQQQBBB")
NBBO_COUNT = struct.Struct("<H")

# The whole frame (length prefix included) in one pack call, for the hot paths.
SEND_FRAME = struct.Struct("<IB" + "IQQB")
DELIVER_FRAME = struct.Struct("<IB" + "IQIQQQB")

LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")  # same rule as Sequence.toml labels (ABI MAX_LABEL)
GROUP_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$")

NO_VENUE = 0xFF  # bid_venue/ask_venue when no venue quotes that side
MAX_VENUES = 255

# Latency histogram bucket upper bounds (ns), shared by the edge (which counts)
# and the coordinator (which exports them to Prometheus as seconds).
LATENCY_BUCKETS_NS = (
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
)


class ProtocolError(Exception):
    """The peer sent bytes that are not this protocol; the connection is closed."""


def json_frame(frame_type: int, obj: Any) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return FRAME_HEADER.pack(len(body) + 1, frame_type) + body


def empty_frame(frame_type: int) -> bytes:
    return FRAME_HEADER.pack(1, frame_type)


def parse_json(body: bytes | memoryview) -> dict[str, Any]:
    try:
        obj = json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"control frame is not JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise ProtocolError("control frame is JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolError("control frame must be a JSON object")
    return obj


ORDER_SIDES = ("buy", "sell")
ORDER_TIFS = ("gtc", "ioc", "post_only")
ORDER_EVENT_KINDS = ("ack", "fill", "cancel", "reject")
MAX_ORDER_ID = 128  # characters in a graph client order id
MAX_SYMBOL = 32


def _u64(value: Any, *, positive: bool) -> bool:
    return type(value) is int and (1 if positive else 0) <= value < 2**64


def graph_order_problem(order: dict[str, Any]) -> str | None:
    """What is wrong with an ORDER body, or None; the edge answers a bad one with a reject event."""
    op, order_id = order.get("op"), order.get("id")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= MAX_ORDER_ID:
        return f"id must be a string of 1..{MAX_ORDER_ID} characters"
    if op == "cancel":
        return None
    if op != "place":
        return f"op must be place or cancel, got {op!r}"
    symbol = order.get("symbol")
    if not isinstance(symbol, str) or not 0 < len(symbol) <= MAX_SYMBOL:
        return f"symbol must be a string of 1..{MAX_SYMBOL} characters"
    if order.get("side") not in ORDER_SIDES:
        return f"side must be buy or sell, got {order.get('side')!r}"
    if order.get("tif") not in ORDER_TIFS:
        return f"tif must be one of {', '.join(ORDER_TIFS)}, got {order.get('tif')!r}"
    if not _u64(order.get("qty_1e8"), positive=True):
        return "qty_1e8 must be a positive 64-bit integer"
    price = order.get("price_1e8")
    if price is not None and not _u64(price, positive=True):
        return "price_1e8 must be a positive 64-bit integer, or null for a market order"
    return None


def place_order_frame(
    order_id: str, symbol: str, side: str, qty_1e8: int, price_1e8: int | None, tif: str
) -> bytes:
    return json_frame(
        ORDER,
        {
            "op": "place",
            "id": order_id,
            "symbol": symbol,
            "side": side,
            "qty_1e8": qty_1e8,
            "price_1e8": price_1e8,
            "tif": tif,
        },
    )


def cancel_order_frame(order_id: str) -> bytes:
    return json_frame(ORDER, {"op": "cancel", "id": order_id})


def order_events_frame(events: list[dict[str, Any]]) -> bytes:
    return json_frame(ORDER_EVENTS, {"events": events})


def send_frame(from_handle: int, seq: int, send_ts_ns: int, label: bytes, payload: bytes) -> bytes:
    n = SEND_HEADER.size + 1 + len(label) + len(payload)
    return SEND_FRAME.pack(n, SEND, from_handle, seq, send_ts_ns, len(label)) + label + payload


def tob_frame(symbol: bytes, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, ts_ns: int) -> bytes:
    n = 1 + TOB_HEADER.size + len(symbol)
    return (
        FRAME_HEADER.pack(n, TOB)
        + TOB_HEADER.pack(bid_px, bid_qty, ask_px, ask_qty, ts_ns, len(symbol))
        + symbol
    )


def nbbo_frame(symbol: bytes, quote: tuple[int, int, int, int, int, int, int], handles: list[int]) -> bytes:
    """quote = (bid_px, bid_qty, ask_px, ask_qty, ts_ns, bid_venue, ask_venue)."""
    tail = struct.pack(f"<H{len(handles)}I", len(handles), *handles)
    n = 1 + NBBO_HEADER.size + len(symbol) + len(tail)
    return FRAME_HEADER.pack(n, NBBO) + NBBO_HEADER.pack(*quote, len(symbol)) + symbol + tail


def unpack_handles(buf: bytes, offset: int, count: int) -> tuple[int, ...]:
    return struct.unpack_from(f"<{count}I", buf, offset)


class FrameReader:
    """Cuts a TCP byte stream into frames.

    `feed(data)` returns a list of (type, buffer, start, end): the body of each
    complete frame is buffer[start:end]. Offsets instead of slices keep the hot
    path free of copies; the caller must use the buffer before the next feed.
    """

    __slots__ = ("_partial",)

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes, int, int]]:
        if self._partial:
            data = self._partial + data
            self._partial = b""
        frames = []
        pos = 0
        size = len(data)
        unpack = FRAME_HEADER.unpack_from
        while size - pos >= 5:
            length, frame_type = unpack(data, pos)
            if length == 0 or length > MAX_FRAME:
                raise ProtocolError(f"frame length {length} outside 1..{MAX_FRAME}")
            end = pos + 4 + length
            if end > size:
                break
            frames.append((frame_type, data, pos + 5, end))
            pos = end
        if pos < size:
            self._partial = data[pos:]
        return frames


__all__ = [
    "ACCOUNT",
    "DELIVER",
    "DELIVER_FRAME",
    "DELIVER_HEADER",
    "ERROR",
    "FRAME_HEADER",
    "HELLO",
    "LATENCY_BUCKETS_NS",
    "MAX_FRAME",
    "MAX_LABEL",
    "MAX_PAYLOAD",
    "NBBO",
    "NO_VENUE",
    "ORDER",
    "ORDER_EVENTS",
    "PING",
    "PROTOCOL_VERSION",
    "REGISTER",
    "REGISTERED",
    "SEND",
    "STATS",
    "TOB",
    "VENUES",
    "WELCOME",
    "FrameReader",
    "ProtocolError",
]
