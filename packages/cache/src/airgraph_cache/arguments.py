"""``cache_compile``'s arguments as TorchAir code passes them: ``backend=`` next to ``config=``.

TorchAir's ``cache_compile(func, config=..., backend=...)`` takes the
compiler config from the backend when ``config`` is not given, and refuses a
``config`` that differs from the backend's with a ``ValueError`` in its own
words. Our backends copy their config, so the two compare by value.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BACKEND_CONFIG_MISMATCH", "config_of_backend"]

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
