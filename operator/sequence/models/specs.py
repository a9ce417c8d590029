"""Spec fragments used both in Sequence.toml and in the custom resources."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .common import NonNegativeFloat, PositiveFloat, SpecModel

FIXED_SCALE = 100_000_000  # the edge holds quantities and money as integers scaled by 1e8 (docs/abi.md)
# The edge stores each limit as a signed 64-bit integer at 1e8 scale (risk.pyx: value * 1e8 < 2**63),
# so 92233720368 (about 9.2e10) is the largest limit it can hold; larger ones would wrap.
MAX_FIXED_LIMIT = 92_233_720_368
MAX_OPEN_ORDERS = 1 << 31  # the edge clamps to this anyway; larger values are not a real limit


def check_fixed_point_limit(value: float | None) -> float | None:
    """A limit the edge can hold exactly as it was meant: finite, nonzero and in range at 1e8 scale.

    A tiny positive limit would round to 0, which the edge reads as "no limit": refused rather than
    silently switching the check off.
    """
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    if value > MAX_FIXED_LIMIT:
        raise ValueError(
            f"{value!r} is too large for the edge's fixed point (at most {MAX_FIXED_LIMIT}, about 9.2e10)"
        )
    if value > 0 and round(value * FIXED_SCALE) == 0:
        raise ValueError(f"{value!r} rounds to 0 in fixed point (1e-8 is the smallest)")
    return value


_FIXED_POINT_LIMITS = (
    "max_order_qty",
    "max_notional",
    "max_position",
    "max_orders_per_sec",
    "price_band_bps",
    "max_loss",
)


def _limit_maximums(schema: dict[str, Any]) -> None:
    """Carry the upper bounds into the JSON schema, so the API server refuses them too."""
    bounds = {name: MAX_FIXED_LIMIT for name in _FIXED_POINT_LIMITS} | {"max_open_orders": MAX_OPEN_ORDERS}
    for name, bound in bounds.items():
        prop = schema.get("properties", {}).get(to_camel(name)) or schema.get("properties", {}).get(name)
        for branch in [prop or {}, *(prop or {}).get("anyOf", [])]:
            if branch.get("type") in ("number", "integer"):
                branch["maximum"] = bound


class RiskLimits(SpecModel):
    """Host-side pre-trade limits, in natural units (1.5 = 1.5 BTC, notional in quote currency)."""

    model_config = ConfigDict(json_schema_extra=_limit_maximums)

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

    # One place for the representability rules: the same model validates Sequence.toml, the
    # custom resources and the edge's push body, so all three refuse the same values.
    _fixed_point = field_validator(*_FIXED_POINT_LIMITS)(check_fixed_point_limit)

    @field_validator("max_open_orders")
    @classmethod
    def _open_orders_in_range(cls, value: int | None) -> int | None:
        if value is not None and value > MAX_OPEN_ORDERS:
            raise ValueError(f"{value} is too large (at most {MAX_OPEN_ORDERS})")
        return value


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
