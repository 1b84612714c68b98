"""``masked_scatter``: GE's ``MaskedScatter``.

``out`` is ``self`` with the positions where ``mask`` is true filled, in
row-major order, by the leading elements of ``source`` (read flat). TorchAir
has no converter; GE's ``MaskedScatter`` is this very op. ``self`` and
``mask`` broadcast to the output first (``BroadcastTo``), so the op sees one
shape; bfloat16, which its prototype lacks, runs in float32 (exact) and is
cast back.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, static_dim
from airgraph_core.converters.registry import ALL_DTYPES, register
from airgraph_core.converters.shape import same_shape
from airgraph_core.converters.symbolic import dim_size
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.opdefs import prototype

__all__: list[str] = []

aten = torch.ops.aten

#: MaskedScatter's data dtypes (bfloat16 through float32); float64 stays off GE graphs.
_DTYPES = ALL_DTYPES - {torch.float64}


def _broadcast_known(node: Node) -> str | None:
    out = node.meta["val"]
    static = -1 not in [static_dim(d) for d in out.shape]
    for name, arg in (("self", node.args[0]), ("mask", node.args[1])):
        if arg.meta["val"].dim() != out.dim() and not static:
            return f"{name} broadcasts from fewer dims to a symbolic shape"
    return None


def _output_sizes(ctx: ConversionContext, x: TensorRef, mask: TensorRef) -> list[Any]:
    """Each output size, read off the operand that has it (the other one's is 1)."""
    _, shape = ctx.out()
    if -1 not in shape:
        return list(shape)
    xv, mv = ctx.val(ctx.node.args[0]), ctx.val(ctx.node.args[1])
    return [
        dim_size(ctx, mask, mv, i) if static_dim(xv.shape[i]) == 1 else dim_size(ctx, x, xv, i)
        for i in range(len(shape))
    ]


def _to_output(ctx: ConversionContext, t: TensorRef, index: int, sizes: list[Any]) -> TensorRef:
    if same_shape(ctx.val(ctx.node.args[index]), ctx.node.meta["val"]):
        return t
    return ctx.b.op("BroadcastTo", t, ctx.int_list(sizes), out=(t.dtype, ctx.out()[1]))


@register(
    aten.masked_scatter.default,
    dtypes=_DTYPES,
    ge_ops=("MaskedScatter", "BroadcastTo", "Cast"),
    predicate=_broadcast_known,
)
def masked_scatter(
    ctx: ConversionContext, x: TensorRef, mask: TensorRef, source: TensorRef
) -> TensorRef:
    """MaskedScatter of ``self`` and ``mask`` broadcast to the output, in a prototype dtype."""
    dtype, shape = ctx.out()
    allowed = prototype("MaskedScatter").inputs[0].dtypes
    cd = dtype if allowed is None or dtype.opdef_name in allowed else DataType.FLOAT
    sizes = _output_sizes(ctx, x, mask)
    y = ctx.b.op(
        "MaskedScatter",
        ctx.cast(_to_output(ctx, x, 0, sizes), cd),
        _to_output(ctx, mask, 1, sizes),
        ctx.cast(source, cd),
        out=(cd, shape),
    )
    return ctx.cast(y, dtype)
