"""``scatter_reduce.two`` (sum, prod, amax, amin, mean; ``include_self`` both ways).

GE's ``ScatterElements`` reduces only with ``add`` or ``mul``, and TorchAir
has no converter. Every reduction is written instead with GE's segment ops,
which reduce the elements that share a segment id: each element of ``src``
(cut to ``index``'s shape) gets as id the flat position in ``self`` it is
scattered to, ``base + index * stride[dim]`` where ``base`` (a constant) is
the flat position with ``dim`` set to 0. Then

- ``UnsortedSegment{Sum,Prod,Max,Min}`` reduces ``src`` per position of ``self``;
- an ``UnsortedSegmentSum`` of ones counts the elements each position got;
- ``include_self`` combines the reduction with ``self`` (Add/Mul/Maximum/Minimum);
  ``mean`` divides by the count (plus one for ``self``), with floor rounding
  for integer dtypes as ATen does;
- ``SelectV2(count > 0, reduced, self)`` keeps ``self`` where nothing landed.

Shapes must be static: the segment ids are laid out from them at conversion.
"""

from __future__ import annotations

import math

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import NUMERIC, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.opdefs import prototype

__all__: list[str] = []

aten = torch.ops.aten

_SEGMENT_OP = {
    "sum": "UnsortedSegmentSum",
    "mean": "UnsortedSegmentSum",
    "prod": "UnsortedSegmentProd",
    "amax": "UnsortedSegmentMax",
    "amin": "UnsortedSegmentMin",
}
_COMBINE = {"sum": "Add", "mean": "Add", "prod": "Mul", "amax": "Maximum", "amin": "Minimum"}


def _static_scatter(node: Node) -> str | None:
    reduce = node.args[4]
    if reduce not in _SEGMENT_OP:
        return f"reduce={reduce!r}; supported: {', '.join(_SEGMENT_OP)}"
    for arg in node.all_input_nodes:
        val = arg.meta.get("val")
        if isinstance(val, torch.Tensor) and not all(isinstance(d, int) for d in val.shape):
            return "symbolic shapes are not supported (segment ids are laid out at conversion)"
    return None


def _flat_ids(shape: tuple[int, ...], index_shape: tuple[int, ...], dim: int) -> torch.Tensor:
    """Flat position in ``shape`` of every position of ``index_shape`` with ``dim`` at 0."""
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    base = torch.zeros(index_shape, dtype=torch.int64)
    for k, (size, stride) in enumerate(zip(index_shape, strides)):
        if k != dim:
            view = [1] * len(index_shape)
            view[k] = size
            base = base + (torch.arange(size, dtype=torch.int64) * stride).reshape(view)
    return base


def _flatten(ctx: ConversionContext, x: TensorRef, n: int) -> TensorRef:
    return ctx.b.op("Reshape", x, ctx.int_list([n]), out=(x.dtype, (n,)))


def _cut(ctx: ConversionContext, src: TensorRef, shape: tuple[int, ...]) -> TensorRef:
    """``src[:shape[0], :shape[1], ...]``: torch reads only the part of ``src`` ``index`` covers."""
    if tuple(src.shape) == shape:
        return src
    rank = len(shape)
    return ctx.b.op(
        "StridedSliceV2", src, ctx.int_list([0] * rank), ctx.int_list(list(shape)),
        ctx.int_list(list(range(rank))), ctx.int_list([1] * rank),
        out=(src.dtype, shape),
    )  # fmt: skip


@register(
    aten.scatter_reduce.two,
    dtypes=NUMERIC,
    ge_ops=(
        "UnsortedSegmentSum", "UnsortedSegmentProd", "UnsortedSegmentMax",
        "UnsortedSegmentMin", "SelectV2", "Add", "Mul", "Maximum", "Minimum",
        "RealDiv", "FloorDiv", "Greater",
    ),
    predicate=_static_scatter,
)  # fmt: skip
def scatter_reduce(
    ctx: ConversionContext,
    x: TensorRef,
    dim: int,
    index: TensorRef,
    src: TensorRef,
    reduce: str,
    *,
    include_self: bool = True,
) -> TensorRef:
    """``x.scatter_reduce(dim, index, src, reduce, include_self=...)``."""
    dtype, shape = ctx.out()
    rank = len(shape)
    # Rank 0 behaves as rank 1 with one element.
    full, idx_shape = shape or (1,), tuple(index.shape) or (1,)
    dim = dim % max(rank, 1)
    numel, n = math.prod(full), math.prod(idx_shape)
    if n == 0:
        return ctx.b.op("Identity", x, out=(dtype, shape))
    stride = math.prod(full[dim + 1 :])
    base = ctx.const(_flat_ids(full, idx_shape, dim).reshape(-1), DataType.INT64)
    idx = _flatten(ctx, ctx.cast(index, DataType.INT64), n)
    scaled = ctx.b.op("Mul", idx, ctx.const(stride, DataType.INT64), out=idx.spec)
    ids = ctx.b.op("Add", base, scaled, out=idx.spec)
    num = ctx.const(numel, DataType.INT64)
    flat_src = _flatten(ctx, _cut(ctx, src, idx_shape) if rank else src, n)
    flat_x = _flatten(ctx, x, numel)
    vec = (dtype, (numel,))
    reduced = ctx.b.op(_SEGMENT_OP[reduce], flat_src, ids, num, out=vec)
    ones = ctx.b.op(
        "Fill", ctx.int_list([n]), ctx.const(1, DataType.INT32), out=(DataType.INT32, (n,))
    )
    count = ctx.b.op("UnsortedSegmentSum", ones, ids, num, out=(DataType.INT32, (numel,)))
    if include_self:
        reduced = _combine(ctx, _COMBINE[reduce], flat_x, reduced)
    if reduce == "mean":
        reduced = _mean(ctx, reduced, count, include_self, dtype, numel)
    landed = ctx.b.op("Greater", count, ctx.const(0, DataType.INT32), out=(DataType.BOOL, (numel,)))
    y = ctx.b.op("SelectV2", landed, reduced, flat_x, out=vec)
    return ctx.b.op("Reshape", y, ctx.int_list(list(shape)), out=(dtype, shape))


def _combine(ctx: ConversionContext, op: str, x: TensorRef, y: TensorRef) -> TensorRef:
    """``op(x, y)``, in float32 where the op's prototype lacks the dtype (bf16 Maximum)."""
    allowed = prototype(op).inputs[0].dtypes
    if allowed is None or x.dtype.opdef_name in allowed:
        return ctx.b.op(op, x, y, out=x.spec)
    wide = ctx.b.op(
        op, ctx.cast(x, DataType.FLOAT), ctx.cast(y, DataType.FLOAT),
        out=(DataType.FLOAT, x.shape),
    )  # fmt: skip
    return ctx.cast(wide, x.dtype)


def _mean(
    ctx: ConversionContext,
    total: TensorRef,
    count: TensorRef,
    include_self: bool,
    dtype: DataType,
    numel: int,
) -> TensorRef:
    """``total / count`` (``count + 1`` with ``self``; at least 1), floor-rounded for integers."""
    vec = (DataType.INT32, (numel,))
    if include_self:
        count = ctx.b.op("Add", count, ctx.const(1, DataType.INT32), out=vec)
    else:
        count = ctx.b.op("Maximum", count, ctx.const(1, DataType.INT32), out=vec)
    divisor = ctx.cast(count, dtype)
    op = "FloorDiv" if dtype in (DataType.INT32, DataType.INT64) else "RealDiv"
    return ctx.b.op(op, total, divisor, out=(dtype, (numel,)))
