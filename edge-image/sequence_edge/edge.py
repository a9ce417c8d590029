"""The venue edge: one process per venue hosting many deployments (docs/edge-api.md).

One asyncio thread does everything, so nothing needs a lock: about every millisecond `step()`
polls the feed into a RecordBuffer and hands it to the Cython Engine (books, resting-order
matching, algo callbacks, risk, paper OMS, fills back to the algos: no Python per record),
then drains logs and mesh outboxes, notices failed instances and tripped kill switches, and
once a second delivers `on_heartbeat`. The HTTP control API (control.py) calls the methods
below between two steps.

Mesh hooks (mesh.bridge.EdgeMesh plugs the coordinator client in here): outbound messages drained
after each step go to `mesh_sink(messages)` (without one they are counted as dropped,
`no_coordinator`); after each step `top_of_book_sink(symbol, bid_px, bid_qty, ask_px, ask_qty)`
gets every book whose touch changed (1e8 fixed point, 0 = empty side); `on_deployments_changed()`
runs after every push, hot swap and remove (the client re-registers the full set). Inbound
traffic enters through `deliver_message()` and `deliver_nbbo()`, which run the callbacks and then
the actions they emit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sequence_wire import edge_api as wire
from sequence_wire.edge_api import PushRequest
from sequence_wire.errors import RequestError

from .algo import abi
from .algo.bundles import load_bundle
from .algo.compile_worker import CompileRefused, CompileWorkers, check_shape, trim_heap
from .algo.host import AlgoHost
from .deployment import Deployment, failure_reason, iso
from .durable import Durability
from .edge_policy import EdgePolicy, check_params, resolve_risk
from .engine import Engine
from .market.feeds import FeedAdapter, SimFeedAdapter
from .market.records import RecordBuffer
from .market.replay import ReplayFeedAdapter
from .orders.live_orders import KillSwitch, LiveOrders, check_mode, live_orders_for
from .push import verify_sha256

log = logging.getLogger("sequence.edge")

MAX_BATCH = 200_000  # records per step at most (a late step catches up over several)
HEARTBEAT_NS, FEED_STALE_NS = 1_000_000_000, 5_000_000_000


@dataclass
class EdgeConfig:
    venue: str
    edge_id: str = ""
    mode: str = "sandbox"
    feed: str = "sim"
    symbols: list[str] = field(default_factory=list)
    seed: int = 1
    updates_per_sec: float = 2000.0
    volatility_bps: float = 50.0
    spread_bps: float = 2.0
    dislocation_bps: float = 3.0
    depth: int = 25
    start_prices: dict[str, float] = field(default_factory=dict)
    replay_file: str | None = None
    replay_speed: float = 1.0
    replay_loop: bool = True
    # live feed (market/live.py): endpoint overrides (a stand-in, a venue's sandbox), TLS trust
    live_endpoint: str | None = None
    live_rest_endpoint: str | None = None
    live_markets_file: str | None = None
    live_cafile: str | None = None
    live_depth: int = 10
    maker_fee_bps: float = 1.0
    taker_fee_bps: float = 4.0
    batch_ms: float = 1.0
    # The venue table every instance gets (seq.venue_name, Nbbo venue indexes): the same list on
    # every edge of a project so an index means the same venue everywhere; default [venue].
    venue_names: list[str] = field(default_factory=list)
    # What pushes may do: compile limits, bundle_url rules, default risk (edge_policy.py).
    policy: EdgePolicy = field(default_factory=EdgePolicy)
    # Durable trading state (durable.py): journals in this directory; None: nothing survives a restart.
    state_dir: str | None = None
    journal_fsync_ms: int = 200
    # Native (.so) algorithms run unsandboxed in this process: only with --allow-native.
    allow_native: bool = False
    # Execution-graph orders (orders/graph_orders.py): the paper equity of the `:graphs` account
    # and its pre-trade limits (RiskLimits fields, natural units; None: the edge's default risk).
    graph_equity_usd: float = 100_000.0
    graph_risk: dict[str, Any] | None = None
    # mode live (orders/live_orders.py): credentials files, private REST URL override, dry run, poll
    credentials_dir: str | None = None
    live_orders_endpoint: str | None = None
    dry_run: bool = False
    live_poll_ms: int = 1000

    def __post_init__(self) -> None:
        if not self.edge_id:
            self.edge_id = f"{self.venue}-0"
        check_mode(self.mode, self.feed, self.credentials_dir)
        if self.feed not in ("sim", "replay", "live"):
            raise ValueError(f"feed must be sim, replay or live, got {self.feed!r}")
        if self.feed == "replay" and not self.replay_file:
            raise ValueError("--feed replay needs --replay-file")
        if self.venue_names and self.venue not in self.venue_names:
            raise ValueError(
                f"the venue table {self.venue_names} must include this edge's venue {self.venue!r}"
            )
        if len(set(self.venue_names)) != len(self.venue_names):
            raise ValueError(f"the venue table {self.venue_names} names a venue twice")


@dataclass(frozen=True)
class OutboundMessage:
    """One mesh send drained from an algo's outbox."""

    deployment_id: str
    mesh_group: str | None
    from_label: str | None
    to_label: str
    payload: bytes
    send_ts_ns: int  # when the algo called seq.send (CLOCK_REALTIME): mesh latency starts here


