"""What every Sequence process adds to its /metrics: `<prefix>_build_info` and the standard process
collector (process_cpu_seconds_total, resident memory, open fds, start time), so each of the edge,
the coordinator and the operator can be told apart by version and watched the same way."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from platform import python_version

from prometheus_client import CollectorRegistry, Info, ProcessCollector


def release() -> str:
    try:
        return version("sequence-k8s")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def add_process_metrics(registry: CollectorRegistry, prefix: str, process: bool = True) -> None:
    """Register PREFIX_build_info{version, python} (always 1) and, with PROCESS, the process_*
    collector on REGISTRY."""
    info = Info(f"{prefix}_build", "Version of this process; the value is always 1", registry=registry)
    info.info({"version": release(), "python": python_version()})
    if process:
        ProcessCollector(registry=registry)
