"""Sequence on Kubernetes: Sequence.toml model, render, operator, CLI and local runtime.

`import sequence; seq = sequence.connect()` is the Python SDK (sequence/sdk.py, docs/sdk.md);
`sequence.aio` is its asyncio twin.
Its names are loaded on first use, so importing the package stays cheap for the CLI and the
data plane.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from . import aio as aio
    from .sdk import Deployment as Deployment
    from .sdk import DeploymentEdge as DeploymentEdge
    from .sdk import Sequence as Sequence
    from .sdk import SequenceError as SequenceError
    from .sdk import connect as connect

_SDK_NAMES = ("connect", "Deployment", "DeploymentEdge", "Sequence", "SequenceError")
__all__ = ["__version__", "aio", *_SDK_NAMES]


def __getattr__(name: str) -> Any:
    if name == "aio":  # `sequence.aio`, the asyncio twin
        from importlib import import_module

        return import_module(".aio", __name__)
    if name in _SDK_NAMES:
        from . import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'sequence' has no attribute {name!r}")
