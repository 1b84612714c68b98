"""Dense tensor layouts as dim orders: what a target's contiguous result needs to become eager's.

A GE graph's outputs are contiguous, while eager's result of an op on a
permuted tensor keeps its input's layout (``(x + 1)`` of a transposed ``x``
is transposed). Views replayed on such a base (:mod:`airgraph_core.output_views`)
need eager's layout: ``view`` on a transposed tensor differs from ``view`` on
a contiguous one, or fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.fx.experimental.symbolic_shapes import optimization_hint

__all__ = ["dense_order", "dim_order", "eager_order", "with_layout"]


def dim_order(order: Any) -> tuple[int, ...]:
    """A ``layouts`` dim order: a permutation of ``range(n)``."""
    dims = tuple(order) if isinstance(order, (list, tuple)) else None
    if (
        dims is None
        or any(type(d) is not int for d in dims)
        or sorted(dims) != list(range(len(dims)))
    ):
        raise ValueError(f"layouts: {order!r} is not a permutation of dims")
    return dims


def with_layout(t: Any, order: tuple[int, ...]) -> Any:
    """``t`` with eager's dense layout ``order`` (a copy unless it already has it)."""
    if not isinstance(t, torch.Tensor) or t.dim() != len(order):
        raise ValueError(f"layouts: a base of rank {len(order)} is {type(t).__name__}")
    if dense_order([int(s) for s in t.shape], [int(s) for s in t.stride()]) == order:
        return t
    out = torch.empty_permuted(t.shape, order, dtype=t.dtype, device=t.device)
    return out.copy_(t)


def dense_order(sizes: Sequence[int], strides: Sequence[int]) -> tuple[int, ...] | None:
    """Dims from outermost to innermost of a dense, non-overlapping layout, else ``None``.

    Dims of size 1 take any stride; they are placed where the contiguous
    order would put them relative to their neighbours (ties keep dim order).
    """
    order = sorted(range(len(sizes)), key=lambda d: (-strides[d] if sizes[d] > 1 else 0, d))
    big = [d for d in order if sizes[d] > 1]
    expected = 1
    for d in reversed(big):
        if strides[d] != expected:
            return None
        expected *= sizes[d]
    # Size-1 dims: keep them in logical order among the others (their stride is free).
    ones = [d for d in range(len(sizes)) if sizes[d] <= 1]
    if not ones:
        return tuple(order)
    result = list(big)
    for d in ones:
        # Before the first bigger dim that follows it logically (contiguous placement).
        pos = next((i for i, b in enumerate(result) if b > d), len(result))
        result.insert(pos, d)
    return tuple(result)


def eager_order(val: Any) -> tuple[int, ...] | None:
    """The dim order of a traced tensor's dense layout (from size hints), else ``None``."""
    if not isinstance(val, torch.Tensor):
        return None
    try:
        sizes = [optimization_hint(s) for s in val.shape]
        strides = [optimization_hint(s) for s in val.stride()]
    except Exception:  # an unbacked size without a hint: keep the target's layout
        return None
    return dense_order(sizes, strides)
