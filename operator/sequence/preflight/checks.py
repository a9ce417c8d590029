"""The checks of `sequence preflight` that need no running process: the bundles, the risk limits
(against the venue's prices when an edge reported them), the capital the limits could use, the
credentials of live venues, and whether a paper-only CLI would refuse the project.

Each check is one line: pass (✓), fail (✗) or skip (-), always with a reason.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from sequence_wire.edge_api import GatewayInfo

from ..models.project import DeployBlock
from ..models.specs import RiskLimits
from ..project import MAX_CONFIGMAP_BUNDLE, Project

Status = Literal["pass", "fail", "skip"]
SIZE_HINT_BYTES = 50 * 1024  # typical algorithms are 10-50 KB
#: a WebAssembly module's ABI problems (the CLI's wasm_check, given in: this package sits under cli)
AbiCheck = Callable[[bytes], list[str]]
LOOSE_NOTIONAL_RATIO = 0.01  # max_notional under 1% of max_order_qty x mid: probably base units
CREDENTIAL_FILES = ("api_key", "api_secret")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    reason: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Market:
    """What a running edge of one venue reported: mids, spreads, its account and its gateway."""

    venue: str
    mids: dict[str, float] = field(default_factory=dict)
    spreads_bps: dict[str, float] = field(default_factory=dict)
    available_usd: float | None = None  # the edge's account: paper equity, or the live balance
    account: str = "paper"
    gateway: GatewayInfo | None = None  # /v1/edge `gateway` (live edges)


def passed(name: str, reason: str) -> Check:
    return Check(name, "pass", reason)


def failed(name: str, reason: str) -> Check:
    return Check(name, "fail", reason)


def skipped(name: str, reason: str) -> Check:
    return Check(name, "skip", reason)


# ---------------------------------------------------------------- bundles


def bundle_checks(project: Project, abi_problems: AbiCheck) -> list[Check]:
    """Each deploy block's bundle: present, the sha256 it names, small enough, ABI v1 exports."""
    checks = []
    for name, block in project.config.deploy.items():
        label = f"bundle {name}"
        if block.is_remote:
            checks.append(skipped(label, f"remote ({block.bundle}): each edge verifies its sha256 on push"))
            continue
        path = (project.root / block.bundle).resolve()
        if not path.is_file():
            checks.append(failed(label, f"{block.bundle} not found (looked at {path}): run `sequence build`"))
            continue
        data = path.read_bytes()
        checks.append(_bundle_check(label, block.bundle, block.runtime, block.sha256, data, abi_problems))
    return checks


def _bundle_check(
    label: str, shown: str, runtime: str, sha256: str | None, data: bytes, abi_problems: AbiCheck
) -> Check:
    size = f"{len(data)} bytes ({len(data) / 1024:.1f} KB)"
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and sha256.lower() != digest:
        return failed(label, f"{shown}: sha256 in Sequence.toml does not match the file (file has {digest})")
    if len(data) > MAX_CONFIGMAP_BUNDLE:
        return failed(
            label,
            f"{shown} is {size}: over {MAX_CONFIGMAP_BUNDLE} bytes it cannot be deployed from a "
            "file; publish it and use an https:// or oci:// bundle with sha256",
        )
    if runtime == "native":
        if not data.startswith(b"\x7fELF"):
            return failed(label, f"{shown} is not a native shared library (no ELF header)")
        return passed(label, f"{shown}: native library, {size}")
    problems = abi_problems(data)
    if problems:
        return failed(label, f"{shown}: " + "; ".join(problems))
    note = " (over 50 KB: look for dependencies pulling in std allocators or unused crates)"
    return passed(
        label, f"{shown}: ABI v1, exports present, {size}" + (note if len(data) > SIZE_HINT_BYTES else "")
    )


# ---------------------------------------------------------------- risk limits


def risk_checks(project: Project, markets: dict[str, Market]) -> list[Check]:
    """Each deploy block's limits: present, and sane at the venue's current prices when known."""
    checks = []
    for name, block in project.config.deploy.items():
        market = markets.get(block.venue)
        checks.append(_risk_check(f"risk {name}", block.risk, block.symbols, market))
    return checks


def _risk_check(label: str, risk: RiskLimits, symbols: list[str], market: Market | None) -> Check:
    missing = []
    if risk.max_order_qty is None and risk.max_notional is None:
        missing.append("max_order_qty or max_notional (no cap on one order)")
    if risk.max_position is None:
        missing.append("max_position (no cap on the position)")
    if risk.max_loss is None:
        missing.append("max_loss (no kill switch)")
    if missing:
        return failed(label, "unset: " + ", ".join(missing))
    if market is None or not any(s in market.mids for s in symbols):
        return passed(label, "limits set; prices not checked (no running edge reported a mid)")
    notes = []
    for symbol in [s for s in symbols if s in market.mids]:
        mid, spread = market.mids[symbol], market.spreads_bps.get(symbol)
        problem = _price_problem(risk, symbol, mid, spread)
        if problem:
            return failed(label, problem)
        notes.append(f"{symbol} mid {mid:,.2f}: one order <= {_order_cap(risk, mid):,.2f}")
    return passed(label, "; ".join(notes))


def _has_order_cap(risk: RiskLimits) -> bool:
    return risk.max_order_qty is not None or risk.max_notional is not None


