"""Mode live: the edge's orders go to the venue, and what the venue did comes back into the OMS.

The edge's accounts run with `venue_routed` (oms.pyx): pre-trade risk is the same as in sandbox,
but an accepted order is not matched against the book; it rests in the account (the algo sees it
open) and is drained here after every step. The order gateway (gateway.py, ccxt's authenticated
REST) runs on a worker thread with its own asyncio loop, so no blocking venue call ever runs on
the edge's hot loop; the two sides talk through two queues:

  edge -> worker   ("place", client_id, symbol, side, qty, price, type), ("cancel", client_id),
                   ("poll", {client_id: filled qty the edge has seen}), ("kill",), ("release",)
  worker -> edge   ("ack" | "reject" | "fill" | "closed" | "dry_run" ...), ("reconciled", ...),
                   ("disconnected", error), ("status", gateway status)

The venue's answers become account events through the same paths as paper ones (fills, a
VENUE_REJECT reject, a cancel by the edge), so they are journaled and reach the algo alike.

The client order id of an order at the venue is the edge's idempotent id: a hash of the
deployment id and the algo's order id (`client_order_id`), so a restarted edge that restores a
deployment from its journal recognises its orders at the venue and never sends one twice.

Reconciliation: on start and after every reconnection (of the gateway, or of the live feed) the
venue's open orders are read (and balances, on the gateway's) before anything is sent, and the
edge feeds no book update to the algos until it is done (`ready`). Then every `poll_s` the venue's open orders are read again: new fills of open
orders come back as fills; an order the venue no longer has open is looked up among its closed
orders (its last fills, then closed), or closed here if the venue never had it (placed in the
journal, never sent before a crash: it is not sent now).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from sequence_wire import edge_api as wire

from ..algo import abi
from .gateway import CredentialsError, GatewayError, LiveOrderGateway, load_credentials

if TYPE_CHECKING:
    from ..edge import Edge
    from .oms import Account

log = logging.getLogger("sequence.edge.live")

FIXED = 100_000_000
SIDES = {abi.SIDE_BUY: "buy", abi.SIDE_SELL: "sell"}
TYPES = {
    abi.ORDER_LIMIT: "limit",
    abi.ORDER_MARKET: "market",
    abi.ORDER_IOC: "ioc",
    abi.ORDER_POST_ONLY: "post_only",
}
RECONNECT_MAX_S = 30.0
MAX_OWNERS = 65536


def client_order_id(deployment_id: str, order_id: int) -> str:
    """The venue's client order id of a deployment's order: stable across edge restarts, at most 18
    characters for order ids below 2**32 (Kraken's limit for free-text ids)."""
    tag = hashlib.blake2b(deployment_id.encode(), digest_size=4).hexdigest()
    return f"sq{tag}{order_id:x}"


def check_mode(mode: str, feed: str, credentials_dir: str | None) -> None:
    """EdgeConfig's checks of the trading mode (ValueError with what to do)."""
    if mode not in ("sandbox", "live"):
        raise ValueError(f"mode must be sandbox or live, got {mode!r}")
    if mode == "live" and not credentials_dir:
        raise ValueError(
            "mode live needs the venue account's credentials: --credentials-dir DIR holding api_key and "
            "api_secret files (a mounted Secret) readable only by the edge's user"
        )
    if mode == "live" and feed != "live":
        raise ValueError(f"mode live trades on the venue's own book: use --feed live, not {feed}")


def live_orders_for(edge: Edge) -> LiveOrders:
    """The gateway of an edge in mode live (ValueError: unusable credentials or no ccxt)."""
    config = edge.config
    assert config.credentials_dir
    try:
        credentials = load_credentials(config.credentials_dir)
        markets = None
        if config.live_markets_file:
            from ..market.live import LiveFeedAdapter

            markets = LiveFeedAdapter._read_markets(config.live_markets_file)
        gateway = LiveOrderGateway(
            config.venue,
            credentials,
            dry_run=config.dry_run,
            rest_endpoint=config.live_orders_endpoint,
            markets=markets,
        )
    except (CredentialsError, GatewayError) as exc:
        raise ValueError(f"mode live: {exc}") from None
    return LiveOrders(edge, gateway, poll_s=config.live_poll_ms / 1000)


class KillSwitch:
    """The edge-wide kill switch: cancels every resting order (at the venue too, in mode live) and
    refuses every place and amend until released. Independent of a deployment's max-loss switch."""

    def __init__(self) -> None:
        self.engaged = False
        self.since_ns = 0
        self.reason = ""
        self.cancelled = 0

    def engage(self, edge: Edge, reason: str) -> None:
        self.engaged, self.since_ns, self.reason = True, time.time_ns(), reason
        edge.engine.halted = True
        cancelled = 0
        for account in edge.engine.accounts():
            account.halted = True
            cancelled += account.cancel_everything()
        self.cancelled = cancelled
        if edge.live is not None:
            edge.live.kill()
        for dep in edge.deployments.values():
            edge.engine.settle(dep.deployment_id)
            dep.edge_log("WARN", f"edge kill switch engaged ({reason or 'no reason given'}): orders refused")
        edge.flush_journal()
        log.warning("kill switch engaged (%s): %d resting order(s) cancelled", reason, cancelled)

    def release(self, edge: Edge) -> None:
        self.engaged, self.since_ns = False, 0
        edge.engine.halted = False
        for account in edge.engine.accounts():
            account.halted = False
        if edge.live is not None:
            edge.live.commands.put(("release",))
        for dep in edge.deployments.values():
            dep.edge_log("INFO", "edge kill switch released: orders accepted again")
        log.warning("kill switch released")

    def status(self) -> wire.KillSwitchStatus:
        since = None
        if self.engaged:
            since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.since_ns / 1e9))
            since += f".{self.since_ns // 1_000_000 % 1000:03d}Z"
        return wire.KillSwitchStatus(
            engaged=self.engaged, since=since, reason=self.reason, cancelled=self.cancelled
        )


