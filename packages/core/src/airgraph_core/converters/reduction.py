"""Reduction converters: sum, mean, prod, amax/amin, max/min, argmax/argmin,
any/all, cumsum, topk, sort.

GE's Reduce* ops take the axes as an int tensor input and reduce nothing
when it is empty, so an ATen "reduce over everything" (``dim=None`` or
``[]``) always lists every axis explicitly. ATen's ``dtype=`` and its
integer promotion (``sum`` of int32/bool gives int64) become a Cast of the
input; GE's int32 index outputs are Cast to ATen's int64.

var/std/var_mean never reach the lowering: the decomposition table writes
them with mean, sub, mul and sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import ALL_DTYPES, FLOATS, NUMERIC, register
from airgraph_core.ir.dtypes import DataType

aten = torch.ops.aten

#: Where ATen promotes integer/bool inputs to int64 (sum, prod, cumsum).
PROMOTING = NUMERIC | {torch.bool, torch.int8, torch.uint8, torch.int16}


def _axes(x: Any, dim: Any) -> list[int]:
    """ATen ``dim`` (int, list, ``None`` or ``[]`` for all) as GE axes.

    Given dims keep their sign, as TorchAir passes them (GE counts negative
    axes from the end); ATen has already range-checked them.
    """
    rank = x.rank
    if rank == 0 or dim is None or (isinstance(dim, Sequence) and len(dim) == 0):
        return list(range(rank))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return [int(d) for d in dims]


def _reduce(
    ctx: ConversionContext,
    op_type: str,
    x: Any,
    dim: Any,
    keepdim: bool,
    in_dtype: DataType | None = None,
    **attrs: Any,
) -> Any:
    """``op_type(Cast(x, in_dtype), axes)`` with ``keep_dims``; the output spec is the node's."""
    axes = ctx.const(torch.tensor(_axes(x, dim), dtype=torch.int64))
    x = ctx.cast(x, in_dtype) if in_dtype is not None else x
    return ctx.b.op(op_type, x, axes, out=ctx.out(), keep_dims=bool(keepdim), **attrs)


