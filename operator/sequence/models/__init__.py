"""All data models: Sequence.toml (project), shared spec fragments, and the four CRDs."""

from .common import API_VERSION, GROUP, VERSION, Condition, ErrorInfo, StatusBase
from .graph import ExecutionGraphSpec
from .project import DeployBlock, SequenceFile, VenueBlock, project_problems, project_warnings
from .resources import (
    KIND_BY_NAME,
    KINDS,
    AlgoDeploymentSpec,
    AlgoDeploymentStatus,
    BundleRef,
    ExecutionGraphStatus,
    Kind,
    MeshGroupSpec,
    MeshGroupStatus,
    VenueEdgeSpec,
    VenueEdgeStatus,
    crd_name,
    spec_dump,
)
from .specs import Feed, LiveFeed, ReplayFeed, RiskLimits, SimFeed, WasmLimits

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "KIND_BY_NAME",
    "VERSION",
    "AlgoDeploymentSpec",
    "AlgoDeploymentStatus",
    "BundleRef",
    "Condition",
    "DeployBlock",
    "ErrorInfo",
    "ExecutionGraphSpec",
    "ExecutionGraphStatus",
    "Feed",
    "Kind",
    "LiveFeed",
    "MeshGroupSpec",
    "MeshGroupStatus",
    "ReplayFeed",
    "RiskLimits",
    "SequenceFile",
    "SimFeed",
    "StatusBase",
    "VenueBlock",
    "VenueEdgeSpec",
    "VenueEdgeStatus",
    "WasmLimits",
    "crd_name",
    "project_problems",
    "project_warnings",
    "spec_dump",
]