MeshSink = Callable[[list[OutboundMessage]], None]


class MeshClientStats(Protocol):
    """The coordinator connection's counters, as status and metrics show them."""

    @property
    def connected(self) -> bool: ...

    def stats(self) -> dict[str, int]: ...


class MeshLink(Protocol):
    """What the edge asks of its mesh connection for status and drop counts (mesh.bridge.EdgeMesh
    implements it; the edge never imports the bridge, which imports the edge)."""

    @property
    def client(self) -> MeshClientStats: ...

    def status(self) -> wire.EdgeMesh: ...

    def client_drops(self) -> dict[str, int]: ...

    def deployment_status(self, deployment_id: str) -> dict[str, Any]: ...


class GraphOrdersLink(Protocol):
    """The edge's side of execution-graph orders (orders.graph_orders.GraphOrders, plugged in by
    mesh.bridge.EdgeMesh): polled after every step, shown in /v1/edge and /v1/graph-orders."""

    def poll(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def orders(self, open_only: bool) -> list[dict[str, Any]]: ...


TopOfBookSink = Callable[[str, int, int, int, int], None]  # symbol, bid px, bid qty, ask px, ask qty
NO_VENUE = 255  # Nbbo venue index of a venue the instance's table does not name


class Edge:
    def __init__(
        self,
        config: EdgeConfig,
        *,
        mesh_sink: MeshSink | None = None,
        top_of_book_sink: TopOfBookSink | None = None,
    ) -> None:
        self.config = config
        self.started_ns = time.time_ns()
        self.host = AlgoHost()
        self.durable = Durability(config.state_dir, config.journal_fsync_ms) if config.state_dir else None
        self.engine = Engine(
            self.host,
            maker_fee_bps=config.maker_fee_bps,
            taker_fee_bps=config.taker_fee_bps,
            trace_salt=self.durable.trace_salt() if self.durable else None,
        )
        if self.durable is not None:
            self.durable.resume_refs(self.engine)  # order refs continue, never reused
        self.feed = self._make_feed(config)
        self.kill_switch = KillSwitch()
        self.live: LiveOrders | None = live_orders_for(self) if config.mode == "live" else None
        self.buf = RecordBuffer(1 << 16)
        self.deployments: dict[str, Deployment] = {}
        self.mesh_sink = mesh_sink
        self.top_of_book_sink = top_of_book_sink
        self.on_deployments_changed: Callable[[], None] | None = None
        self.mesh: MeshLink | None = None  # set by EdgeMesh when a coordinator is configured
        self.graph_orders: GraphOrdersLink | None = None  # set by EdgeMesh too
        self._tob_published: dict[str, tuple[int, int, int, int]] = {}
        self.mesh_dropped: dict[str, int] = {}
        self.venue_names = list(config.venue_names or [config.venue])
        self.feed_lag_ns = 0
        self.last_record_wall_ns = 0
        self.valid_book_seen = False
        self.next_heartbeat_ns = self.started_ns + HEARTBEAT_NS
        self.steps = 0
        self._stopping = False
        self._push_lock = asyncio.Lock()  # one push compiles at a time (each in its own worker)
        self.compile_workers = CompileWorkers(config.policy.compile)
        self._carried: list[str] | None = None  # symbols seq.subscribe may add (set by ensure_symbols)
        # a replay feed has a fixed symbol set, all of which get books (and --symbols must be in it)
        self.ensure_symbols(
            list(config.symbols) + [s for s in self.feed.available_symbols() or [] if s not in config.symbols]
        )

    @staticmethod
    def _make_feed(config: EdgeConfig) -> FeedAdapter:
        if config.feed == "replay":
            assert config.replay_file
            return ReplayFeedAdapter(config.replay_file, speed=config.replay_speed, loop=config.replay_loop)
        if config.feed == "live":
            from .market.live import LiveFeedAdapter  # needs the `live` extra (ccxt)

            return LiveFeedAdapter(
                config.venue,
                endpoint=config.live_endpoint,
                rest_endpoint=config.live_rest_endpoint,
                markets_file=config.live_markets_file,
                cafile=config.live_cafile,
                depth=config.live_depth,
            )
        return SimFeedAdapter(
            config.venue,
            seed=config.seed,
            updates_per_sec=config.updates_per_sec,
            volatility_bps=config.volatility_bps,
            spread_bps=config.spread_bps,
            dislocation_bps=config.dislocation_bps,
            depth=config.depth,
            start_prices=config.start_prices,
        )

    def check_available(self, symbols: list[str]) -> None:
        available = self.feed.available_symbols()
        missing = [s for s in symbols if available is not None and s not in available]
        if missing:
            raise RequestError(
                "UnknownSymbol",
                f"{', '.join(missing)} not available from this edge's {self.feed.kind} feed "
                f"(it has {', '.join(available or [])})",
            )

    def ensure_symbols(self, symbols: list[str]) -> None:
        """Books for `symbols` on this edge (the feed starts producing them)."""
        self.check_available(symbols)
        for symbol in symbols:
            if not self.engine.has_book(symbol):
                self.feed.subscribe(symbol, self.engine.add_book(symbol))
        carried = self.feed.available_symbols() or self.engine.symbols  # what seq.subscribe may add
        if carried != self._carried:
            self._carried = list(carried)
            self.host.set_carried_symbols(self._carried)

    # ------------------------------------------------------------------ lifecycle

    def get(self, deployment_id: str) -> Deployment:
        dep = self.deployments.get(deployment_id)
        if dep is None:
            raise RequestError("NotFound", f"no deployment {deployment_id!r} on edge {self.config.edge_id}")
        return dep

    def check_push(
        self, deployment_id: str, req: PushRequest, wasm: bytes, *, hashed: bool = False
    ) -> dict[str, Any]:
        """Everything that can refuse a push and needs no compile; returns the resolved risk
        (edge_policy.resolve_risk). Changes nothing. `hashed`: the sha256 was verified already."""
        if not hashed:
            verify_sha256(wasm, req.sha256)
        if req.runtime == "wasm":  # a native library is checked by its loader (algo/native.pyx)
            try:
                check_shape(wasm, self.config.policy.compile)
            except CompileRefused as exc:
                raise RequestError(exc.reason, exc.message) from None
        self.check_available(req.symbols)
        check_params(req.params)
        risk = resolve_risk(req.risk.model_dump(), req.risk_unlimited, self.config.policy)
        old = self.deployments.get(deployment_id)
        if old is not None:
            try:
                old.account.check_resymbol(req.symbols)
            except ValueError as exc:
                raise RequestError("SymbolInUse", str(exc)) from None
        return risk

    async def push_off_loop(self, deployment_id: str, req: PushRequest, wasm: bytes) -> bool:
        """push(), with the bundle compiled in a capped worker process (compile_worker.py) while
        the loop keeps trading; the control API's path. Nothing changes on error."""
        loop = asyncio.get_running_loop()
        try:
            async with self._push_lock:
                return await self._push_compiled(deployment_id, req, wasm, loop)
        finally:
            trim_heap()

    async def _push_compiled(
        self, deployment_id: str, req: PushRequest, wasm: bytes, loop: asyncio.AbstractEventLoop
    ) -> bool:
        await loop.run_in_executor(None, verify_sha256, wasm, req.sha256)  # hashlib frees the GIL
        self.check_push(deployment_id, req, wasm, hashed=True)
        module = None
        if req.runtime == "wasm" and not self.host.has_module(req.sha256):
            try:
                module = await self.compile_workers.compile(wasm, self.host.engine)
            except CompileRefused as exc:
                raise RequestError(exc.reason, exc.message) from None  # CompileUnavailable: 503
        if module is not None:  # no await from here on: nothing can evict it before load()
            self.host.add_module(req.sha256, module)
        return self.push(deployment_id, req, wasm, hashed=True)

    def push(self, deployment_id: str, req: PushRequest, wasm: bytes, *, hashed: bool = False) -> bool:
        """Load (or hot-swap) a bundle; True when the deployment is new. Nothing changes on error.
        Compiles on the calling thread unless the module is cached (push_off_loop does not)."""
        risk = self.check_push(deployment_id, req, wasm, hashed=hashed)
        old = self.deployments.get(deployment_id)
        journaled = self.durable.check_push(deployment_id, req, old is not None) if self.durable else None
        inst = load_bundle(
            self.host,
            deployment_id,
            req,
            wasm,
            allow_native=self.config.allow_native,
            venue_names=self.venue_names,
        )
        # committed: nothing below refuses the push
        self.ensure_symbols(req.symbols)
        limits = risk["limits"]
        if old is None:
            if self.durable is not None:
                account = self.durable.open_account(self.engine, deployment_id, req, limits, journaled)
            else:
                account = self.engine.open_account(deployment_id, req.symbols, risk=limits)
            dep = Deployment(deployment_id, req, len(wasm), inst, account, risk=risk)
            self.deployments[deployment_id] = dep
        else:
            if self.durable is not None:
                self.durable.pushed(old.account, deployment_id, req)
            dep = old
            if list(dep.account.symbols) != list(req.symbols):
                self.engine.resymbol(deployment_id, req.symbols)
            dep.account.set_limits(limits)  # a re-push resets the kill switch
            dep.request, dep.size_bytes, dep.instance, dep.risk = req, len(wasm), inst, risk
            dep.last_error, dep.failure_seen, dep.kill_seen = None, False, False
        dep.account.attach(inst)
        self.engine.settle(deployment_id)  # a hot swap of a running instance already ran on_start
        dep.edge_log(
            "INFO",
            f"{'pushed' if old is None else 'replaced'} bundle sha256={req.sha256[:12]} ({len(wasm)} bytes), "
            f"symbols {', '.join(req.symbols)}, state {inst.state}",
        )
        # the pushed state wins: a hot swap of a running instance ran the new one's on_start above,
        # and a push saying "Stopped" then stops it (on_stop, resting orders kept)
        restored = self.durable.describe_restore(dep) if self.durable and old is None else None
        if restored:
            dep.edge_log("INFO", restored)
        if req.state in ("Running", "Paused") and inst.state not in ("running", "paused"):
            self.start(deployment_id)
        if req.state == "Paused" and inst.state == "running":
            self.pause(deployment_id)
        elif req.state == "Stopped" and inst.state in ("running", "paused"):
            self.stop(deployment_id)
        self._deployments_changed()
        self.flush_journal()
        return old is None

    def _deployments_changed(self) -> None:
        if self.on_deployments_changed is not None:
            self.on_deployments_changed()

    def start(self, deployment_id: str) -> None:
        dep = self.get(deployment_id)
        if dep.instance.state == "failed":
            raise RequestError(
                "Failed", f"{deployment_id} failed ({dep.instance.reason}); push the bundle again"
            )
        if dep.instance.state == "paused":
            raise RequestError("Paused", f"{deployment_id} is paused; resume it (start is for stopped ones)")
        self.host.start(deployment_id)
        self.engine.settle(deployment_id)
        dep.edge_log("INFO", "started")
        self.flush_journal()

    def pause(self, deployment_id: str) -> None:
        """on_pause; books stop until resume, the instance and its subscriptions stay warm."""
        dep = self.get(deployment_id)
        if dep.instance.state not in ("running", "paused"):
            raise RequestError(
                "NotRunning", f"{deployment_id} is {dep.instance.state}; only a running one pauses"
            )
        self.host.pause(deployment_id)
        self.engine.settle(deployment_id)
        dep.edge_log("INFO", "paused")

    def resume(self, deployment_id: str) -> None:
        dep = self.get(deployment_id)
        if dep.instance.state not in ("running", "paused"):
            raise RequestError(
                "NotPaused", f"{deployment_id} is {dep.instance.state}; only a paused one resumes"
            )
        self.host.resume(deployment_id)
        self.engine.settle(deployment_id)
        dep.edge_log("INFO", "resumed")

    def _apply_subscriptions(self) -> None:
        """seq.subscribe calls of the last batch: new symbols get books and join the accounts."""
        grown = self.host.apply_subscriptions(before_callbacks=self._grow_account)
        for dep_id, _symbols in grown:
            self.engine.settle(dep_id)

    def _grow_account(self, deployment_id: str, symbols: tuple[str, ...]) -> None:
        self.ensure_symbols(list(symbols))
        self.engine.resymbol(deployment_id, list(symbols))
        self.deployments[deployment_id].edge_log("INFO", f"subscribed: symbols now {', '.join(symbols)}")

    def stop(self, deployment_id: str) -> None:
        dep = self.get(deployment_id)
        if dep.instance.state in ("running", "paused"):
            self.host.stop(deployment_id)
            self.engine.settle(deployment_id)  # on_stop may cancel
            dep.edge_log("INFO", f"stopped; {dep.account.n_open} resting order(s) kept")
            self.flush_journal()

    def remove(self, deployment_id: str) -> wire.RemoveResult:
        """on_shutdown, its actions, then cancel what is left; the deployment is gone afterwards."""
        dep = self.get(deployment_id)
        account = dep.account
        self._drain_logs(dep)
        self._drain_outbox(dep)
        state_before = dep.instance.state
        actions = self.host.remove(deployment_id)  # runs on_shutdown (unless failed), frees the instance
        account.detach()
        before = account.n_open
        for a in actions:
            account.submit(
                a.kind,
                side=a.side,
                order_type=a.order_type,
                symbol_idx=a.symbol_idx,
                order_id=a.order_id,
                px_1e8=a.px_1e8,
                qty_1e8=a.qty_1e8,
            )
        by_algo = before - account.n_open
        by_edge = account.cancel_everything()
        self.engine.close_account(deployment_id)
        dep.edge_log("INFO", f"removed: {by_algo} order(s) cancelled by on_shutdown, {by_edge} by the edge")
        # the final status: state is what it was doing when removed (e.g. Failed)
        final = self.status(deployment_id, state=state_before).model_copy(update={"removed": True})
        dep.logs.close()
        del self.deployments[deployment_id]
        if self.durable is not None:
            self.durable.removed(deployment_id)
        self._deployments_changed()
        trim_heap()  # its compiled module was freed (AlgoHost.remove)
        return wire.RemoveResult(
            cancelled=by_algo + by_edge, cancelled_by_algo=by_algo, cancelled_by_edge=by_edge, status=final
        )

    # ------------------------------------------------------------------ mesh entry points

    def deliver_message(self, deployment_id: str, from_label: str, payload: bytes) -> bool:
        """Inbound mesh message -> algo_on_message (running instances that export it). A message
        for an instance that is not running (or does not export it) is dropped and counted."""
        dep = self.get(deployment_id)
        delivered = bool(self.host.deliver_message(deployment_id, from_label, payload))
        if delivered:
            dep.mesh_received += 1
            self.engine.settle(deployment_id)
            self.flush_journal()
        else:
            dep.mesh_undelivered += 1
            self.count_mesh_drop("receiver_not_running")
        return delivered

    def count_mesh_drop(self, reason: str, n: int = 1) -> None:
        self.mesh_dropped[reason] = self.mesh_dropped.get(reason, 0) + n

    def mesh_drops(self) -> dict[str, int]:
        """Every mesh message this edge lost, by reason: its own counts plus its client's."""
        drops = dict(self.mesh_dropped)
        if self.mesh is not None:
            for reason, n in self.mesh.client_drops().items():
                drops[reason] = drops.get(reason, 0) + n
        return {reason: n for reason, n in sorted(drops.items()) if n}

    def deliver_nbbo(
        self,
        symbol: str,
        *,
        bid_px_1e8: int,
        bid_qty_1e8: int,
        ask_px_1e8: int,
        ask_qty_1e8: int,
        ts_ns: int = 0,
        bid_venue: str | None = None,
        ask_venue: str | None = None,
        deployments: list[str] | None = None,
    ) -> int:
        """Cross-venue NBBO -> algo_on_nbbo of the running instances trading `symbol` that export it
        (only `deployments`, when given). Venue names become indexes into the instances' venue
        table (EdgeConfig.venue_names, given at load), NO_VENUE when absent. Returns deliveries."""
        targets = list(self.deployments) if deployments is None else deployments
        venue_idx = {name: i for i, name in enumerate(self.venue_names)}
        delivered = 0
        for dep_id in targets:
            dep = self.deployments.get(dep_id)
            if dep is None or symbol not in dep.account.symbols:
                continue
            if self.host.deliver_nbbo(
                dep_id,
                symbol_idx=dep.account.symbols.index(symbol),
                bid_px_1e8=bid_px_1e8,
                bid_qty_1e8=bid_qty_1e8,
                ask_px_1e8=ask_px_1e8,
                ask_qty_1e8=ask_qty_1e8,
                ts_ns=ts_ns,
                bid_venue=venue_idx.get(bid_venue, NO_VENUE) if bid_venue else NO_VENUE,
                ask_venue=venue_idx.get(ask_venue, NO_VENUE) if ask_venue else NO_VENUE,
            ):
                delivered += 1
                self.engine.settle(dep_id)
        if delivered:
            self.flush_journal()
        return delivered

    # ------------------------------------------------------------------ the loop

    def step(self, now_ns: int | None = None) -> int:
        """One batch: feed -> engine, then housekeeping. Returns the records processed."""
        now = time.time_ns() if now_ns is None else now_ns
        self.buf.clear()
        # mode live: no book reaches the algos until the venue's orders are reconciled
        n = self.feed.poll(self.buf, now, MAX_BATCH) if self.live is None or self.live.ready else 0
        if n:
            self.engine.run(self.buf)
            self.feed_lag_ns = max(0, time.time_ns() - self.engine.last_ts_ns)
            self.last_record_wall_ns = now
            if not self.valid_book_seen:
                self.valid_book_seen = any(not self.engine.book(s).stale for s in self.engine.symbols)
            if self.top_of_book_sink is not None:
                self._publish_top_of_book()
        self.flush_journal()  # before anything (mesh sends, API answers) shows what traded
        self._apply_subscriptions()
        for dep in list(self.deployments.values()):
            self._housekeep(dep)
        if self.graph_orders is not None:
            self.graph_orders.poll()  # fills of resting graph orders go back to the coordinator
        if now >= self.next_heartbeat_ns:
            self.next_heartbeat_ns = now + HEARTBEAT_NS
            self.host.heartbeat(now)
            self.engine.settle_all()
            for dep in self.deployments.values():
                if dep.instance.state != "failed":
                    dep.last_heartbeat_ns = now
        self.flush_journal()  # orders are journaled before the gateway sends them
        if self.live is not None:
            self.live.pump()
        self.steps += 1
        return n

    def _refs_issued(self) -> int:
        return int(self.engine.traces.issued)

    def flush_journal(self) -> None:
        """Write what the accounts did since the last flush to their journals (no-op without one)."""
        if self.durable is not None:
            self.durable.flush(self.deployments, self._refs_issued)

    def _housekeep(self, dep: Deployment) -> None:
        self._drain_logs(dep)
        self._drain_outbox(dep)
        inst = dep.instance
        if inst.state == "failed" and not dep.failure_seen:
            dep.failure_seen = True
            reason = inst.reason or "failed"
            dep.last_error = wire.LastError(
                reason=failure_reason(reason), message=reason[:1024], time=iso(time.time_ns())
            )
            cancelled = dep.account.cancel_everything()
            dep.edge_log("ERROR", f"instance failed: {reason}; {cancelled} resting order(s) cancelled")
            self._deployments_changed()  # the mesh forgets it: sends to its label are dropped, counted
        if dep.account.killed and not dep.kill_seen:
            dep.kill_seen = True
            info = dep.account.kill_info() or {}
            dep.last_error = wire.LastError(
                reason="KillSwitch",
                message=f"max_loss {info.get('max_loss')} exceeded (PnL {info.get('pnl'):.2f}): resting orders "
                "cancelled, every order refused until the deployment is pushed again",
                time=iso(time.time_ns()),
            )
            dep.edge_log("ERROR", dep.last_error.message)

    def _publish_top_of_book(self) -> None:
        assert self.top_of_book_sink is not None
        for symbol in self.engine.symbols:
            book = self.engine.book(symbol)
            if book.stale:
                continue
            bids, asks = book.top(1)
            quote = (*(bids[0] if bids else (0, 0)), *(asks[0] if asks else (0, 0)))
            if self._tob_published.get(symbol) != quote:
                self._tob_published[symbol] = quote
                self.top_of_book_sink(symbol, *quote)

    def _drain_logs(self, dep: Deployment) -> None:
        for line in self.host.drain_logs(dep.deployment_id):
            dep.logs.add(line.ts_ns, line.level, line.text)

    def _drain_outbox(self, dep: Deployment) -> None:
        out = self.host.drain_outbox(dep.deployment_id, timestamps=True)
        if not out:
            return
        req = dep.request
        msgs = [
            OutboundMessage(dep.deployment_id, req.mesh_group, req.label, label, payload, ts_ns)
            for label, payload, ts_ns in out
        ]
        dep.mesh_sent += len(msgs)
        if self.mesh_sink is None:
            dep.mesh_dropped += len(msgs)
            self.count_mesh_drop("no_coordinator", len(msgs))
            return
        self.mesh_sink(msgs)

    async def run(self) -> None:
        """Step about every batch_ms until stop() (the control API runs in between)."""
        period = self.config.batch_ms / 1000.0
        await self.compile_workers.warm()
        if self.live is not None:
            self.live.start()
        while not self._stopping:
            self.step()
            await asyncio.sleep(period)

    def stop_loop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        self._stopping = True
        self.flush_journal()
        if self.durable is not None:
            self.durable.close()
        self.compile_workers.discard()
        if self.live is not None:
            self.live.close()
        self.feed.close()
        self.host.close()

    # ------------------------------------------------------------------ views

    def feed_status(self) -> wire.FeedStatus:
        now = time.time_ns()
        fresh = self.last_record_wall_ns and now - self.last_record_wall_ns < FEED_STALE_NS
        details = self.feed.status()
        connected = details.get("connected", True)  # a live feed that lost its venue is not healthy
        if "connected" in details:
            fresh = connected  # a quiet live market sends no updates for a while; its connection is alive
        return wire.FeedStatus(
            kind=self.feed.kind,
            healthy=bool(self.valid_book_seen and fresh and connected) or not self.engine.symbols,
            lag_ms=round(self.feed_lag_ns / 1e6, 3),
            updates=self.engine.applied,
            **details,
        )

    def book_tops(self, levels: int = 10) -> dict[str, dict[str, Any]]:
        """Each book's top levels in natural units (what the algos see; empty while stale)."""
        tops: dict[str, dict[str, Any]] = {}
        for symbol in self.engine.symbols:
            book = self.engine.book(symbol)
            bids, asks = ([], []) if book.stale else book.top(levels)
            tops[symbol] = {
                "stale": bool(book.stale),
                "bids": [[px / 1e8, qty / 1e8] for px, qty in bids],
                "asks": [[px / 1e8, qty / 1e8] for px, qty in asks],
            }
        return tops

    def healthy(self) -> bool:
        """Ready once the feed produced a valid book (an edge without any symbol yet is ready too)."""
        return self.valid_book_seen or not self.engine.symbols

    def edge_info(self) -> wire.EdgeInfo:
        mesh = (
            self.mesh.status()
            if self.mesh is not None
            else wire.EdgeMesh(
                coordinator=None,
                connected=False,
                registered=False,
                rejected={},
                coordinator_venues=[],
                client={},
            )
        )
        return wire.EdgeInfo(
            edge_id=self.config.edge_id,
            venue=self.config.venue,
            mode=self.config.mode,
            feed=self.feed_status(),
            symbols=self.engine.symbols,
            books={s: wire.BookTop.model_validate(top) for s, top in self.book_tops().items()},
            deployments=list(self.deployments),
            started_at=iso(self.started_ns),
            engine=self.engine.stats(),
            venues=list(self.venue_names),
            journal=wire.JournalInfo.model_validate(self.durable.info())
            if self.durable is not None
            else None,
            mesh=mesh.model_copy(update={"dropped": self.mesh_drops()}),
            graph_orders=wire.GraphOrdersInfo.model_validate(self.graph_orders.status())
            if self.graph_orders is not None
            else None,
            kill_switch=self.kill_switch.status(),
            gateway=self.live.info(self.kill_switch.engaged) if self.live is not None else None,
        )

    def status(self, deployment_id: str, state: str | None = None) -> wire.DeploymentStatus:
        dep = self.get(deployment_id)
        acct, inst, req = dep.account, dep.instance, dep.request
        host_status = inst.status()
        pnl = acct.pnl()
        mesh = wire.DeploymentMesh(
            sent=dep.mesh_sent,
            received=dep.mesh_received,
            send_errors=host_status["send_errors"],
            dropped=dep.mesh_dropped,  # sends not handed to the coordinator
            undelivered=dep.mesh_undelivered,  # arrived while not running: dropped
            **(self.mesh.deployment_status(deployment_id) if self.mesh is not None else {}),
        )
        return wire.DeploymentStatus(
            deployment_id=deployment_id,
            label=req.label,
            mesh_group=req.mesh_group,
            edge_id=self.config.edge_id,
            venue=self.config.venue,
            symbols=list(acct.symbols),
            state=cast(wire.DeploymentState, (state or inst.state).capitalize()),
            runtime=inst.runtime,
            bundle_sha256=inst.bundle_sha256,
            size_bytes=dep.size_bytes,
            capabilities=sorted(inst.capabilities),
            last_heartbeat=iso(dep.last_heartbeat_ns),
            orders=acct.n_orders,
            open_orders=acct.n_open,
            fills=acct.n_fills,
            rejects=acct.n_rejects,
            cancels=acct.n_cancels,
            position={s: abi.from_fixed(acct.position(i)[0]) for i, s in enumerate(acct.symbols)},
            realized_pnl=abi.from_fixed(pnl["realized_1e8"]),
            unrealized_pnl=abi.from_fixed(pnl["unrealized_1e8"]),
            fees=abi.from_fixed(pnl["fees_1e8"]),
            callbacks=host_status["callbacks"],
            traps=host_status["traps"],
            deadline_hits=host_status["deadline_hits"],
            latency_ns=wire.Latency(**{k: host_status["latency_ns"][k] for k in ("p50", "p99", "max")}),
            last_error=dep.last_error,
            mesh=mesh,
            rejects_by_reason=acct.rejects_by_reason(),
            kill_switch=acct.kill_info(),
            restored=self._restored(deployment_id),
            risk=wire.RiskInForce.model_validate(dep.risk)
            if dep.risk
            else None,  # limits in force and their source: deployment, edge-default, unlimited
            tick_to_order_ns=wire.Quantiles(p50=acct.tick_to_order_ns(0.5), p99=acct.tick_to_order_ns(0.99)),
        )

    def _restored(self, deployment_id: str) -> wire.Restored | None:
        found = self.durable.restored.get(deployment_id) if self.durable is not None else None
        return wire.Restored.model_validate(found) if found else None

    def orders(self, deployment_id: str, open_only: bool) -> list[wire.Order]:
        dep = self.get(deployment_id)
        if not open_only:
            return [wire.Order(**row) for row in self.engine.traces.orders(dep.account.serial)]
        rows = []
        for row in dep.account.open_orders():
            for key in ("px", "qty", "filled", "queue_ahead"):
                row[key] = abi.from_fixed(row.pop(f"{key}_1e8"))
            rows.append(wire.Order(deployment_id=deployment_id, **row))
        return rows

    def trace(self, order_ref: str) -> wire.OrderTrace:
        try:
            found = self.engine.traces.trace(order_ref)
        except ValueError as exc:
            raise RequestError("BadOrderRef", str(exc)) from None
        if found is None:
            raise RequestError(
                "NotFound", f"no trace for {order_ref} (unknown, or older than the last 16384 orders)"
            )
        return wire.OrderTrace.model_validate(found)
