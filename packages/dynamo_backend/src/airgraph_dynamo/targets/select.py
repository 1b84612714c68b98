"""Pick the target named by ``airgraph_config.target`` (the config's view of
:func:`airgraph_core.targets.select_target`)."""

from __future__ import annotations

from airgraph_core.targets import TargetUnavailableError, npu_available
from airgraph_core.targets import select_target as select_by_name
from airgraph_dynamo.config import CompilerConfig
from airgraph_dynamo.targets.base import Target

__all__ = ["npu_available", "select_target"]


def select_target(config: CompilerConfig) -> Target:
    """The target ``config.airgraph_config`` asks for.

    Args:
        config: the backend's config; ``airgraph_config.target`` and
            ``airgraph_config.host_mode`` are read.

    Returns:
        The target (see :data:`airgraph_core.targets.TARGETS`).

    Raises:
        RuntimeError: the target named is not available here (e.g.
            ``target="npu"`` where torch_npu or an NPU is missing).
    """
    options = config.airgraph_config
    try:
        return select_by_name(options.target, host_mode=options.host_mode)
    except TargetUnavailableError as e:
        raise RuntimeError(
            f"airgraph_config.target is {options.target!r} but {e.hint}, or set "
            "airgraph_config.target to 'host' or 'auto'"
        ) from e