def _order_cap(risk: RiskLimits, mid: float) -> float:
    """The largest notional one order may have, in quote currency, at MID."""
    caps = [c for c in (risk.max_notional, risk.max_order_qty and risk.max_order_qty * mid) if c]
    return min(caps)


def _price_problem(risk: RiskLimits, symbol: str, mid: float, spread_bps: float | None) -> str | None:
    if risk.max_notional and risk.max_order_qty:
        qty_notional = risk.max_order_qty * mid
        if risk.max_notional < qty_notional * LOOSE_NOTIONAL_RATIO:
            return (
                f"max_notional {risk.max_notional:g} allows {risk.max_notional / mid:.8g} {symbol} per "
                f"order at mid {mid:,.2f}, under 1% of max_order_qty {risk.max_order_qty:g}: max_notional "
                "is in quote currency, not base units"
            )
    if risk.price_band_bps and spread_bps is not None and risk.price_band_bps < spread_bps / 2:
        return (
            f"price_band_bps {risk.price_band_bps:g} is inside the half-spread ({spread_bps / 2:.2f} bps "
            f"on {symbol}): quotes at the best bid and ask would be refused with PRICE_BAND"
        )
    if risk.max_loss and risk.max_position and risk.max_loss > risk.max_position * mid:
        return (
            f"max_loss {risk.max_loss:g} is more than a full position is worth ({risk.max_position:g} "
            f"{symbol} x {mid:,.2f} = {risk.max_position * mid:,.2f}): the kill switch would not "
            "fire before the position is gone"
        )
    return None


# ---------------------------------------------------------------- capital


def capital_checks(project: Project, markets: dict[str, Market]) -> list[Check]:
    """Per venue: the account's available capital against what the limits let the algorithms use."""
    checks = []
    for venue in sorted({b.venue for b in project.config.deploy.values()}):
        label = f"capital {venue}"
        market = markets.get(venue)
        if market is None:
            continue  # no edge reading: the target line says why
        if market.available_usd is None:
            checks.append(skipped(label, f"the {venue} edge reports no {market.account} account balance"))
            continue
        blocks = [(n, b) for n, b in project.config.deploy.items() if b.venue == venue]
        checks.append(_capital_check(label, market, blocks))
    return checks


def _capital_check(label: str, market: Market, blocks: list[tuple[str, DeployBlock]]) -> Check:
    available = market.available_usd or 0.0
    positions = 0.0
    for name, block in blocks:
        mids = [market.mids[s] for s in block.symbols if s in market.mids]
        if not mids:
            return skipped(label, f"no mid for {', '.join(block.symbols)}: limits not compared")
        # a limit left unset is the risk check's failure; here only set limits are compared
        order = max(_order_cap(block.risk, mid) for mid in mids) if _has_order_cap(block.risk) else 0.0
        if order > available:
            return failed(
                label,
                f"one order of {name} may reach {order:,.2f} but the {market.account} account has "
                f"{available:,.2f} available",
            )
        if block.risk.max_position:
            positions += sum(block.risk.max_position * mid for mid in mids)
    if positions > available:
        return failed(
            label,
            f"full positions at the limits need {positions:,.2f} but the {market.account} account has "
            f"{available:,.2f} available",
        )
    return passed(
        label, f"{market.account} account {available:,.2f} available; full positions need {positions:,.2f}"
    )


# ---------------------------------------------------------------- credentials


def local_credential_problem(directory: Path) -> str | None:
    """Why the keys in DIRECTORY (a live venue's `credentials_dir`, what `sequence up` hands its
    edge) cannot be used, or None when both files are there and private."""
    for name in CREDENTIAL_FILES:
        path = directory / name
        try:
            info = path.stat()
        except FileNotFoundError:
            return f"{path} not found (put the venue's {' and '.join(CREDENTIAL_FILES)} in {directory})"
        if info.st_mode & 0o077:
            return f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): chmod 600 it"
        if info.st_uid != os.getuid():
            return f"{path} belongs to another user (uid {info.st_uid})"
        if info.st_size == 0:
            return f"{path} is empty"
    return None


def gateway_permissions(market: Market | None) -> tuple[bool, str]:
    """(ok, words) for what the live edge's gateway says its key may do."""
    gateway = market.gateway if market else None
    if gateway is None:
        return True, "trading and withdrawal permissions not reported"
    if gateway.can_trade == "no":
        return False, "the edge reports the key cannot trade"
    if gateway.can_withdraw == "yes":
        return False, "the edge reports the key can withdraw: use a trade-only key"
    if "unknown" in (gateway.can_trade, gateway.can_withdraw):
        return True, f"the venue does not report the key's permissions ({gateway.permissions_source})"
    return True, "the key can trade and cannot withdraw"


def sandbox_check(project: Project, paper_only: str | None) -> list[Check]:
    """A paper-only CLI (--sandbox or a sandbox login) with a live venue: deploy would be refused."""
    live = sorted(n for n, v in project.config.venue.items() if v.mode == "live")
    if not paper_only:
        return []
    if live:
        return [failed("sandbox", f"{paper_only} refuses live venues: {', '.join(live)}")]
    return [passed("sandbox", f"paper trading only ({paper_only}); every venue is a sandbox")]
