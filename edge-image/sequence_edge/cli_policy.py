"""`sequence edge` flags that decide what a push may do: compile limits, bundle_url rules, default
risk (edge_policy.py). `policy_options` adds them to the command and hands the command one
`policy` argument instead. Like cli.py, importing this loads click and nothing else of the edge."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any

import click

RISK_FLAGS = (
    ("max_order_qty", float),
    ("max_notional", float),
    ("max_position", float),
    ("max_open_orders", int),
    ("max_orders_per_sec", float),
    ("price_band_bps", float),
    ("max_loss", float),
)


def _networks(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[Any, ...]:
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (use a CIDR such as 10.0.0.0/8)") from None


def _options() -> list[Callable[[Any], Any]]:
    opts = [
        click.option(
            "--max-bundle-bytes",
            default=8 << 20,
            show_default=True,
            type=click.IntRange(1024, 32 << 20),
            help="Largest .wasm a push may carry or name",
        ),
        click.option(
            "--max-functions",
            default=20_000,
            show_default=True,
            type=click.IntRange(1, 1_000_000),
            help="Most functions a pushed module may define (compile time and memory grow with them)",
        ),
        click.option(
            "--compile-memory-mib",
            default=512,
            show_default=True,
            type=click.IntRange(64, 65536),
            help="Memory cap of the worker process that compiles a push (address space, MiB)",
        ),
        click.option(
            "--compile-timeout",
            default=60.0,
            show_default=True,
            type=click.FloatRange(1, 3600),
            help="Seconds a push's compile may take before it is stopped and refused",
        ),
        click.option(
            "--allow-http-bundles",
            is_flag=True,
            help="Fetch bundle_url over plain http too (default: https only)",
        ),
        click.option(
            "--allow-bundle-network",
            "bundle_networks",
            multiple=True,
            callback=_networks,
            metavar="CIDR",
            help="Let bundle_url reach this private/loopback range (repeatable; default: public addresses only)",
        ),
        click.option(
            "--bundle-ca-file",
            type=click.Path(exists=True, dir_okay=False),
            help="Extra CA certificates (PEM) trusted for https bundle_url",
        ),
        click.option(
            "--default-risk",
            "default_risk_json",
            metavar="JSON",
            help='Limits for deployments that set none, e.g. \'{"max_position": 1, "max_loss": 500}\' '
            "(replaces the built-in defaults; the flags below override single limits)",
        ),
        click.option(
            "--allow-unlimited-risk",
            is_flag=True,
            help='Accept pushes with "risk": {"unlimited": true} (trading with no limit at all)',
        ),
    ]
    for name, kind in RISK_FLAGS:
        flag = "--default-" + name.replace("_", "-")
        opts.append(click.option(flag, name, type=kind, default=None, help=f"Edge default for risk.{name}"))
    return opts


def policy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the flags; the wrapped command receives `policy` (an EdgePolicy) instead of them."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["policy"] = _build_policy(kwargs)
        return command(**kwargs)

    for option in reversed(_options()):
        wrapper = option(wrapper)
    return wrapper


def _build_policy(kw: dict[str, Any]) -> Any:
    from .algo.compile_worker import CompileLimits
    from .bundle_fetch import FetchPolicy
    from .edge_policy import BUILTIN_DEFAULT_RISK, EdgePolicy, parse_default_risk

    default_risk: dict[str, Any] = dict(BUILTIN_DEFAULT_RISK)
    text = kw.pop("default_risk_json")
    if text is not None:
        try:
            default_risk = parse_default_risk(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--default-risk") from None
    for name, _ in RISK_FLAGS:
        value = kw.pop(name)
        if value is not None:
            default_risk[name] = value
    try:
        return EdgePolicy(
            compile=CompileLimits(
                max_bundle_bytes=kw.pop("max_bundle_bytes"),
                max_functions=kw.pop("max_functions"),
                memory_mib=kw.pop("compile_memory_mib"),
                timeout_s=kw.pop("compile_timeout"),
            ),
            fetch=FetchPolicy(
                allow_http=kw.pop("allow_http_bundles"),
                allowed_networks=kw.pop("bundle_networks"),
                ca_file=kw.pop("bundle_ca_file"),
            ),
            default_risk=default_risk,
            allow_unlimited_risk=kw.pop("allow_unlimited_risk"),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--default-*") from None
