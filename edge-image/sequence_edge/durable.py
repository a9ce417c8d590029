"""How the edge uses its journals (journal.py): restore on the first push after a restart,
flush after every step that traded, forget on remove.

Restore rule: when a deployment the edge does not host is pushed and the state dir holds a
journal for its id, the account continues from the journal's last checkpoint instead of starting
flat: positions, realized PnL and fees, resting orders (same client ids and order refs), the
algo's next client order id, counters; the supervisor's or operator's re-push after a restart is
such a push. With the same bundle (sha256) the token bucket and the kill switch carry over too (a
tripped switch stays tripped until the next push); with a different bundle the state carries
over as in a hot swap, and the risk state starts fresh as on any re-push. The limits are always
the pushed ones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sequence_wire.errors import RequestError

from .algo import abi
from .journal import Recovered, StateDir, file_name
from .orders.journal import enable, mark_dirty, read_batch, restore

if TYPE_CHECKING:
    from .deployment import Deployment
    from .engine import Engine
    from .orders.oms import Account
    from .push import PushRequest

log = logging.getLogger("sequence.edge")


class Durability:
    def __init__(self, state_dir: str, fsync_ms: int) -> None:
        self.state = StateDir(state_dir, fsync_ms=fsync_ms)
        self.restored: dict[str, dict[str, Any]] = {}  # deployment id -> what was restored
        self._ids: list[str] = []  # the hosted deployments and their accounts, as of the last flush
        self._accounts: list[Account] = []
        self._stale = True  # a deployment came or went: rebuild the lists at the next flush

    def trace_salt(self) -> int:
        return self.state.start_refs(int.from_bytes(os.urandom(4), "little"))

    def resume_refs(self, engine: Engine) -> None:
        engine.traces.resume(self.state.ref_floor)

    def check_push(self, deployment_id: str, req: PushRequest, hosted: bool) -> Recovered | None:
        """What a push of a deployment not hosted here restores (None: nothing); refuses a push that
        drops a symbol the journal holds a position in. Runs before anything changes."""
        if hosted:
            return None
        try:
            found = self.state.peek(deployment_id)
            saved = read_batch(found.batch) if found is not None and found.batch is not None else None
        except (OSError, ValueError) as exc:  # 409: retrying cannot help, a person has to look
            raise RequestError(
                "JournalUnreadable",
                f"cannot restore {deployment_id} from {self.state.path / file_name(deployment_id)}: {exc}; "
                "move the file away to start this deployment flat",
            ) from None
        if found is None or saved is None:
            return found
        held = [
            s
            for s, (qty, _) in zip(saved["symbols"], saved["positions"], strict=True)
            if qty and s not in req.symbols
        ]
        if held:
            raise RequestError(
                "SymbolInUse",
                f"{deployment_id} holds a position in {', '.join(held)} (restored from this edge's journal), "
                "which the new symbol list drops; keep the symbol",
            )
        return found

    def open_account(
        self,
        engine: Engine,
        deployment_id: str,
        req: PushRequest,
        risk: dict[str, Any],
        found: Recovered | None,
    ) -> Account:
        """The account of a deployment new to this process: restored from `found` when given."""
        if found is None or found.batch is None:
            account = engine.open_account(deployment_id, req.symbols, risk=risk)
        else:
            same_bundle = found.meta.get("sha256") == req.sha256
            account = engine.open_account(deployment_id, found.symbols, risk=risk)
            restore(account, found.batch, keep_risk=same_bundle)
            if list(account.symbols) != list(req.symbols):
                engine.resymbol(deployment_id, req.symbols)
            saved = read_batch(found.batch)
            self.restored[deployment_id] = {
                "at_ns": saved["ts_ns"],
                "same_bundle": same_bundle,
                "next_id": saved["next_id"],
                "open_orders": len(saved["orders"]),
                "fills": saved["n_fills"],
                "orders": saved["n_orders"],
                "position": {
                    sym: abi.from_fixed(qty)
                    for sym, (qty, _avg) in zip(saved["symbols"], saved["positions"], strict=True)
                },
                "realized_pnl": abi.from_fixed(saved["realized_pnl_1e8"]),
                "kill_switch": saved["killed"] and same_bundle,
            }
        self._write_meta(deployment_id, req)  # opens the journal (cutting a torn tail)
        enable(account)
        self._stale = True
        return account

    def pushed(self, account: Account, deployment_id: str, req: PushRequest) -> None:
        """A hot swap of a hosted deployment: record the new bundle (the state carries over)."""
        self._write_meta(deployment_id, req)
        mark_dirty(account)  # the re-push resets the risk state: checkpoint it

    def _write_meta(self, deployment_id: str, req: PushRequest) -> None:
        self.state.open(deployment_id).write_meta(
            {"deployment_id": deployment_id, "sha256": req.sha256, "symbols": list(req.symbols)}
        )

    def describe_restore(self, dep: Deployment) -> str | None:
        info = self.restored.get(dep.deployment_id)
        if info is None:
            return None
        acct = dep.account
        pos = ", ".join(f"{s} {abi.from_fixed(acct.position(i)[0])}" for i, s in enumerate(acct.symbols))
        return (
            f"restored from the journal: position {pos}, {acct.n_open} resting order(s), {acct.n_fills} fill(s), "
            f"next order id {info['next_id']}"
            + ("" if info["same_bundle"] else "; new bundle: risk budget and kill switch reset")
            + ("; kill switch still tripped" if info["kill_switch"] else "")
        )

    def flush(self, deployments: dict[str, Deployment], refs_issued: Callable[[], int]) -> int:
        """Called after every step: the account list is rebuilt only when the deployments changed."""
        if self._stale:
            self._stale = False
            self._ids = list(deployments)
            self._accounts = [dep.account for dep in deployments.values()]
        return self.state.flush_accounts(self._ids, self._accounts, refs_issued)

    def removed(self, deployment_id: str) -> None:
        self._stale = True
        self.restored.pop(deployment_id, None)
        self.state.delete(deployment_id)

    def close(self) -> None:
        self.state.close()

    def info(self) -> dict[str, Any]:
        return self.state.info()
