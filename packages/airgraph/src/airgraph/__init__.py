"""airgraph: a TorchAir-compatible torch.compile backend for Ascend NPUs.

This meta-package installs every airgraph package and re-exports the
TorchAir-compatible API, so that ``import airgraph as torchair`` runs TorchAir
examples unchanged (apart from ``.npu()`` on a machine without an NPU)::

    import airgraph as torchair

    config = torchair.CompilerConfig()
    backend = torchair.get_npu_backend(compiler_config=config)
    torchair.inference.set_dim_gears(x, dim_gears={0: [2, 4]})

TorchAir's module paths work too: ``torchair.configs.compiler_config.CompilerConfig``
and ``torchair.npu_fx_compiler.get_npu_backend`` / ``get_compiler`` (or
``from airgraph.configs.compiler_config import CompilerConfig``).

Names resolve lazily: ``import airgraph`` stays cheap, and a warm start
through ``inference.cache_compile`` never imports Dynamo unless it must.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS = {
    "CompilerConfig": ("airgraph_dynamo", "CompilerConfig"),
    "get_npu_backend": ("airgraph_dynamo", "get_npu_backend"),
    "get_compiler": ("airgraph_dynamo", "get_compiler"),
    "inference": ("airgraph.inference", None),
    "configs": ("airgraph.configs", None),
    "npu_fx_compiler": ("airgraph.npu_fx_compiler", None),
    "logger": ("airgraph_core.logs", "logger"),
    "passes": ("airgraph_dynamo.pipeline", "passes"),
    "patch_for_hcom": ("airgraph._hcom", "patch_for_hcom"),
    "scope": ("airgraph.scope", None),
    "ops": ("airgraph.ops", None),
    "dynamo_export": ("airgraph.npu_export", "dynamo_export"),
    "npu_export": ("airgraph.npu_export", None),
}

__all__ = [
    "CompilerConfig",
    "__version__",
    "configs",
    "dynamo_export",
    "get_compiler",
    "get_npu_backend",
    "inference",
    "logger",
    "npu_export",
    "npu_fx_compiler",
    "ops",
    "passes",
    "patch_for_hcom",
    "scope",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'airgraph' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names (lazy ones too, before first use) for dir() and tab-completion,
    # not the helpers this module imports.
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
