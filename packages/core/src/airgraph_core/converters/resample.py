"""Resampling converters: ``pixel_shuffle`` and ``pixel_unshuffle``.

Both only move elements: a Reshape that splits the channel (or spatial) dims
into blocks, a Transpose that moves the blocks, and a Reshape that merges
them back; any leading batch dims are folded into one. TorchAir has no
converter for them; GE's DepthToSpace/SpaceToDepth order the channels
differently in NCHW, so the three shape ops are the exact form.
(``upsample_nearest2d.vec`` / ``upsample_bilinear2d.vec`` reach the lowering
already decomposed by torch into index/arithmetic ops.)
"""

from __future__ import annotations

import math

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, static_dim
from airgraph_core.converters.registry import register
from airgraph_core.converters.shape import DATA_DTYPES
from airgraph_core.ir.builder import TensorRef

__all__: list[str] = []

aten = torch.ops.aten


def _static_image(node: Node) -> str | None:
    x = node.args[0].meta["val"]
    dims = [static_dim(d) for d in x.shape]
    if -1 in dims[-3:]:
        return "symbolic channel/height/width sizes are not supported"
    if dims[:-3].count(-1) > 1:
        return "more than one symbolic leading dim is not supported"
    return None


def _shuffle(ctx: ConversionContext, x: TensorRef, blocks: list[int], perm: list[int]) -> TensorRef:
    dtype, shape = ctx.out()
    if 0 in shape:
        # Nothing to move, and a Reshape with -1 cannot size a zero-size tensor.
        return ctx.b.op(
            "Fill", ctx.int_list(list(shape)), ctx.b.const(0, dtype), out=(dtype, shape)
        )
    lead = x.shape[:-3]
    folded = -1 if -1 in lead else math.prod(lead)
    split = ctx.b.op("Reshape", x, ctx.int_list([-1, *blocks]), out=(x.dtype, (folded, *blocks)))
    moved_shape = tuple(split.shape[i] for i in perm)
    moved = ctx.b.op("Transpose", split, ctx.int_list(perm), out=(x.dtype, moved_shape))
    return ctx.b.op("Reshape", moved, ctx.int_list(list(shape)), out=(dtype, shape))


@register(
    aten.pixel_shuffle.default,
    dtypes=DATA_DTYPES,
    ranks=range(3, 9),
    ge_ops=("Reshape", "Transpose", "Fill"),
    predicate=_static_image,
)
def pixel_shuffle(ctx: ConversionContext, x: TensorRef, upscale_factor: int) -> TensorRef:
    """``(*, C*r*r, H, W) -> (*, C, H*r, W*r)``."""
    r = int(upscale_factor)
    c, h, w = x.shape[-3:]
    return _shuffle(ctx, x, [c // (r * r), r, r, h, w], [0, 1, 4, 2, 5, 3])


@register(
    aten.pixel_unshuffle.default,
    dtypes=DATA_DTYPES,
    ranks=range(3, 9),
    ge_ops=("Reshape", "Transpose", "Fill"),
    predicate=_static_image,
)
def pixel_unshuffle(ctx: ConversionContext, x: TensorRef, downscale_factor: int) -> TensorRef:
    """``(*, C, H*r, W*r) -> (*, C*r*r, H, W)``."""
    r = int(downscale_factor)
    c, h, w = x.shape[-3:]
    return _shuffle(ctx, x, [c, h // r, r, w // r, r], [0, 1, 3, 5, 2, 4])
