"""Wire formats shared by the data plane (edge, coordinator) and the control plane (CLI, operator, SDK).

A leaf package: it imports nothing from `sequence`, `sequence_edge` or `sequence_coordinator`.
"""
