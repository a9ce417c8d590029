"""EdgeMesh: an Edge wired to the coordinator through a MeshClient (docs/mesh.md, "Edge integration").

Everything runs on the edge's event loop: outboxes drained after a step go straight to
`MeshClient.send` (with the time the algo called `seq.send`) and are written once per step;
a delivered message runs `algo_on_message` (and the actions it emits) inside the client's
read callback, where the receive time is taken; the NBBO goes to the instances the coordinator
named; every push, hot swap and remove re-registers the full set of instances.

An instance takes part in the mesh when its push gave a label and a mesh group. Its sends
otherwise count as `dropped_invalid` on the client (nobody could answer it anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sequence_wire.edge_api import EdgeMesh as EdgeMeshStatus

from ..edge import Edge, OutboundMessage
from ..orders.graph_orders import GraphOrders
from .client import MeshClient, MeshInstance, Nbbo

log = logging.getLogger("sequence.edge")

# MeshClient counters that are losses, by the reason name shown in status and metrics
CLIENT_DROPS = {
    "no_coordinator": "dropped_no_coordinator",
    "backpressure": "dropped_backpressure",
    "invalid": "dropped_invalid",
    "duplicate": "dropped_duplicate",
    "unknown_instance": "dropped_unknown_instance",
}


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT of the coordinator's mesh port; ValueError with what to write otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:7172)")
    return host.strip("[]"), int(port)


class EdgeMesh:
    def __init__(
        self, edge: Edge, host: str, port: int, *, token: str | None = None, **client_options: Any
    ) -> None:
        self.edge = edge
        self.address = f"{host}:{port}"
        self.client = MeshClient(
            host,
            port,
            edge_id=edge.config.edge_id,
            venue=edge.config.venue,
            on_message=self._on_message,
            on_symbol_nbbo=self._on_nbbo,
            token=token,
            **client_options,
        )
        edge.mesh = self
        edge.mesh_sink = self._sink
        edge.top_of_book_sink = self.client.publish_top_of_book
        edge.on_deployments_changed = self.register
        # execution-graph orders from the coordinator go through this edge's OMS and risk
        self.graph_orders = GraphOrders(
            edge,
            self.client.write_frame,
            equity_usd=edge.config.graph_equity_usd,
            # the edge's default risk, with the limits --graph-risk sets in place of those
            risk={**edge.config.policy.default_risk, **(edge.config.graph_risk or {})},
        )
        edge.graph_orders = self.graph_orders
        self.client.on_graph_order = self.graph_orders.on_order
        self.client.on_connected = self.graph_orders.on_connected

    async def start(self) -> None:
        """Inside the edge's loop: connect in the background (the edge trades with or without it)."""
        await self.client.start()
        self.register()

    async def close(self) -> None:
        self.edge.mesh_sink = None
        self.edge.top_of_book_sink = None
        self.edge.on_deployments_changed = None
        self.edge.graph_orders = None
        await self.client.close()

    def register(self) -> None:
        instances = []
        for dep_id, dep in self.edge.deployments.items():
            req, caps = dep.request, dep.instance.capabilities
            if not (req.label and req.mesh_group) or dep.instance.state == "failed":
                continue
            instances.append(
                MeshInstance(
                    dep_id,
                    req.mesh_group,
                    req.label,
                    tuple(dep.account.symbols),
                    on_message="algo_on_message" in caps,
                    on_nbbo="algo_on_nbbo" in caps,
                )
            )
        self.client.register(instances)

    # ------------------------------------------------------------------ traffic

    def _sink(self, messages: Iterable[OutboundMessage]) -> None:
        for m in messages:
            if not self.client.send(m.deployment_id, m.to_label, m.payload, m.send_ts_ns):
                dep = self.edge.deployments.get(m.deployment_id)
                if dep is not None:
                    dep.mesh_dropped += 1
        self.client.flush()

    def _on_message(
        self, deployment_id: str, from_label: str, payload: bytes, _send_ts: int, _seq: int
    ) -> None:
        if deployment_id not in self.edge.deployments:
            self.edge.count_mesh_drop("unknown_instance")  # removed between the coordinator and here
            return
        self.edge.deliver_message(deployment_id, from_label, payload)

    def _on_nbbo(self, symbol: str, nbbo: Nbbo, deployments: list[str]) -> None:
        self.edge.deliver_nbbo(
            symbol,
            bid_px_1e8=nbbo.bid_px_1e8,
            bid_qty_1e8=nbbo.bid_qty_1e8,
            ask_px_1e8=nbbo.ask_px_1e8,
            ask_qty_1e8=nbbo.ask_qty_1e8,
            ts_ns=nbbo.ts_ns,
            bid_venue=nbbo.bid_venue,
            ask_venue=nbbo.ask_venue,
            deployments=deployments,
        )

    # ------------------------------------------------------------------ views

    def client_drops(self) -> dict[str, int]:
        stats = self.client.stats()
        return {reason: stats[key] for reason, key in CLIENT_DROPS.items()}

    def status(self) -> EdgeMeshStatus:
        """For /v1/edge: where the coordinator is, whether we are connected, the client's counters
        (the edge adds `dropped`)."""
        return EdgeMeshStatus(
            coordinator=self.address,
            connected=self.client.connected,
            registered=self.client.registered,
            rejected=dict(self.client.rejected),
            refused=self.client.refused,  # the coordinator's ERROR, e.g. "Unauthorized: ..."
            coordinator_venues=list(self.client.venues),
            client=self.client.stats(),
        )

    def deployment_status(self, deployment_id: str) -> dict[str, Any]:
        """For a deployment's status `mesh` block."""
        dep = self.edge.deployments.get(deployment_id)
        member = dep is not None and bool(dep.request.label and dep.request.mesh_group)
        return {
            "connected": self.client.connected,
            "registered": member and self.client.registered and deployment_id not in self.client.rejected,
            "rejected": self.client.rejected.get(deployment_id),
        }
