"""MeshClient: the edge's side of the mesh (send, inbox, top of book -> NBBO).

It runs on the edge's asyncio event loop (call `await client.start()` from
inside it): connecting, reading and writing are non-blocking, so the client
never stalls the edge's loop, and sends and deliveries need no thread hop.
`send()` and `publish_top_of_book()` may also be called from another thread;
they then hop onto the loop with call_soon_threadsafe. Callbacks
(`on_message`, `on_nbbo`) run on the loop.

Failure behaviour:
- Coordinator unreachable or gone: the client keeps reconnecting in the
  background (50 ms doubling to 1 s). Meanwhile `send()` returns False and
  counts `dropped_no_coordinator`; nothing is queued for later.
- On every (re)connection it re-sends HELLO, the full registration and the
  latest top of book of each symbol, with no action from the edge; the inbox
  works again as soon as the coordinator has processed them.
- A message is never delivered twice: each envelope carries (sender process,
  sender instance, per-link sequence number) and the receiver refuses any
  sequence number it has already passed.

Latency measured: `send_ts_ns` is what the edge passes to `send()` -- the time
the algorithm called `seq.send` -- and the receiving client takes
`time.time_ns()` immediately before it invokes `on_message`; both are
CLOCK_REALTIME of their hosts. The coordinator reports p50/p99 of that
difference per link (docs/mesh.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast

from sequence_wire import mesh as mp
from sequence_wire.mesh import MAX_LABEL, MAX_PAYLOAD, SEND, SEND_FRAME
from sequence_wire.mesh_stats import RxLink

log = logging.getLogger("sequence.mesh")

MAX_RX_STREAMS = 65536  # (sender, receiver) pairs remembered for duplicate refusal


@dataclass(frozen=True)
class MeshInstance:
    """What the edge tells the coordinator about one hosted algorithm instance."""

    deployment_id: str
    mesh_group: str
    label: str
    symbols: tuple[str, ...] = ()
    on_message: bool = False  # exports algo_on_message: can receive
    on_nbbo: bool = False  # exports algo_on_nbbo: gets the NBBO of its symbols

    def __post_init__(self) -> None:
        if not self.deployment_id or len(self.deployment_id) > 253:
            raise ValueError(f"deployment_id must be 1..253 characters, got {self.deployment_id!r}")
        if not mp.GROUP_RE.match(self.mesh_group):
            raise ValueError(f"mesh_group {self.mesh_group!r} is not a valid group name")
        if not mp.LABEL_RE.match(self.label):
            raise ValueError(f"label {self.label!r} is not a mesh label (1-32 of A-Z a-z 0-9 _ . -)")
        object.__setattr__(self, "symbols", tuple(self.symbols))


class Nbbo(NamedTuple):
    bid_px_1e8: int
    bid_qty_1e8: int
    ask_px_1e8: int
    ask_qty_1e8: int
    ts_ns: int  # when the coordinator computed it
    bid_venue_idx: int  # coordinator's venue index, mp.NO_VENUE if nobody bids
    ask_venue_idx: int
    bid_venue: str | None  # venue name (map it to the instance's seq.venue_name table)
    ask_venue: str | None


MessageCallback = Callable[[str, str, bytes, int, int], Any]  # deployment, from_label, payload, send_ts, seq
NbboCallback = Callable[[str, str, Nbbo], Any]  # deployment, symbol, nbbo
SymbolNbboCallback = Callable[[str, Nbbo, list[str]], Any]  # symbol, nbbo, deployments (once per update)


class Outbound(Protocol):
    """What `sink()` takes: the edge's drained outbox entries (edge.OutboundMessage fits)."""

    deployment_id: str
    to_label: str
    payload: bytes


