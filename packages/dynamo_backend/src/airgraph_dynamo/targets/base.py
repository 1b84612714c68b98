"""Moved to :mod:`airgraph_core.targets.base`; these names are re-exported from there."""

from airgraph_core.targets.base import Artifact, Executable, Target, TargetCapabilities

__all__ = ["Artifact", "Executable", "Target", "TargetCapabilities"]
