"""`python -m sequence_edge ...` == `sequence edge ...` (for an image without the control plane)."""

from sequence_edge.cli import edge

edge(prog_name="python -m sequence_edge")
