"""``_embedding_bag`` (and its inference twin ``_embedding_bag_forward_only``).

TorchAir emits GE's ``EmbeddingBag``, which is not among GE's public op
prototypes (``shared/ge/opdefs.json``), so a graph holding it would fail
the prototype check; the bags are written with portable ops instead:

1. ``GatherV2`` of the weight rows of every index;
2. the bag of each index from the offsets: ``ReduceSum`` over
   ``offsets[b] <= i`` minus one (``Const`` positions, ``LessEqual``);
3. ``UnsortedSegmentSum`` per bag (sum; mean divides by the number of
   indices other than ``padding_idx``, at least 1) or
   ``UnsortedSegmentMax`` (max; an empty bag is 0, as in ATen).

Indices equal to ``padding_idx`` take no part (``SelectV2``). With
``include_last_offset`` the last offset should be the number of indices;
indices past it are treated as eager's CPU kernels treat them: they belong
to the last bag (max, and every mode when ``padding_idx`` is set), except
that the float sum/mean kernel without ``padding_idx`` stops summing at the
last offset while its mean still counts them in the divisor. Only the first
result (the bags) may be used: ``offset2bag``, ``bag_size`` and
``max_indices`` are training bookkeeping. Half precision is reduced in
float32 and cast back. Symbolic lengths of the indices and offsets are
read in the graph (``Range`` of the positions, the bag count as the segment
ops' ``num_segments``).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, SymValue
from airgraph_core.converters.registry import FLOATS, INTS, register
from airgraph_core.converters.shape import strided_slice
from airgraph_core.converters.symbolic import dim_size, sym_operand
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []

aten = torch.ops.aten

_MODES = {0: "sum", 1: "mean", 2: "max"}


def _arg(node: Node, index: int, name: str, default: Any) -> Any:
    return node.args[index] if len(node.args) > index else node.kwargs.get(name, default)


def _supported(node: Node) -> str | None:
    for user in node.users:
        if user.target is operator.getitem and user.args[1] != 0 and user.users:
            return (
                f"result {user.args[1]} (offset2bag, bag_size, max_indices) is used; "
                "only the bags themselves are lowered"
            )
    for name, arg in (("indices", node.args[1]), ("offsets", node.args[2])):
        val = arg.meta["val"]
        if val.dim() != 1:
            return f"{name} has rank {val.dim()}; expected 1-D (F.embedding_bag flattens 2-D input)"
    if _arg(node, 4, "mode", 0) not in _MODES:
        return f"mode={_arg(node, 4, 'mode', 0)}: expected 0 (sum), 1 (mean) or 2 (max)"
    return None


def _positions(ctx: ConversionContext, n: int | SymValue, dtype: DataType) -> TensorRef:
    """``[0, 1, ..., n - 1]`` of ``dtype``: a Const, or a Range for a symbolic ``n``."""
    if isinstance(n, int):
        return ctx.const(torch.arange(n), dtype)
    one = ctx.const(1, DataType.INT64)
    index = ctx.b.op("Range", ctx.const(0, DataType.INT64), n.ref, one, out=(DataType.INT64, (-1,)))
    return ctx.cast(index, dtype)


def _bag_ids(
    ctx: ConversionContext,
    offsets: TensorRef,
    n: int | SymValue,
    bags: int | SymValue,
    include_last: bool,
    mask_past: bool,
) -> tuple[TensorRef, TensorRef | None]:
    """The bag of each of the ``n`` indices (int32), and whether it is inside the last offset.

    Indices past the last offset land in the last bag; the mask (``None``
    unless ``include_last`` and ``mask_past``) tells them apart.
    """
    i32, dt = DataType.INT32, offsets.dtype
    ns, bs = _spec(n), _spec(bags)
    positions = _positions(ctx, n, dt)
    column = ctx.b.op("Unsqueeze", positions, out=(dt, (ns, 1)), axes=[1])
    starts = offsets
    if include_last:
        starts = strided_slice(ctx, offsets, 0, 0, bags, out=(dt, (bs,)))
    row = ctx.b.op("Unsqueeze", starts, out=(dt, (1, bs)), axes=[0])
    started = ctx.b.op("LessEqual", row, column, out=(DataType.BOOL, (ns, bs)))
    count = ctx.b.op(
        "ReduceSum", ctx.cast(started, i32), ctx.const(torch.tensor([1]), DataType.INT64),
        out=(i32, (ns,)), keep_dims=False,
    )  # fmt: skip
    ids = ctx.b.op("Sub", count, ctx.const(1, i32), out=(i32, (ns,)))
    if not include_last:
        return ids, None
    last_id = ctx.cast(sym_operand(ctx, _plus(ctx, bags, -1)), i32)
    ids = ctx.b.op("Minimum", ids, last_id, out=(i32, (ns,)))
    if not mask_past:
        return ids, None
    last = strided_slice(ctx, offsets, 0, bags, _plus(ctx, bags, 1), out=(dt, (1,)))
    return ids, ctx.b.op("Less", positions, last, out=(DataType.BOOL, (ns,)))


def _spec(size: int | SymValue) -> int:
    return size if isinstance(size, int) else -1


def _plus(ctx: ConversionContext, size: int | SymValue, k: int) -> int | SymValue:
    if isinstance(size, int):
        return size + k
    ref = ctx.b.op("Add", size.ref, ctx.const(k, DataType.INT64), out=(DataType.INT64, ()))
    return SymValue(ref, f"({size.expr}) + {k}")


@register(
    aten._embedding_bag.default,
    aten._embedding_bag_forward_only.default,
    dtypes=FLOATS | INTS,
    ge_ops=(
        "GatherV2", "LessEqual", "Less", "ReduceSum", "Sub", "Minimum", "StridedSliceV2",
        "NotEqual", "SelectV2", "Mul", "UnsortedSegmentSum",
        "UnsortedSegmentMax", "Maximum", "RealDiv", "Greater", "Cast", "Unsqueeze", "Range",
        "OnesLike", "Add",
    ),
    predicate=_supported,
)  # fmt: skip
def embedding_bag(
    ctx: ConversionContext,
    weight: TensorRef,
    indices: TensorRef,
    offsets: TensorRef,
    scale_grad_by_freq: bool = False,
    mode: int = 0,
    sparse: bool = False,
    per_sample_weights: TensorRef | None = None,
    include_last_offset: bool = False,
    padding_idx: int = -1,
) -> list[TensorRef | None]:
    """The bags ``[B, D]``; the three bookkeeping results are left out (unused)."""
    f32 = DataType.FLOAT
    dtype, (_, dim) = ctx.out(0)
    n = dim_size(ctx, indices, ctx.val(ctx.node.args[1]), 0)
    bags = dim_size(ctx, offsets, ctx.val(ctx.node.args[2]), 0)
    if include_last_offset:
        bags = _plus(ctx, bags, -1)
    rows = ctx.b.op(
        "GatherV2", ctx.cast(weight, f32), indices, ctx.const(0, DataType.INT64),
        out=(f32, (indices.shape[0], dim)), batch_dims=0,
    )  # fmt: skip
    padded = padding_idx is not None and padding_idx >= 0
    # Indices past the last offset (see the module docstring): only the float
    # sum/mean kernel without padding_idx leaves them out of the sum.
    ids, keep = _bag_ids(ctx, offsets, n, bags, bool(include_last_offset), not padded and mode != 2)
    counted = None
    if padded:
        keep = counted = ctx.b.op(
            "NotEqual", indices, ctx.const(int(padding_idx), indices.dtype),
            out=(DataType.BOOL, indices.shape),
        )  # fmt: skip
    if per_sample_weights is not None:
        psw = ctx.cast(per_sample_weights, f32)
        psw = ctx.b.op("Unsqueeze", psw, out=(f32, (psw.shape[0], 1)), axes=[1])
        rows = ctx.b.op("Mul", rows, psw, out=rows.spec)
    y = _reduce_bags(ctx, rows, ids, keep, counted, int(mode), bags)
    return [ctx.cast(y, dtype), None, None, None]


def _reduce_bags(
    ctx: ConversionContext,
    rows: TensorRef,
    ids: TensorRef,
    keep: TensorRef | None,
    counted: TensorRef | None,
    mode: int,
    bags: int | SymValue,
) -> TensorRef:
    """Sum, mean or max of the (float32) ``rows`` per bag.

    Rows not in ``keep`` take no part in the sum or max; the bag sizes
    (mean's divisor, max's empty bags) count the rows in ``counted``
    (``None``: every row).
    """
    f32 = DataType.FLOAT
    n, dim = rows.shape
    num = sym_operand(ctx, bags)
    vec = (f32, (_spec(bags), dim))
    if keep is not None:
        # The identity of the reduction where a row is left out (never a 0 * inf):
        # -inf for max, so a bag of -inf rows stays -inf, as in eager.
        fill = -math.inf if mode == 2 else 0.0
        mask = ctx.b.op("Unsqueeze", keep, out=(DataType.BOOL, (n, 1)), axes=[1])
        rows = ctx.b.op("SelectV2", mask, rows, ctx.const(fill, f32), out=rows.spec)
    if mode == 0:
        return ctx.b.op("UnsortedSegmentSum", rows, ids, num, out=vec)
    if counted is not None:
        ones = ctx.cast(counted, f32)
    else:
        ones = ctx.b.op("Cast", ids, out=(f32, ids.shape), dst_type=f32.ge_code)
        ones = ctx.b.op("OnesLike", ones, out=ones.spec)
    count = ctx.b.op("UnsortedSegmentSum", ones, ids, num, out=(f32, (_spec(bags),)))
    count = ctx.b.op("Unsqueeze", count, out=(f32, (_spec(bags), 1)), axes=[1])
    if mode == 1:
        total = ctx.b.op("UnsortedSegmentSum", rows, ids, num, out=vec)
        divisor = ctx.b.op("Maximum", count, ctx.const(1.0, f32), out=count.spec)
        return ctx.b.op("RealDiv", total, divisor, out=vec)
    y = ctx.b.op("UnsortedSegmentMax", rows, ids, num, out=vec)
    # UnsortedSegmentMax starts from float32's lowest value (TensorFlow's
    # contract), so a bag whose rows are all -inf (or left out) comes out
    # lowest; eager's max is -inf there.
    finite = ctx.b.op("NotEqual", rows, ctx.const(-math.inf, f32), out=(DataType.BOOL, rows.shape))
    finite = ctx.b.op("UnsortedSegmentMax", ctx.cast(finite, f32), ids, num, out=vec)
    finite = ctx.b.op("Greater", finite, ctx.const(0.0, f32), out=(DataType.BOOL, vec[1]))
    y = ctx.b.op("SelectV2", finite, y, ctx.const(-math.inf, f32), out=vec)
    filled = ctx.b.op("Greater", count, ctx.const(0.0, f32), out=(DataType.BOOL, (_spec(bags), 1)))
    return ctx.b.op("SelectV2", filled, y, ctx.const(0.0, f32), out=vec)
