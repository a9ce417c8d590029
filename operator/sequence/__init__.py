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
    from sequence_wire.graph_builder import FailureAction as FailureAction
    from sequence_wire.graph_builder import Node as Node
    from sequence_wire.graph_builder import Policy as Policy
    from sequence_wire.graph_builder import Sizing as Sizing
    from sequence_wire.graph_builder import Trigger as Trigger
    from sequence_wire.graph_builder import Urgency as Urgency

    from . import aio as aio
    from .sdk import Deployment as Deployment
    from .sdk import DeploymentEdge as DeploymentEdge
    from .sdk import Sequence as Sequence
    from .sdk import SequenceError as SequenceError
    from .sdk import connect as connect
    from .sdk_graphs import SequenceGraphError as SequenceGraphError

_SDK_NAMES = ("connect", "Deployment", "DeploymentEdge", "Sequence", "SequenceError")
# the execution-graph builder's pieces: `seq.graph().node("spot", Node.buy(...))` (docs/graphs.md)
_GRAPH_NAMES = ("FailureAction", "Node", "Policy", "Sizing", "Trigger", "Urgency")
__all__ = ["__version__", "aio", *_SDK_NAMES, *_GRAPH_NAMES, "SequenceGraphError"]


def __getattr__(name: str) -> Any:
    if name == "aio":  # `sequence.aio`, the asyncio twin
        from importlib import import_module

        return import_module(".aio", __name__)
    if name in _SDK_NAMES:
        from . import sdk

        return getattr(sdk, name)
    if name in _GRAPH_NAMES:
        from sequence_wire import graph_builder

        return getattr(graph_builder, name)
    if name == "SequenceGraphError":
        from .sdk_graphs import SequenceGraphError

        return SequenceGraphError
    raise AttributeError(f"module 'sequence' has no attribute {name!r}")
