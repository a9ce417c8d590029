"""Risk and sandbox limits of one deployment: the same model in Sequence.toml, the AlgoDeployment
CRD (camelCase aliases) and the edge's push body (snake_case names), so all three accept and refuse
the same values."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from .common import PositiveFloat, SpecModel

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

    max_order_qty: PositiveFloat | None = Field(
        default=None,
        description="Largest quantity of one order, in base units (1.5 = 1.5 BTC). A bigger order is "
        "refused with MAX_ORDER_QTY. Unset: no limit.",
    )
    max_notional: PositiveFloat | None = Field(
        default=None,
        description="Largest price x quantity of one order, in quote currency (USD for BTC-USD); a "
        "market order counts the worst price it would reach. A bigger order is refused with MAX_NOTIONAL. "
        "Unset: no limit.",
    )
    max_position: PositiveFloat | None = Field(
        default=None,
        description="Largest absolute position per symbol, in base units. An order is refused with "
        "MAX_POSITION if it, together with every resting order on the same side, could take the position "
        "past this. Unset: no limit.",
    )
    max_open_orders: int | None = Field(
        default=None,
        ge=1,
        description="Most orders resting at once (limit and post-only; IOC and market orders "
        "never rest). One more is refused with MAX_OPEN_ORDERS. Unset: 256. At least 1.",
    )
    max_orders_per_sec: PositiveFloat | None = Field(
        default=None,
        description="Orders per second, as a token bucket holding one second's worth (at least one): "
        "a burst may use it all at once, then orders are refused with RATE_LIMIT until tokens refill. "
        "Cancels never take a token. Unset: no limit.",
    )
    price_band_bps: PositiveFloat | None = Field(
        default=None,
        description="Refuse orders priced further than this from the mid, in basis points (100 = 1%), "
        "with PRICE_BAND. Unset: no band.",
    )
    max_loss: PositiveFloat | None = Field(
        default=None,
        description="Kill switch, in quote currency: once realized + unrealized PnL (fees included) "
        "falls below minus this amount, resting orders are cancelled and every later order is refused with "
        "KILL_SWITCH until the deployment is pushed again (stop/start does not reset it). Unset: no kill "
        "switch.",
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

    deadline_ms: PositiveFloat = Field(
        default=1.0,
        le=1000,
        description="CPU time one callback (on_book, on_fill, ...) may take, in milliseconds; default 1, "
        "above 0 and at most 1000. An instance that overruns it is marked Failed and its resting orders "
        "are cancelled (time lost to preemption on a busy machine is not charged).",
    )
    memory_mib: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="Cap on the instance's linear memory, in MiB; default 64, from 1 to 4096. A "
        "memory.grow beyond it returns -1 to the algorithm, which usually traps next: the instance is then "
        "Failed.",
    )
