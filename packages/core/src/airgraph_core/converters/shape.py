"""Shape converters: views, transposes, broadcasts, concatenation, splits and slices.

Sizes that are symbolic arrive as :class:`SymValue` and go through
``ctx.int_list`` (a ``Pack`` of int64 scalars), so these ops work on
dynamic shapes. Ops that do not change the tensor (a full slice, a squeeze
of no size-1 dim, ``alias``) emit nothing and return their input.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx import Node
from torch.fx.experimental.symbolic_shapes import guard_or_false

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import ALL_DTYPES, STORAGE_DTYPES, register
from airgraph_core.converters.symbolic import dim_size, dim_sizes, sym_operand
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__ = ["DATA_DTYPES", "strided_slice", "same_shape"]

aten = torch.ops.aten

#: Dtypes of pure data-movement ops (GE kernels move bytes, any element type).
DATA_DTYPES = ALL_DTYPES - {torch.float64}
#: The view ops also move complex64 tensors (GE's BasicType includes it), and
#: the dtypes eager only stores (float8, uint16/32/64).
VIEW_DTYPES = DATA_DTYPES | {torch.complex64} | STORAGE_DTYPES
#: ReverseV2's prototype lists no bf16.
_REVERSE_DTYPES = DATA_DTYPES - {torch.bfloat16}


def same_shape(a: Any, b: Any) -> bool:
    """Whether fake tensors ``a`` and ``b`` provably have the same shape."""
    if a.dim() != b.dim():
        return False
    return all(guard_or_false(x == y) for x, y in zip(a.shape, b.shape))


def _in_val(ctx: ConversionContext, i: int = 0) -> Any:
    return ctx.val(ctx.node.args[i])


def _perm_const(ctx: ConversionContext, perm: list[int]) -> TensorRef:
    return ctx.const(torch.tensor(perm, dtype=torch.int64))


@register(
    aten.view.default,
    aten._unsafe_view.default,
    aten.reshape.default,
    dtypes=VIEW_DTYPES,
    ge_ops=("Reshape",),
)
def view(ctx: ConversionContext, x: TensorRef, size: list[Any]) -> TensorRef:
    dtype, shape = ctx.out()
    if x.shape == shape and -1 not in shape:
        return x
    sizes = list(shape) if -1 not in shape else list(size)
    return ctx.b.op("Reshape", x, ctx.int_list(sizes), out=(dtype, shape))


@register(aten.alias.default, dtypes=None)
def alias(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    return x


@register(aten.permute.default, dtypes=VIEW_DTYPES, ge_ops=("Transpose", "Reshape"))
def permute(ctx: ConversionContext, x: TensorRef, dims: list[int]) -> TensorRef:
    perm = [d % max(x.rank, 1) for d in dims]
    if perm == sorted(perm):
        return x
    dtype, shape = ctx.out()
    moved = [d for d in perm if x.shape[d] != 1]
    if moved == sorted(moved) and all(n >= 0 for n in shape):
        # Only size-1 dims move: the data order is unchanged, so a Reshape
        # (TorchAir: Squeeze + Unsqueeze, which GE folds to one Reshape).
        return ctx.b.op("Reshape", x, ctx.int_list(list(shape)), out=(dtype, shape))
    return ctx.b.op("Transpose", x, _perm_const(ctx, perm), out=ctx.out())


@register(aten.transpose.int, dtypes=VIEW_DTYPES, ge_ops=("Transpose",))
def transpose(ctx: ConversionContext, x: TensorRef, dim0: int, dim1: int) -> TensorRef:
    perm = list(range(x.rank))
    if x.rank < 2:
        return x
    d0, d1 = dim0 % x.rank, dim1 % x.rank
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return permute(ctx, x, perm)


@register(aten.t.default, dtypes=VIEW_DTYPES, ge_ops=("Transpose",))
def t(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    return transpose(ctx, x, 0, 1)


@register(aten.expand.default, dtypes=VIEW_DTYPES, ge_ops=("BroadcastTo",))
def expand(
    ctx: ConversionContext, x: TensorRef, size: list[Any], implicit: bool = False
) -> TensorRef:
    val, out = _in_val(ctx), ctx.node.meta["val"]
    if same_shape(val, out):
        return x
    lead = len(size) - val.dim()
    # -1 keeps the input's size, which may itself be symbolic.
    sizes = [
        dim_size(ctx, x, val, i - lead) if isinstance(s, int) and s == -1 else s
        for i, s in enumerate(size)
    ]
    return ctx.b.op("BroadcastTo", x, ctx.int_list(sizes), out=ctx.out())


@register(aten.unsqueeze.default, dtypes=VIEW_DTYPES, ge_ops=("Unsqueeze",))
def unsqueeze(ctx: ConversionContext, x: TensorRef, dim: int) -> TensorRef:
    return ctx.b.op("Unsqueeze", x, out=ctx.out(), axes=[dim % (x.rank + 1)])


@register(
    aten.squeeze.default,
    aten.squeeze.dim,
    aten.squeeze.dims,
    dtypes=DATA_DTYPES,
    ge_ops=("Squeeze",),
)
def squeeze(ctx: ConversionContext, x: TensorRef, dim: Any = None) -> TensorRef:
    val = _in_val(ctx)
    if dim is None:
        dims = list(range(val.dim()))
    else:
        dims = [dim] if isinstance(dim, int) else list(dim)
    # Only dims of static size 1 go; naming them keeps GE from guessing on dynamic dims.
    # Given dims keep their sign, as TorchAir passes them.
    axes = [d for d in dims if val.dim() and val.shape[d % val.dim()] == 1]
    if not axes:
        return x
    return ctx.b.op("Squeeze", x, out=ctx.out(), axis=axes)


def _cat_dim_const(ctx: ConversionContext, dim: int) -> TensorRef:
    return ctx.const(dim, DataType.INT64)


@register(aten.cat.default, dtypes=VIEW_DTYPES, ge_ops=("ConcatV2",))
def cat(ctx: ConversionContext, tensors: list[TensorRef], dim: int = 0) -> TensorRef:
    dtype, shape = ctx.out()
    vals = [ctx.val(n) for n in ctx.node.args[0]]
    # torch skips legacy empty 1-D inputs (shape [0]) whatever the other ranks are.
    keep = [
        ctx.cast(ref, dtype)
        for ref, v in zip(tensors, vals)
        if not (v.dim() == 1 and guard_or_false(v.shape[0] == 0))
    ]
    if not keep:
        return ctx.b.op("Fill", ctx.int_list(list(shape)), ctx.const(0, dtype), out=(dtype, shape))
    if len(keep) == 1:
        return keep[0]
    # ``dim`` as given (negative counts from the end in GE too), as TorchAir passes it.
    return ctx.b.op("ConcatV2", keep, _cat_dim_const(ctx, dim), out=(dtype, shape), N=len(keep))


@register(aten.stack.default, dtypes=VIEW_DTYPES, ge_ops=("Pack",))
def stack(ctx: ConversionContext, tensors: list[TensorRef], dim: int = 0) -> TensorRef:
    dtype, shape = ctx.out()
    refs = [ctx.cast(ref, dtype) for ref in tensors]
    return ctx.b.op("Pack", refs, out=(dtype, shape), axis=dim % len(shape), N=len(refs))


def _static_dim(node: Node) -> str | None:
    val = node.args[0].meta.get("val")
    dim = node.args[1] if len(node.args) > 1 else 0
    if not isinstance(val.shape[dim], int):
        return f"dim {dim} is symbolic; the number of outputs must be static"
    return None


@register(aten.unbind.int, dtypes=DATA_DTYPES, ge_ops=("Unpack",), predicate=_static_dim)
def unbind(ctx: ConversionContext, x: TensorRef, dim: int = 0) -> list[TensorRef]:
    n = len(ctx.node.meta["val"])
    return ctx.b.op("Unpack", x, out=[ctx.out(i) for i in range(n)], num=n, axis=dim % x.rank)


def _split_v(ctx: ConversionContext, x: TensorRef, sizes: list[Any], dim: int) -> list[TensorRef]:
    n = len(ctx.node.meta["val"])
    outs = [ctx.out(i) for i in range(n)]
    split_dim = ctx.const(dim, DataType.INT32)  # as given, as TorchAir passes it
    return ctx.b.op("SplitV", x, ctx.int_list(sizes), split_dim, out=outs, num_split=n)


@register(aten.split.Tensor, dtypes=DATA_DTYPES, ge_ops=("SplitV",))
def split(ctx: ConversionContext, x: TensorRef, split_size: Any, dim: int = 0) -> list[TensorRef]:
    n = len(ctx.node.meta["val"])
    # The last piece takes the rest: SplitV infers a single -1 entry.
    sizes = [split_size] * (n - 1) + [-1]
    return _split_v(ctx, x, sizes, dim)


@register(aten.split_with_sizes.default, dtypes=DATA_DTYPES, ge_ops=("SplitV",))
def split_with_sizes(
    ctx: ConversionContext, x: TensorRef, split_sizes: list[Any], dim: int = 0
) -> list[TensorRef]:
    return _split_v(ctx, x, list(split_sizes), dim)


#: The end TorchAir gives an open slice; StridedSliceV2 clamps ends to the dim's size.
OPEN_END = 2147483647


def strided_slice(
    ctx: ConversionContext,
    x: TensorRef,
    dim: int,
    start: Any,
    end: Any,
    step: Any = 1,
    out: Any = None,
) -> TensorRef:
    """``x[start:end:step]`` along ``dim`` as one ``StridedSliceV2`` (python slice semantics).

    begin, end, axes and strides are 0-d tensors, as TorchAir gives them.
    """
    ints = [sym_operand(ctx, v) for v in (start, end, dim, step)]
    return ctx.b.op("StridedSliceV2", x, *ints, out=out)


@register(aten.slice.Tensor, dtypes=VIEW_DTYPES, ge_ops=("StridedSliceV2",))
def slice_(
    ctx: ConversionContext,
    x: TensorRef,
    dim: int = 0,
    start: Any = None,
    end: Any = None,
    step: Any = 1,
) -> TensorRef:
    val, out = _in_val(ctx), ctx.node.meta["val"]
    if same_shape(val, out):
        return x
    start = 0 if start is None else start
    # As TorchAir: ``dim`` as given, an open (or too large) end as INT32_MAX,
    # which StridedSliceV2 clamps to the dim's size; no Shape read for it.
    if end is None or (isinstance(end, int) and end > OPEN_END):
        end = OPEN_END
    return strided_slice(ctx, x, dim, start, end, step, out=ctx.out())


@register(aten.select.int, dtypes=VIEW_DTYPES, ge_ops=("GatherV2",))
def select(ctx: ConversionContext, x: TensorRef, dim: int, index: Any) -> TensorRef:
    # As TorchAir: ``dim`` as given in a [1] tensor, a negative index left to
    # GatherV2 (``negative_index_support``) instead of adding the dim's size.
    axis = ctx.const(torch.tensor([dim], dtype=torch.int64))
    return ctx.b.op(
        "GatherV2", x, sym_operand(ctx, index), axis, out=ctx.out(), negative_index_support=True
    )


@register(aten.repeat.default, dtypes=DATA_DTYPES, ge_ops=("Tile", "Reshape", "Fill"))
def repeat(ctx: ConversionContext, x: TensorRef, repeats: list[Any]) -> TensorRef:
    dtype, shape = ctx.out()
    if 0 in shape:
        # A zero-size result has nothing to tile (and a zero-size input cannot be reshaped).
        return ctx.b.op(
            "Fill", ctx.int_list(list(shape)), ctx.b.const(0, dtype), out=(dtype, shape)
        )
    val = _in_val(ctx)
    lead = len(repeats) - val.dim()
    if lead > 0:
        # torch prepends size-1 dims when there are more repeats than dims.
        sizes = [1] * lead + dim_sizes(ctx, x, val)
        shape = (1,) * lead + tuple(x.shape)
        x = ctx.b.op("Reshape", x, ctx.int_list(sizes), out=(x.dtype, shape))
    return ctx.b.op("Tile", x, ctx.int_list(list(repeats)), out=ctx.out())


@register(aten.constant_pad_nd.default, dtypes=DATA_DTYPES, ge_ops=("PadV3",))
def constant_pad_nd(
    ctx: ConversionContext, x: TensorRef, pad: list[Any], value: Any = 0
) -> TensorRef:
    # torch lists (begin, end) pairs from the last dim backwards; PadV3 wants
    # every dim's pair from the first dim on.
    pairs = [[0, 0] for _ in range(x.rank)]
    for i in range(len(pad) // 2):
        pairs[x.rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    paddings = ctx.int_list([p for pair in pairs for p in pair])
    fill = ctx.scalar(value, x.dtype)
    return ctx.b.op(
        "PadV3", x, paddings, fill, out=ctx.out(), mode="constant", paddings_contiguous=True
    )


@register(aten.flip.default, dtypes=_REVERSE_DTYPES, ge_ops=("ReverseV2",))
def flip(ctx: ConversionContext, x: TensorRef, dims: list[int]) -> TensorRef:
    if not dims:
        return x
    axes = ctx.const(torch.tensor(list(dims), dtype=torch.int64))  # as given, as TorchAir
    return ctx.b.op("ReverseV2", x, axes, out=ctx.out())
