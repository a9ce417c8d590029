"""Spec fragments used both in Sequence.toml and in the custom resources."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sequence_wire.limits import MAX_FIXED_LIMIT as MAX_FIXED_LIMIT  # re-exported with the limits
from sequence_wire.limits import RiskLimits as RiskLimits
from sequence_wire.limits import WasmLimits as WasmLimits
from sequence_wire.limits import check_fixed_point_limit as check_fixed_point_limit

from .common import NonNegativeFloat, PositiveFloat, SpecModel


class SimFeed(SpecModel):
    """Synthetic market: a seeded random walk shared across venues plus small per-venue dislocations."""

    seed: int = Field(
        default=1,
        ge=0,
        description="Random seed; default 1. Edges with the same seed share one common mid per symbol, "
        "so venues move together; a different seed is a different market.",
    )
    updates_per_sec: PositiveFloat = Field(
        default=2000.0,
        le=10_000_000,
        description="Level updates per second per symbol; default 2000, at most 10,000,000. Fewer updates "
        "mean slower fills of resting quotes; more cost the edge CPU (it resynchronizes with a snapshot "
        "when it falls over a second behind).",
    )
    volatility_bps: NonNegativeFloat = Field(
        default=50.0,
        description="Standard deviation of the common mid's one-second returns, in basis points; default 50. "
        "0 keeps the mid flat (only the dislocation moves prices).",
    )
    spread_bps: PositiveFloat = Field(
        default=2.0,
        description="Typical quoted spread, in basis points of the price; default 2, above 0. It also sets "
        "the tick: the largest 1/2/5 x 10^k not above a quarter of the spread.",
    )
    dislocation_bps: NonNegativeFloat = Field(
        default=3.0,
        description="Typical mean-reverting deviation of this venue's mid from the common mid, in basis "
        "points; default 3. 0 makes every venue quote the same mid (no cross-venue arbitrage).",
    )
    depth: int = Field(
        default=25, ge=1, le=500, description="Price levels per side of each book; default 25, from 1 to 500."
    )
    start_prices: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        description="Centre price per symbol, e.g. {BTC-USD: 65000}. A symbol not listed starts at its base "
        "asset's default (BTC 65000, ETH 3200, SOL 150, ...; 100 for an unknown asset).",
    )


class ReplayFeed(SpecModel):
    """Recorded level updates in the replay CSV format (docs/operations.md, "Replay format")."""

    file: str = Field(
        min_length=1,
        description="The recording (CSV, gzip-compressed if it ends in .gz): a path relative to "
        "Sequence.toml locally; in a cluster the file name inside replayConfigMap. The edge only has "
        "the file's symbols: a deployment naming another is refused.",
    )
    speed: PositiveFloat = Field(
        default=1.0,
        description="Playback speed; default 1.0 = the recorded pace, 2.0 twice as fast, 0.5 half. Above 0.",
    )
    loop: bool = Field(
        default=True,
        description="Start again from the top after the last record (default true); false leaves the "
        "books as they were at the end of the file.",
    )


class Feed(SpecModel):
    """Where the edge's book updates come from."""

    kind: Literal["sim", "replay"] = Field(
        default="sim",
        description="sim (default): a synthetic market, settings in sim. replay: a recorded file, settings "
        "in replay (required).",
    )
    sim: SimFeed | None = Field(
        default=None, description="Synthetic market settings; only with kind sim. Omitted: all defaults."
    )
    replay: ReplayFeed | None = Field(
        default=None, description="Recording to play; required with kind replay, refused with kind sim."
    )

    @model_validator(mode="after")
    def _matching_block(self) -> Feed:
        if self.kind == "replay" and self.replay is None:
            raise ValueError("feed kind 'replay' needs a replay block with a file")
        if self.kind == "sim" and self.replay is not None:
            raise ValueError("replay settings given but feed kind is 'sim'")
        if self.kind == "replay" and self.sim is not None:
            raise ValueError("sim settings given but feed kind is 'replay'")
        return self
