"""Distinct tensors that share memory, where a cached program writes an input in place.

A program traced with separate tensors treats every input as its own memory. Two
different tensors over one memory (``x`` and ``x[1:]``, ``x`` and ``x.view(...)``)
break that when the program writes one of them: eager PyTorch reads the write
through the other, the compiled program does not. Dynamo with static shapes does
not guard on it either (AOTAutograd's storage-overlap guard exists only under
dynamic shapes; torch 2.13), so ``torch.compile`` returns the stale value, and a
trace that *saw* the overlap compiles a program over one synthetic base that
later breaks on separate tensors. A cached program that writes an input
therefore checks per call that its tensor inputs sit in distinct storages (one
``data_ptr`` each); when two share one, :func:`overlapping` tells views that
only share a storage (per-layer slices of one KV-cache tensor: the program is
still right) from ones whose memory overlaps (the call runs eagerly).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from airgraph_core.input_updates import written_inputs

__all__ = ["argument_tensors", "distinct_storages_check", "overlapping", "writes_an_input"]


def distinct_storages_check(indices: Sequence[int]) -> Callable[[Sequence[Any]], bool] | None:
    """A check that the tensor inputs at ``indices`` sit in distinct storages (None: < 2).

    False as well when one of them is not a tensor (the caller's slower checks say
    what it is).
    """
    n = len(indices)
    if n < 2:
        return None
    get = operator.itemgetter(*indices)

    def storages_ok(inputs: Sequence[Any]) -> bool:
        try:
            return len({t.untyped_storage().data_ptr() for t in get(inputs)}) == n
        except AttributeError:  # None (or another object) where the trace saw a tensor
            return False

    return storages_ok


def _extent(t: torch.Tensor) -> tuple[int, int, int] | None:
    """(storage pointer, first byte, byte after the last) that ``t`` can touch; None if empty."""
    if t.numel() == 0:
        return None
    last = sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride()))
    size = t.element_size()
    start = t.storage_offset() * size
    return t.untyped_storage().data_ptr(), start, start + (last + 1) * size


def overlapping(tensors: Iterable[Any]) -> bool:
    """Whether two different tensors of ``tensors`` may share an element's memory.

    Conservative: tensors whose byte ranges in one storage intersect count as
    overlapping even when their strides interleave without a common element
    (``x[:, 0]`` and ``x[:, 1]``); one object listed twice does not count.
    """
    seen: dict[int, list[tuple[int, int]]] = {}
    ids: set[int] = set()
    for t in tensors:
        if not isinstance(t, torch.Tensor) or id(t) in ids:
            continue
        ids.add(id(t))
        extent = _extent(t)
        if extent is not None:
            ptr, start, end = extent
            seen.setdefault(ptr, []).append((start, end))
    for ranges in seen.values():
        ranges.sort()
        reach = ranges[0][1]  # the furthest byte reached by the ranges before
        for start, end in ranges[1:]:
            if start < reach:
                return True
            reach = max(reach, end)
    return False


def writes_an_input(backend: Any) -> bool:
    """Whether the graph ``backend`` compiled last writes an input in place.

    True when that cannot be told (no graph compiled, or lowering fell back without a
    GE graph): the caller then runs overlapping arguments eagerly, which is always right.
    """
    compiled = getattr(backend, "compiled", None)
    graph = getattr(compiled[-1], "ge_graph", None) if compiled else None
    return graph is None or bool(written_inputs(graph))


def argument_tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """The tensors among a call's arguments, in lists, tuples and dicts too (a cold call's view)."""
    out: list[torch.Tensor] = []
    stack: list[Any] = [*args, *kwargs.values()]
    while stack:
        value = stack.pop()
        if isinstance(value, torch.Tensor):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return out
