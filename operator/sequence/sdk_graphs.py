"""Execution graphs from the Python SDK: the methods `Sequence` (sdk.py) gets from `GraphCalls`.

    from sequence import Node, Policy, Trigger, connect

    seq = connect()  # the `sequence up` session of the project in the current directory
    submitted = (
        seq.graph()
        .node("spot", Node.buy("ETH-USD", 2).policy(Policy.SOR))
        .node("hedge", Node.sell("ETH-USD-PERP", 0).perp().derived())
        .edge("spot", "hedge", Trigger.fill_pct(0.5))
        .risk(lambda r: r.max_notional_usd(500_000))
        .submit()
    )
    seq.graph_status(submitted.graph_id).nodes["hedge"].filled_qty_1e8

Every call goes to the coordinator of the session (docs/graphs.md, "The graph API") and returns its
answer as the wire model (`sequence_wire.graphs`); a refusal raises `SequenceGraphError` with the
coordinator's reason (`AdmissionError`, `GraphNotFound`, `GraphStateError`, ...).
"""

from __future__ import annotations

from typing import Any

from sequence_wire import graphs as g
from sequence_wire.graph_builder import GraphBuilder

from .client import ApiError, CoordinatorClient
from .local.state import LocalState


class SequenceGraphError(Exception):
    """A graph call the coordinator refused or did not answer; `reason` is the API's word for why
    (`AdmissionError`, `GraphNotFound`, `GraphStateError`, `GraphError`, `Unreachable`, ...)."""

    def __init__(self, message: str, reason: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class GraphCalls:
    """Graph methods for a connection that has a session (`session`, `token`)."""

    session: LocalState | None
    token: str | None

    def _coordinator(self) -> CoordinatorClient:
        if self.session is None:
            raise SequenceGraphError(
                "this connection has no coordinator: connect() to a `sequence up` session for graphs"
            )
        try:  # the session file as it is now: a restarted session has new ports
            url = LocalState.load(self.session.path).coordinator_url
        except (OSError, ValueError, TypeError):
            raise SequenceGraphError(f"session {self.session.project!r} is no longer running") from None
        if not url:
            raise SequenceGraphError(f"the session of {self.session.project!r} runs no coordinator")
        return CoordinatorClient(url, token=self.token, timeout=15.0)

    def _graph_call(self, method: str, *args: Any) -> Any:
        with self._coordinator() as client:
            try:
                return getattr(client, method)(*args)
            except ApiError as exc:
                raise SequenceGraphError(f"{exc.reason}: {exc.message}", exc.reason, exc.status) from exc

    def submit_graph(self, graph: g.GraphSubmitRequest | dict[str, Any]) -> g.GraphSubmitResponse:
        """Submit a graph in its wire form (what `graph().build()` returns)."""
        result: g.GraphSubmitResponse = self._graph_call("graph_submit", graph)
        return result

    def graph(self) -> GraphBuilder[g.GraphSubmitResponse]:
        """A graph builder whose `.submit()` submits to the session's coordinator and returns the
        GraphSubmitResponse (`graph_id`, `client_id`, `status`, `warnings`)."""
        return GraphBuilder(submit=self.submit_graph)

    def graphs(self, include_finished: bool = True) -> list[g.GraphStatusResponse]:
        """Every graph of the coordinator (finished ones for 24 h unless include_finished=False)."""
        result: g.GraphListResponse = self._graph_call("graph_list", include_finished)
        return result.graphs

    def graph_status(self, graph_id: str) -> g.GraphStatusResponse:
        """Nodes (status, filled/target, average price, orders, slices) and edges (fired, count)."""
        result: g.GraphStatusResponse = self._graph_call("graph_status", graph_id)
        return result

    def graph_cancel(self, graph_id: str, reason: str | None = None) -> g.GraphStatusResponse:
        """Cancel every open order of the graph; it ends aborted."""
        result: g.GraphStatusResponse = self._graph_call("graph_cancel", graph_id, reason)
        return result

    def graph_resume(self, graph_id: str) -> g.GraphStatusResponse:
        """Continue a paused graph."""
        result: g.GraphStatusResponse = self._graph_call("graph_resume", graph_id)
        return result

    def amend_order(
        self,
        graph_id: str,
        node: str,
        *,
        urgency: str | None = None,
        max_slippage_bps: float | None = None,
        horizon_ms: int | None = None,
    ) -> g.GraphStatusResponse:
        """Retune a pending or working node's execution (at least one of the three); it re-prices
        at once."""
        fields = {"urgency": urgency, "max_slippage_bps": max_slippage_bps, "horizon_ms": horizon_ms}
        try:
            amend = g.AmendNodeRequest.model_validate({k: v for k, v in fields.items() if v is not None})
        except ValueError as exc:
            raise SequenceGraphError(f"amend_order: {exc}", "InvalidBody") from None
        result: g.GraphStatusResponse = self._graph_call("graph_amend", graph_id, node, amend)
        return result
