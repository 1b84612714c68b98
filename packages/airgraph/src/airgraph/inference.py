"""TorchAir's ``torchair.inference`` namespace: gears and the compile cache.

- :func:`set_dim_gears` (from airgraph-gears) declares the sizes a dim takes.
- :func:`cache_compile` and :func:`readable_cache` (from airgraph-cache)
  cache a compiled method on disk and show a cache entry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airgraph_gears import set_dim_gears

if TYPE_CHECKING:
    from airgraph_cache import cache_compile, readable_cache

__all__ = ["cache_compile", "readable_cache", "set_dim_gears"]

_LAZY = {
    "cache_compile": ("airgraph_cache", "cache_compile"),
    "readable_cache": ("airgraph_cache", "readable_cache"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'airgraph.inference' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names (lazy ones too, before first use) for dir() and tab-completion,
    # not the helpers this module imports.
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
