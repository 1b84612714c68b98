"""Moved to :mod:`airgraph_core.targets.host.target`; these names are re-exported from there."""

from airgraph_core.targets.host.target import HostExecutable, HostTarget

__all__ = ["HostExecutable", "HostTarget"]
