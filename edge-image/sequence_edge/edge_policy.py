"""What an edge accepts in a push, decided before anything on the edge changes.

- Compile limits (`compile_worker.CompileLimits`): bundle size, function count, the compile
  worker's memory cap and timeout.
- Where `bundle_url` may point (`bundle_fetch.FetchPolicy`).
- Risk: every limit must be finite and representable in the 1e8 fixed point the OMS uses (a value
  that rounds to 0 would mean "no limit", one of 2^63 / 1e8 or more does not fit). A deployment
  that sets no limit at all gets the edge's default limits (`sequence edge --default-risk`, else
  BUILTIN_DEFAULT_RISK); one that sets some gets the edge's defaults for the others. Trading
  without limits takes an explicit `"risk": {"unlimited": true}` in the push, accepted only by an
  edge started with `--allow-unlimited-risk`.
- Params: at most MAX_PARAMS, short names, bounded texts, finite numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from sequence_wire.errors import RequestError
from sequence_wire.limits import RiskLimits  # the push body's model (shared with Sequence.toml)

from .algo.compile_worker import CompileLimits
from .bundle_fetch import FetchPolicy
from .orders.risk import LIMIT_FIELDS, RiskChecker

# Conservative limits for deployments that set none: small orders and positions, a kill switch.
# Units are natural (base units for quantities, quote currency for notional and loss).
BUILTIN_DEFAULT_RISK: dict[str, float | int] = {
    "max_order_qty": 1.0,
    "max_notional": 100_000.0,
    "max_position": 5.0,
    "max_open_orders": 32,
    "max_orders_per_sec": 50.0,
    "price_band_bps": 500.0,
    "max_loss": 10_000.0,
}

MAX_PARAMS = 256
MAX_PARAM_NAME = 64
MAX_PARAM_TEXT = 4096


@dataclass(frozen=True)
class EdgePolicy:
    compile: CompileLimits = field(default_factory=CompileLimits)
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    default_risk: dict[str, float | int] = field(default_factory=lambda: dict(BUILTIN_DEFAULT_RISK))
    allow_unlimited_risk: bool = False

    def __post_init__(self) -> None:
        check_risk_values(self.default_risk, where="default risk")


def check_risk_values(risk: dict[str, Any], where: str = "risk") -> None:
    """ValueError naming the first limit that is unknown, not finite or not representable: the
    rules of RiskLimits (the model Sequence.toml, the custom resources and the push share), then
    the OMS's own conversion, so nothing the OMS would refuse gets past the push."""
    try:
        RiskLimits.model_validate(risk)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown limit; known: {', '.join(LIMIT_FIELDS)}"
        raise ValueError(f"{where}.{name}: {message}") from None
    RiskChecker(risk)


def resolve_risk(requested: dict[str, Any], unlimited: bool, policy: EdgePolicy) -> dict[str, Any]:
    """The limits a deployment runs with and where they come from (its status' `risk`)."""
    explicit = {k: v for k, v in requested.items() if v is not None}
    try:
        check_risk_values(explicit)
    except ValueError as exc:
        raise RequestError("InvalidRisk", str(exc)) from None
    if unlimited:
        if explicit:
            raise RequestError("InvalidRisk", "risk.unlimited cannot be combined with limits")
        if not policy.allow_unlimited_risk:
            raise RequestError(
                "UnlimitedRiskRefused",
                "this edge refuses pushes without risk limits (start it with --allow-unlimited-risk "
                "to accept risk.unlimited)",
            )
        return {"source": "unlimited", "limits": {}, "from_edge_default": []}
    limits = {**policy.default_risk, **explicit}
    return {
        "source": "deployment" if explicit else "edge-default",
        "limits": limits,
        "from_edge_default": sorted(k for k in policy.default_risk if k not in explicit),
    }


def check_params(params: dict[str, Any]) -> None:
    """Params are passed to the algo as text: bounded, and numbers finite."""
    if len(params) > MAX_PARAMS:
        raise RequestError("InvalidParams", f"at most {MAX_PARAMS} params, got {len(params)}")
    for name, value in params.items():
        if not 0 < len(name) <= MAX_PARAM_NAME:
            raise RequestError(
                "InvalidParams", f"param names are 1..{MAX_PARAM_NAME} characters, got {name[:80]!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError("InvalidParams", f"params.{name}: must be a finite number, got {value!r}")
        text = value if isinstance(value, str) else None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_PARAM_TEXT:
            raise RequestError("InvalidParams", f"params.{name}: the number is too long")
        if text is not None and len(text.encode()) > MAX_PARAM_TEXT:
            raise RequestError("InvalidParams", f"params.{name}: at most {MAX_PARAM_TEXT} bytes of text")


def parse_default_risk(text: str) -> dict[str, Any]:
    """`--default-risk '{"max_position": 1, ...}'` -> limits (ValueError says what is wrong)."""
    import json

    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError('must be a JSON object of limits, e.g. {"max_position": 1}')
    check_risk_values(obj, where="default risk")
    return obj
