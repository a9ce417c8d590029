"""`sequence preflight`: one failure per check, offline and against a real `sequence up` session
(coordinator and edge processes on loopback), the JSON form, and the seed's Full Workflow order
(`init`, `build`, `preflight`) passing with no session and no cluster."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sequence.client import EdgeClient
from sequence.preflight.checks import gateway_permissions
from sequence.preflight.reading import market_of
from sequence_wire.edge_api import EdgeInfo

from .conftest import EXAMPLES, sequence_cli
from .mesh_support import wait_until
from .test_up import UpSession, session  # noqa: F401 (the fixture)

WASM = (EXAMPLES / "market-maker" / "market_maker.wasm").read_bytes()
RISK = {
    "max_order_qty": 0.05,
    "max_notional": 10000,
    "max_position": 0.2,
    "max_open_orders": 4,
    "price_band_bps": 100,
    "max_loss": 1000,
}


def write_project(
    directory: Path,
    *,
    name: str = "pf-mm",
    risk: dict[str, float] | None = None,
    venue: str = 'mode = "sandbox"',
    symbols: str = '["BTC-USD"]',
    extra: str = "",
    bundle: str = "market_maker.wasm",
    feed: str = 'kind = "sim"\nsim = { seed = 7, updates_per_sec = 2000, volatility_bps = 40, spread_bps = 2 }',
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "market_maker.wasm").exists():
        (directory / "market_maker.wasm").write_bytes(WASM)
    limits = "\n".join(f"{k} = {v}" for k, v in (RISK if risk is None else risk).items())
    (directory / "Sequence.toml").write_text(
        f"""
[project]
name = "{name}"

[venue.kraken]
{venue}

[venue.kraken.feed]
{feed}

[deploy.mm]
venue = "kraken"
symbols = {symbols}
bundle = "{bundle}"

[deploy.mm.risk]
{limits}
{extra}
"""
    )
    return directory


def preflight(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """(exit code, {check name: (status, reason)}) of `sequence preflight -o json` in PROJECT."""
    done = subprocess.run(
        [*sequence_cli(), *args, "preflight", "-o", "json"],
        cwd=project,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = json.loads(done.stdout)
    assert body["ok"] == (done.returncode == 0), done.stderr
    return done.returncode, {c["name"]: (c["status"], c["reason"]) for c in body["checks"]}


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No session, no kubeconfig, a private config directory."""
    monkeypatch.setenv("SEQUENCE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SEQUENCE_CONFIG_DIR", str(tmp_path / "config"))
    if (Path.home() / ".kube" / "config").is_file():
        pytest.skip("a kubeconfig here makes the cluster the target")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return tmp_path


# ---------------------------------------------------------------- offline


