"""Wire formats shared by the control plane (`sequence`) and the data plane.

A leaf package: it imports only pydantic and the standard library, never
`sequence` or `sequence_edge`, so both sides can depend on it.
"""
