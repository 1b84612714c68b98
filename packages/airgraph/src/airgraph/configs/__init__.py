"""TorchAir's ``torchair.configs`` namespace: ``configs.compiler_config.CompilerConfig``.

The submodule loads on first access, so ``import airgraph`` stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["compiler_config"]


def __getattr__(name: str) -> ModuleType:
    if name != "compiler_config":
        raise AttributeError(f"module 'airgraph.configs' has no attribute {name!r}")
    return importlib.import_module("airgraph.configs.compiler_config")


def __dir__() -> list[str]:
    # The public names (lazy ones too, before first use) for dir() and tab-completion,
    # not the helpers this module imports.
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
