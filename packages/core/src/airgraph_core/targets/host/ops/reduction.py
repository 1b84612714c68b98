"""Host semantics of GE reductions, scans, top-k and sort.

Reduce* ops keep their input's dtype (no integer promotion) and reduce
nothing when ``axes`` is empty, except ReduceMean(WithCast) with
``noop_with_empty_axes=False``, which then reduces every axis. Index
outputs of ArgMaxWithValue, TopKV2 and Sort are int32; ArgMaxV2/ArgMin
yield their ``dtype`` attribute.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.ir.dtypes import DataType, to_torch
from airgraph_core.targets.host.semantics import host_op


def _axes(axes: Any, x: torch.Tensor) -> list[int]:
    axes = [axes] if isinstance(axes, int) else list(axes)
    return sorted({a % x.dim() for a in axes}) if x.dim() else []


def _reduction(fn):
    """Wrap ``fn(x, axes, keepdim)`` as a Reduce* op that is the identity for empty axes."""

    def run(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
        x, axes = inputs[0], _axes(inputs[1], inputs[0])
        if not axes:
            return x.clone()
        return fn(x, axes, bool(attrs.get("keep_dims", False)))

    return run


def _prod(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    for a in reversed(axes):  # torch.prod takes one dim at a time
        x = torch.prod(x, a, keepdim=keep, dtype=x.dtype)
    return x


_REDUCTIONS = {
    "ReduceSum": lambda x, axes, keep: torch.sum(x, axes, keepdim=keep, dtype=x.dtype),
    "ReduceProd": _prod,
    "ReduceMax": lambda x, axes, keep: torch.amax(x, axes, keepdim=keep),
    "ReduceMin": lambda x, axes, keep: torch.amin(x, axes, keepdim=keep),
    "ReduceAny": lambda x, axes, keep: torch.any(x, tuple(axes), keepdim=keep),
    "ReduceAll": lambda x, axes, keep: torch.all(x, tuple(axes), keepdim=keep),
}
for _op_type, _fn in _REDUCTIONS.items():
    host_op(_op_type, const_inputs=(1,))(_reduction(_fn))


@host_op("ReduceMean", "ReduceMeanWithCast", const_inputs=(1,))
def reduce_mean(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """Mean over ``axes``; ReduceMeanWithCast computes in and returns its ``dtype`` attribute."""
    x = inputs[0]
    axes = _axes(inputs[1], x)
    dtype = attrs.get("dtype", DataType.UNDEFINED)
    out_dtype = x.dtype if dtype == DataType.UNDEFINED else to_torch(dtype)
    if not axes:
        if attrs.get("noop_with_empty_axes", True):
            return x.to(out_dtype, copy=True)
        axes = list(range(x.dim()))
    return torch.mean(x, axes, keepdim=bool(attrs.get("keep_dims", False)), dtype=out_dtype)


def _with_value(fn):
    def run(inputs: list[Any], attrs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        values, index = fn(inputs[0], int(attrs["dimension"]), bool(attrs.get("keep_dims", False)))
        return index.to(torch.int32), values

    return run


host_op("ArgMaxWithValue")(_with_value(torch.max))
host_op("ArgMinWithValue")(_with_value(torch.min))


def _arg(fn):
    def run(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
        dtype = attrs.get("dtype", DataType.INT64)
        return fn(inputs[0], int(inputs[1])).to(to_torch(dtype))

    return run


host_op("ArgMaxV2", const_inputs=(1,))(_arg(torch.argmax))
host_op("ArgMin", const_inputs=(1,))(_arg(torch.argmin))


@host_op("Cumsum", const_inputs=(1,))
def cumsum(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """Inclusive running sum along ``axis``; ``exclusive`` shifts by one, ``reverse`` runs backwards."""
    x, axis = inputs[0], int(inputs[1])
    reverse, exclusive = attrs.get("reverse", False), attrs.get("exclusive", False)
    if reverse:
        x = x.flip(axis)
    y = torch.cumsum(x, axis, dtype=x.dtype)
    if exclusive:
        first = torch.zeros_like(x.narrow(axis, 0, 1))
        y = torch.cat([first, y.narrow(axis, 0, x.shape[axis] - 1)], axis)
    return y.flip(axis) if reverse else y


@host_op("TopKV2", "TopK", const_inputs=(1,))
def topk(inputs: list[Any], attrs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    x, k = inputs[0], inputs[1]
    k = int(k[0] if isinstance(k, list) else k)
    values, index = torch.topk(
        x,
        k,
        dim=int(attrs.get("dim", -1)),
        largest=bool(attrs.get("largest", True)),
        sorted=bool(attrs.get("sorted", True)),
    )
    return values, index.to(torch.int32)


@host_op("Sort")
def sort(inputs: list[Any], attrs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    values, index = torch.sort(
        inputs[0],
        dim=int(attrs.get("axis", -1)),
        descending=bool(attrs.get("descending", False)),
        stable=bool(attrs.get("stable", False)),
    )
    return values, index.to(torch.int32)
