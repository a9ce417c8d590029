"""ExecutionGraph spec: nodes, triggered edges, sizing, 4-layer risk.

The definition is the graph API's wire form and lives in the leaf package
`sequence_wire.graphs`, shared with the coordinator's graph engine; this
module re-exports it for the Sequence.toml and CRD models.
"""

from __future__ import annotations

from sequence_wire.graphs import (
    FAILURE_ACTIONS,
    OBJECT_SIZINGS,
    OBJECT_TRIGGERS,
    SIMPLE_SIZINGS,
    SIMPLE_TRIGGERS,
    SIZINGS,
    TRIGGERS,
    AdmissionRisk,
    EdgeCondition,
    ExecutionGraphSpec,
    FailureAction,
    FailurePolicy,
    GraphEdge,
    GraphNode,
    GraphRisk,
    OnPrice,
    OnTimeout,
    PreTradeRisk,
    RuntimeRisk,
    ScaledNotional,
    Twap,
    graph_problems,
    graph_warnings,
    parse_sizing,
    parse_trigger,
)

__all__ = [
    "FAILURE_ACTIONS",
    "OBJECT_SIZINGS",
    "OBJECT_TRIGGERS",
    "SIMPLE_SIZINGS",
    "SIMPLE_TRIGGERS",
    "SIZINGS",
    "TRIGGERS",
    "AdmissionRisk",
    "EdgeCondition",
    "ExecutionGraphSpec",
    "FailureAction",
    "FailurePolicy",
    "GraphEdge",
    "GraphNode",
    "GraphRisk",
    "OnPrice",
    "OnTimeout",
    "PreTradeRisk",
    "RuntimeRisk",
    "ScaledNotional",
    "Twap",
    "graph_problems",
    "graph_warnings",
    "parse_sizing",
    "parse_trigger",
]
