"""Risk and sandbox limits of one deployment: the same model in Sequence.toml, the AlgoDeployment
CRD (camelCase aliases) and the edge's push body (snake_case names)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

PositiveFloat = Annotated[float, Field(gt=0)]


class LimitsModel(BaseModel):
    """snake_case in Python, TOML and the push body; camelCase in Kubernetes objects."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        use_enum_values=True,
    )


class RiskLimits(LimitsModel):
    """Host-side pre-trade limits, in natural units (1.5 = 1.5 BTC, notional in quote currency)."""

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


class WasmLimits(LimitsModel):
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
