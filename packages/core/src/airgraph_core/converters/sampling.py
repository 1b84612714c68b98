"""Patch and grid sampling converters: ``im2col`` / ``col2im`` (``F.unfold`` /
``F.fold``) and ``grid_sampler_2d`` (``F.grid_sample`` on 4-D input).

- ``im2col``: GE's ``Im2col`` on NCHW data yields ``(N, C*kh*kw, out_h, out_w)``
  (channel-major patches, torch's order); a Reshape merges the two spatial
  dims into torch's ``L``. TorchAir has no converter.
- ``col2im``: GE's ``Col2im`` takes the columns as ``(N, C, kh*kw, L)`` and the
  output size as an int32 tensor. Its prototype has float32/float16 only, so
  bfloat16 runs in float32.
- ``grid_sampler_2d``: ``GridSampler2D`` with the mode names TorchAir passes
  (interpolation bilinear/nearest/bicubic, padding zeros/border/reflection);
  half inputs run in float32 as TorchAir runs them.

Unbatched inputs (``F.unfold``/``F.fold`` accept them) get a batch dim of 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, static_dim
from airgraph_core.converters.registry import FLOATS, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []

aten = torch.ops.aten

_INTERPOLATION = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")


def _static_after_batch(node: Node) -> str | None:
    """Channel and spatial sizes must be static (they fix the patch layout); the batch may not."""
    x = node.args[0].meta["val"]
    batched_rank = 4 if node.target is aten.im2col.default else 3
    lead = 1 if x.dim() == batched_rank else 0
    if any(static_dim(d) == -1 for d in x.shape[lead:]):
        return "symbolic channel or spatial sizes are not supported (the patch layout is static)"
    size = node.args[1] if node.target is aten.col2im.default else ()
    if any(not isinstance(s, int) for s in size):
        return "output_size is symbolic; Col2im needs it as a constant"
    return None


def _batch(ctx: ConversionContext, x: TensorRef, rank: int) -> tuple[TensorRef, bool]:
    if x.rank == rank:
        return x, False
    return ctx.b.op("Unsqueeze", x, out=(x.dtype, (1, *x.shape)), axes=[0]), True


def _unbatch(ctx: ConversionContext, y: TensorRef, unbatched: bool) -> TensorRef:
    if not unbatched:
        return y
    return ctx.b.op("Squeeze", y, out=(y.dtype, y.shape[1:]), axis=[0])


def _nchw(y: TensorRef) -> None:
    y.op.input_descs[0].layout = "NCHW"
    y.desc.layout = "NCHW"


def _pair(values: Sequence[int]) -> list[int]:
    values = [int(v) for v in values]
    return values * 2 if len(values) == 1 else values


@register(
    aten.im2col.default,
    dtypes=FLOATS,
    ranks=range(3, 5),
    ge_ops=("Im2col", "Reshape"),
    predicate=_static_after_batch,
)
def im2col(
    ctx: ConversionContext,
    x: TensorRef,
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    padding: Sequence[int],
    stride: Sequence[int],
) -> TensorRef:
    """``F.unfold``: sliding ``kernel_size`` patches of NCHW ``x`` as columns ``(N, C*kh*kw, L)``."""
    k, d, p, s = (_pair(v) for v in (kernel_size, dilation, padding, stride))
    xb, unbatched = _batch(ctx, x, 4)
    n, c, h, w = xb.shape
    out_h = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    out_w = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    cols = ctx.b.op(
        "Im2col", xb, out=(x.dtype, (n, c * k[0] * k[1], out_h, out_w)),
        ksizes=k, strides=s, dilations=d, padding_mode="CALCULATED",
        pads=[p[0], p[0], p[1], p[1]],
    )  # fmt: skip
    _nchw(cols)
    flat = (n, c * k[0] * k[1], out_h * out_w)
    y = ctx.b.op("Reshape", cols, ctx.int_list([-1, *flat[1:]]), out=(x.dtype, flat))
    return _unbatch(ctx, y, unbatched)


@register(
    aten.col2im.default,
    dtypes=FLOATS,
    ranks=range(2, 4),
    ge_ops=("Col2im", "Reshape", "Cast"),
    predicate=_static_after_batch,
)
def col2im(
    ctx: ConversionContext,
    x: TensorRef,
    output_size: Sequence[int],
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    padding: Sequence[int],
    stride: Sequence[int],
) -> TensorRef:
    """``F.fold``: sums columns ``(N, C*kh*kw, L)`` back into an ``(N, C, *output_size)`` image."""
    k, d, p, s = (_pair(v) for v in (kernel_size, dilation, padding, stride))
    size = [int(v) for v in output_size]
    dtype = x.dtype
    cd = DataType.FLOAT if dtype == DataType.BF16 else dtype
    xb, unbatched = _batch(ctx, ctx.cast(x, cd), 3)
    n, ckk, length = xb.shape
    c = ckk // (k[0] * k[1])
    cols = ctx.b.op(
        "Reshape", xb, ctx.int_list([-1, c, k[0] * k[1], length]),
        out=(cd, (n, c, k[0] * k[1], length)),
    )  # fmt: skip
    y = ctx.b.op(
        "Col2im", cols, ctx.const(torch.tensor(size, dtype=torch.int32), DataType.INT32),
        out=(cd, (n, c, *size)),
        kernel_size=k, dilation=d, padding=p, stride=s,
    )  # fmt: skip
    _nchw(y)
    return ctx.cast(_unbatch(ctx, y, unbatched), dtype)


def _modes(node: Node) -> str | None:
    interpolation, padding = node.args[2], node.args[3]
    if interpolation not in range(3) or padding not in range(3):
        return (
            f"interpolation_mode {interpolation} / padding_mode {padding}: "
            "expected 0..2 each (bilinear/nearest/bicubic, zeros/border/reflection)"
        )
    return None


@register(
    aten.grid_sampler_2d.default,
    dtypes=FLOATS,
    ranks=range(4, 5),
    ge_ops=("GridSampler2D", "Cast"),
    predicate=_modes,
)
def grid_sampler_2d(
    ctx: ConversionContext,
    x: TensorRef,
    grid: TensorRef,
    interpolation_mode: int,
    padding_mode: int,
    align_corners: bool,
) -> Any:
    """Sample NCHW ``x`` at the ``(N, H_out, W_out, 2)`` normalized ``grid`` points."""
    dtype, shape = ctx.out()
    cd = DataType.FLOAT if dtype in (DataType.FLOAT16, DataType.BF16) else dtype
    y = ctx.b.op(
        "GridSampler2D", ctx.cast(x, cd), ctx.cast(grid, cd),
        out=(cd, shape),
        interpolation_mode=_INTERPOLATION[interpolation_mode],
        padding_mode=_PADDING[padding_mode],
        align_corners=bool(align_corners),
    )  # fmt: skip
    return ctx.cast(y, dtype)
