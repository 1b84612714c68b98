"""FFT converters: ``_fft_r2c`` (``torch.fft.rfft*``, ``fft*`` of real input), ``_fft_c2c``
(``fft*``/``ifft*`` of complex input) and ``_fft_c2r`` (``torch.fft.irfft*``).

GE's ``RFFT``, ``IRFFT``, ``FFT`` and ``IFFT`` transform the innermost dim
with TensorFlow's contract (``RFFT``/``IRFFT`` take the signal length as
an int32 ``fft_length`` input; the inverse ops divide by the length, the
forward ones do not). TorchAir has no converter for these overloads. Each
transformed dim is moved innermost (``Transpose``) and back:

* r2c: ``RFFT`` over the last listed dim (``onesided``), or, two-sided,
  ``Complex(x, 0)`` + ``FFT`` over it; ``FFT`` over every other listed dim.
* c2c: ``FFT`` (forward) or ``IFFT`` over every listed dim.
* c2r: ``IFFT`` over every listed dim but the last, ``IRFFT`` over the
  last (``last_dim_size`` points).

ATen's ``normalization`` (0: none, 1: 1/sqrt(n), 2: 1/n, n the product of
the signal sizes) is a ``Mul`` of the real side: of the input before r2c,
of the output after c2r (undoing GE's 1/n there); c2c multiplies its
complex result by ``Complex(factor, 0)``. float32 / complex64 with
static sizes along the transformed dims only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, static_dim
from airgraph_core.converters.registry import register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []

aten = torch.ops.aten


def _static_signal(node: Node) -> str | None:
    x = node.args[0].meta["val"]
    dims = [d % x.dim() for d in node.args[1]]
    sizes = [static_dim(x.shape[d]) for d in dims]
    if -1 in sizes:
        return f"symbolic sizes along the transformed dims {dims}: GE's fft_length is a constant"
    if len(set(dims)) != len(dims):
        return f"dim {list(node.args[1])} repeats a dim"
    return None


def _moved(
    ctx: ConversionContext,
    x: TensorRef,
    dim: int,
    op_type: str,
    out_last: int,
    length: int | None = None,
) -> TensorRef:
    """``op_type`` over ``dim`` of ``x``: Transpose it innermost, transform, Transpose back.

    ``out_last`` is the transformed dim's size after the op; ``length`` the
    ``fft_length`` input of RFFT/IRFFT.
    """
    rank = x.rank
    perm = list(range(rank))
    perm[dim], perm[-1] = perm[-1], perm[dim]
    moved = x
    if dim != rank - 1:
        shape = tuple(x.shape[p] for p in perm)
        moved = ctx.b.op("Transpose", x, ctx.int_list(perm), out=(x.dtype, shape))
    dtype = DataType.FLOAT if op_type == "IRFFT" else DataType.COMPLEX64
    extra = [] if length is None else [ctx.const(torch.tensor([length]), DataType.INT32)]
    y = ctx.b.op(op_type, moved, *extra, out=(dtype, (*moved.shape[:-1], out_last)))
    if dim == rank - 1:
        return y
    shape = tuple(y.shape[p] for p in perm)
    return ctx.b.op("Transpose", y, ctx.int_list(perm), out=(dtype, shape))


def _scale(ctx: ConversionContext, x: TensorRef, factor: float) -> TensorRef:
    if factor == 1.0:
        return x
    return ctx.b.op("Mul", x, ctx.const(factor, DataType.FLOAT), out=x.spec)


def _norm_factor(normalization: int, n: int) -> float:
    """ATen's scale of a transform over ``n`` points (fft_norm_mode 0 / 1 / 2)."""
    return {0: 1.0, 1: 1.0 / math.sqrt(n), 2: 1.0 / n}[int(normalization)]


@register(
    aten._fft_r2c.default,
    dtypes={torch.float32},
    ge_ops=("RFFT", "FFT", "Complex", "Transpose", "Mul"),
    predicate=_static_signal,
)
def fft_r2c(
    ctx: ConversionContext, x: TensorRef, dim: Sequence[int], normalization: int, onesided: bool
) -> TensorRef:
    """Real -> complex over ``dim``; one-sided (``n // 2 + 1`` bins) along the last listed dim."""
    dims = [d % x.rank for d in dim]
    n = math.prod(x.shape[d] for d in dims)
    y = _scale(ctx, x, _norm_factor(normalization, n))
    last = dims[-1]
    if onesided:
        y = _moved(ctx, y, last, "RFFT", x.shape[last] // 2 + 1, length=x.shape[last])
    else:
        y = ctx.b.op(
            "Complex", y, ctx.const(0.0, DataType.FLOAT),
            out=(DataType.COMPLEX64, y.shape), Tout=DataType.COMPLEX64,
        )  # fmt: skip
        y = _moved(ctx, y, last, "FFT", x.shape[last])
    for d in dims[:-1]:
        y = _moved(ctx, y, d, "FFT", x.shape[d])
    return y


@register(
    aten._fft_c2r.default,
    dtypes={torch.complex64},
    ge_ops=("IRFFT", "IFFT", "Transpose", "Mul"),
    predicate=_static_signal,
)
def fft_c2r(
    ctx: ConversionContext,
    x: TensorRef,
    dim: Sequence[int],
    normalization: int,
    last_dim_size: int,
) -> TensorRef:
    """One-sided complex -> real over ``dim``; ``last_dim_size`` points along the last listed dim."""
    dims = [d % x.rank for d in dim]
    y = x
    for d in dims[:-1]:
        y = _moved(ctx, y, d, "IFFT", x.shape[d])
    length = int(last_dim_size)
    y = _moved(ctx, y, dims[-1], "IRFFT", length, length=length)
    n = math.prod(x.shape[d] for d in dims[:-1]) * length
    # GE's inverse ops already divided by n.
    return _scale(ctx, y, n * _norm_factor(normalization, n))


@register(
    aten._fft_c2c.default,
    dtypes={torch.complex64},
    ge_ops=("FFT", "IFFT", "Transpose", "Complex", "Mul"),
    predicate=_static_signal,
)
def fft_c2c(
    ctx: ConversionContext, x: TensorRef, dim: Sequence[int], normalization: int, forward: bool
) -> TensorRef:
    """Complex -> complex over ``dim``, forward or inverse."""
    dims = [d % x.rank for d in dim]
    y = x
    for d in dims:
        y = _moved(ctx, y, d, "FFT" if forward else "IFFT", x.shape[d])
    n = math.prod(x.shape[d] for d in dims)
    factor = _norm_factor(normalization, n) * (1 if forward else n)
    if factor == 1.0:
        return y
    scale = ctx.b.op(
        "Complex", ctx.const(factor, DataType.FLOAT), ctx.const(0.0, DataType.FLOAT),
        out=(DataType.COMPLEX64, ()), Tout=DataType.COMPLEX64,
    )  # fmt: skip
    return ctx.b.op("Mul", y, scale, out=y.spec)
