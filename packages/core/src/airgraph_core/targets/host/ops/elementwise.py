"""Host semantics of elementwise GE ops: arithmetic, math, activations, comparisons, selection.

GE's binary ops broadcast like numpy and take operands of one dtype (the
converters cast them), so most entries are the matching torch function.
Where GE's definition differs from the ATen op of the same name, the GE one
is implemented: ``Gelu`` is the tanh approximation, ``Exp``/``Log`` take
base/scale/shift attributes, ``Swish`` a scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from airgraph_core.targets.host.semantics import host_op

Fn = Callable[..., torch.Tensor]


def _elementwise(op_type: str, fn: Fn) -> None:
    def run(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
        return fn(*inputs)

    run.__name__ = f"host_{op_type}"
    host_op(op_type)(run)


def _same_dtype(fn: Fn) -> Fn:
    # GE keeps the input dtype where torch would promote (e.g. int Reciprocal).
    def run(x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return fn(x, *rest).to(x.dtype)

    return run


_TABLE: dict[str, Fn] = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "RealDiv": _same_dtype(torch.true_divide),
    "FloorDiv": torch.floor_divide,
    "TruncateDiv": lambda x1, x2: torch.div(x1, x2, rounding_mode="trunc"),
    "FloorMod": torch.remainder,
    "Pow": _same_dtype(torch.pow),
    "Maximum": torch.maximum,
    "Minimum": torch.minimum,
    "ClipByValueV2": lambda x, lo, hi: torch.minimum(torch.maximum(x, lo), hi),
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Sign": torch.sign,
    "Reciprocal": _same_dtype(torch.reciprocal),
    "Rsqrt": torch.rsqrt,
    "Sqrt": torch.sqrt,
    "Log1p": torch.log1p,
    "Expm1": torch.expm1,
    "Erf": torch.erf,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Tanh": torch.tanh,
    "Sigmoid": torch.sigmoid,
    "Relu": torch.relu,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "IsNan": torch.isnan,
    "IsInf": torch.isinf,
    "Equal": torch.eq,
    "NotEqual": torch.ne,
    "Less": torch.lt,
    "LessEqual": torch.le,
    "Greater": torch.gt,
    "GreaterEqual": torch.ge,
    "LogicalAnd": torch.logical_and,
    "LogicalOr": torch.logical_or,
    "LogicalNot": torch.logical_not,
    "BitwiseAnd": torch.bitwise_and,
    "BitwiseOr": torch.bitwise_or,
    "Invert": torch.bitwise_not,
    "SelectV2": torch.where,
    # Gelu on Ascend is the tanh approximation (hicann/ops-nn activation/gelu).
    "Gelu": lambda x: F.gelu(x, approximate="tanh"),
}
for _op_type, _fn in _TABLE.items():
    _elementwise(_op_type, _fn)


@host_op("AxpyV2")
def axpy_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x1, x2, alpha = inputs
    return x1 + x2 * alpha


@host_op("Muls")
def muls(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    # ``value`` is a float32 attribute: a half tensor is scaled by the float32
    # scalar and rounded once, as eager's half kernels compute (in float32).
    (x,) = inputs
    value = torch.tensor(attrs["value"], dtype=torch.float32)
    if x.dtype in (torch.float16, torch.bfloat16):
        return (x.float() * value).to(x.dtype)
    if x.dtype.is_floating_point:
        return x * value.to(x.dtype)
    return (x * value).to(x.dtype)  # int inputs: GE truncates the float product


@host_op("GeluV2")
def gelu_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return F.gelu(inputs[0], approximate=attrs.get("approximate", "none"))


@host_op("Swish")
def swish(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, scale = inputs[0], attrs.get("scale", 1.0)
    return F.silu(x) if scale == 1.0 else x * torch.sigmoid(x * scale)


def _affine(x: torch.Tensor, attrs: dict[str, Any]) -> torch.Tensor:
    scale, shift = attrs.get("scale", 1.0), attrs.get("shift", 0.0)
    return x if (scale, shift) == (1.0, 0.0) else x * scale + shift


@host_op("Exp")
def exp(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """y = base ** (scale * x + shift); base -1 means e."""
    x, base = _affine(inputs[0], attrs), attrs.get("base", -1.0)
    return torch.exp(x) if base == -1.0 else torch.pow(base, x)


@host_op("Log")
def log(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """y = log_base(scale * x + shift); base -1 means e."""
    x, base = _affine(inputs[0], attrs), attrs.get("base", -1.0)
    y = torch.log(x)
    return y if base == -1.0 else y / math.log(base)


@host_op("MaskedFill")
def masked_fill(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, mask, value = inputs
    return torch.where(mask, value.to(x.dtype), x)
