"""Elementwise converters: arithmetic, comparisons, logic, selection, casts, activations.

Arithmetic runs in the dtype of the ATen result (``ctx.out()``), comparisons
in the promoted dtype of their operands (``torch.result_type``); Python
scalars and symbolic sizes become rank-0 tensors of that dtype. When a GE
op's prototype lacks that dtype (e.g. ``Relu`` or ``Maximum`` on bf16), the op
runs in a wider one (:func:`_compute_dtype`) and the result is cast back, so
every graph satisfies the prototypes and matches eager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import (
    ALL_DTYPES,
    FLOATS,
    INTS,
    NUMERIC,
    STORAGE_DTYPES,
    register,
)
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType, from_torch
from airgraph_core.ir.opdefs import prototype

__all__ = ["apply_elementwise"]

aten = torch.ops.aten
prims = torch.ops.prims

#: Real dtypes. float64 arrives as rank-0 scalar math that AOTAutograd's
#: tensorify_python_scalars pass emits under dynamic=True (e.g. GPT-2's
#: ``size(-1) ** 0.5``); the GE prototypes of these ops list DT_DOUBLE.
REALS = NUMERIC | {torch.float64}
#: Inputs the arithmetic converters accept: anything they can cast to the result dtype.
CASTABLE = REALS | {torch.bool}
#: add/sub/mul also take complex64 (rotary embeddings written with complex numbers) and
#: complex128 (GE's Add/Sub/Mul prototypes list both).
WITH_COMPLEX = CASTABLE | {torch.complex64, torch.complex128}

_FLOATS64 = FLOATS | {torch.float64}

# Wider dtypes to run in when a GE op lacks the requested one, in order of preference.
_WIDER = {
    DataType.BF16: (DataType.FLOAT,),
    DataType.FLOAT16: (DataType.FLOAT,),
    DataType.BOOL: (DataType.INT32, DataType.FLOAT),
    DataType.INT8: (DataType.INT32,),
    DataType.UINT8: (DataType.INT32,),
    DataType.INT16: (DataType.INT32,),
}


def _takes(op_type: str, dtype: DataType, position: int = 0) -> bool:
    allowed = prototype(op_type).inputs[position].dtypes
    return allowed is None or dtype.opdef_name in allowed


def _compute_dtype(op_type: str, dtype: DataType, position: int = 0) -> DataType:
    """``dtype`` if ``op_type`` takes it at input ``position``, else the closest wider one.

    Raises:
        TypeError: neither ``dtype`` nor a wider dtype is allowed.
    """
    if _takes(op_type, dtype, position):
        return dtype
    for wider in _WIDER.get(dtype, ()):
        if _takes(op_type, wider, position):
            return wider
    raise TypeError(f"dtype: GE {op_type} does not take {dtype.name} or a wider dtype")


def _operand(ctx: ConversionContext, value: Any, dtype: DataType) -> TensorRef:
    """A tensor operand cast to ``dtype``; Python scalars and sizes become rank-0 tensors."""
    if isinstance(value, TensorRef):
        return ctx.cast(value, dtype)
    return ctx.scalar(value, dtype)


def apply_elementwise(
    ctx: ConversionContext, op_type: str, *operands: Any, compute: DataType | None = None, **attrs
) -> TensorRef:
    """Emit ``op_type`` over ``operands`` in ``compute`` (default: the result dtype).

    The dtype is widened where the prototype requires; the result is cast to
    the node's dtype (ops whose prototype only outputs bool yield bool).
    """
    dtype, shape = ctx.out()
    cd = _compute_dtype(op_type, compute or dtype)
    ins = [_operand(ctx, v, cd) for v in operands]
    bool_out = prototype(op_type).outputs[0].dtypes == {"DT_BOOL"}
    y = ctx.b.op(op_type, *ins, out=(DataType.BOOL if bool_out else cd, shape), **attrs)
    return ctx.cast(y, dtype)


def _promoted(ctx: ConversionContext, n: int = 2) -> DataType:
    """The dtype ATen promotes the node's first ``n`` operands to."""

    def fake(arg: Any) -> Any:
        val = ctx.val(arg)
        if isinstance(val, torch.SymInt):
            return 1
        if isinstance(val, torch.SymFloat):
            return 1.0
        if isinstance(val, torch.SymBool):
            return True
        return val

    vals = [fake(a) for a in ctx.node.args[:n]]
    return from_torch(torch.result_type(*vals))


