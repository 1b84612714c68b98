"""Elementwise converters: arithmetic, comparisons, activations."""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import NUMERIC, register
from airgraph_core.ir.dtypes import from_torch

aten = torch.ops.aten


def _operand(ctx: ConversionContext, value: Any, dtype) -> Any:
    """A tensor operand; Python scalars become a rank-0 Const of the output dtype."""
    if isinstance(value, (int, float, bool)):
        return ctx.scalar(value, dtype)
    return ctx.cast(value, dtype)


@register(aten.add.Tensor, aten.add.Scalar, dtypes=NUMERIC, ge_ops=("Add", "AxpyV2"))
def add(ctx: ConversionContext, x: Any, y: Any, alpha: Any = 1) -> Any:
    dtype, shape = ctx.out()
    a, b = _operand(ctx, x, dtype), _operand(ctx, y, dtype)
    if alpha != 1:
        return ctx.b.op("AxpyV2", a, b, ctx.scalar(alpha, dtype), out=(dtype, shape))
    return ctx.b.op("Add", a, b, out=(dtype, shape))


__all__ = ["add", "from_torch"]
