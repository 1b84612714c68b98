"""Symbolic-scalar math: ``**``, ``sym_float``, ``sym_sqrt``, ``math.floor/ceil/trunc``,
``sym_int``, ``sym_not``, ``sym_ite`` on SymInts and SymFloats.

Under ``dynamic=True`` Dynamo records Python math on sizes as these calls
(``float(x.size(-1))`` is ``torch.sym_float``, ``math.sqrt(n)`` is
``torch.sym_sqrt``, ``y ** z`` is ``operator.pow``). Like the arithmetic in
``converters/symbolic.py``, each becomes a GE elementwise op on a rank-0
tensor: int64 for SymInts, float32 for SymFloats, bool for SymBools.
Float results stay float32 in the graph, so a SymFloat that is an exact
float64 value in eager Python can differ in its last float32 bits.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, SymValue
from airgraph_core.converters.registry import register
from airgraph_core.converters.symbolic import sym_operand
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []


def _scalar_args(node: Node) -> str | None:
    for arg in node.all_input_nodes:
        if isinstance(arg.meta.get("val"), torch.Tensor):
            return "symbolic math on a tensor operand"
    return None


def _kind(value: Any) -> DataType:
    """The graph dtype of a Python or symbolic scalar: float32, bool or int64."""
    if isinstance(value, (torch.SymFloat, float)):
        return DataType.FLOAT
    if isinstance(value, (torch.SymBool, bool)):
        return DataType.BOOL
    return DataType.INT64


def _out_kind(ctx: ConversionContext) -> DataType:
    return _kind(ctx.node.meta.get("val"))


def _arg_kind(ctx: ConversionContext, index: int) -> DataType:
    arg = ctx.node.args[index]
    return _kind(arg.meta.get("val") if isinstance(arg, Node) else arg)


def _sym(ctx: ConversionContext, ref: Any) -> SymValue:
    return SymValue(ref, str(ctx.node.meta.get("val")))


@register(operator.pow, dtypes=None, ge_ops=("Pow",), predicate=_scalar_args)
def sym_pow(ctx: ConversionContext, a: Any, b: Any) -> SymValue:
    """``a ** b``: an int64 Pow when Python's result is an int, else float32."""
    dtype = _out_kind(ctx)
    x1, x2 = sym_operand(ctx, a, dtype), sym_operand(ctx, b, dtype)
    return _sym(ctx, ctx.b.op("Pow", x1, x2, out=(dtype, ())))


@register(torch.sym_float, dtypes=None, ge_ops=("Cast",), predicate=_scalar_args)
def sym_float(ctx: ConversionContext, a: Any) -> SymValue:
    return _sym(ctx, sym_operand(ctx, a, DataType.FLOAT))


@register(torch.sym_sqrt, dtypes=None, ge_ops=("Sqrt",), predicate=_scalar_args)
def sym_sqrt(ctx: ConversionContext, a: Any) -> SymValue:
    x = sym_operand(ctx, a, DataType.FLOAT)
    return _sym(ctx, ctx.b.op("Sqrt", x, out=(DataType.FLOAT, ())))


_ROUNDING = {math.floor: "Floor", math.ceil: "Ceil", math.trunc: "Trunc", torch.sym_int: "Trunc"}


@register(
    *_ROUNDING, dtypes=None, ge_ops=("Floor", "Ceil", "Trunc", "Cast"), predicate=_scalar_args
)
def sym_round_to_int(ctx: ConversionContext, a: Any) -> SymValue:
    """``math.floor/ceil/trunc`` and ``sym_int`` of a SymFloat: the rounding op in
    float32, then a Cast to int64 (an int operand is already its own result)."""
    if _arg_kind(ctx, 0) is not DataType.FLOAT:
        return _sym(ctx, sym_operand(ctx, a, DataType.INT64))
    x = sym_operand(ctx, a, DataType.FLOAT)
    rounded = ctx.b.op(_ROUNDING[ctx.node.target], x, out=(DataType.FLOAT, ()))
    return _sym(ctx, ctx.cast(rounded, DataType.INT64))


@register(torch.sym_not, dtypes=None, ge_ops=("LogicalNot",), predicate=_scalar_args)
def sym_not(ctx: ConversionContext, a: Any) -> SymValue:
    x = sym_operand(ctx, a, DataType.BOOL)
    return _sym(ctx, ctx.b.op("LogicalNot", x, out=(DataType.BOOL, ())))


@register(torch.sym_ite, dtypes=None, ge_ops=("SelectV2",), predicate=_scalar_args)
def sym_ite(ctx: ConversionContext, cond: Any, then: Any, other: Any) -> SymValue:
    """``then if cond else other`` with symbolic operands: SelectV2 on rank-0 tensors."""
    dtype = _out_kind(ctx)
    c = sym_operand(ctx, cond, DataType.BOOL)
    x1, x2 = sym_operand(ctx, then, dtype), sym_operand(ctx, other, dtype)
    return _sym(ctx, ctx.b.op("SelectV2", c, x1, x2, out=(dtype, ())))
