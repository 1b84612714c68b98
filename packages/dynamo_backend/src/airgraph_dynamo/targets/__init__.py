"""Targets: where a lowered GE graph runs (they live in :mod:`airgraph_core.targets`).

This package re-exports the interface (:class:`Executable`, :class:`Target`)
and adds :func:`select_target`, which applies ``airgraph_config.target``
(``"auto"`` picks the NPU where torch_npu and a device exist) and
``airgraph_config.host_mode``. ``airgraph_dynamo.targets.host`` and
``airgraph_dynamo.targets.npu`` re-export the two targets.
"""

from airgraph_dynamo.targets.base import Executable, Target
from airgraph_dynamo.targets.select import npu_available, select_target

__all__ = ["Executable", "Target", "npu_available", "select_target"]
