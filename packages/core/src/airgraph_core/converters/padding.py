"""Padding converters: reflection (``MirrorPad`` mode REFLECT, as TorchAir lowers
``reflection_pad2d``) and replication (``PadV3`` mode edge, as TorchAir lowers
``replication_pad1d``) in 1-D, 2-D and 3-D.

ATen lists the pads of the last dims, last dim first, as (begin, end) pairs;
GE takes one (begin, end) pair per dim from the first dim on, zeros for the
dims ATen leaves alone. Constant and circular padding reach the lowering as
``constant_pad_nd`` and slices/cats (shape family).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import ALL_DTYPES, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.opdefs import prototype

__all__: list[str] = []

aten = torch.ops.aten

_DTYPES = ALL_DTYPES - {torch.float64}


def _pairs(rank: int, pad: Sequence[int]) -> list[list[int]]:
    pairs = [[0, 0] for _ in range(rank)]
    for i in range(len(pad) // 2):
        pairs[rank - 1 - i] = [int(pad[2 * i]), int(pad[2 * i + 1])]
    return pairs


def _static_non_negative(node: Node) -> str | None:
    pad = node.args[1]
    if not all(isinstance(p, int) for p in pad):
        return "symbolic padding is not supported; GE takes the pads as a constant"
    if any(p < 0 for p in pad):
        return f"negative padding {list(pad)} is not supported"
    return None


@register(
    aten.reflection_pad1d.default,
    aten.reflection_pad2d.default,
    aten.reflection_pad3d.default,
    dtypes=_DTYPES,
    ge_ops=("MirrorPad",),
    predicate=_static_non_negative,
)
def reflection_pad(ctx: ConversionContext, x: TensorRef, padding: Sequence[int]) -> TensorRef:
    """MirrorPad(REFLECT) with a ``[rank, 2]`` paddings tensor (bf16 runs in float32)."""
    dtype, shape = ctx.out()
    allowed = prototype("MirrorPad").inputs[0].dtypes
    cd = dtype if dtype.opdef_name in allowed else DataType.FLOAT
    paddings = ctx.const(torch.tensor(_pairs(x.rank, padding), dtype=torch.int64))
    y = ctx.b.op("MirrorPad", ctx.cast(x, cd), paddings, out=(cd, shape), mode="REFLECT")
    return ctx.cast(y, dtype)


@register(
    aten.replication_pad1d.default,
    aten.replication_pad2d.default,
    aten.replication_pad3d.default,
    dtypes=_DTYPES,
    ge_ops=("PadV3",),
    predicate=_static_non_negative,
)
def replication_pad(ctx: ConversionContext, x: TensorRef, padding: Sequence[int]) -> TensorRef:
    """PadV3(mode="edge"): each pad repeats the border element."""
    flat = [p for pair in _pairs(x.rank, padding) for p in pair]
    return ctx.b.op(
        "PadV3", x, ctx.int_list(flat), None, out=ctx.out(), mode="edge", paddings_contiguous=True
    )
