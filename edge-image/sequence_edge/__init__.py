"""The venue edge: one process per venue. Market data -> Cython L2 book -> hosted algorithms -> pre-trade risk -> OMS, with an HTTP control API and a mesh client.

Package map (docs/architecture.md): `market/` feeds and books, `algo/` the ABI and the hosts, `orders/` risk, OMS and traces,
`engine` the hot loop that joins them, `api/` the control API and metrics, `mesh/` the coordinator client.
"""
