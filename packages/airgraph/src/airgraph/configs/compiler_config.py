"""TorchAir's ``torchair.configs.compiler_config``: where TorchAir code imports ``CompilerConfig``.

``airgraph.configs.compiler_config.CompilerConfig`` is
:class:`airgraph_dynamo.CompilerConfig`.
"""

from airgraph_dynamo.config import CompilerConfig

__all__ = ["CompilerConfig"]
