"""Creation converters: ``full``/``zeros``/``ones``/``empty`` and friends, ``arange``, ``triu``/``tril``.

Constant tensors become GE's ``Fill`` (a ``dims`` input, static or packed
from symbolic sizes, and a rank-0 value) as in TorchAir; uninitialised
``empty`` tensors are filled with 0. The ``*_like`` ops take TorchAir's forms,
which read the shape from the input inside the graph: ``OnesLike``/``ZerosLike``
of the input (same dtype), else ``Fill`` of the input's ``Shape``. An integral ``arange`` becomes an int64
``Range``. One with a fractional bound or step is TorchAir's float32 ``Range``
when that counts ATen's length (static bounds, float32/float16/bfloat16 output);
otherwise ``start + step * i`` over an int64 ``Range`` of ATen's length, in
ATen's accumulate type (double for float32/float64, float for
float16/bfloat16), cast to the requested dtype.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, SymValue
from airgraph_core.converters.registry import ALL_DTYPES, register
from airgraph_core.converters.shape import DATA_DTYPES
from airgraph_core.converters.symbolic import dim_sizes
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.opdefs import prototype

__all__: list[str] = []

aten = torch.ops.aten

_CREATED_DTYPES = ALL_DTYPES


def _fill(ctx: ConversionContext, sizes: list[Any], value: Any) -> TensorRef:
    dtype, shape = ctx.out()
    return ctx.b.op("Fill", ctx.int_list(list(sizes)), ctx.scalar(value, dtype), out=(dtype, shape))


def _sizes_of_input(ctx: ConversionContext, x: TensorRef) -> list[Any]:
    return dim_sizes(ctx, x, ctx.val(ctx.node.args[0]))


@register(aten.full.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def full(ctx: ConversionContext, size: list[Any], fill_value: Any, **_: Any) -> TensorRef:
    return _fill(ctx, size, fill_value)


@register(aten.zeros.default, aten.empty.memory_format, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def zeros(ctx: ConversionContext, size: list[Any], **_: Any) -> TensorRef:
    return _fill(ctx, size, 0)


@register(aten.ones.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def ones(ctx: ConversionContext, size: list[Any], **_: Any) -> TensorRef:
    return _fill(ctx, size, 1)


_INT32_MAX = 2**31 - 1


def _takes(op_type: str, dtype: DataType) -> bool:
    allowed = prototype(op_type).inputs[0].dtypes
    return allowed is None or dtype.opdef_name in allowed


def _fill_like(ctx: ConversionContext, x: TensorRef, value: Any) -> TensorRef:
    """``Fill`` of ``x``'s shape, read inside the graph with ``Shape`` as TorchAir does.

    The dims are INT32 (``Shape``'s default, TorchAir's form) unless a static
    dim needs int64. Where ``Shape`` does not take ``x``'s dtype (bf16), the
    sizes are constants or read as in :func:`_sizes_of_input` instead.
    """
    if not _takes("Shape", x.dtype):
        return _fill(ctx, _sizes_of_input(ctx, x), value)
    wide = any(isinstance(d, int) and d > _INT32_MAX for d in ctx.val(ctx.node.args[0]).shape)
    dims_dtype = DataType.INT64 if wide else DataType.INT32
    dims = ctx.b.op("Shape", x, out=(dims_dtype, (x.rank,)), dtype=dims_dtype.ge_code)
    dtype, shape = ctx.out()
    return ctx.b.op("Fill", dims, ctx.scalar(value, dtype), out=(dtype, shape))


def _like(ctx: ConversionContext, x: TensorRef, op_type: str, value: int) -> TensorRef:
    """``op_type`` (``OnesLike``/``ZerosLike``) of ``x`` where it gives the output's dtype."""
    dtype, shape = ctx.out()
    if dtype == x.dtype and _takes(op_type, dtype):
        return ctx.b.op(op_type, x, out=(dtype, shape))
    # Another dtype: a Fill of the shape, rather than TorchAir's Cast of every element first.
    return _fill_like(ctx, x, value)


@register(aten.full_like.default, dtypes=_CREATED_DTYPES, ge_ops=("Shape", "Fill"))
def full_like(ctx: ConversionContext, x: TensorRef, fill_value: Any, **_: Any) -> TensorRef:
    return _fill_like(ctx, x, fill_value)


@register(
    aten.zeros_like.default,
    aten.empty_like.default,
    dtypes=_CREATED_DTYPES,
    ge_ops=("ZerosLike", "Shape", "Fill"),
)
def zeros_like(ctx: ConversionContext, x: TensorRef, **_: Any) -> TensorRef:
    return _like(ctx, x, "ZerosLike", 0)


@register(aten.ones_like.default, dtypes=_CREATED_DTYPES, ge_ops=("OnesLike", "Shape", "Fill"))
def ones_like(ctx: ConversionContext, x: TensorRef, **_: Any) -> TensorRef:
    return _like(ctx, x, "OnesLike", 1)