class _Owner:
    __slots__ = ("account", "order_id", "side", "symbol_idx")

    def __init__(self, account: Account, order_id: int, symbol_idx: int, side: int) -> None:
        self.account, self.order_id, self.symbol_idx, self.side = account, order_id, symbol_idx, side


class LiveOrders:
    """The edge's side: drains routed orders to the worker, applies the venue's answers."""

    def __init__(self, edge: Edge, gateway: LiveOrderGateway, *, poll_s: float = 1.0) -> None:
        self.edge = edge
        self.gateway = gateway
        self.poll_s = poll_s
        self.commands: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.ready = False  # reconciled since the last (re)connection: books may reach the algos
        self.connected = False
        self.last_reconcile_ms: int | None = None
        self.last_error: str | None = None
        self.gateway_status: dict[str, Any] = gateway.status()
        # client order id -> its account and order; the newest MAX_OWNERS (a fill that races a
        # cancel still finds its order)
        self.owners: OrderedDict[str, _Owner] = OrderedDict()
        self.accounts: dict[str, Account] = {}
        self.counts = {"errors": 0, "dry_run_orders": 0}
        self.pending: set[str] = set()  # places sent to the worker, not answered yet
        self._next_poll = 0.0
        self._polling = False  # one poll at a time: the next is asked once it reconciled
        self._feed_drops = 0  # the live feed's disconnects seen
        self._worker = _Worker(gateway, self.commands, self.results)
        edge.engine.venue_routed = True

    def start(self) -> None:
        self._worker.start()

    def close(self) -> None:
        self._worker.stop()

    def kill(self) -> None:
        self.pump()  # the local cancels go first, then the venue-wide sweep
        self.commands.put(("kill",))

    # ------------------------------------------------------------------ the edge loop

    def pump(self) -> None:
        """After each step: routed actions to the worker, the venue's answers into the accounts."""
        for account in self.edge.engine.accounts():
            self.accounts.setdefault(account.deployment_id, account)
        for dep_id, account in list(self.accounts.items()):
            self._route(account)
            if self.edge.engine.accounts().count(account) == 0:
                del self.accounts[dep_id]  # removed: its last cancels were routed above
        touched: set[str] = set()
        while True:
            try:
                result = self.results.get_nowait()
            except queue.Empty:
                break
            applied_to = self._apply(result)
            if applied_to is not None:
                touched.add(applied_to)
        for dep_id in touched:
            if dep_id in self.accounts:
                self.edge.engine.settle(dep_id)  # fills and rejects reach the algo now
        drops = int(getattr(self.edge.feed, "disconnects", 0))
        if drops != self._feed_drops:  # the market data was away: reconcile before the next book
            self._feed_drops, self.ready, self._next_poll = drops, False, 0.0
        now = time.monotonic()
        if self.connected and not self._polling and now >= self._next_poll:
            self._next_poll = now + self.poll_s
            self._polling = True
            self.commands.put(("poll", self._known()))

    def _route(self, account: Account) -> None:
        for kind, order_id, sym, side, order_type, px, qty in account.drain_routed():
            cid = client_order_id(account.deployment_id, order_id)
            if kind == abi.ACTION_PLACE:
                self.owners[cid] = _Owner(account, order_id, sym, side)
                if len(self.owners) > MAX_OWNERS:
                    self.owners.popitem(last=False)
                self.pending.add(cid)
                symbol = account.symbols[sym]
                self.commands.put(
                    ("place", cid, symbol, SIDES[side], qty / FIXED, px / FIXED, TYPES[order_type])
                )
            else:
                self.commands.put(("cancel", cid))

    def _known(self) -> dict[str, float]:
        """Every order resting in a routed account, by client order id, with what it has filled;
        not the ones still on their way to the venue (a poll must not take them for lost)."""
        known: dict[str, float] = {}
        for account in self.accounts.values():
            for row in account.open_orders():
                cid = client_order_id(account.deployment_id, row["order_id"])
                if cid in self.pending:
                    continue
                if cid not in self.owners:  # restored from the journal by a restarted edge
                    side = abi.SIDE_BUY if row["side"] == "buy" else abi.SIDE_SELL
                    sym = account.symbols.index(row["symbol"])
                    self.owners[cid] = _Owner(account, row["order_id"], sym, side)
                known[cid] = row["filled_1e8"] / FIXED
        return known

    def _apply(self, result: tuple[Any, ...]) -> str | None:
        kind = result[0]
        if kind == "status":
            self.gateway_status = result[1]
            return None
        if kind == "reconciled":
            self.ready = self.connected = True
            self._polling = False
            self.last_reconcile_ms = result[1]
            return None
        if kind == "disconnected":
            self.ready = self.connected = self._polling = False
            self.last_error = result[1]
            self.counts["errors"] += 1
            log.warning(
                "%s order gateway: %s (books held back until reconciled)", self.gateway.venue, result[1]
            )
            return None
        if kind == "error":
            self._polling = False  # a poll that failed is asked again
            self.last_error = result[1]
            self.counts["errors"] += 1
            return None
        if kind in ("ack", "reject", "dry_run"):
            self.pending.discard(result[1])
        owner = self.owners.get(result[1])
        if owner is None:
            return None
        account = owner.account
        dep_id: str = account.deployment_id
        if kind == "fill":
            _, _cid, px, qty = result
            account.venue_fill(
                owner.order_id, round(px * FIXED), round(qty * FIXED), True, owner.side, owner.symbol_idx
            )
        elif kind == "reject":
            if account.venue_closed(owner.order_id, True):
                self._log(dep_id, "WARN", f"order {owner.order_id} refused by the venue: {result[2]}")
        elif kind == "closed":
            if account.venue_closed(owner.order_id, False):
                self._log(dep_id, "INFO", f"order {owner.order_id} closed by the venue ({result[2]})")
            self.owners.pop(result[1], None)
        elif kind == "dry_run":
            self.counts["dry_run_orders"] += 1
            account.venue_closed(owner.order_id, False)
            self._log(dep_id, "INFO", f"dry run: order {owner.order_id} not sent: {result[2]}")
            self.owners.pop(result[1], None)
        return dep_id

    def _log(self, deployment_id: str, level: str, text: str) -> None:
        dep = self.edge.deployments.get(deployment_id)
        if dep is not None:
            dep.edge_log(level, text)
        log.info("%s: %s", deployment_id, text)

    # ------------------------------------------------------------------ views

    def info(self, kill_switch: bool) -> wire.GatewayInfo:
        gw = self.gateway_status
        return wire.GatewayInfo(
            venue=self.gateway.venue,
            dry_run=self.gateway.dry_run,
            kill_switch=kill_switch,
            can_trade=gw["can_trade"],
            can_withdraw=gw["can_withdraw"],
            permissions_source=gw["permissions_source"],
            connected=self.connected,
            reconciled=self.ready,
            open_orders=gw["open_orders"],
            unknown_open_orders=gw["unknown_open_orders"],
            last_reconcile_ms=self.last_reconcile_ms,
            reconciles=gw["reconciles"],
            sent=gw["sent"],
            acked=gw["acked"],
            rejected=gw["rejected"],
            cancelled=gw["cancelled"],
            fills=gw["fills"],
            retries_avoided=gw["retries_avoided"],
            errors=self.counts["errors"],
            dry_run_orders=self.counts["dry_run_orders"],
            last_error=self.last_error,
            balances=gw["balances"],
        )


