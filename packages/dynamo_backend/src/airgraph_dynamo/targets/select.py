"""Pick the target named by ``airgraph_config.target``."""

from __future__ import annotations

import importlib.util
import logging
import sys

from airgraph_dynamo.config import CompilerConfig
from airgraph_dynamo.targets.base import Target

__all__ = ["npu_available", "select_target"]

log = logging.getLogger("airgraph.dynamo")


def npu_available() -> bool:
    """True when torch_npu is installed and at least one NPU is visible.

    torch_npu is only imported when it is installed; its import is slow, so
    machines without it pay nothing.
    """
    if "torch_npu" not in sys.modules and importlib.util.find_spec("torch_npu") is None:
        return False
    try:
        import torch
        import torch_npu  # noqa: F401 - registers torch.npu

        return bool(torch.npu.is_available())
    except Exception as e:  # a broken CANN install must not break host runs
        log.warning("torch_npu is installed but unusable (%s); using the host target", e)
        return False


def select_target(config: CompilerConfig) -> Target:
    """The target ``config.airgraph_config`` asks for.

    Args:
        config: the backend's config; ``airgraph_config.target`` and
            ``airgraph_config.host_mode`` are read.

    Returns:
        A :class:`~airgraph_dynamo.targets.npu.NpuTarget` or a
        :class:`~airgraph_dynamo.targets.host.HostTarget`.

    Raises:
        RuntimeError: ``target="npu"`` where torch_npu or an NPU is missing.
    """
    from airgraph_dynamo.targets.host import HostTarget

    wanted = config.airgraph_config.target
    if wanted == "host":
        return HostTarget(config.airgraph_config.host_mode)
    if npu_available():
        from airgraph_dynamo.targets.npu import NpuTarget

        return NpuTarget()
    if wanted == "npu":
        raise RuntimeError(
            "airgraph_config.target is 'npu' but torch_npu or an Ascend NPU is not "
            "available; install the npu extra on an NPU machine, or set "
            "airgraph_config.target to 'host' or 'auto'"
        )
    log.debug("target auto: no NPU, using the host target")
    return HostTarget(config.airgraph_config.host_mode)