@register(aten.new_zeros.default, aten.new_empty.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def new_zeros(ctx: ConversionContext, x: TensorRef, size: list[Any], **_: Any) -> TensorRef:
    return _fill(ctx, size, 0)


@register(aten.new_ones.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def new_ones(ctx: ConversionContext, x: TensorRef, size: list[Any], **_: Any) -> TensorRef:
    return _fill(ctx, size, 1)


@register(aten.new_full.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def new_full(
    ctx: ConversionContext, x: TensorRef, size: list[Any], fill_value: Any, **_: Any
) -> TensorRef:
    return _fill(ctx, size, fill_value)


@register(aten.scalar_tensor.default, dtypes=_CREATED_DTYPES, ge_ops=("Const", "Cast"))
def scalar_tensor(ctx: ConversionContext, s: Any, **_: Any) -> TensorRef:
    return ctx.scalar(s, ctx.out()[0])


@register(aten.lift_fresh_copy.default, dtypes=DATA_DTYPES)
def lift_fresh_copy(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    # Its input is a constant already embedded in the graph; nothing to copy.
    return x


#: ATen's CPU accumulate type for arange's values (``acc_type<T, false>``);
#: integer dtypes accumulate in int64.
_ARANGE_ACC = {
    DataType.DOUBLE: DataType.DOUBLE,
    DataType.FLOAT: DataType.DOUBLE,
    DataType.FLOAT16: DataType.FLOAT,
    DataType.BF16: DataType.FLOAT,
}


@register(
    aten.arange.default,
    aten.arange.start,
    aten.arange.start_step,
    dtypes=_CREATED_DTYPES,
    ge_ops=("Range", "Cast", "Mul", "Add", "Sub", "RealDiv", "Ceil"),
)
def arange(ctx: ConversionContext, *args: Any, **_: Any) -> TensorRef:
    start, end, step = (
        (0, args[0], 1) if len(args) == 1 else (*args[:2], args[2] if len(args) > 2 else 1)
    )
    dtype, shape = ctx.out()
    acc = _ARANGE_ACC.get(dtype, DataType.INT64)
    if acc == DataType.INT64:
        # ATen's integer kernels take start and step truncated to int64.
        start, step = (v if isinstance(v, SymValue) else int(v) for v in (start, step))
    if all(isinstance(v, SymValue) or type(v) is int for v in (start, end, step)):
        operands = [_range_operand(ctx, v, DataType.INT64) for v in (start, end, step)]
        return ctx.cast(ctx.b.op("Range", *operands, out=(DataType.INT64, shape)), dtype)
    if _float32_range_fits(dtype, start, end, step, shape[0]):
        # TorchAir's form: one float32 Range, when its own count is ATen's length.
        operands = [ctx.const(v, DataType.FLOAT) for v in (start, end, step)]
        return ctx.cast(ctx.b.op("Range", *operands, out=(DataType.FLOAT, shape)), dtype)
    # A fractional bound or step: a float Range counts its own length in
    # float32 and can drift. ATen's length is ceil((end - start) / step) in double
    # and element i is start + step * i in the accumulate type; emit exactly that.
    n = _arange_length(ctx, start, end, step, shape[0])
    zero, one = ctx.const(0, DataType.INT64), ctx.const(1, DataType.INT64)
    index = ctx.b.op("Range", zero, n, one, out=(DataType.INT64, shape))
    scaled = ctx.b.op("Mul", ctx.cast(index, acc), _range_operand(ctx, step, acc), out=(acc, shape))
    values = ctx.b.op("Add", _range_operand(ctx, start, acc), scaled, out=(acc, shape))
    return ctx.cast(values, dtype)


#: Output dtypes whose values a float32 ``Range`` computes at their own precision.
_FLOAT32_RANGE_DTYPES = frozenset({DataType.FLOAT, DataType.FLOAT16, DataType.BF16})


def _float32_range_fits(dtype: DataType, start: Any, end: Any, step: Any, n: int) -> bool:
    """Whether a float32 ``Range`` of these static bounds has ATen's length ``n``.

    The bounds become float32 constants; GE counts ``ceil((end - start) / step)``
    on them in float32, the host target (``torch.arange``) in double. Both must
    give ``n`` (e.g. ``arange(0, 4, 0.5)``); otherwise (``arange(0, 1, 0.1)``
    style drift) the exact int64-index form is used.
    """
    if dtype not in _FLOAT32_RANGE_DTYPES or n < 0:
        return False
    if any(isinstance(v, SymValue) for v in (start, end, step)):
        return False
    s, e, d = (torch.tensor(float(v), dtype=torch.float32) for v in (start, end, step))
    if float(d) == 0.0:
        return False
    by_float = math.ceil(float((e - s) / d))
    by_double = math.ceil((float(e) - float(s)) / float(d))
    return max(by_float, 0) == max(by_double, 0) == n


def _arange_length(ctx: ConversionContext, start: Any, end: Any, step: Any, n: int) -> TensorRef:
    if n >= 0:
        return ctx.const(n, DataType.INT64)
    f64 = DataType.DOUBLE
    lo, hi, by = (_range_operand(ctx, v, f64) for v in (start, end, step))
    span = ctx.b.op("Sub", hi, lo, out=(f64, ()))
    count = ctx.b.op("Ceil", ctx.b.op("RealDiv", span, by, out=(f64, ())), out=(f64, ()))
    return ctx.cast(count, DataType.INT64)


def _range_operand(ctx: ConversionContext, v: Any, dtype: DataType) -> TensorRef:
    if isinstance(v, SymValue):
        return ctx.cast(v.ref, dtype)
    return ctx.const(v, dtype)


def _static_diagonal(node: Node) -> str | None:
    diagonal = node.args[1] if len(node.args) > 1 else node.kwargs.get("diagonal", 0)
    if not isinstance(diagonal, int):
        return "diagonal is symbolic; GE's Triu/Tril take it as an attribute"
    return None


@register(aten.triu.default, dtypes=DATA_DTYPES, ge_ops=("Triu",), predicate=_static_diagonal)
def triu(ctx: ConversionContext, x: TensorRef, diagonal: int = 0) -> TensorRef:
    return ctx.b.op("Triu", x, out=ctx.out(), diagonal=int(diagonal))


@register(aten.tril.default, dtypes=DATA_DTYPES, ge_ops=("Tril",), predicate=_static_diagonal)
def tril(ctx: ConversionContext, x: TensorRef, diagonal: int = 0) -> TensorRef:
    return ctx.b.op("Tril", x, out=ctx.out(), diagonal=int(diagonal))