class _Worker:
    """The gateway's thread: every venue call happens here. Orders (places, cancels, the kill
    switch) run in command order on one task; polls of the venue's orders on another, so a slow
    read never holds an order back."""

    def __init__(
        self,
        gateway: LiveOrderGateway,
        commands: queue.SimpleQueue[tuple[Any, ...]],
        results: queue.SimpleQueue[tuple[Any, ...]],
    ) -> None:
        self.gateway = gateway
        self.commands = commands
        self.results = results
        self._stopping = False
        self._connected = False
        self._retry: list[tuple[Any, ...]] = []  # orders a lost connection interrupted
        self._known: dict[str, float] | None = None  # the edge's orders, for the next poll
        self._thread = threading.Thread(target=self._run, name=f"gateway-{gateway.venue}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        try:
            await asyncio.gather(self._orders(), self._polls())
        finally:
            await self.gateway.close()

    async def _orders(self) -> None:
        backoff = 0.5
        while not self._stopping:
            if not self._connected:
                self._connected = await self._connect()
                if not self._connected:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, RECONNECT_MAX_S)
                    continue
                backoff = 0.5
            command = self._next()
            if command is None:
                await asyncio.sleep(0.002)
                continue
            if command[0] == "poll":
                self._known = command[1]  # the poll task reads it
                continue
            await self._guarded(command, self._do(command))

    async def _polls(self) -> None:
        while not self._stopping:
            if not self._connected or self._known is None:
                await asyncio.sleep(0.005)
                continue
            known, self._known = self._known, None
            await self._guarded(("poll", known), self._poll(known))

    async def _guarded(self, command: tuple[Any, ...], work: Any) -> None:
        try:
            await work
        except GatewayError as exc:
            self.results.put(("error", str(exc)))
        except Exception as exc:  # the venue is unreachable or answered nonsense
            if _is_network(exc):
                if self._connected:
                    self.results.put(("disconnected", f"{type(exc).__name__}: {exc}"))
                self._connected = False
                if command[0] != "poll":
                    self._retry.insert(0, command)  # idempotent by client order id
            else:
                log.exception("order gateway: %s failed", command[0])
                self.results.put(("error", f"{command[0]}: {type(exc).__name__}: {exc}"))
        self.results.put(("status", self.gateway.status()))

    def _next(self) -> tuple[Any, ...] | None:
        if self._retry:
            return self._retry.pop(0)
        try:
            return self.commands.get_nowait()
        except queue.Empty:
            return None

    async def _connect(self) -> bool:
        """Markets, the venue's open orders, balances and the key's permissions, before any send."""
        gw = self.gateway
        try:
            await gw.start()
            await gw.read_balances()
        except Exception as exc:
            self.results.put(("disconnected", f"{type(exc).__name__}: {exc}"))
            return False
        try:
            await gw.read_permissions()
        except Exception as exc:  # not fatal: permissions stay "unknown"
            self.results.put(("error", f"key permissions: {type(exc).__name__}: {exc}"))
        self.results.put(("status", gw.status()))
        self.results.put(("reconciled", int(time.time() * 1000)))
        return True

    async def _poll(self, known: dict[str, float]) -> None:
        for event in await self.gateway.poll(known):
            self.results.put(event)
        self.results.put(("reconciled", int(time.time() * 1000)))

    async def _do(self, command: tuple[Any, ...]) -> None:
        gw = self.gateway
        kind = command[0]
        if kind == "place":
            _, cid, symbol, side, qty, price, order_type = command
            try:
                order = await gw.submit(cid, symbol, side, qty, price, order_type)
            except GatewayError as exc:
                self.results.put(("reject", cid, str(exc)))
                return
            if order.get("status") == "dry_run":
                self.results.put(("dry_run", cid, f"would send {order}"))
            else:
                self.results.put(("ack", cid))
        elif kind == "cancel":
            if command[1] in gw.open:
                for event in await gw.cancel(command[1]):
                    self.results.put(event)  # it filled before the cancel reached the venue
        elif kind == "kill":
            await gw.kill()
        elif kind == "release":
            gw.reset_kill()


def _is_network(exc: Exception) -> bool:
    from ..market.live import _load_ccxt_pro

    try:
        network_error: type[Exception] = _load_ccxt_pro().NetworkError
    except Exception:
        return False
    return isinstance(exc, network_error)
