"""The Central Coordinator: mesh routing by label inside a mesh group, cross-venue NBBO.

One coordinator per namespace. Edges connect over TCP (see mesh_protocol for
the frames) and register the instances they host; the coordinator then

- routes `send(label, payload)` from an instance to every live instance with
  that label *in the sender's mesh group* (never across groups), best effort:
  no retries, no replays, no queues beyond the socket's high-water mark;
- drops and counts what it cannot route, by reason and, for unknown labels,
  per label;
- aggregates the top of book the edges publish into an NBBO per symbol and
  pushes it to instances exporting `algo_on_nbbo` that trade the symbol;
- keeps per-link counts and latency reported by the receiving edges.

Everything runs on one asyncio loop (uvloop when installed): routing, the
HTTP API (coordinator_api) and the heartbeat timer. State is in memory only:
after a restart the routes come back from the edges' automatic
re-registration, and the operator re-sends routing tables on its next poll.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sequence_wire import mesh as mp
from sequence_wire.auth import Credentials
from sequence_wire.mesh import MAX_PAYLOAD
from sequence_wire.mesh_stats import LinkStats

from .binding import Refused, admission_error, check_hello_token, venue_conflict
from .nbbo import NbboAggregator, NbboQuote, TopOfBook

log = logging.getLogger("sequence.coordinator")

LABEL_RE, GROUP_RE = mp.LABEL_RE, mp.GROUP_RE
VENUE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # as `sequence edge --venue`
MAX_UNKNOWN_LABELS = 1024  # distinct unknown labels remembered per group; the rest count as "<other>"
DEFAULT_HWM = 8 << 20  # bytes queued to one edge before sends to it are dropped ("backpressure")

# Drop reasons (Prometheus label values)
UNKNOWN_LABEL = "unknown_label"  # no instance (or table entry) with that label in the group
NO_INSTANCE = "no_instance"  # the routing table has the label but no live instance registered it
NO_RECEIVER = "no_receiver"  # instances have the label, none exports algo_on_message
OVERSIZE = "oversize"  # payload > 256 bytes (the edge's host import refuses these already)
BAD_LABEL = "bad_label"  # empty or > 32 bytes
UNREGISTERED_SENDER = "unregistered_sender"  # handle not registered on that connection
BACKPRESSURE = "backpressure"  # the receiving edge is not reading (socket buffer above HWM)
DUPLICATE = "duplicate"  # a sequence number the sender already used on that link
MAX_SENDER_STREAMS = 65536  # (edge process, instance) pairs whose last sequence numbers are remembered
DROP_REASONS = (
    UNKNOWN_LABEL,
    NO_INSTANCE,
    NO_RECEIVER,
    OVERSIZE,
    BAD_LABEL,
    UNREGISTERED_SENDER,
    BACKPRESSURE,
    DUPLICATE,
)


class RegistrationError(ValueError):
    pass


class EdgeObserver(Protocol):
    """Who else needs to see the edges (graphs.gateway.GraphGateway, the execution-graph engine):
    connects, disconnects, tops of book and the graph-order frames (ORDER_EVENTS, ACCOUNT)."""

    def edge_up(self, conn: EdgeConnection) -> None: ...

    def edge_down(self, conn: EdgeConnection) -> None: ...

    def top_of_book(
        self, venue: str, symbol: str, bid: int, bid_qty: int, ask: int, ask_qty: int
    ) -> None: ...

    def graph_frame(self, conn: EdgeConnection, frame_type: int, body: dict[str, Any]) -> None: ...


@dataclass(eq=False)
class Instance:
    """One algorithm instance on one edge, as registered."""

    conn: EdgeConnection
    handle: int
    deployment_id: str
    group: Group
    label: str
    venue: str
    edge_id: str
    symbols: tuple[str, ...]
    on_message: bool
    on_nbbo: bool
    last_seq: dict[bytes, int] = field(default_factory=dict)  # to label -> last seq (outlives reconnects)
    label_b: bytes = b""
    links: dict[bytes, LinkStats] = field(default_factory=dict)  # to label -> stats, cache of group.links
    forwarded: dict[Instance, int] = field(default_factory=dict)  # receiver -> DELIVER frames sent (hop)
    admitted: bool = True  # its group's routing table (if any) has it: it may send and receive

    def __post_init__(self) -> None:
        self.label_b = self.label.encode()

    @property
    def mesh_id(self) -> str:
        return f"{self.label}@{self.edge_id}"

    def describe(self) -> dict[str, Any]:
        return {
            "mesh_id": self.mesh_id,
            "edge_id": self.edge_id,
            "label": self.label,
            "venue": self.venue,
            "deployment": self.deployment_id,
        }


@dataclass(frozen=True)
class Member:
    """One row of an operator-supplied routing table (MeshGroup spec.members)."""

    deployment: str
    label: str
    venue: str
    peers: tuple[str, ...]


class Group:
    def __init__(self, name: str) -> None:
        self.name = name
        self.table: dict[str, Member] | None = None
        self.instances: list[Instance] = []
        self.routes: dict[bytes, list[Instance]] = {}  # label -> instances that can receive
        self.labels: set[bytes] = set()  # every registered label (receiving or not)
        self.links: dict[tuple[str, str], LinkStats] = {}
        self.routed = 0
        self.drops: Counter[str] = Counter()
        self.unknown_by_label: Counter[str] = Counter()

    def rebuild_routes(self) -> None:
        routes: dict[bytes, list[Instance]] = {}
        for inst in self.instances:
            inst.admitted = (
                admission_error(self.name, self.table, inst.deployment_id, inst.label, inst.venue) is None
            )
            if inst.on_message and inst.admitted:
                routes.setdefault(inst.label_b, []).append(inst)
        self.routes = routes
        self.labels = {inst.label_b for inst in self.instances}

    def link(self, from_label: str, to_label: str) -> LinkStats:
        stats = self.links.get((from_label, to_label))
        if stats is None:
            stats = self.links[(from_label, to_label)] = LinkStats()
        return stats

    def knows(self, label: bytes) -> bool:
        """Is `label` part of this group: in its routing table, or (without one) registered by someone."""
        if self.table is not None:
            return label.decode("utf-8", "replace") in self.table
        return label in self.labels

    def miss(self, sender: Instance, label: bytes, stats: LinkStats | None) -> None:
        """A send whose label has no receiving instance: decide why, count it."""
        name = label.decode("utf-8", "replace")
        if not self.knows(label):
            self.drops[UNKNOWN_LABEL] += 1
            if name in self.unknown_by_label or len(self.unknown_by_label) < MAX_UNKNOWN_LABELS:
                self.unknown_by_label[name] += 1
            else:
                self.unknown_by_label["<other>"] += 1
            return
        self.drops[NO_RECEIVER if label in self.labels else NO_INSTANCE] += 1
        (stats or self.link(sender.label, name)).cc_drops += 1

    def is_empty(self) -> bool:
        return not self.instances and self.table is None and not self.links and not self.drops

    def topology(self, deployment_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if deployment_id is not None:
            out["deployment_id"] = deployment_id
        out["mesh_group"] = self.name
        instances = sorted(self.instances, key=lambda i: (i.label, i.edge_id, i.deployment_id))
        out["instances"] = [inst.describe() for inst in instances]
        links = []
        for (src, dst), stats in sorted(self.links.items()):
            p50, p99 = stats.quantiles_us()
            links.append(
                {
                    "from": src,
                    "to": dst,
                    "messages": stats.delivered,
                    "drops": stats.drops,
                    "p50_us": p50,
                    "p99_us": p99,
                }
            )
        out["links"] = links
        out["dropped_unknown_label"] = self.drops[UNKNOWN_LABEL]
        out["dropped_unknown_label_by_label"] = dict(sorted(self.unknown_by_label.items()))
        out["dropped"] = {reason: self.drops[reason] for reason in DROP_REASONS if self.drops[reason]}
        out["routed"] = self.routed
        out["routing_table"] = self.table is not None
        if self.table is not None:
            live = {inst.label for inst in self.instances}
            out["missing_labels"] = sorted(set(self.table) - live)
        return out


class Coordinator:
    """All routing state; EdgeConnection feeds it frames, coordinator_api reads it."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        heartbeat_s: float = 1.0,
        peer_timeout_s: float = 5.0,
        hwm_bytes: int = DEFAULT_HWM,
    ):
        if heartbeat_s <= 0 or peer_timeout_s <= heartbeat_s:
            raise ValueError("need 0 < heartbeat_s < peer_timeout_s")
        self.credentials = credentials
        self.venue_owners: dict[str, EdgeConnection] = {}  # venue -> its one live connection
        self.hello_refusals = 0  # HELLOs refused: missing or unknown token, venue already connected
        self.heartbeat_s = heartbeat_s
        self.peer_timeout_s = peer_timeout_s
        self.hwm_bytes = hwm_bytes
        self.groups: dict[str, Group] = {}
        self.connections: set[EdgeConnection] = set()
        self.nbbo = NbboAggregator()
        self.nbbo_subscribers: dict[str, dict[EdgeConnection, list[int]]] = {}
        self.drops: Counter[str] = Counter()  # drops not attributable to a group
        self.sender_seqs: dict[tuple[int, int], dict[bytes, int]] = {}  # (client_id, handle) -> last seqs
        self.tob_updates = 0
        self.nbbo_pushes = 0
        self.protocol_errors = 0
        self._dirty: list[EdgeConnection] = []
        self.observer: EdgeObserver | None = None  # the graph engine's gateway, when it runs

    # ------------------------------------------------------------- hot path

    def route(self, conn: EdgeConnection, data: bytes, start: int, end: int) -> None:
        """One SEND frame body (data[start:end]) from `conn`."""
        if end - start < 21:
            raise mp.ProtocolError("SEND frame is shorter than its 21-byte header")
        from_handle, seq, send_ts, label_len = mp.SEND_HEADER.unpack_from(data, start)
        pos = start + 21  # SEND_HEADER.size
        label = data[pos : pos + label_len]
        pos += label_len
        if pos > end:
            raise mp.ProtocolError("SEND frame: the label runs past the end of the frame")
        sender = conn.instances.get(from_handle)
        if sender is None or not sender.admitted:
            self.drops[UNREGISTERED_SENDER] += 1
            return
        group = sender.group
        if not 0 < label_len <= 32:
            group.drops[BAD_LABEL] += 1
            return
        last = sender.last_seq.get(label, 0)
        if seq <= last:
            group.drops[DUPLICATE] += 1  # cannot happen with MeshClient; never deliver twice anyway
            return
        sender.last_seq[label] = seq
        stats = sender.links.get(label)
        if stats is None and group.knows(label):
            stats = sender.links[label] = group.link(sender.label, label.decode())
        if stats is not None and last and seq != last + 1:
            stats.sender_gaps += seq - last - 1  # lost before reaching us (e.g. the edge had no coordinator)
        payload_len = end - pos
        if payload_len > MAX_PAYLOAD:
            group.drops[OVERSIZE] += 1
            if stats is not None:
                stats.cc_drops += 1
            return
        targets = group.routes.get(label)
        if targets is None or stats is None:
            group.miss(sender, label, stats)
            return
        payload = data[pos:end]
        from_label = sender.label_b
        length = 1 + 41 + len(from_label) + payload_len  # type + DELIVER_HEADER + label + payload
        pack = mp.DELIVER_FRAME.pack
        forwarded = sender.forwarded
        for target in targets:
            out = target.conn
            if out.paused:
                group.drops[BACKPRESSURE] += 1
                stats.cc_drops += 1
                continue
            hop = forwarded.get(target, 0) + 1
            forwarded[target] = hop
            frame = pack(
                length,
                mp.DELIVER,
                target.handle,
                conn.client_id,
                from_handle,
                seq,
                hop,
                send_ts,
                len(from_label),
            )
            out.queue(frame + from_label + payload)
            stats.routed += 1
            group.routed += 1

    def mark_dirty(self, conn: EdgeConnection) -> None:
        self._dirty.append(conn)

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

    # ------------------------------------------------------------- registration

    def group(self, name: str) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name)
        return group

    def register(self, conn: EdgeConnection, entries: Any) -> dict[str, Any]:
        """Replace everything `conn` registered with `entries`; returns the REGISTERED reply."""
        if not isinstance(entries, list):
            raise mp.ProtocolError("REGISTER needs an 'instances' list")
        accepted: list[str] = []
        rejected: list[dict[str, str]] = []
        fresh: dict[int, Instance] = {}
        seen_labels: set[tuple[str, str]] = set()
        for entry in entries:
            try:
                inst = self._parse_instance(conn, entry)
                if inst.handle in fresh:
                    raise RegistrationError(f"handle {inst.handle} registered twice")
                if (inst.group.name, inst.label) in seen_labels:
                    raise RegistrationError(
                        f"label {inst.label!r} is registered twice in mesh group {inst.group.name!r} "
                        "by this edge"
                    )
            except RegistrationError as exc:
                deployment = entry.get("deployment_id") if isinstance(entry, dict) else None
                rejected.append({"deployment_id": str(deployment), "reason": str(exc)})
                continue
            fresh[inst.handle] = inst
            seen_labels.add((inst.group.name, inst.label))
            accepted.append(inst.deployment_id)
        self._replace_instances(conn, fresh)
        return {"accepted": accepted, "rejected": rejected}

    def _parse_instance(self, conn: EdgeConnection, entry: Any) -> Instance:
        if not isinstance(entry, dict):
            raise RegistrationError("each instance must be an object")
        handle = entry.get("handle")
        deployment = entry.get("deployment_id")
        group = entry.get("mesh_group")
        label = entry.get("label")
        symbols = entry.get("symbols", [])
        if not isinstance(handle, int) or not 0 <= handle < 2**32:
            raise RegistrationError(f"handle must be an integer 0..2^32-1, got {handle!r}")
        if not isinstance(deployment, str) or not 0 < len(deployment) <= 253:
            raise RegistrationError(
                f"deployment_id must be a string of 1..253 characters, got {deployment!r}"
            )
        if not isinstance(group, str) or not GROUP_RE.match(group):
            raise RegistrationError(f"mesh_group {group!r} is not a valid group name")
        if not isinstance(label, str) or not LABEL_RE.match(label):
            raise RegistrationError(f"label {label!r} is not a mesh label (1-32 of A-Z a-z 0-9 _ . -)")
        if not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols):
            raise RegistrationError("symbols must be a list of non-empty strings")
        venue = entry.get("venue", conn.venue)
        if venue != conn.venue:  # an edge registers its own venue only (sequence_coordinator.binding)
            raise RegistrationError(f"venue {venue!r} is not this connection's venue {conn.venue!r}")
        table = self.group(group).table
        refusal = admission_error(group, table, deployment, label, conn.venue)
        if refusal is not None:
            raise RegistrationError(refusal)
        key = (conn.client_id, handle)
        last_seq = self.sender_seqs.get(key)
        if last_seq is None:
            if len(self.sender_seqs) >= MAX_SENDER_STREAMS:
                del self.sender_seqs[next(iter(self.sender_seqs))]
            last_seq = self.sender_seqs[key] = {}
        return Instance(
            conn=conn,
            handle=handle,
            last_seq=last_seq,
            deployment_id=deployment,
            group=self.group(group),
            label=label,
            venue=conn.venue,
            edge_id=conn.edge_id,
            symbols=tuple(symbols),
            on_message=bool(entry.get("on_message", False)),
            on_nbbo=bool(entry.get("on_nbbo", False)),
        )

    def _replace_instances(self, conn: EdgeConnection, fresh: dict[int, Instance]) -> None:
        touched = {inst.group for inst in conn.instances.values()} | {inst.group for inst in fresh.values()}
        old = conn.instances
        conn.instances = fresh
        gone = set(old.values())
        for group in touched:
            group.instances = [i for i in group.instances if i.conn is not conn]
            group.instances.extend(i for i in fresh.values() if i.group is group)
            group.rebuild_routes()
            for sender in group.instances:  # hop counters towards instances that left
                for target in gone.intersection(sender.forwarded):
                    del sender.forwarded[target]
        self._forget_empty_groups()
        new_subscriptions = self._rebuild_nbbo_subscribers()
        # Someone newly interested in a symbol gets the current NBBO right away.
        for inst in fresh.values():
            previous = old.get(inst.handle)
            for symbol in inst.symbols if inst.on_nbbo else ():
                had = previous is not None and previous.on_nbbo and symbol in previous.symbols
                quote = self.nbbo.current(symbol)
                if not had and quote is not None and symbol in new_subscriptions:
                    self._push_nbbo(symbol, quote, only={conn: [inst.handle]})

    def drop_connection(self, conn: EdgeConnection) -> None:
        self.connections.discard(conn)
        if self.venue_owners.get(conn.venue) is conn:
            del self.venue_owners[conn.venue]
        if self.observer is not None and conn.hello_done:
            self.observer.edge_down(conn)
        if conn.instances:
            self._replace_instances(conn, {})
        for symbol, quote in self.nbbo.remove_source(conn).items():
            self._push_nbbo(symbol, quote)
        self._forget_empty_groups()
        self._forget_venue_of(conn)
        self.flush()

    def _forget_venue_of(self, conn: EdgeConnection) -> None:
        """A venue whose last edge left gives its index back: the 255-entry table holds connected
        venues only, so edges that came and went can never keep a new venue out."""
        if not conn.hello_done:
            return
        if any(c.hello_done and c.venue == conn.venue for c in self.connections if c is not conn):
            return
        if self.nbbo.release_venue(conn.venue):
            self.broadcast_venues()

    def _forget_empty_groups(self) -> None:
        for group in [g for g in self.groups.values() if g.is_empty()]:
            del self.groups[group.name]

    # ------------------------------------------------------------- routing tables

    def set_table(self, name: str, members: list[Member]) -> Group:
        group = self.group(name)
        group.table = {m.label: m for m in members}
        group.rebuild_routes()
        return group

    def delete_table(self, name: str) -> bool:
        group = self.groups.get(name)
        if group is None or group.table is None:
            return False
        group.table = None
        group.rebuild_routes()
        if group.is_empty():
            del self.groups[name]
        return True

    def group_of_deployment(self, deployment_id: str) -> Group | None:
        for group in self.groups.values():
            if any(inst.deployment_id == deployment_id for inst in group.instances):
                return group
            if group.table is not None and any(m.deployment == deployment_id for m in group.table.values()):
                return group
        return None

    # ------------------------------------------------------------- NBBO

    def on_tob(self, conn: EdgeConnection, data: bytes, start: int, end: int) -> None:
        if end - start < mp.TOB_HEADER.size:
            raise mp.ProtocolError(f"TOB frame is shorter than its {mp.TOB_HEADER.size}-byte header")
        bid_px, bid_qty, ask_px, ask_qty, ts_ns, sym_len = mp.TOB_HEADER.unpack_from(data, start)
        pos = start + mp.TOB_HEADER.size
        if pos + sym_len != end or sym_len == 0:
            raise mp.ProtocolError("TOB frame: symbol length does not match the frame")
        symbol = data[pos:end].decode("utf-8", "replace")
        self.tob_updates += 1
        if self.observer is not None:
            self.observer.top_of_book(conn.venue, symbol, bid_px, bid_qty, ask_px, ask_qty)
        venues_before = len(self.nbbo.venues)
        quote = self.nbbo.update(conn, symbol, TopOfBook(conn.venue, bid_px, bid_qty, ask_px, ask_qty, ts_ns))
        if len(self.nbbo.venues) != venues_before:
            self.broadcast_venues()
        if quote is not None:
            self._push_nbbo(symbol, quote)

    def _rebuild_nbbo_subscribers(self) -> set[str]:
        subs: dict[str, dict[EdgeConnection, list[int]]] = {}
        for conn in self.connections:
            for inst in conn.instances.values():
                if inst.on_nbbo:
                    for symbol in inst.symbols:
                        subs.setdefault(symbol, {}).setdefault(conn, []).append(inst.handle)
        self.nbbo_subscribers = subs
        return set(subs)

    def _push_nbbo(
        self, symbol: str, quote: NbboQuote, only: dict[EdgeConnection, list[int]] | None = None
    ) -> None:
        targets = only if only is not None else self.nbbo_subscribers.get(symbol, {})
        if not targets:
            return
        symbol_b = symbol.encode()
        for conn, handles in targets.items():
            conn.queue(mp.nbbo_frame(symbol_b, quote.wire(), handles))
            self.nbbo_pushes += len(handles)

    def broadcast_venues(self) -> None:
        frame = mp.json_frame(mp.VENUES, {"venues": self.nbbo.venues})
        for conn in self.connections:
            if conn.hello_done:
                conn.queue(frame)

    # ------------------------------------------------------------- stats reports

    def on_stats(self, conn: EdgeConnection, report: dict[str, Any]) -> None:
        links = report.get("links", [])
        counters = report.get("counters", {})
        if not isinstance(links, list) or not isinstance(counters, dict):
            raise mp.ProtocolError("STATS needs 'links' (a list) and 'counters' (an object)")
        for item in links:
            if not isinstance(item, dict):
                raise mp.ProtocolError("STATS: each link must be an object")
            handle, from_label = item.get("to"), item.get("from")
            if (
                not isinstance(handle, int)
                or not isinstance(from_label, str)
                or not LABEL_RE.match(from_label)
            ):
                raise mp.ProtocolError("STATS: a link needs 'to' (a handle) and 'from' (a mesh label)")
            inst = conn.instances.get(handle)
            if inst is not None:  # an instance that left since the report was written: ignored
                inst.group.link(from_label, inst.label).merge(item)
        conn.client_counters = {
            str(k)[:64]: v
            for k, v in list(counters.items())[:64]
            if isinstance(v, int) and not isinstance(v, bool)
        }

    # ------------------------------------------------------------- liveness

    async def heartbeat_loop(self) -> None:
        ping = mp.empty_frame(mp.PING)
        while True:
            await asyncio.sleep(self.heartbeat_s)
            now = time.monotonic()
            for conn in list(self.connections):
                if now - conn.last_rx > self.peer_timeout_s:
                    log.warning(
                        "edge %s silent for %.1fs: dropping its instances", conn.edge_id, now - conn.last_rx
                    )
                    conn.close(abort=True)  # a hung peer would never drain a graceful close
                    self.drop_connection(conn)
                elif conn.hello_done:
                    conn.queue(ping)
            self.flush()

    def edges(self) -> list[dict[str, Any]]:
        return sorted(
            (
                {
                    "edge_id": c.edge_id,
                    "venue": c.venue,
                    "peer": c.peer,
                    "instances": len(c.instances),
                    "counters": c.client_counters,
                }
                for c in self.connections
                if c.hello_done
            ),
            key=lambda e: e["edge_id"],
        )


