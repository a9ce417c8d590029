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


class LiveFeed(SpecModel):
    """The venue's public order books over its websocket (through ccxt; the edge needs the `live` extra)."""

    endpoint: str | None = Field(
        default=None,
        pattern=r"^wss?://[^\s]+$",
        description="Websocket URL to use instead of the venue's public one (a local stand-in, a venue's "
        "test environment), ws:// or wss://. Omitted: the venue's public endpoint.",
    )
    rest_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="REST base URL the venue's market list is fetched from at start, instead of the venue's. "
        "Omitted: the venue's.",
    )
    markets_file: str | None = Field(
        default=None,
        min_length=1,
        description="ccxt markets as JSON (symbol -> market), used instead of fetching the market list: "
        "locally a path relative to Sequence.toml, in a cluster a path inside the edge container.",
    )
    cafile: str | None = Field(
        default=None,
        min_length=1,
        description="PEM bundle of certificate authorities to trust for the endpoint's TLS certificate: "
        "locally relative to Sequence.toml, in a cluster a path inside the edge container. Omitted: the "
        "system's.",
    )
    depth: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Levels per side to subscribe to where the venue lets you choose (Kraken: 10, 25, 100, "
        "500 or 1000); default 10.",
    )


class Feed(SpecModel):
    """Where the edge's book updates come from."""

    kind: Literal["sim", "replay", "live"] = Field(
        default="sim",
        description="sim (default): a synthetic market, settings in sim. replay: a recorded file, settings "
        "in replay (required). live: the venue's public order books (kraken, coinbase, hyperliquid), "
        "settings in live (optional); on a sandbox venue fills stay simulated, no order leaves the machine.",
    )
    sim: SimFeed | None = Field(
        default=None, description="Synthetic market settings; only with kind sim. Omitted: all defaults."
    )
    replay: ReplayFeed | None = Field(
        default=None, description="Recording to play; required with kind replay, refused with kind sim."
    )
    live: LiveFeed | None = Field(
        default=None,
        description="Live feed settings; only with kind live. Omitted: the venue's public endpoint.",
    )

    @model_validator(mode="after")
    def _matching_block(self) -> Feed:
        if self.kind == "replay" and self.replay is None:
            raise ValueError("feed kind 'replay' needs a replay block with a file")
        if self.kind == "sim" and self.replay is not None:
            raise ValueError("replay settings given but feed kind is 'sim'")
        if self.kind != "sim" and self.sim is not None:
            raise ValueError(f"sim settings given but feed kind is {self.kind!r}")
        if self.kind != "replay" and self.replay is not None:
            raise ValueError(f"replay settings given but feed kind is {self.kind!r}")
        if self.kind != "live" and self.live is not None:
            raise ValueError(f"live settings given but feed kind is {self.kind!r}")
        return self
