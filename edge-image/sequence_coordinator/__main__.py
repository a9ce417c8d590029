"""`python -m sequence_coordinator ...` == `sequence coordinator ...` (for an image without the control plane)."""

from sequence_coordinator.cli import coordinator

coordinator(prog_name="python -m sequence_coordinator")