class EdgeConnection(asyncio.Protocol):
    """One edge's TCP connection to the coordinator."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.transport: asyncio.Transport | None = None
        self.reader = mp.FrameReader()
        self.instances: dict[int, Instance] = {}
        self.client_id = 0
        self.edge_id = "?"
        self.venue = ""
        self.peer = ""
        self.hello_done = False
        self.paused = False  # socket buffer above the high-water mark: sends to this edge are dropped
        self.closed = False
        self.last_rx = 0.0
        self.client_counters: dict[str, int] = {}
        self._out: list[bytes] = []

    # asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.transport.set_write_buffer_limits(high=self.coordinator.hwm_bytes)
        self.last_rx = time.monotonic()
        self.coordinator.connections.add(self)

    def data_received(self, data: bytes) -> None:
        """Every frame of `data`, in order. A malformed one gets an ERROR frame and the connection
        is closed; nothing raises out of here (asyncio would report "Fatal error on transport")."""
        coordinator = self.coordinator
        self.last_rx = time.monotonic()
        if self.closed:
            return  # bytes that were in flight when we closed
        try:
            for frame_type, buf, start, end in self.reader.feed(data):
                if frame_type == mp.SEND and self.hello_done:
                    coordinator.route(self, buf, start, end)
                else:
                    self._control(frame_type, buf, start, end)
        except mp.ProtocolError as exc:
            self._refuse(exc)
            return
        except Exception as exc:  # a frame no check above anticipated: same answer, and a trace
            log.exception("edge %s (%s): malformed frame", self.edge_id, self.peer)
            self._refuse(mp.ProtocolError(f"malformed frame ({type(exc).__name__})"))
            return
        coordinator.flush()

    def _refuse(self, exc: Exception) -> None:
        """ERROR frame, then close: a refused HELLO or registration (Refused, counted as a hello
        refusal) or a malformed frame (counted as a protocol error)."""
        coordinator = self.coordinator
        refused = isinstance(exc, Refused)
        if not refused:
            coordinator.protocol_errors += 1
        what = "refused" if refused else "protocol error"
        log.warning("edge %s (%s): %s: %s", self.edge_id, self.peer, what, exc)
        reason = exc.reason if isinstance(exc, Refused) else "ProtocolError"
        self._out.clear()  # replies to earlier frames of the same read are not sent
        self.queue(mp.json_frame(mp.ERROR, {"reason": reason, "message": str(exc)[:500]}))
        coordinator.flush()
        self.close()
        coordinator.drop_connection(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self in self.coordinator.connections:
            log.info("edge %s (%s) disconnected", self.edge_id, self.peer)
            self.coordinator.drop_connection(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    # frames ---------------------------------------------------------------

    def _control(self, frame_type: int, buf: bytes, start: int, end: int) -> None:
        coordinator = self.coordinator
        if not self.hello_done and frame_type != mp.HELLO:
            raise mp.ProtocolError(f"expected HELLO first, got {mp.FRAME_NAMES.get(frame_type, frame_type)}")
        if frame_type == mp.TOB:
            coordinator.on_tob(self, buf, start, end)
        elif frame_type == mp.PING:
            pass  # last_rx is already updated
        elif frame_type == mp.STATS:
            coordinator.on_stats(self, mp.parse_json(buf[start:end]))
        elif frame_type == mp.REGISTER:
            body = mp.parse_json(buf[start:end])
            reply = coordinator.register(self, body.get("instances"))
            reply["generation"] = body.get("generation")
            self.queue(mp.json_frame(mp.REGISTERED, reply))
            for item in reply["rejected"]:
                log.warning(
                    "edge %s: registration of %s refused: %s",
                    self.edge_id,
                    item["deployment_id"],
                    item["reason"],
                )
        elif frame_type == mp.HELLO:
            self._hello(mp.parse_json(buf[start:end]))
        elif frame_type in (mp.ORDER_EVENTS, mp.ACCOUNT) and coordinator.observer is not None:
            coordinator.observer.graph_frame(self, frame_type, mp.parse_json(buf[start:end]))
        else:
            raise mp.ProtocolError(f"unexpected frame type {mp.FRAME_NAMES.get(frame_type, frame_type)}")

    def _hello(self, hello: dict[str, Any]) -> None:
        if self.hello_done:
            raise mp.ProtocolError("HELLO sent twice")
        try:
            check_hello_token(self.coordinator.credentials, hello)
        except Refused:
            self.coordinator.hello_refusals += 1
            raise
        if hello.get("protocol") != mp.PROTOCOL_VERSION:
            raise mp.ProtocolError(
                f"protocol version {hello.get('protocol')!r} not supported (coordinator speaks "
                f"{mp.PROTOCOL_VERSION})"
            )
        edge_id, venue, client_id = hello.get("edge_id"), hello.get("venue"), hello.get("client_id")
        if not isinstance(edge_id, str) or not 0 < len(edge_id) <= 253:
            raise mp.ProtocolError("HELLO needs 'edge_id', a string of 1..253 characters")
        if not isinstance(venue, str) or not VENUE_RE.match(venue):
            raise mp.ProtocolError("HELLO needs 'venue': lowercase letters, digits and '-', at most 63")
        if not isinstance(client_id, int) or not 0 <= client_id < 2**64:
            raise mp.ProtocolError("HELLO needs 'client_id', an unsigned 64-bit integer")
        coordinator = self.coordinator
        owner = coordinator.venue_owners.get(venue)
        try:
            venue_conflict(venue, owner.edge_id if owner is not None and not owner.closed else None)
        except Refused:
            coordinator.hello_refusals += 1
            raise
        if owner is not None:  # closed, its connection_lost still to come: forget it now
            coordinator.drop_connection(owner)
        self.edge_id, self.venue, self.client_id = edge_id, venue, client_id
        coordinator.venue_owners[venue] = self
        self.hello_done = True
        venues_before = len(coordinator.nbbo.venues)
        try:
            coordinator.nbbo.venue_index(venue)
        except ValueError as exc:  # 255 venues connected at once
            raise mp.ProtocolError(str(exc)) from None
        self.edge_id, self.venue, self.client_id = edge_id, venue, client_id
        self.hello_done = True
        self.queue(
            mp.json_frame(mp.WELCOME, {"protocol": mp.PROTOCOL_VERSION, "venues": coordinator.nbbo.venues})
        )
        if len(coordinator.nbbo.venues) != venues_before:
            coordinator.broadcast_venues()
        log.info("edge %s (venue %s) connected from %s", edge_id, venue, self.peer)
        if coordinator.observer is not None:
            coordinator.observer.edge_up(self)

    # output ---------------------------------------------------------------

    def queue(self, frame: bytes) -> None:
        if not self._out:
            self.coordinator.mark_dirty(self)
        self._out.append(frame)

    def flush(self) -> None:
        if self._out and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def close(self, abort: bool = False) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
