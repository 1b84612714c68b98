"""Moved to :mod:`airgraph_core.targets.npu`; these names are re-exported from there."""

from airgraph_core.targets.npu import (
    BINDING_MODULE,
    NpuExecutable,
    NpuTarget,
    engine_options,
    load_binding,
    npu_available,
)

__all__ = [
    "BINDING_MODULE",
    "NpuExecutable",
    "NpuTarget",
    "engine_options",
    "load_binding",
    "npu_available",
]