def _copy(ctx: ConversionContext, x: TensorRef, op_type: str) -> TensorRef:
    """A copy of ``x``: ``op_type`` (TensorMove/Identity), or a same-type Cast for dtypes
    those prototypes lack (bf16)."""
    for candidate in (op_type, "Identity"):
        if _takes(candidate, x.dtype):
            return ctx.b.op(candidate, x, out=x.spec)
    return ctx.b.op("Cast", x, out=x.spec, dst_type=x.dtype.ge_code)


def _unary(op_type: str, **attrs: Any) -> Callable[..., TensorRef]:
    def convert(ctx: ConversionContext, x: Any) -> TensorRef:
        return apply_elementwise(ctx, op_type, x, **attrs)

    convert.__name__ = f"convert_{op_type}"
    return convert


# --- arithmetic -----------------------------------------------------------------


def _scaled(ctx: ConversionContext, y: Any, alpha: Any, dtype: DataType) -> Any:
    """``alpha * y`` as TorchAir emits it for sub/add with alpha (a Mul)."""
    if isinstance(y, (int, float, bool)) and isinstance(alpha, (int, float, bool)):
        return y * alpha
    y = _operand(ctx, y, dtype)
    return ctx.b.op("Mul", y, ctx.scalar(alpha, dtype), out=(dtype, y.shape))


@register(aten.add.Tensor, aten.add.Scalar, dtypes=WITH_COMPLEX, ge_ops=("Add", "AxpyV2", "Mul"))
def add(ctx: ConversionContext, x: Any, y: Any, alpha: Any = 1) -> TensorRef:
    if alpha == 1:
        return apply_elementwise(ctx, "Add", x, y)
    dtype, _ = ctx.out()
    if _takes("AxpyV2", dtype):
        return apply_elementwise(ctx, "AxpyV2", x, y, alpha)
    return apply_elementwise(ctx, "Add", x, _scaled(ctx, y, alpha, dtype))


@register(aten.sub.Tensor, aten.sub.Scalar, dtypes=WITH_COMPLEX, ge_ops=("Sub", "Mul"))
def sub(ctx: ConversionContext, x: Any, y: Any, alpha: Any = 1) -> TensorRef:
    if alpha != 1:
        y = _scaled(ctx, y, alpha, ctx.out()[0])
    return apply_elementwise(ctx, "Sub", x, y)


@register(aten.rsub.Tensor, aten.rsub.Scalar, dtypes=CASTABLE, ge_ops=("Sub", "Mul"))
def rsub(ctx: ConversionContext, x: Any, y: Any, alpha: Any = 1) -> TensorRef:
    return sub(ctx, y, x, alpha)


