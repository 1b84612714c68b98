"""Elementwise math beyond arithmetic: trigonometric and hyperbolic functions,
logarithms to a base, rounding, ``fmod``, ``atan2`` and ``bitwise_xor``.

Each op maps onto the GE op of the same name (as TorchAir lowers ``tan``,
``asinh``, ``round``, ...); ``log2``/``log10`` are GE's ``Log`` with a
``base`` attribute, ``fmod`` is GE's ``Mod`` (C ``fmod``: the remainder takes
the dividend's sign). Ops TorchAir leaves unimplemented use the GE op of the
same meaning (``Atan2``, ``Trunc``, ``Mod``, ``BitwiseXor``); ``round`` with
decimals is a scale, ``Round`` and an unscale, as eager computes it. Dtypes a
prototype lacks run in a wider dtype through the elementwise helpers.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.elementwise import CASTABLE, REALS, apply_elementwise
from airgraph_core.converters.registry import FLOATS, INTS, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []

aten = torch.ops.aten

# Float functions: integer and bool inputs are cast to the float result first.
_UNARY = {
    aten.tan.default: "Tan",
    aten.sinh.default: "Sinh",
    aten.cosh.default: "Cosh",
    aten.asin.default: "Asin",
    aten.acos.default: "Acos",
    aten.atan.default: "Atan",
    aten.asinh.default: "Asinh",
    aten.acosh.default: "Acosh",
    aten.atanh.default: "Atanh",
}


def _unary(op_type: str) -> Any:
    def convert(ctx: ConversionContext, x: Any) -> TensorRef:
        return apply_elementwise(ctx, op_type, x)

    convert.__name__ = f"convert_{op_type}"
    return convert


for _target, _op_type in _UNARY.items():
    register(_target, dtypes=CASTABLE, ge_ops=(_op_type,))(_unary(_op_type))


@register(aten.log2.default, dtypes=CASTABLE, ge_ops=("Log",))
def log2(ctx: ConversionContext, x: Any) -> TensorRef:
    return apply_elementwise(ctx, "Log", x, base=2.0)


@register(aten.log10.default, dtypes=CASTABLE, ge_ops=("Log",))
def log10(ctx: ConversionContext, x: Any) -> TensorRef:
    return apply_elementwise(ctx, "Log", x, base=10.0)


@register(aten.atan2.default, dtypes=CASTABLE, ge_ops=("Atan2",))
def atan2(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(ctx, "Atan2", x, y)


# --- rounding -------------------------------------------------------------------


@register(aten.round.default, dtypes=FLOATS | INTS, ge_ops=("Round",))
def round_(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    """Round half to even (GE's Round and torch.round agree)."""
    if not x.dtype.is_floating:
        return x  # rounding an integer changes nothing
    return apply_elementwise(ctx, "Round", x)


@register(aten.round.decimals, dtypes=FLOATS, ge_ops=("Round", "Mul", "RealDiv"))
def round_decimals(ctx: ConversionContext, x: TensorRef, *, decimals: int = 0) -> TensorRef:
    """``round(x * 10**d) / 10**d``; for negative ``d``, ``round(x / 10**-d) * 10**-d``
    (the order eager uses, so ties round the same way)."""
    if decimals == 0:
        return apply_elementwise(ctx, "Round", x)
    scale = 10.0 ** abs(decimals)
    if decimals > 0:
        return apply_elementwise(
            ctx,
            "RealDiv",
            apply_elementwise(ctx, "Round", apply_elementwise(ctx, "Mul", x, scale)),
            scale,
        )
    return apply_elementwise(
        ctx,
        "Mul",
        apply_elementwise(ctx, "Round", apply_elementwise(ctx, "RealDiv", x, scale)),
        scale,
    )


@register(aten.trunc.default, dtypes=FLOATS | INTS, ge_ops=("Trunc",))
def trunc(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    if not x.dtype.is_floating:
        return x
    return apply_elementwise(ctx, "Trunc", x)


@register(aten.fmod.Tensor, aten.fmod.Scalar, dtypes=REALS, ge_ops=("Mod",))
def fmod(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    """C ``fmod``: GE's Mod truncates the quotient (FloorMod is ``remainder``)."""
    return apply_elementwise(ctx, "Mod", x, y)


# --- bitwise --------------------------------------------------------------------


@register(
    aten.bitwise_xor.Tensor,
    aten.bitwise_xor.Scalar,
    dtypes=INTS | {torch.bool, torch.int8, torch.uint8, torch.int16},
    ge_ops=("BitwiseXor", "NotEqual"),
)
def bitwise_xor(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    """BitwiseXor; on bool, xor is inequality (as ``logical_xor`` lowers)."""
    if ctx.out()[0] == DataType.BOOL:
        return apply_elementwise(ctx, "NotEqual", x, y, compute=DataType.BOOL)
    return apply_elementwise(ctx, "BitwiseXor", x, y)
