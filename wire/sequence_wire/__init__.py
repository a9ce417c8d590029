"""Wire formats shared by the data plane (edge, coordinator) and the control plane (CLI, operator, SDK).

A leaf package: it imports nothing from `sequence`, `sequence_edge` or `sequence_coordinator`.

- `edge_api`, `coordinator_api`: the control APIs' request and response bodies (docs/edge-api.md,
  docs/mesh.md); the servers build their answers from them, `sequence.client` returns them.
- `errors`: the one error shape and the one vocabulary of reasons of both servers.
- `types`, `limits`: value types and deployment limits shared with the Sequence.toml/CRD models.
- `server`: the aiohttp side both servers share (JSON answers, the error middleware).
- `mesh`, `mesh_stats`: the edge <-> coordinator mesh frames and link statistics.
"""
