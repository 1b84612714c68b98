"""complex64 converters: ``view_as_complex``, ``view_as_real``, ``complex``, ``polar``.

GE has complex64 tensors and the ops between the two views (TorchAir's
lowering): ``view_as_complex`` gathers the real and imaginary planes of the
last dim (``GatherV2``) and joins them with ``Complex``; ``view_as_real``
splits with ``Real``/``Imag`` and stacks them as a last dim (``Pack``).
Arithmetic on complex64 (``mul``, ``add``, ``sub``) and the view ops accept
complex64 in their own families, so rotary embeddings written with complex
numbers (LLaMA's reference code) lower as written. complex128 is not
supported: GE's complex kernels on the NPU are complex64.

In eager PyTorch both views alias their input; here they compute new tensors
(GE has no aliasing views), which only matters to code that writes through
the view.
"""

from __future__ import annotations

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__ = ["COMPLEX"]

aten = torch.ops.aten

#: The complex dtypes the converters accept.
COMPLEX = frozenset({torch.complex64})


def _plane(ctx: ConversionContext, x: TensorRef, index: int) -> TensorRef:
    axis = ctx.const(x.rank - 1, DataType.INT64)
    out = (DataType.FLOAT, x.shape[:-1])
    return ctx.b.op("GatherV2", x, ctx.const(index, DataType.INT64), axis, out=out, batch_dims=0)


def _complex(ctx: ConversionContext, real: TensorRef, imag: TensorRef) -> TensorRef:
    return ctx.b.op("Complex", real, imag, out=ctx.out(), Tout=DataType.COMPLEX64)


@register(aten.view_as_complex.default, dtypes={torch.float32}, ge_ops=("GatherV2", "Complex"))
def view_as_complex(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    """``(..., 2)`` float32 -> ``(...)`` complex64: real part at index 0, imaginary at 1."""
    return _complex(ctx, _plane(ctx, x, 0), _plane(ctx, x, 1))


@register(aten.view_as_real.default, dtypes=COMPLEX, ge_ops=("Real", "Imag", "Pack"))
def view_as_real(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    """``(...)`` complex64 -> ``(..., 2)`` float32."""
    planes = [
        ctx.b.op(op, x, out=(DataType.FLOAT, x.shape), Tout=DataType.FLOAT)
        for op in ("Real", "Imag")
    ]
    return ctx.b.op("Pack", planes, out=ctx.out(), axis=x.rank, N=2)


@register(aten.complex.default, dtypes={torch.float32}, ge_ops=("Complex",))
def complex_(ctx: ConversionContext, real: TensorRef, imag: TensorRef) -> TensorRef:
    """``torch.complex(real, imag)`` (broadcasting as the Complex op does)."""
    return _complex(ctx, real, imag)


@register(aten.polar.default, dtypes={torch.float32}, ge_ops=("Cos", "Sin", "Mul", "Complex"))
def polar(ctx: ConversionContext, magnitude: TensorRef, angle: TensorRef) -> TensorRef:
    """``abs * (cos(angle) + i sin(angle))``."""
    shape = ctx.out()[1]
    parts = []
    for op in ("Cos", "Sin"):
        wave = ctx.b.op(op, angle, out=angle.spec)
        parts.append(ctx.b.op("Mul", magnitude, wave, out=(DataType.FLOAT, shape)))
    return _complex(ctx, *parts)
