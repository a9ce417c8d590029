"""A small graph project for the `sequence graph` CLI and SDK tests: one calm paper venue and a bid
resting 4% under the market (it never fills, so it can be amended, paused and cancelled), run
under `sequence up --start` with its own state directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from .conftest import sequence_cli
from .mesh_support import wait_until
from .test_up import UpSession

PROJECT = "gcli"
SEQUENCE_TOML = """
[project]
name = "gcli"

[venue.kraken]
feed = { kind = "sim", sim = { seed = 3, volatility_bps = 0.5, start_prices = { "BTC-USD" = 50000.0 } } }

# a bid 4% under the market (inside the edge's 5% price band): it rests until amended or cancelled
[graph.bid.nodes.bid]
side = "buy"
symbol = "BTC-USD"
qty = 0.01
venue = "kraken"
limit_price = 48000.0

[graph.bid.risk.failure]
on_disconnect = "pause_graph"
"""

# a JSON graph (the API's wire form): an entry that fills at once and an exit resting 3% above
ENTRY_EXIT: dict[str, Any] = {
    "client_id": "gcli/entry-exit",
    "nodes": {
        "entry": {"side": "buy", "symbol": "BTC-USD", "qty": 0.01, "venue": "kraken", "urgency": "urgent"},
        "exit": {
            "side": "sell",
            "symbol": "BTC-USD",
            "derived": True,
            "venue": "kraken",
            "limit_price": 51500.0,
        },
    },
    "edges": [{"from": "entry", "to": "exit", "trigger": "on_full_fill"}],
}


def write_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Sequence.toml").write_text(SEQUENCE_TOML)
    (root / "entry-exit.json").write_text(json.dumps(ENTRY_EXIT))
    return root


def start(tmp: Path) -> tuple[UpSession, Path]:
    """`sequence up --start` of the project, once its bid rests at the edge."""
    project = write_project(tmp / "project")
    run = UpSession(tmp, str(project), "--start")
    wait_until(lambda: live(run, "gcli/bid", "bid"), 90, "the bid resting at kraken")
    return run, project


def graph_cli(env: dict[str, str], project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`sequence graph ARGS` in the project's directory, with ENV (a session's: its state dir)."""
    return subprocess.run(
        [*sequence_cli(), "graph", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def status_json(run: UpSession, project: Path, ref: str) -> dict[str, Any]:
    result = graph_cli(run.env, project, "status", ref, "-o", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def api_status(run: UpSession, client_id: str) -> dict[str, Any]:
    """The graph with CLIENT_ID as the coordinator's API has it ({} before it is submitted): what
    the tests poll, cheaper than a CLI process per check."""
    try:
        graphs = run.get(str(run.state()["coordinator_url"]), "/v1/graphs")["graphs"]
    except (AssertionError, httpx.HTTPError):  # the coordinator is not up yet or restarting
        return {}
    return next((g for g in reversed(graphs) if g["client_id"] == client_id), {})


def live(run: UpSession, client_id: str, node: str) -> bool:
    orders = api_status(run, client_id).get("nodes", {}).get(node, {}).get("orders", [])
    return any(o["status"] == "live" for o in orders)
