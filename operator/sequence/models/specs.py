"""Spec fragments used both in Sequence.toml and in the custom resources."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import NonNegativeFloat, PositiveFloat, SpecModel


class RiskLimits(SpecModel):
    """Host-side pre-trade limits, in natural units (1.5 = 1.5 BTC, notional in quote currency)."""

    max_order_qty: PositiveFloat | None = Field(default=None, description="Largest quantity of one order")
    max_notional: PositiveFloat | None = Field(default=None, description="Largest price x qty of one order")
    max_position: PositiveFloat | None = Field(
        default=None, description="Largest absolute position per symbol"
    )
    max_open_orders: int | None = Field(default=None, ge=1, description="Most resting orders at once")
    max_orders_per_sec: PositiveFloat | None = Field(default=None, description="Order rate (token bucket)")
    price_band_bps: PositiveFloat | None = Field(
        default=None, description="Refuse limit prices further than this from mid, in basis points"
    )
    max_loss: PositiveFloat | None = Field(
        default=None,
        description="Kill switch: stop placing orders once realized+unrealized loss exceeds this",
    )


class WasmLimits(SpecModel):
    """Per-instance sandbox of the WASM host (ignored by native algorithms)."""

    deadline_ms: PositiveFloat = Field(default=1.0, le=1000, description="Per-callback deadline")
    memory_mib: int = Field(default=64, ge=1, le=4096, description="Cap on the instance's linear memory")


class SimFeed(SpecModel):
    """Synthetic market: a seeded random walk shared across venues plus small per-venue dislocations."""

    seed: int = Field(default=1, ge=0, description="Same seed, same market")
    updates_per_sec: PositiveFloat = Field(
        default=2000.0, le=10_000_000, description="Book updates per second"
    )
    volatility_bps: NonNegativeFloat = Field(
        default=50.0, description="Per-second volatility of the mid, bps"
    )
    spread_bps: PositiveFloat = Field(default=2.0, description="Typical quoted spread, bps")
    dislocation_bps: NonNegativeFloat = Field(
        default=3.0, description="Per-venue deviation from the common mid"
    )
    depth: int = Field(default=25, ge=1, le=500, description="Levels per side")
    start_prices: dict[str, PositiveFloat] = Field(
        default_factory=dict, description="Initial mid per symbol (defaults per base asset)"
    )


class ReplayFeed(SpecModel):
    """Recorded level updates (docs/operations.md, replay format)."""

    file: str = Field(
        min_length=1, description="Path relative to Sequence.toml (local) or inside the edge image"
    )
    speed: PositiveFloat = Field(default=1.0, description="1.0 = recorded pace; larger is faster")
    loop: bool = Field(default=True, description="Start again at the end")


class Feed(SpecModel):
    kind: Literal["sim", "replay"] = "sim"
    sim: SimFeed | None = None
    replay: ReplayFeed | None = None

    @model_validator(mode="after")
    def _matching_block(self) -> Feed:
        if self.kind == "replay" and self.replay is None:
            raise ValueError("feed kind 'replay' needs a replay block with a file")
        if self.kind == "sim" and self.replay is not None:
            raise ValueError("replay settings given but feed kind is 'sim'")
        if self.kind == "replay" and self.sim is not None:
            raise ValueError("sim settings given but feed kind is 'replay'")
        return self