@register(aten.mul.Tensor, aten.mul.Scalar, dtypes=WITH_COMPLEX, ge_ops=("Mul", "Muls"))
def mul(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    dtype, shape = ctx.out()
    if (
        isinstance(x, TensorRef)
        and x.dtype == dtype
        and dtype in (DataType.FLOAT16, DataType.BF16)
        and isinstance(y, (int, float))
        and not isinstance(y, bool)
    ):
        return _muls(ctx, x, float(y))
    return apply_elementwise(ctx, "Mul", x, y)


def _muls(ctx: ConversionContext, x: TensorRef, value: float) -> TensorRef:
    """``x * value`` for a half tensor and a Python number: ``Muls`` with the
    number as its float32 ``value`` attribute, as TorchAir emits it, so the
    scalar is not rounded to the half type first (1/sqrt(d) in fp16 would be).

    Muls' prototype lists no BF16, so a bf16 ``x`` is scaled in float32
    between two casts: the same one rounding at the end.
    """
    if _takes("Muls", x.dtype):
        return ctx.b.op("Muls", x, out=x.spec, value=value)
    wide = ctx.cast(x, DataType.FLOAT)
    return ctx.cast(ctx.b.op("Muls", wide, out=wide.spec, value=value), x.dtype)


_DIV_OPS = {None: "RealDiv", "floor": "FloorDiv", "trunc": "TruncateDiv"}


@register(
    aten.div.Tensor,
    aten.div.Scalar,
    aten.div.Tensor_mode,
    aten.div.Scalar_mode,
    aten.true_divide.Tensor,
    aten.true_divide.Scalar,
    dtypes=CASTABLE,
    ge_ops=tuple(_DIV_OPS.values()),
)
def div(ctx: ConversionContext, x: Any, y: Any, *, rounding_mode: str | None = None) -> TensorRef:
    if rounding_mode not in _DIV_OPS:
        raise ValueError(f"rounding_mode: expected None, 'floor' or 'trunc', got {rounding_mode!r}")
    return apply_elementwise(ctx, _DIV_OPS[rounding_mode], x, y)


@register(aten.floor_divide.default, aten.floor_divide.Scalar, dtypes=REALS, ge_ops=("FloorDiv",))
def floor_divide(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(ctx, "FloorDiv", x, y)


@register(
    aten.remainder.Tensor,
    aten.remainder.Scalar,
    aten.remainder.Scalar_Tensor,
    dtypes=REALS,
    ge_ops=("FloorMod",),
)
def remainder(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(ctx, "FloorMod", x, y)


@register(
    aten.pow.Tensor_Scalar, aten.pow.Tensor_Tensor, aten.pow.Scalar, dtypes=REALS, ge_ops=("Pow",)
)
def pow_(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(ctx, "Pow", x, y)


@register(aten.maximum.default, dtypes=CASTABLE, ge_ops=("Maximum",))
@register(aten.clamp_min.default, aten.clamp_min.Tensor, dtypes=REALS, ge_ops=("Maximum",))
def maximum(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(ctx, "Maximum", x, y)


@register(aten.minimum.default, dtypes=CASTABLE, ge_ops=("Minimum",))
@register(aten.clamp_max.default, aten.clamp_max.Tensor, dtypes=REALS, ge_ops=("Minimum",))
def minimum(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(ctx, "Minimum", x, y)


@register(
    aten.clamp.default,
    aten.clamp.Tensor,
    dtypes=REALS,
    ge_ops=("ClipByValueV2", "Maximum", "Minimum"),
)
def clamp(ctx: ConversionContext, x: Any, min: Any = None, max: Any = None) -> TensorRef:  # noqa: A002
    if min is None and max is None:
        raise ValueError("min, max: clamp needs at least one bound")
    if max is None:
        return apply_elementwise(ctx, "Maximum", x, min)
    if min is None:
        return apply_elementwise(ctx, "Minimum", x, max)
    return apply_elementwise(ctx, "ClipByValueV2", x, min, max)


@register(aten.hardtanh.default, dtypes=REALS, ge_ops=("ClipByValueV2",))
def hardtanh(ctx: ConversionContext, x: Any, min_val: Any = -1, max_val: Any = 1) -> TensorRef:
    """ClipByValueV2, as TorchAir lowers it (``relu6`` is ``hardtanh(x, 0, 6)``)."""
    return apply_elementwise(ctx, "ClipByValueV2", x, min_val, max_val)


# --- unary math and activations --------------------------------------------------

_UNARY = {
    # Integer inputs of the float functions are cast to the (float) result first.
    aten.rsqrt.default: ("Rsqrt", CASTABLE),
    aten.sqrt.default: ("Sqrt", CASTABLE),
    aten.exp.default: ("Exp", CASTABLE),
    aten.log.default: ("Log", CASTABLE),
    aten.log1p.default: ("Log1p", CASTABLE),
    aten.expm1.default: ("Expm1", CASTABLE),
    aten.erf.default: ("Erf", CASTABLE),
    aten.sin.default: ("Sin", CASTABLE),
    aten.cos.default: ("Cos", CASTABLE),
    aten.tanh.default: ("Tanh", CASTABLE),
    aten.sigmoid.default: ("Sigmoid", CASTABLE),
    aten.reciprocal.default: ("Reciprocal", CASTABLE),
    aten.neg.default: ("Neg", REALS),
    aten.abs.default: ("Abs", REALS),
    aten.sign.default: ("Sign", REALS),
    aten.relu.default: ("Relu", REALS),
    aten.floor.default: ("Floor", _FLOATS64),
    aten.ceil.default: ("Ceil", _FLOATS64),
}
for _target, (_op_type, _dtypes) in _UNARY.items():
    register(_target, dtypes=_dtypes, ge_ops=(_op_type,))(_unary(_op_type))


@register(aten.isnan.default, dtypes=_FLOATS64, ge_ops=("IsNan",))
def isnan(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "IsNan", x, compute=x.dtype)


@register(aten.isinf.default, dtypes=_FLOATS64, ge_ops=("IsInf",))
def isinf(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "IsInf", x, compute=x.dtype)


@register(aten.gelu.default, dtypes=FLOATS, ge_ops=("Gelu", "GeluV2"))
def gelu(ctx: ConversionContext, x: TensorRef, *, approximate: str = "none") -> TensorRef:
    """GE's Gelu computes the tanh approximation (TorchAir emits it for both forms);
    the exact erf form is GeluV2(approximate="none"), as torch_npu's npu_gelu emits."""
    if approximate == "tanh":
        return apply_elementwise(ctx, "Gelu", x)
    if approximate != "none":
        raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
    return apply_elementwise(ctx, "GeluV2", x, approximate="none")


@register(aten.silu.default, dtypes=FLOATS, ge_ops=("Swish",))
def silu(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "Swish", x, scale=1.0)


# --- comparisons and logic --------------------------------------------------------

_COMPARISONS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "lt": "Less",
    "le": "LessEqual",
    "gt": "Greater",
    "ge": "GreaterEqual",
}


def _comparison(op_type: str) -> Callable[..., TensorRef]:
    def convert(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
        return apply_elementwise(ctx, op_type, x, y, compute=_promoted(ctx))

    convert.__name__ = f"convert_{op_type}"
    return convert


for _name, _op_type in _COMPARISONS.items():
    _packet = getattr(aten, _name)
    register(_packet.Tensor, _packet.Scalar, dtypes=CASTABLE, ge_ops=(_op_type,))(
        _comparison(_op_type)
    )


@register(aten.logical_and.default, dtypes=CASTABLE, ge_ops=("LogicalAnd",))
def logical_and(ctx: ConversionContext, x: TensorRef, y: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "LogicalAnd", x, y, compute=DataType.BOOL)


@register(aten.logical_or.default, dtypes=CASTABLE, ge_ops=("LogicalOr",))
def logical_or(ctx: ConversionContext, x: TensorRef, y: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "LogicalOr", x, y, compute=DataType.BOOL)


@register(aten.logical_xor.default, dtypes=CASTABLE, ge_ops=("NotEqual",))
def logical_xor(ctx: ConversionContext, x: TensorRef, y: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "NotEqual", x, y, compute=DataType.BOOL)


@register(aten.logical_not.default, dtypes=CASTABLE, ge_ops=("LogicalNot",))
def logical_not(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "LogicalNot", x, compute=DataType.BOOL)


_BOOL_INTS = INTS | {torch.bool}


@register(
    aten.bitwise_and.Tensor,
    aten.bitwise_and.Scalar,
    dtypes=_BOOL_INTS,
    ge_ops=("LogicalAnd", "BitwiseAnd"),
)
def bitwise_and(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(
        ctx, "LogicalAnd" if ctx.out()[0] == DataType.BOOL else "BitwiseAnd", x, y
    )


@register(
    aten.bitwise_or.Tensor,
    aten.bitwise_or.Scalar,
    dtypes=_BOOL_INTS,
    ge_ops=("LogicalOr", "BitwiseOr"),
)
def bitwise_or(ctx: ConversionContext, x: Any, y: Any) -> TensorRef:
    return apply_elementwise(
        ctx, "LogicalOr" if ctx.out()[0] == DataType.BOOL else "BitwiseOr", x, y
    )


@register(aten.bitwise_not.default, dtypes=_BOOL_INTS, ge_ops=("LogicalNot", "Invert"))
def bitwise_not(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    return apply_elementwise(ctx, "LogicalNot" if x.dtype == DataType.BOOL else "Invert", x)


# --- selection ------------------------------------------------------------------


@register(
    aten.where.self,
    aten.where.ScalarSelf,
    aten.where.ScalarOther,
    aten.where.Scalar,
    dtypes=CASTABLE,
    ge_ops=("SelectV2",),
)
def where(ctx: ConversionContext, condition: TensorRef, x: Any, y: Any) -> TensorRef:
    dtype, shape = ctx.out()
    cd = _compute_dtype("SelectV2", dtype, 1)
    cond = ctx.cast(condition, DataType.BOOL)
    out = ctx.b.op("SelectV2", cond, _operand(ctx, x, cd), _operand(ctx, y, cd), out=(cd, shape))
    return ctx.cast(out, dtype)


@register(
    aten.masked_fill.Scalar,
    aten.masked_fill.Tensor,
    dtypes=NUMERIC | {torch.bool},
    ge_ops=("MaskedFill",),
)
def masked_fill(ctx: ConversionContext, x: TensorRef, mask: TensorRef, value: Any) -> TensorRef:
    dtype, shape = ctx.out()
    cd = _compute_dtype("MaskedFill", dtype)
    mask = ctx.cast(mask, DataType.BOOL)
    out = ctx.b.op("MaskedFill", ctx.cast(x, cd), mask, _operand(ctx, value, cd), out=(cd, shape))
    return ctx.cast(out, dtype)


# --- copies and casts -----------------------------------------------------------


@register(
    aten._to_copy.default,
    prims.convert_element_type.default,
    dtypes=ALL_DTYPES | STORAGE_DTYPES,
    ge_ops=("Cast", "TensorMove"),
)
def to_copy(ctx: ConversionContext, x: TensorRef, *args: Any, **kwargs: Any) -> TensorRef:
    """Cast; a same-dtype ``_to_copy`` (device or layout change) is a TensorMove."""
    dtype, _ = ctx.out()
    if x.dtype == dtype:
        return _copy(ctx, x, "TensorMove")
    return ctx.cast(x, dtype)


@register(
    aten.clone.default,
    aten.detach.default,
    dtypes=ALL_DTYPES | STORAGE_DTYPES,
    ge_ops=("Identity",),
)
def identity(ctx: ConversionContext, x: TensorRef, **kwargs: Any) -> TensorRef:
    return _copy(ctx, x, "Identity")


def _shape_source_supported(node: Node) -> str | None:
    # Dynamic target shapes come from a Shape op, whose prototype lacks some dtypes.
    val = node.args[0].meta.get("val")
    if not isinstance(val, torch.Tensor) or all(isinstance(d, int) for d in val.shape):
        return None
    if _takes("Shape", from_torch(val.dtype)):
        return None
    return f"a dynamic shape of a {val.dtype} tensor needs Shape, which does not take that dtype"


def _dims(ctx: ConversionContext, like: TensorRef) -> TensorRef:
    """The shape of ``like`` as an int64 vector: a Const when static, else a Shape op."""
    shape = ctx.out()[1]
    if all(d >= 0 for d in shape):
        return ctx.int_list(list(shape))
    return ctx.b.op(
        "Shape", like, out=(DataType.INT64, (len(shape),)), dtype=DataType.INT64.ge_code
    )


@register(
    aten.fill.Scalar,
    aten.fill.Tensor,
    dtypes=ALL_DTYPES,
    predicate=_shape_source_supported,
    ge_ops=("Fill",),
)
def fill(ctx: ConversionContext, x: TensorRef, value: Any) -> TensorRef:
    dtype, shape = ctx.out()
    return ctx.b.op("Fill", _dims(ctx, x), _operand(ctx, value, dtype), out=(dtype, shape))
