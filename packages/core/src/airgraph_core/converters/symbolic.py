"""Symbolic-size converters: ``sym_size`` and Python arithmetic on SymInts.

A symbolic size travels through the GE graph as a rank-0 int64 tensor
(:class:`SymValue`). A size that some tensor carries is read off that tensor
with ``Shape`` + ``Gather`` (TorchAir's pattern); only a size no tensor
carries (e.g. a dynamic Python int argument) is a host scalar ``Data`` input. Arithmetic
on sizes (``s0 // 2``, ``s0 * s1``, ``sym_max``) becomes the matching GE
elementwise op on int64 scalars, which the host target folds to constants.

:func:`dim_sizes` is shared with the shape, index and creation converters:
it turns the (possibly symbolic) sizes of a tensor into ``int | SymValue``.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, SymValue
from airgraph_core.converters.registry import register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.opdefs import prototype

__all__ = ["dim_size", "dim_sizes", "read_size", "sym_operand"]

aten = torch.ops.aten


def dim_size(ctx: ConversionContext, x: TensorRef, val: torch.Tensor, dim: int) -> int | SymValue:
    """Size ``dim`` of tensor ``x`` (fake value ``val``): an ``int`` or a :class:`SymValue`.

    A symbolic size is read off ``x`` with ``Shape`` + ``Gather``, as
    TorchAir reads it, the first time the lowering needs it; later uses of
    the same size (of any tensor) reuse that value (``ctx.sizes``), as they
    reuse a size the graph takes as a host scalar input.
    """
    d = val.shape[dim]
    if isinstance(d, int):
        return d
    expr = d.node.expr
    if expr.is_number:
        return int(expr)
    known = ctx.sizes.get(expr)
    if known is not None:
        return known
    size = SymValue(read_size(ctx, x, dim), str(expr))
    ctx.sizes[expr] = size
    return size


def read_size(ctx: ConversionContext, x: TensorRef, dim: int) -> TensorRef:
    """Size ``dim`` of ``x`` read inside the graph: ``Gather(Shape(x), dim)``, a rank-0 int64.

    The ops and attributes are TorchAir's (``Shape`` with ``dtype`` INT64,
    ``Gather`` of a 0-d INT64 index), so GE sees the pattern its NPU graphs
    use for sizes; the index is non-negative (``Gather`` does not take
    negative indices by default).
    """
    src = x
    if src.dtype.opdef_name not in (prototype("Shape").inputs[0].dtypes or {src.dtype.opdef_name}):
        # Shape's prototype omits some dtypes (bf16); only the shape is read.
        src = ctx.cast(src, DataType.FLOAT16)
    shape = ctx.b.op("Shape", src, out=(DataType.INT64, (x.rank,)), dtype=DataType.INT64.ge_code)
    index = ctx.const(dim % x.rank, DataType.INT64)
    return ctx.b.op("Gather", shape, index, out=(DataType.INT64, ()))


def dim_sizes(ctx: ConversionContext, x: TensorRef, val: torch.Tensor) -> list[int | SymValue]:
    """Every size of ``x`` (see :func:`dim_size`)."""
    return [dim_size(ctx, x, val, i) for i in range(val.dim())]


def sym_operand(ctx: ConversionContext, v: Any, dtype: DataType = DataType.INT64) -> TensorRef:
    """A rank-0 tensor for an int, bool, float or :class:`SymValue` operand."""
    if isinstance(v, SymValue):
        return ctx.cast(v.ref, dtype)
    return ctx.const(v, dtype)


def _is_node_sym(node: Node) -> str | None:
    for arg in node.all_input_nodes:
        if isinstance(arg.meta.get("val"), torch.Tensor):
            return "symbolic arithmetic on a tensor operand"
    return None


def _result_dtype(ctx: ConversionContext, *args: Any) -> DataType:
    val = ctx.node.meta.get("val")
    if isinstance(val, (torch.SymFloat, float)):
        return DataType.FLOAT
    if isinstance(val, (torch.SymBool, bool)):
        return DataType.BOOL
    return DataType.INT64


_BINARY = {
    operator.add: "Add",
    operator.sub: "Sub",
    operator.mul: "Mul",
    operator.floordiv: "FloorDiv",
    operator.mod: "FloorMod",
    torch.sym_max: "Maximum",
    torch.sym_min: "Minimum",
}
_COMPARE = {
    operator.eq: "Equal",
    operator.ne: "NotEqual",
    operator.lt: "Less",
    operator.le: "LessEqual",
    operator.gt: "Greater",
    operator.ge: "GreaterEqual",
}


@register(*_BINARY, dtypes=None, ge_ops=tuple(_BINARY.values()), predicate=_is_node_sym)
def sym_binary(ctx: ConversionContext, a: Any, b: Any) -> SymValue:
    dtype = _result_dtype(ctx)
    op = _BINARY[ctx.node.target]
    ref = ctx.b.op(op, sym_operand(ctx, a, dtype), sym_operand(ctx, b, dtype), out=(dtype, ()))
    return SymValue(ref, str(ctx.node.meta.get("val")))


@register(*_COMPARE, dtypes=None, ge_ops=tuple(_COMPARE.values()), predicate=_is_node_sym)
def sym_compare(ctx: ConversionContext, a: Any, b: Any) -> SymValue:
    dtype = DataType.FLOAT if any(isinstance(v, float) for v in (a, b)) else DataType.INT64
    op = _COMPARE[ctx.node.target]
    x1, x2 = sym_operand(ctx, a, dtype), sym_operand(ctx, b, dtype)
    return SymValue(ctx.b.op(op, x1, x2, out=(DataType.BOOL, ())), str(ctx.node.meta.get("val")))


@register(operator.truediv, dtypes=None, ge_ops=("RealDiv",), predicate=_is_node_sym)
def sym_truediv(ctx: ConversionContext, a: Any, b: Any) -> SymValue:
    x1, x2 = sym_operand(ctx, a, DataType.FLOAT), sym_operand(ctx, b, DataType.FLOAT)
    ref = ctx.b.op("RealDiv", x1, x2, out=(DataType.FLOAT, ()))
    return SymValue(ref, str(ctx.node.meta.get("val")))


@register(operator.neg, dtypes=None, ge_ops=("Neg",), predicate=_is_node_sym)
def sym_neg(ctx: ConversionContext, a: Any) -> SymValue:
    dtype = _result_dtype(ctx)
    ref = ctx.b.op("Neg", sym_operand(ctx, a, dtype), out=(dtype, ()))
    return SymValue(ref, str(ctx.node.meta.get("val")))


@register(torch.sym_sum, dtypes=None, ge_ops=("Add",), predicate=_is_node_sym)
def sym_sum(ctx: ConversionContext, args: list[Any]) -> Any:
    refs = [sym_operand(ctx, v) for v in args]
    total = refs[0] if refs else ctx.const(0, DataType.INT64)
    for ref in refs[1:]:
        total = ctx.b.op("Add", total, ref, out=(DataType.INT64, ()))
    return SymValue(total, str(ctx.node.meta.get("val")))


@register(aten.sym_size.int, dtypes=None, ge_ops=("Shape", "Gather"))
def sym_size(ctx: ConversionContext, x: TensorRef, dim: int) -> int | SymValue:
    return dim_size(ctx, x, ctx.val(ctx.node.args[0]), dim)


@register(aten.sym_numel.default, dtypes=None, ge_ops=("Shape", "Gather", "Mul"))
def sym_numel(ctx: ConversionContext, x: TensorRef) -> int | SymValue:
    total: Any = 1
    for size in dim_sizes(ctx, x, ctx.val(ctx.node.args[0])):
        if isinstance(total, int) and isinstance(size, int):
            total *= size
        else:
            ref = ctx.b.op(
                "Mul", sym_operand(ctx, total), sym_operand(ctx, size), out=(DataType.INT64, ())
            )
            total = SymValue(ref)
    return total