@register(aten.sum.dim_IntList, aten.sum.default, dtypes=PROMOTING, ge_ops=("ReduceSum",))
def sum_(
    ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Any:
    return _reduce(ctx, "ReduceSum", x, dim, keepdim, ctx.out()[0])


@register(aten.prod.dim_int, aten.prod.default, dtypes=PROMOTING, ge_ops=("ReduceProd",))
def prod(
    ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Any:
    return _reduce(ctx, "ReduceProd", x, dim, keepdim, ctx.out()[0])


@register(
    aten.mean.dim,
    aten.mean.default,
    dtypes=FLOATS | {torch.float64},
    ge_ops=("ReduceMean", "ReduceMeanWithCast"),
)
def mean(
    ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Any:
    """ReduceMean; with a ``dtype`` other than the input's, ReduceMeanWithCast."""
    out_dtype = ctx.out()[0]
    if out_dtype != x.dtype:
        return _reduce(ctx, "ReduceMeanWithCast", x, dim, keepdim, dtype=out_dtype)
    return _reduce(ctx, "ReduceMean", x, dim, keepdim)


@register(aten.amax.default, aten.max.default, dtypes=NUMERIC, ge_ops=("ReduceMax",))
def amax(ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _reduce(ctx, "ReduceMax", x, dim, keepdim)


@register(aten.amin.default, aten.min.default, dtypes=NUMERIC, ge_ops=("ReduceMin",))
def amin(ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _reduce(ctx, "ReduceMin", x, dim, keepdim)


@register(aten.any.default, aten.any.dim, aten.any.dims, dtypes=ALL_DTYPES, ge_ops=("ReduceAny",))
def any_(ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _reduce(ctx, "ReduceAny", x, dim, keepdim, DataType.BOOL)


@register(aten.all.default, aten.all.dim, aten.all.dims, dtypes=ALL_DTYPES, ge_ops=("ReduceAll",))
def all_(ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _reduce(ctx, "ReduceAll", x, dim, keepdim, DataType.BOOL)


def _value_and_index(
    ctx: ConversionContext, op_type: str, x: Any, dim: int, keepdim: bool, float_only: bool
) -> tuple[Any, Any]:
    """ArgMaxWithValue / ArgMinWithValue; ArgMinWithValue lacks bfloat16, so go through float32."""
    (dtype, shape), (_, idx_shape) = ctx.out(0), ctx.out(1)
    if x.rank == 0:
        return ctx.cast(x, dtype), ctx.const(0, DataType.INT64)
    work = DataType.FLOAT if float_only and dtype == DataType.BF16 else dtype
    index, values = ctx.b.op(
        op_type, ctx.cast(x, work),
        out=[(DataType.INT32, idx_shape), (work, shape)],
        dimension=_axes(x, dim)[0], keep_dims=bool(keepdim),
    )  # fmt: skip
    return ctx.cast(values, dtype), ctx.cast(index, DataType.INT64)


def _as_vector(ctx: ConversionContext, x: Any) -> Any:
    """A rank-0 ``x`` as shape (1,): eager treats a scalar as one element along dim 0/-1."""
    return ctx.b.op("Reshape", x, ctx.int_list([1]), out=(x.dtype, (1,)))


def _as_scalar(ctx: ConversionContext, y: Any) -> Any:
    return ctx.b.op("Reshape", y, ctx.int_list([]), out=(y.dtype, ()))


@register(aten.max.dim, dtypes=FLOATS, ge_ops=("ArgMaxWithValue", "Cast", "Const"))
def max_dim(ctx: ConversionContext, x: Any, dim: int, keepdim: bool = False) -> Any:
    return _value_and_index(ctx, "ArgMaxWithValue", x, dim, keepdim, float_only=False)


@register(aten.min.dim, dtypes=FLOATS, ge_ops=("ArgMinWithValue", "Cast", "Const"))
def min_dim(ctx: ConversionContext, x: Any, dim: int, keepdim: bool = False) -> Any:
    return _value_and_index(ctx, "ArgMinWithValue", x, dim, keepdim, float_only=True)


def _arg_extreme(ctx: ConversionContext, op_type: str, x: Any, dim: Any, keepdim: bool) -> Any:
    """ArgMaxV2 / ArgMin along one axis: no ``keep_dims``, so Unsqueeze after;
    ``dim=None`` flattens first (Reshape to ``[-1]``)."""
    dtype, shape = ctx.out()
    if x.rank == 0:
        return ctx.const(0, DataType.INT64)
    if dim is None:
        x = ctx.b.op("Reshape", x, ctx.const([-1]), out=(x.dtype, (_numel(x.shape),)))
        axis = 0
    else:
        axis = _axes(x, dim)[0]
    reduced = tuple(d for i, d in enumerate(x.shape) if i != axis % max(x.rank, 1))
    y = ctx.b.op(
        op_type, x, ctx.const(axis, DataType.INT64), out=(DataType.INT64, reduced), dtype=dtype
    )
    if not keepdim:
        return y
    if dim is None:
        return ctx.b.op("Reshape", y, ctx.const(list(shape)), out=(dtype, shape))
    return ctx.b.op("Unsqueeze", y, out=(dtype, shape), axes=[axis % max(x.rank, 1)])


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        if d < 0:
            return -1
        n *= d
    return n


@register(aten.argmax.default, dtypes=NUMERIC, ge_ops=("ArgMaxV2", "Reshape", "Unsqueeze", "Const"))
def argmax(ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _arg_extreme(ctx, "ArgMaxV2", x, dim, keepdim)


@register(aten.argmin.default, dtypes=NUMERIC, ge_ops=("ArgMin", "Reshape", "Unsqueeze", "Const"))
def argmin(ctx: ConversionContext, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _arg_extreme(ctx, "ArgMin", x, dim, keepdim)


@register(aten.cumsum.default, dtypes=PROMOTING, ge_ops=("Cumsum", "Reshape"))
def cumsum(ctx: ConversionContext, x: Any, dim: int, *, dtype: Any = None) -> Any:
    out_dtype, shape = ctx.out()
    if x.rank == 0:
        y = ctx.b.op(
            "Cumsum", _as_vector(ctx, ctx.cast(x, out_dtype)), ctx.const(0), out=(out_dtype, (1,))
        )
        return _as_scalar(ctx, y)
    axis = ctx.const(_axes(x, dim)[0], DataType.INT64)
    return ctx.b.op("Cumsum", ctx.cast(x, out_dtype), axis, out=(out_dtype, shape))


@register(aten.topk.default, dtypes=NUMERIC, ge_ops=("TopKV2", "Cast"))
def topk(
    ctx: ConversionContext,
    x: Any,
    k: Any,
    dim: int = -1,
    largest: bool = True,
    sorted: bool = True,
) -> Any:
    (dtype, shape), (_, idx_shape) = ctx.out(0), ctx.out(1)
    _axes(x, dim)  # range check only
    # ``dim`` as ATen gives it, as TorchAir passes it (the prototype's default
    # is -1, so GE takes negative dims). ``k`` stays INT32, the only dtype
    # TopKV2's prototype lists (TorchAir's INT64 k and undeclared
    # ``sort_policy`` are documented differences).
    values, index = ctx.b.op(
        "TopKV2", x, ctx.scalar(k, DataType.INT32),
        out=[(dtype, shape), (DataType.INT32, idx_shape)],
        dim=int(dim), largest=bool(largest), sorted=bool(sorted),
    )  # fmt: skip
    return values, ctx.cast(index, DataType.INT64)


@register(aten.sort.default, aten.sort.stable, dtypes=NUMERIC, ge_ops=("Sort", "Cast"))
def sort(
    ctx: ConversionContext,
    x: Any,
    dim: int = -1,
    descending: bool = False,
    *,
    stable: bool | None = None,
) -> Any:
    """Sort; its prototype lacks bfloat16, so that sorts as float32 (exactly)."""
    dtype, shape = ctx.out(0)
    work = DataType.FLOAT if dtype == DataType.BF16 else dtype
    values, index = ctx.b.op(
        "Sort", ctx.cast(x, work),
        out=[(work, shape), (DataType.INT32, shape)],
        axis=_axes(x, dim)[0] % max(x.rank, 1),  # TorchAir's Sort axis is non-negative
        descending=bool(descending), stable=bool(stable),
    )  # fmt: skip
    return ctx.cast(values, dtype), ctx.cast(index, DataType.INT64)
