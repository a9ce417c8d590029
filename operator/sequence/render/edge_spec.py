"""How Sequence specs map onto an edge's interfaces: the `sequence edge` feed
flags and the control API's push body (docs/edge-api.md). The operator and
`sequence up` both use these, so a cluster and a laptop run an edge the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..models import AlgoDeploymentSpec, Feed


def feed_args(feed: Feed, replay_file: str | None, root: Path | None = None) -> list[str]:
    """The VenueEdge's feed block as `sequence edge` flags (relative live file paths are taken
    from `root`, the directory of Sequence.toml, when given)."""
    args = ["--feed", feed.kind]
    if feed.kind == "sim" and feed.sim is not None:
        sim = feed.sim
        args += [
            "--seed",
            str(sim.seed),
            "--updates-per-sec",
            f"{sim.updates_per_sec:g}",
            "--volatility-bps",
            f"{sim.volatility_bps:g}",
            "--spread-bps",
            f"{sim.spread_bps:g}",
            "--dislocation-bps",
            f"{sim.dislocation_bps:g}",
            "--depth",
            str(sim.depth),
        ]
        for symbol, price in sorted(sim.start_prices.items()):
            args += ["--start-price", f"{symbol}={price:g}"]
    if feed.kind == "replay" and feed.replay is not None:
        args += [
            "--replay-file",
            replay_file or feed.replay.file,
            "--replay-speed",
            f"{feed.replay.speed:g}",
            "--replay-loop" if feed.replay.loop else "--no-replay-loop",
        ]
    if feed.kind == "live" and feed.live is not None:
        live = feed.live
        args += ["--live-depth", str(live.depth)]
        if live.endpoint:
            args += ["--live-endpoint", live.endpoint]
        if live.rest_endpoint:
            args += ["--live-rest-endpoint", live.rest_endpoint]
        for flag, path in (("--live-markets-file", live.markets_file), ("--live-cafile", live.cafile)):
            if path:
                args += [flag, str(root / path) if root is not None else path]
    return args


def push_body(spec: AlgoDeploymentSpec) -> dict[str, Any]:
    """The PUT /v1/deployments/{id} body without the bundle bytes (docs/edge-api.md)."""
    return {
        "sha256": spec.bundle.sha256,
        "runtime": spec.runtime,
        "symbols": list(spec.symbols),
        "label": spec.label,
        "mesh_group": spec.mesh_group,
        "peers": list(spec.peers),
        "params": dict(spec.params),
        "risk": spec.risk.model_dump(exclude_none=True),
        "wasm": spec.wasm.model_dump(),
        "state": spec.state,
    }
