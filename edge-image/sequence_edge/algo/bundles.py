"""Loading a pushed bundle into the edge's AlgoHost: a WASM module, or a native library when the
edge allows native code. Every refusal is a RequestError naming the problem; nothing changes then."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sequence_wire.errors import RequestError

from .host import AlgoHost, AlgoInstance, BundleError
from .native import NativeBundleError, NativeLibrary

if TYPE_CHECKING:
    from sequence_wire.edge_api import PushRequest


def _reason(exc: Exception) -> str:
    name = type(exc).__name__.removesuffix("Error")
    return "BadBundle" if name in ("Bundle", "NativeBundle", "") else name


def load_bundle(
    host: AlgoHost,
    deployment_id: str,
    req: PushRequest,
    data: bytes,
    *,
    allow_native: bool,
    venue_names: list[str],
) -> AlgoInstance:
    """Load (or hot-swap) `data` as the deployment's algorithm, per `req.runtime`."""
    try:
        if req.runtime == "native":
            if not allow_native:
                raise RequestError(
                    "NativeNotAllowed",
                    "this edge does not run native algorithms: they run unsandboxed inside the edge "
                    "process, so an edge must opt in (sequence edge --allow-native; allowNative: true "
                    "on the VenueEdge). Push the WASM build instead, or use an edge that allows native code",
                )
            library = NativeLibrary.from_bytes(data, sha256=req.sha256)  # <tmp>/sequence-native-<uid>/
            return host.load_native(
                deployment_id,
                library,
                req.symbols,
                req.params,
                venue_names=venue_names,
                max_symbols=req.max_symbols,
            )
        return host.load(
            deployment_id,
            data,
            req.symbols,
            req.params,
            deadline_ms=req.wasm.deadline_ms,
            memory_limit_bytes=req.wasm.memory_mib << 20,
            venue_names=venue_names,
            max_symbols=req.max_symbols,
        )
    except (BundleError, NativeBundleError) as exc:
        raise RequestError(_reason(exc), str(exc)) from None
    except ValueError as exc:
        raise RequestError("InvalidPush", str(exc)) from None
