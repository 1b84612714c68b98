"""``cache_compile``'s arguments: checked, with TorchAir's ``backend=`` next to ``config=``.

:func:`checked_arguments` checks every argument of ``cache_compile`` before
anything is compiled or written, raising with the argument's name, the value
received and what was expected. TorchAir's ``cache_compile(func, config=..., backend=...)`` takes the
compiler config from the backend when ``config`` is not given, and refuses a
``config`` that differs from the backend's with a ``ValueError`` in its own
words. Our backends copy their config, so the two compare by value.
"""

from __future__ import annotations

import functools
import json
import os
import types
from typing import Any

import torch

__all__ = [
    "BACKEND_CONFIG_MISMATCH",
    "CACHE_DIR_ENV",
    "DEFAULT_CACHE_DIR",
    "checked_arguments",
    "config_of_backend",
    "default_rank",
    "kwargs_text",
]

#: The documented default root, as in TorchAir.
DEFAULT_CACHE_DIR = ".torchair_cache"
#: Environment variable overriding the default root.
CACHE_DIR_ENV = "AIRGRAPH_CACHE_DIR"

#: TorchAir's message, word for word (code may match on it).
BACKEND_CONFIG_MISMATCH = (
    "config in current backend is different from the config during cache generation."
)


def config_of_backend(backend: Any, config: Any) -> Any:
    """The config ``cache_compile`` compiles with, given its ``backend`` and ``config`` arguments.

    Args:
        backend: ``None``, or a backend from ``get_npu_backend`` (an
            ``NpuBackend``; its ``config`` attribute is read).
        config: ``None`` or a ``CompilerConfig`` (anything else is returned
            as is, for ``cache_compile``'s own type check).

    Returns:
        ``config`` when given (after the comparison), else the backend's
        config, else ``None`` (the defaults).

    Raises:
        TypeError: ``backend`` is not a backend from ``get_npu_backend``.
        ValueError: ``config`` and the backend's config differ.
    """
    if backend is None:
        return config
    from airgraph_dynamo import CompilerConfig, NpuBackend

    if not isinstance(backend, NpuBackend):
        raise TypeError(
            "backend: expected a backend from airgraph.get_npu_backend() or None, got "
            f"{type(backend).__name__}"
        )
    if config is None:
        return backend.config
    if isinstance(config, CompilerConfig) and config != backend.config:
        raise ValueError(BACKEND_CONFIG_MISMATCH)
    return config


def checked_arguments(
    func: Any,
    *,
    config: Any,
    backend: Any,
    dynamic: Any,
    cache_dir: Any,
    ranks: tuple[Any, Any, Any],
    custom_decompositions: Any,
    ge_cache: Any,
    check_inputs: Any,
) -> tuple[Any, str | os.PathLike[str]]:
    """Check ``cache_compile``'s arguments; return the config to use (a copy) and the root.

    Args:
        func: must be a bound method of an ``nn.Module``, not wrapped by a decorator.
        config: ``None`` or an airgraph ``CompilerConfig``.
        backend: ``None`` or a backend from ``get_npu_backend``.
        dynamic: a bool.
        cache_dir: a path, or ``None`` for ``$AIRGRAPH_CACHE_DIR`` or ``.torchair_cache``.
        ranks: ``(global_rank, tp_rank, pp_rank)``, each an int >= 0 or ``None``.
        custom_decompositions: ``None`` or a dict.
        ge_cache: a bool.
        check_inputs: a bool.

    Returns:
        ``(config, cache_dir)``: a copy of the config to compile with (the
        defaults, or ``backend``'s) and the cache root.

    Raises:
        TypeError: an argument has the wrong type (the message names it).
        ValueError: a rank is negative, or ``config`` differs from ``backend``'s.
    """
    if not isinstance(func, types.MethodType) or not isinstance(func.__self__, torch.nn.Module):
        raise TypeError(
            "func: expected a bound method of an nn.Module instance (e.g. self._forward), "
            f"got {func!r}"
        )
    if hasattr(func.__func__, "__wrapped__") or isinstance(func.__func__, functools.partial):
        raise TypeError(
            f"func: {func.__qualname__} is wrapped by another decorator; cache the undecorated "
            "method and apply the decorator to the method that calls it"
        )
    for name, value in (("dynamic", dynamic), ("ge_cache", ge_cache)):
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    if not isinstance(check_inputs, bool):
        raise TypeError(f"check_inputs: expected a bool, got {type(check_inputs).__name__}")
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir: expected a path or None, got {type(cache_dir).__name__}")
    for name, value in zip(("global_rank", "tp_rank", "pp_rank"), ranks):
        _check_optional_rank(name, value)
    from airgraph_dynamo.config import CompilerConfig

    config = config_of_backend(backend, config)
    if config is None:
        config = CompilerConfig()
    if not isinstance(config, CompilerConfig):
        raise TypeError(f"config: expected an airgraph CompilerConfig or None, got {config!r}")
    if custom_decompositions is not None and not isinstance(custom_decompositions, dict):
        raise TypeError(
            "custom_decompositions: expected a dict from ATen ops to callables or None, got "
            f"{type(custom_decompositions).__name__}"
        )
    return config.copy(), cache_dir


def _check_optional_rank(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected an int >= 0 or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: expected an int >= 0 or None, got {value!r}")


def default_rank() -> int | None:
    """``torch.distributed``'s rank when it is initialized (the default rank folder), else None."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return None


def kwargs_text(kwargs: dict[str, Any]) -> str:
    """``torch.compile`` keyword arguments as key text (``""`` for none)."""
    return "" if not kwargs else json.dumps(kwargs, sort_keys=True, default=repr)