class MeshClient:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        edge_id: str,
        venue: str,
        on_message: MessageCallback | None = None,
        on_nbbo: NbboCallback | None = None,
        on_symbol_nbbo: SymbolNbboCallback | None = None,
        nbbo_interval_ms: float = 5.0,
        heartbeat_s: float = 1.0,
        peer_timeout_s: float = 5.0,
        stats_interval_s: float = 0.2,
        hwm_bytes: int = 4 << 20,
        reconnect_min_s: float = 0.05,
        reconnect_max_s: float = 1.0,
        token: str | None = None,
    ) -> None:
        if not edge_id or not venue:
            raise ValueError("edge_id and venue must be non-empty")
        if peer_timeout_s <= heartbeat_s:
            raise ValueError("peer_timeout_s must be longer than heartbeat_s")
        if not 0 < stats_interval_s <= heartbeat_s:
            raise ValueError("stats_interval_s must be > 0 and <= heartbeat_s (it is the heartbeat's tick)")
        self.host, self.port = host, port
        self.edge_id, self.venue = edge_id, venue
        self.on_message = on_message
        self.on_nbbo = on_nbbo
        self.on_symbol_nbbo = on_symbol_nbbo
        # execution-graph orders (orders/graph_orders.py): ORDER frames in, called on every connection
        self.on_graph_order: Callable[[dict[str, Any]], Any] | None = None
        self.on_connected: Callable[[], Any] | None = None
        self.nbbo_interval_s = nbbo_interval_ms / 1000
        self.heartbeat_s = heartbeat_s
        self.peer_timeout_s = peer_timeout_s
        self.stats_interval_s = stats_interval_s
        self.hwm_bytes = hwm_bytes
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.client_id = int.from_bytes(os.urandom(8), "little")  # this process's incarnation
        self.token = token  # the coordinator's control token, sent in HELLO (docs/security.md)
        self.refused: str | None = None  # the coordinator's last ERROR, e.g. a wrong token

        # counters (also reported to the coordinator, GET /v1/edges)
        self.sent = 0
        self.received = 0
        self.dropped_no_coordinator = 0
        self.dropped_backpressure = 0
        self.dropped_invalid = 0  # bad label, oversize payload, unknown sending deployment
        self.dropped_duplicate = 0
        self.dropped_unknown_instance = 0  # delivery for an instance this edge no longer hosts
        self.reconnects = 0
        self.callback_errors = 0
        self.nbbo_received = 0
        self.nbbo_unknown_instance = 0  # NBBO for an instance this edge no longer hosts (not a message)
        self.tob_published = 0

        self.venues: list[str] = []  # coordinator's venue indexes (Nbbo.*_venue_idx)
        self.rejected: dict[str, str] = {}  # deployment_id -> why the coordinator refused it

        self._instances: dict[str, MeshInstance] = {}
        self._handles: dict[str, int] = {}  # deployment_id -> handle, stable for the process lifetime
        self._by_handle: dict[int, MeshInstance] = {}
        self._generation = 0
        self._registered_generation = -1
        self._seqs: dict[tuple[int, bytes], _TxLink] = {}  # (handle, to label) -> link, kept for good
        self._tx: dict[tuple[str, str | bytes], _TxLink] = {}  # (deployment, label as given) -> link, a cache
        self._rx: dict[tuple[int, int, int], _RxStream] = {}  # (sender client, sender handle, to handle)
        self._rx_links: dict[tuple[int, str], RxLink] = {}  # (to handle, from label) -> stats to report
        self._epoch = 0  # connection number: gaps only count between messages of one connection
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._tob_latest: dict[str, tuple[int, int, int, int]] = {}
        self._tob_sent: dict[str, tuple[int, int, int, int]] = {}
        self._tob_last: dict[str, float] = {}
        self._tob_timers: dict[str, asyncio.TimerHandle] = {}

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id = 0
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._last_rx = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._ever_connected = False
        self._was_registered = False
        self._connected_event: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start connecting in the background; returns at once (the edge runs with or without a coordinator)."""
        if self._loop is not None:
            raise RuntimeError("MeshClient.start() called twice")
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self._connected_event = asyncio.Event()
        self._tasks = [asyncio.create_task(self._connect_loop()), asyncio.create_task(self._tick_loop())]

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for timer in self._tob_timers.values():
            timer.cancel()
        if self._transport is not None:
            self._flush()
            self._transport.close()

    @property
    def connected(self) -> bool:
        return self._transport is not None

    @property
    def backpressured(self) -> bool:
        """The coordinator is not reading fast enough (socket buffer above the HWM): sends are dropped."""
        return self._paused

    @property
    def registered(self) -> bool:
        """The coordinator has processed the latest registration on the current connection."""
        return self.connected and self._registered_generation == self._generation

    async def wait_connected(self, timeout: float | None = None) -> None:
        assert self._connected_event is not None, "start() first"
        await asyncio.wait_for(self._connected_event.wait(), timeout)

    def stats(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "received": self.received,
            "dropped_no_coordinator": self.dropped_no_coordinator,
            "dropped_backpressure": self.dropped_backpressure,
            "dropped_invalid": self.dropped_invalid,
            "dropped_duplicate": self.dropped_duplicate,
            "dropped_unknown_instance": self.dropped_unknown_instance,
            "reconnects": self.reconnects,
            "callback_errors": self.callback_errors,
            "nbbo_received": self.nbbo_received,
            "nbbo_unknown_instance": self.nbbo_unknown_instance,
            "tob_published": self.tob_published,
        }

    def venue_name(self, index: int) -> str | None:
        return self.venues[index] if 0 <= index < len(self.venues) else None

    # ------------------------------------------------------------------ registration

    def register(self, instances: Iterable[MeshInstance]) -> None:
        """Declare the full set of instances this edge hosts (replaces the previous set).

        Call it whenever a deployment is loaded, replaced or removed. It is
        re-sent automatically after every reconnection.
        """
        if self._loop is not None and threading.get_ident() != self._thread_id:
            self._loop.call_soon_threadsafe(self.register, list(instances))
            return
        fresh: dict[str, MeshInstance] = {}
        for inst in instances:
            if not isinstance(inst, MeshInstance):
                raise TypeError(f"register() takes MeshInstance objects, got {type(inst).__name__}")
            if inst.deployment_id in fresh:
                raise ValueError(f"deployment {inst.deployment_id!r} listed twice")
            fresh[inst.deployment_id] = inst
        self._instances = fresh
        for deployment_id in fresh:
            self._handles.setdefault(deployment_id, len(self._handles))
        self._by_handle = {self._handles[d]: inst for d, inst in fresh.items()}
        self._tx.clear()  # a removed deployment must not keep sending through the cache
        self._generation += 1
        self.rejected = {}
        if self._transport is not None:
            self._flush()  # sends of instances that are now gone still go out under the old registration
            self._transport.write(self._register_frame())

    def _register_frame(self) -> bytes:
        entries = [
            {
                "handle": self._handles[d],
                "deployment_id": d,
                "mesh_group": inst.mesh_group,
                "label": inst.label,
                "venue": self.venue,
                "symbols": list(inst.symbols),
                "on_message": inst.on_message,
                "on_nbbo": inst.on_nbbo,
            }
            for d, inst in self._instances.items()
        ]
        return mp.json_frame(mp.REGISTER, {"generation": self._generation, "instances": entries})

    # ------------------------------------------------------------------ sending

    def send(
        self, from_deployment: str, to_label: str | bytes, payload: bytes, send_ts_ns: int | None = None
    ) -> bool:
        """Send one mesh message; True if it went to the coordinator, False if dropped (and counted).

        `send_ts_ns` should be the time the algorithm called `seq.send`
        (CLOCK_REALTIME ns); it is what the per-link latency is measured from.
        """
        if threading.get_ident() != self._thread_id:
            if self._loop is None:
                raise RuntimeError("MeshClient.start() first")
            ts = time.time_ns() if send_ts_ns is None else send_ts_ns
            self._loop.call_soon_threadsafe(self.send, from_deployment, to_label, bytes(payload), ts)
            return True
        link = self._tx.get((from_deployment, to_label))
        if link is None:
            link = self._tx_link(from_deployment, to_label)
            if link is None:
                self.dropped_invalid += 1
                return False
        if len(payload) > MAX_PAYLOAD:
            self.dropped_invalid += 1
            return False
        link.seq += 1  # a message dropped below still uses its number: the loss shows up as a gap
        if self._transport is None:
            self.dropped_no_coordinator += 1
            return False
        if self._paused:
            self.dropped_backpressure += 1
            return False
        ts = time.time_ns() if send_ts_ns is None else send_ts_ns
        frame = SEND_FRAME.pack(
            22 + link.label_len + len(payload), SEND, link.handle, link.seq, ts, link.label_len
        )
        self._out.append(frame + link.label + payload)
        if not self._flush_scheduled:
            # Coalesce one batch of sends (an edge drains outboxes per batch) into one write.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # type: ignore[union-attr]
        return True

    def _tx_link(self, from_deployment: str, to_label: str | bytes) -> _TxLink | None:
        """Validate a (sender, label) pair once; its _TxLink carries the sequence number for good."""
        handle = self._handles.get(from_deployment)
        label = to_label.encode() if isinstance(to_label, str) else bytes(to_label)
        if handle is None or from_deployment not in self._instances or not 0 < len(label) <= MAX_LABEL:
            return None
        link = self._seqs.get((handle, label))
        if link is None:
            link = self._seqs[(handle, label)] = _TxLink(handle, label)
        self._tx[(from_deployment, to_label)] = link
        return link

    def sink(self, messages: Iterable[Outbound]) -> None:
        """The edge's `mesh_sink`: send a batch of drained outbox entries, then write them at once.

        An entry may carry `send_ts_ns` (when the algo called seq.send); without it the latency is
        measured from now, the drain.
        """
        now = time.time_ns()
        for m in messages:
            self.send(m.deployment_id, m.to_label, m.payload, getattr(m, "send_ts_ns", None) or now)
        self.flush()

    def flush(self) -> None:
        """Write the sends queued so far now (call it after draining a batch's outboxes).

        Optional: without it, queued sends go out on the loop's next turn.
        """
        if threading.get_ident() != self._thread_id:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._flush)
            return
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out:
            return
        count = len(self._out)
        if self._transport is None:
            self.dropped_no_coordinator += count
        else:
            self._transport.write(b"".join(self._out))
            self.sent += count
        self._out.clear()

    def write_frame(self, frame: bytes) -> bool:
        """Write one whole frame now, after the queued sends; False when not connected (dropped)."""
        if self._transport is None:
            return False
        self._flush()
        self._transport.write(frame)
        return True

    # ------------------------------------------------------------------ top of book

    def publish_top_of_book(
        self, symbol: str, bid_px_1e8: int, bid_qty_1e8: int, ask_px_1e8: int, ask_qty_1e8: int
    ) -> None:
        """This venue's best bid/ask of `symbol` (1e8 fixed point; 0 = no quote on that side).

        Coalesced per symbol: at most one update per `nbbo_interval_ms`, the
        latest value wins, and nothing is sent when the quote did not change.
        """
        if threading.get_ident() != self._thread_id:
            if self._loop is None:
                raise RuntimeError("MeshClient.start() first")
            self._loop.call_soon_threadsafe(
                self.publish_top_of_book, symbol, bid_px_1e8, bid_qty_1e8, ask_px_1e8, ask_qty_1e8
            )
            return
        quote = (bid_px_1e8, bid_qty_1e8, ask_px_1e8, ask_qty_1e8)
        for value in quote:
            if not isinstance(value, int) or not 0 <= value < 2**64:
                raise ValueError(f"top of book values are u64 1e8 fixed point integers, got {value!r}")
        self._tob_latest[symbol] = quote
        if symbol in self._tob_timers:
            return  # a flush is scheduled; it will send the latest value
        due = self._tob_last.get(symbol, float("-inf")) + self.nbbo_interval_s
        now = self._loop.time()  # type: ignore[union-attr]
        if now >= due:
            self._send_tob(symbol)
        else:
            self._tob_timers[symbol] = self._loop.call_at(due, self._send_tob, symbol)  # type: ignore[union-attr]

    def _send_tob(self, symbol: str) -> None:
        self._tob_timers.pop(symbol, None)
        quote = self._tob_latest.get(symbol)
        if quote is None or self._tob_sent.get(symbol) == quote or self._transport is None:
            return  # unchanged, or disconnected (the latest is re-sent on reconnection)
        self._flush()  # keep sends before this update in order
        self._transport.write(mp.tob_frame(symbol.encode(), *quote, time.time_ns()))
        self._tob_sent[symbol] = quote
        self._tob_last[symbol] = self._loop.time()  # type: ignore[union-attr]
        self.tob_published += 1

    # ------------------------------------------------------------------ connection

    async def _connect_loop(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.reconnect_min_s
        while not self._closing:
            lost: asyncio.Future[None] = loop.create_future()
            try:
                await loop.create_connection(functools.partial(_Link, self, lost), self.host, self.port)
            except OSError as exc:
                log.debug(
                    "coordinator %s:%d unreachable (%s); retrying in %.2fs", self.host, self.port, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            await lost
            if self._closing:
                return
            # Back off unless the coordinator accepted our registration (a healthy connection): a coordinator
            # that refuses us must not be hammered.
            delay = self.reconnect_min_s if self._was_registered else min(delay * 2, self.reconnect_max_s)
            self._was_registered = False
            await asyncio.sleep(delay)

    def _attached(self, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=self.hwm_bytes)
        self._epoch += 1
        self._paused = False
        self._last_rx = time.monotonic()
        hello = {
            "protocol": mp.PROTOCOL_VERSION,
            "edge_id": self.edge_id,
            "venue": self.venue,
            "client_id": self.client_id,
        }
        if self.token is not None:
            hello["token"] = self.token
        frames = [mp.json_frame(mp.HELLO, hello), self._register_frame()]
        self._tob_sent.clear()  # the coordinator may have restarted: give it every symbol's quote again
        transport.write(b"".join(frames))
        self._transport = transport
        if self._ever_connected:
            self.reconnects += 1
            log.info("mesh: reconnected to coordinator %s:%d", self.host, self.port)
        else:
            log.info("mesh: connected to coordinator %s:%d", self.host, self.port)
        self._ever_connected = True
        for symbol in list(self._tob_latest):
            if symbol not in self._tob_timers:
                self._send_tob(symbol)
        assert self._connected_event is not None
        self._connected_event.set()
        if self.on_connected is not None:
            try:
                self.on_connected()
            except Exception:
                self.callback_errors += 1
                log.exception("mesh: on_connected callback failed")

    def _detached(self) -> None:
        if self._transport is not None and self._was_registered and not self._closing:
            log.warning("mesh: lost the coordinator; sends are dropped until it is back")
        self._transport = None
        self._registered_generation = -1
        assert self._connected_event is not None
        self._connected_event.clear()

    async def _tick_loop(self) -> None:
        """Heartbeats, dead-coordinator detection and per-link stats reports."""
        ping = mp.empty_frame(mp.PING)
        last_ping = 0.0
        last_counters = 0.0
        while True:
            await asyncio.sleep(self.stats_interval_s)
            transport = self._transport
            if transport is None:
                continue
            now = time.monotonic()
            if now - self._last_rx > self.peer_timeout_s:
                log.warning("mesh: coordinator silent for %.1fs; reconnecting", now - self._last_rx)
                transport.abort()
                continue
            try:
                if now - last_ping >= self.heartbeat_s:
                    transport.write(ping)
                    last_ping = now
                pending = [(key, link) for key, link in self._rx_links.items() if link.pending()]
                if pending or now - last_counters >= self.heartbeat_s:
                    self._flush()
                    links = [
                        {"to": handle, "from": label, **link.report()} for (handle, label), link in pending
                    ]
                    transport.write(mp.json_frame(mp.STATS, {"links": links, "counters": self.stats()}))
                    last_counters = now
            except Exception:  # a bug here must not stop the heartbeats for good
                log.exception("mesh: heartbeat/stats tick failed")

    # ------------------------------------------------------------------ receiving

    def _on_data(self, data: bytes) -> None:
        self._last_rx = time.monotonic()
        for frame_type, buf, start, end in self._reader.feed(data):
            if frame_type == mp.DELIVER:
                self._on_deliver(buf, start, end)
            elif frame_type == mp.NBBO:
                self._on_nbbo(buf, start, end)
            elif frame_type in (mp.WELCOME, mp.VENUES):
                venues = mp.parse_json(buf[start:end]).get("venues")
                if isinstance(venues, list):
                    self.venues = [str(v) for v in venues]
            elif frame_type == mp.ORDER and self.on_graph_order is not None:
                try:
                    self.on_graph_order(mp.parse_json(buf[start:end]))
                except mp.ProtocolError:
                    raise
                except Exception:
                    self.callback_errors += 1
                    log.exception("mesh: graph order failed")
            elif frame_type == mp.REGISTERED:
                self._on_registered(mp.parse_json(buf[start:end]))
            elif frame_type == mp.ERROR:
                error = mp.parse_json(buf[start:end])
                refused = f"{error.get('reason')}: {error.get('message')}"
                if refused != self.refused:  # once per cause, not on every reconnection attempt
                    log.error("mesh: coordinator refused this edge: %s", refused)
                self.refused = refused
            elif frame_type != mp.PING:
                raise mp.ProtocolError(f"unexpected frame type {frame_type} from the coordinator")

    def _on_deliver(self, buf: bytes, start: int, end: int) -> None:
        to_handle, sender_client, sender_handle, seq, hop, send_ts, from_len = mp.DELIVER_HEADER.unpack_from(
            buf, start
        )
        inst = self._by_handle.get(to_handle)
        if inst is None:
            self.dropped_unknown_instance += 1
            return
        pos = start + 41  # DELIVER_HEADER.size
        stream = self._rx.get((sender_client, sender_handle, to_handle))
        if stream is None:
            stream = self._rx_stream(sender_client, sender_handle, to_handle, buf[pos : pos + from_len])
        elif stream.epoch == self._epoch and hop > stream.hop + 1:
            stream.link.gaps += hop - stream.hop - 1  # lost between the coordinator and us
        stream.hop = hop
        stream.epoch = self._epoch
        if seq <= stream.seq:  # already delivered: never twice
            stream.link.dups += 1
            self.dropped_duplicate += 1
            return
        stream.seq = seq
        self.received += 1
        stream.link.observe(time.time_ns() - send_ts)
        if self.on_message is not None:
            try:
                self.on_message(
                    inst.deployment_id, stream.from_label, buf[pos + from_len : end], send_ts, seq
                )
            except Exception:
                self.callback_errors += 1
                log.exception("mesh: on_message callback failed for %s", inst.deployment_id)

    def _rx_stream(self, sender_client: int, sender_handle: int, to_handle: int, from_b: bytes) -> _RxStream:
        if len(self._rx) >= MAX_RX_STREAMS:
            del self._rx[next(iter(self._rx))]
        from_label = from_b.decode("utf-8", "replace")
        link = self._rx_links.get((to_handle, from_label))
        if link is None:
            link = self._rx_links[(to_handle, from_label)] = RxLink()
        stream = self._rx[(sender_client, sender_handle, to_handle)] = _RxStream(from_label, link)
        return stream

    def _on_nbbo(self, buf: bytes, start: int, end: int) -> None:
        bid_px, bid_qty, ask_px, ask_qty, ts_ns, bid_v, ask_v, sym_len = mp.NBBO_HEADER.unpack_from(
            buf, start
        )
        pos = start + mp.NBBO_HEADER.size
        symbol = buf[pos : pos + sym_len].decode("utf-8", "replace")
        pos += sym_len
        (count,) = mp.NBBO_COUNT.unpack_from(buf, pos)
        handles = mp.unpack_handles(buf, pos + 2, count)
        nbbo = Nbbo(
            bid_px,
            bid_qty,
            ask_px,
            ask_qty,
            ts_ns,
            bid_v,
            ask_v,
            self.venue_name(bid_v),
            self.venue_name(ask_v),
        )
        deployments = []
        for handle in handles:
            inst = self._by_handle.get(handle)
            if inst is None:
                self.nbbo_unknown_instance += 1
            else:
                deployments.append(inst.deployment_id)
        self.nbbo_received += len(deployments)
        if self.on_symbol_nbbo is not None and deployments:
            try:
                self.on_symbol_nbbo(symbol, nbbo, deployments)
            except Exception:
                self.callback_errors += 1
                log.exception("mesh: on_symbol_nbbo callback failed for %s", symbol)
        if self.on_nbbo is not None:
            for deployment_id in deployments:
                try:
                    self.on_nbbo(deployment_id, symbol, nbbo)
                except Exception:
                    self.callback_errors += 1
                    log.exception("mesh: on_nbbo callback failed for %s", deployment_id)

    def _on_registered(self, reply: dict[str, Any]) -> None:
        self._was_registered = True
        self.refused = None
        if reply.get("generation") == self._generation:
            self._registered_generation = self._generation
        for item in reply.get("rejected", []):
            if isinstance(item, dict):
                self.rejected[str(item.get("deployment_id"))] = str(item.get("reason"))
                log.error("mesh: coordinator refused %s: %s", item.get("deployment_id"), item.get("reason"))

    _reader: mp.FrameReader


class _RxStream:
    """Messages from one sending instance to one local instance: duplicate refusal and hop gaps."""

    __slots__ = ("epoch", "from_label", "hop", "link", "seq")

    def __init__(self, from_label: str, link: RxLink) -> None:
        self.from_label = from_label
        self.link = link
        self.seq = 0  # last sender sequence number delivered (kept across reconnections)
        self.hop = 0  # last hop number seen on connection `epoch`
        self.epoch = -1


class _TxLink:
    """One (sending instance, destination label) stream and its sequence number."""

    __slots__ = ("handle", "label", "label_len", "seq")

    def __init__(self, handle: int, label: bytes) -> None:
        self.handle = handle
        self.label = label
        self.label_len = len(label)
        self.seq = 0


class _Link(asyncio.Protocol):
    """asyncio protocol of one connection; all logic lives in MeshClient."""

    def __init__(self, client: MeshClient, lost: asyncio.Future[None]) -> None:
        self.client = client
        self.lost = lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        self.client._reader = mp.FrameReader()
        self.client._attached(self.transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.client._on_data(data)
        except mp.ProtocolError as exc:
            log.error("mesh: protocol error from coordinator: %s", exc)
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._detached()
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self.client._paused = True

    def resume_writing(self) -> None:
        self.client._paused = False
