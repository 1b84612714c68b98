"""Creation converters: ``full``/``zeros``/``ones``/``empty`` and friends, ``arange``, ``triu``/``tril``.

Constant tensors become GE's ``Fill`` (a ``dims`` input, static or packed
from symbolic sizes, and a rank-0 value) as in TorchAir; uninitialised
``empty`` tensors are filled with 0. ``arange`` becomes ``Range`` computed
in int64 or float32 (what PyTorch's CPU kernel accumulates in) and cast
to the requested dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, SymValue
from airgraph_core.converters.registry import ALL_DTYPES, register
from airgraph_core.converters.shape import DATA_DTYPES
from airgraph_core.converters.symbolic import dim_sizes
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

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


@register(aten.full_like.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def full_like(ctx: ConversionContext, x: TensorRef, fill_value: Any, **_: Any) -> TensorRef:
    return _fill(ctx, _sizes_of_input(ctx, x), fill_value)


@register(
    aten.zeros_like.default, aten.empty_like.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",)
)
def zeros_like(ctx: ConversionContext, x: TensorRef, **_: Any) -> TensorRef:
    return _fill(ctx, _sizes_of_input(ctx, x), 0)


@register(aten.ones_like.default, dtypes=_CREATED_DTYPES, ge_ops=("Fill",))
def ones_like(ctx: ConversionContext, x: TensorRef, **_: Any) -> TensorRef:
    return _fill(ctx, _sizes_of_input(ctx, x), 1)


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


@register(
    aten.arange.default,
    aten.arange.start,
    aten.arange.start_step,
    dtypes=_CREATED_DTYPES,
    ge_ops=("Range", "Cast"),
)
def arange(ctx: ConversionContext, *args: Any, **_: Any) -> TensorRef:
    start, end, step = (
        (0, args[0], 1) if len(args) == 1 else (*args[:2], args[2] if len(args) > 2 else 1)
    )
    dtype, shape = ctx.out()
    compute = DataType.FLOAT if dtype.is_floating else DataType.INT64
    operands = [_range_operand(ctx, v, compute) for v in (start, end, step)]
    y = ctx.b.op("Range", *operands, out=(compute, shape))
    return ctx.cast(y, dtype)


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
