"""Targets: where a lowered GE graph runs.

Every target implements :class:`Target`: ``compile(graph, options)`` turns a
:class:`airgraph_core.GeGraph` into an :class:`Executable` that takes one
value per ``Data`` op (in ``index`` order: tensors, or Python ints for host
scalar inputs) and returns the ``NetOutput`` tensors in order.

- :class:`~airgraph_dynamo.targets.host.HostTarget`: the CPU host target of
  airgraph-core (:class:`airgraph_core.HostProgram`).
- :class:`~airgraph_dynamo.targets.npu.NpuTarget`: GE on an Ascend NPU
  through the runtime binding that torch_npu ships.

:func:`select_target` applies ``airgraph_config.target`` (``"auto"`` picks
the NPU where torch_npu and a device exist).
"""

from airgraph_dynamo.targets.base import Executable, Target
from airgraph_dynamo.targets.select import npu_available, select_target

__all__ = ["Executable", "Target", "npu_available", "select_target"]
