"""Every private torch API the CLI uses, in one place.

Upgrading torch means reading this file: each function says why it reaches
into Dynamo or Inductor and which torch version it was checked with. Torch is
imported inside the functions: ``airgraph --help`` must stay fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["explain", "inductor_cache_dir", "inductor_cxx", "reset_dynamo", "unsupported_error"]


def reset_dynamo() -> None:
    """Forget every Dynamo compilation so the next one traces afresh.

    Why: ``torch.compiler.reset`` is the public spelling of
    ``torch._dynamo.reset``. Checked with torch 2.13.
    """
    import torch

    torch.compiler.reset()


def explain(model: Any, inputs: Any) -> Any:
    """Dynamo's ``ExplainOutput`` of one call of ``model(*inputs)`` (graph breaks and their reasons).

    Why: ``torch._dynamo.explain`` is the only API that lists every graph break
    with its user stack in one call. Checked with torch 2.13.
    """
    import torch._dynamo

    return torch._dynamo.explain(model)(*inputs)


def unsupported_error() -> type[Exception]:
    """The exception Dynamo raises at a graph break under ``fullgraph=True``.

    Why: ``torch._dynamo.exc.Unsupported`` has no public alias. Checked with torch 2.13.
    """
    import torch._dynamo

    return torch._dynamo.exc.Unsupported


def inductor_cache_dir() -> str:
    """The folder Inductor caches compiled kernels in (``TORCHINDUCTOR_CACHE_DIR`` or its default).

    Why: Inductor computes the default privately (``cache_dir_utils``). Checked with torch 2.13.
    """
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    return cache_dir()


def inductor_cxx() -> str | None:
    """The C++ compiler Inductor will call (its ``cpp.cxx`` config), or ``None`` for the default.

    Why: the setting lives in ``torch._inductor.config``. Checked with torch 2.13.
    """
    from torch._inductor import config

    return config.cpp.cxx[1] if isinstance(config.cpp.cxx, tuple) else config.cpp.cxx