def test_offline_it_passes_and_says_the_target_checks_were_skipped(offline: Path) -> None:
    project = write_project(offline / "p")
    done = subprocess.run(
        [*sequence_cli(), "preflight"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (
        lines[0].startswith("- target") and "`sequence deploy` will start a fresh local session" in lines[0]
    )
    assert any(line.startswith("✓ bundle mm") and "ABI v1" in line for line in lines)
    assert "pf-mm: ready to deploy" in done.stdout


def test_a_missing_bundle_fails(offline: Path) -> None:
    project = write_project(offline / "p", bundle="target/missing.wasm")
    code, checks = preflight(project)
    assert code == 1 and checks["bundle mm"][0] == "fail" and "run `sequence build`" in checks["bundle mm"][1]


def test_a_bundle_without_the_abi_exports_fails(offline: Path) -> None:
    project = write_project(offline / "p", bundle="empty.wasm")
    (project / "empty.wasm").write_bytes(b"\0asm\x01\0\0\0")
    code, checks = preflight(project)
    assert code == 1 and "missing export 'algo_on_book'" in checks["bundle mm"][1]


def test_a_bundle_that_does_not_match_its_sha256_fails(offline: Path) -> None:
    project = write_project(offline / "p")
    toml = project / "Sequence.toml"
    toml.write_text(
        toml.read_text().replace(
            'bundle = "market_maker.wasm"', f'bundle = "market_maker.wasm"\nsha256 = "{"a" * 64}"'
        )
    )
    code, checks = preflight(project)
    assert code == 1 and f"file has {hashlib.sha256(WASM).hexdigest()}" in checks["bundle mm"][1]


def test_missing_risk_limits_fail(offline: Path) -> None:
    project = write_project(offline / "p", risk={"max_order_qty": 0.05, "max_position": 0.2})
    code, checks = preflight(project)
    assert code == 1 and checks["risk mm"] == ("fail", "unset: max_loss (no kill switch)")


LIVE = {"venue": 'mode = "live"\ncredentials_dir = "keys"', "feed": 'kind = "live"'}


def test_a_live_venue_needs_private_keys(offline: Path) -> None:
    project = write_project(offline / "p", **LIVE)
    code, checks = preflight(project)
    keys = project / "keys"
    assert code == 1 and f"{keys}/api_key not found" in checks["credentials kraken"][1]
    keys.mkdir(parents=True)
    for name in ("api_key", "api_secret"):
        (keys / name).write_text("secret-value\n")
        (keys / name).chmod(0o600)
    code, checks = preflight(project)
    assert checks["credentials kraken"] == (
        "pass",
        f"keys in {keys} present; trading and withdrawal permissions not reported",
    )
    (keys / "api_secret").chmod(0o644)
    code, checks = preflight(project)
    assert code == 1 and "api_secret is readable by others (mode 644)" in checks["credentials kraken"][1]


def test_a_paper_only_cli_fails_on_a_live_venue(offline: Path) -> None:
    project = write_project(offline / "p", **LIVE)
    code, checks = preflight(project, "--sandbox")
    assert code == 1 and checks["sandbox"] == ("fail", "--sandbox refuses live venues: kraken")
    login = subprocess.run(
        [*sequence_cli(), "login", "--sandbox", "--token-stdin"],
        input="sandbox-token-0123456789abcdef\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert login.returncode == 0, login.stderr
    code, checks = preflight(project)
    assert code == 1 and "the sandbox login for the default target" in checks["sandbox"][1]


def test_the_gateways_permissions_are_read_where_the_edge_reports_them() -> None:
    info: dict[str, Any] = {
        "edge_id": "e",
        "venue": "kraken",
        "mode": "live",
        "feed": {"kind": "live", "healthy": True, "lag_ms": 1.0, "updates": 5},
        "symbols": ["BTC-USD"],
        "books": {"BTC-USD": {"stale": False, "bids": [[99.0, 1.0]], "asks": [[101.0, 1.0]]}},
        "deployments": [],
        "started_at": None,
        "engine": {},
        "venues": ["kraken"],
        "mesh": {},
        "kill_switch": {"engaged": False, "since": None, "reason": "", "cancelled": 0},
    }
    assert gateway_permissions(market_of(EdgeInfo.model_validate(info), "kraken")) == (
        True,
        "trading and withdrawal permissions not reported",
    )
    gateway = {
        "venue": "coinbase",
        "dry_run": False,
        "kill_switch": False,
        "can_trade": "yes",
        "can_withdraw": "yes",
        "permissions_source": "GET /api/v3/brokerage/key_permissions",
        "connected": True,
        "reconciled": True,
        "open_orders": 0,
        "unknown_open_orders": [],
        "last_reconcile_ms": 1,
        "reconciles": 1,
        "sent": 0,
        "acked": 0,
        "rejected": 0,
        "cancelled": 0,
        "fills": 0,
        "retries_avoided": 0,
        "errors": 0,
        "dry_run_orders": 0,
        "balances": {"USD": 2500.0, "BTC": 0.1},
    }

    def permissions(**fields: str) -> tuple[bool, str]:
        info["gateway"] = {**gateway, **fields}
        return gateway_permissions(market_of(EdgeInfo.model_validate(info), "kraken"))

    info["gateway"] = gateway
    market = market_of(EdgeInfo.model_validate(info), "kraken")
    assert market.mids == {"BTC-USD": 100.0} and market.spreads_bps == {"BTC-USD": 200.0}
    assert (market.available_usd, market.account) == (2500.0, "live")  # the live USD balance
    assert permissions() == (False, "the edge reports the key can withdraw: use a trade-only key")
    assert permissions(can_trade="no", can_withdraw="no")[0] is False
    assert permissions(can_withdraw="no") == (True, "the key can trade and cannot withdraw")
    unknown = permissions(can_trade="unknown", can_withdraw="unknown", permissions_source="kraken has no API")
    assert unknown == (True, "the venue does not report the key's permissions (kraken has no API)")


# ---------------------------------------------------------------- against a running session


@pytest.mark.slow
def test_each_target_check_fails_against_a_running_session(
    session: Callable[..., UpSession],  # noqa: F811
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "pf")
    run = session(str(project))
    env = {**run.env, "SEQUENCE_CONFIG_DIR": str(tmp_path / "config")}
    wait_until(lambda: run.edge_info("kraken")["books"].get("BTC-USD", {}).get("bids"), 60, "a live book")

    code, checks = preflight(project, env=env)
    assert code == 0, checks
    assert checks["target"][0] == "pass" and checks["coordinator"][0] == "pass"
    assert checks["edge kraken"][0] == "pass" and "sim feed live" in checks["edge kraken"][1]
    assert "is deployed: `sequence deploy` replaces it in place" in checks["name mm"][1]
    assert "mid" in checks["risk mm"][1] and checks["capital kraken"][0] == "pass"

    def fails(check: str, **project_args: Any) -> str:
        write_project(project, **project_args)
        code, checks = preflight(project, env=env)
        assert code == 1 and checks[check][0] == "fail", checks
        return str(checks[check][1])

    # risk limits against the edge's prices (BTC-USD near 65,000, spread about 2 bps)
    assert "inside the half-spread" in fails("risk mm", risk={**RISK, "price_band_bps": 0.1})
    assert "in quote currency, not base units" in fails("risk mm", risk={**RISK, "max_notional": 0.05})
    assert "the kill switch would not fire" in fails("risk mm", risk={**RISK, "max_loss": 1_000_000})
    # capital: the paper account holds 100,000 USD
    assert "full positions at the limits need" in fails("capital kraken", risk={**RISK, "max_position": 10})
    # a symbol the edge has no book for
    assert "no live book for ETH-USD" in fails("edge kraken", symbols='["BTC-USD", "ETH-USD"]')
    # a deployment id already on the edge that is not this project's block
    with EdgeClient(run.edge("kraken"), token=run.token()) as edge:
        edge.push("pf-mm-hedge", WASM, symbols=["BTC-USD"], risk=RISK)
    hedge = '[deploy.hedge]\nvenue = "kraken"\nsymbols = ["BTC-USD"]\nbundle = "market_maker.wasm"\n'
    hedge += "[deploy.hedge.risk]\n" + "\n".join(f"{k} = {v}" for k, v in RISK.items())
    write_project(project, extra=hedge)
    code, checks = preflight(project, env=env)
    assert code == 1 and "already exists on the kraken edge" in checks["name hedge"][1]
    # the same project name from another directory
    elsewhere = write_project(tmp_path / "elsewhere")
    code, checks = preflight(elsewhere, env=env)
    assert code == 1 and f"runs from {project.resolve()}" in checks["names"][1]
    # an edge that does not answer (stopped), then the coordinator
    write_project(project)
    pids = run.state()["processes"]
    os.kill(pids["edge/kraken"], signal.SIGSTOP)
    try:
        code, checks = preflight(project, env=env)
        assert code == 1 and "unreachable" in checks["edge kraken"][1]
    finally:
        resume(pids["edge/kraken"])
    os.kill(pids["coordinator"], signal.SIGSTOP)
    try:
        code, checks = preflight(project, env=env)
        assert code == 1 and "unreachable" in checks["coordinator"][1]
    finally:
        resume(pids["coordinator"])


def resume(pid: int) -> None:
    """SIGCONT a stopped process, unless the session's supervisor already replaced it as hung."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


@pytest.mark.slow
def test_the_full_workflow_runs_preflight_between_build_and_deploy(offline: Path) -> None:
    if shutil.which("cargo") is None and not Path("/usr/bin/cargo").exists():
        pytest.skip("no Rust toolchain")
    env = dict(os.environ)

    def sequence(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*sequence_cli(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"sequence {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    sequence("init", "my-mm", cwd=offline)
    project = offline / "my-mm"
    sequence("build", cwd=project)
    checked = sequence("preflight", cwd=project)
    assert "- target" in checked.stdout and "✓ bundle mm" in checked.stdout and "✓ risk mm" in checked.stdout
    assert "my-mm: ready to deploy" in checked.stdout


def test_capital_compares_only_the_limits_that_are_set(tmp_path: Path) -> None:
    from sequence.preflight.checks import Market, capital_checks
    from sequence.project import load_project

    project = load_project(write_project(tmp_path / "p", risk={"max_position": 0.5, "max_loss": 100}))
    market = Market("kraken", mids={"BTC-USD": 60_000.0}, available_usd=20_000.0)
    [check] = capital_checks(project, {"kraken": market})
    assert check.status == "fail" and "full positions at the limits need 30,000.00" in check.reason
    market.available_usd = 50_000.0
    assert capital_checks(project, {"kraken": market})[0].status == "pass"
    market.available_usd = None
    assert capital_checks(project, {"kraken": market})[0].status == "skip"
