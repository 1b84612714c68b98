"""Targets: where a lowered GE graph runs.

Every target implements :class:`Target`: ``compile(graph, options)`` turns a
:class:`airgraph_core.GeGraph` into an :class:`Executable` that takes one
value per ``Data`` op (in ``index`` order: tensors, or Python ints for host
scalar inputs) and returns the ``NetOutput`` tensors in order. What differs
between targets is data (:class:`TargetCapabilities`), never something a
caller finds out by inspecting a type.

- :class:`HostTarget` (``"host"``): the CPU executor
  (:class:`airgraph_core.HostProgram`), compiled by Inductor or interpreted.
- :class:`NpuTarget` (``"npu"``): GE on an Ascend NPU through the runtime
  binding that torch_npu ships (tested against
  :func:`airgraph_core.targets.fake_npu.make_fake_npu_binding`).

:data:`TARGETS` registers them by name; :func:`select_target` builds one from
a name (``"auto"``: the first available) and plain option values.
"""

from airgraph_core.targets.base import Artifact, Executable, Target, TargetCapabilities
from airgraph_core.targets.host.target import HostExecutable, HostTarget
from airgraph_core.targets.npu import NpuExecutable, NpuTarget, npu_available
from airgraph_core.targets.registry import (
    TARGETS,
    TargetUnavailableError,
    select_target,
    target_class,
    target_names,
)

__all__ = [
    "TARGETS",
    "Artifact",
    "Executable",
    "HostExecutable",
    "HostTarget",
    "NpuExecutable",
    "NpuTarget",
    "Target",
    "TargetCapabilities",
    "TargetUnavailableError",
    "npu_available",
    "select_target",
    "target_class",
    "target_names",
]
