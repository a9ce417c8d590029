"""Sequence on Kubernetes: Sequence.toml model, render, operator, CLI and local runtime."""

__version__ = "0.1.0"
