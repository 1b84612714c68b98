"""Index converters: gathers, scatters, advanced indexing and in-place writes.

Functionalized in-place writes (``cache[:, pos] = x``, ``index_copy_``,
``copy_`` into an input) reach us as a functional op that builds the new
value (``slice_scatter``, ``select_scatter``, ``index_copy``, ``index_put``)
followed by ``copy_(input, new_value)``, which becomes GE's ``Assign``.
The functional ops use GE ops that return a new tensor (``ConcatV2`` of
slices, ``ScatterElements``), or copy the input first (``TensorMove``)
where GE's op writes into its input (``IndexPutV2``).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch.fx import Node
from torch.fx.experimental.symbolic_shapes import guard_or_false

from airgraph_core.converters.context import ConversionContext, SymValue, spec_of
from airgraph_core.converters.registry import INTS, NUMERIC, register
from airgraph_core.converters.shape import DATA_DTYPES, OPEN_END, same_shape, strided_slice
from airgraph_core.converters.strided import scatter_through_view, static_positions, view_positions
from airgraph_core.converters.symbolic import dim_size, dim_sizes, sym_operand
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []

aten = torch.ops.aten

#: GatherElements' prototype list.
_GATHER_DTYPES = NUMERIC | {torch.bool, torch.int8, torch.uint8, torch.int16}
#: ScatterElements takes NumberType (no bool).
_SCATTER_DTYPES = NUMERIC | {torch.int8, torch.uint8, torch.int16}
#: IndexPutV2 writes into its input, so it runs on a copy: TensorMove's list, and bf16 (via float32).
_INDEX_PUT_DTYPES = INTS | {
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.bool,
    torch.int8,
    torch.uint8,
}


def _val(ctx: ConversionContext, i: int) -> Any:
    return ctx.val(ctx.node.args[i])


def _no_mask_indices(node: Node) -> str | None:
    for idx in node.args[1]:
        val = idx.meta.get("val") if isinstance(idx, Node) else None
        if val is not None and val.dtype in (torch.bool, torch.uint8):
            return "boolean mask indices give data-dependent shapes"
    return None


@register(aten.index_select.default, dtypes=DATA_DTYPES, ge_ops=("GatherV2", "Reshape"))
def index_select(ctx: ConversionContext, x: TensorRef, dim: int, index: TensorRef) -> TensorRef:
    if x.rank == 0:
        # Eager treats a scalar as one element along dim 0: gather from shape (1,).
        dtype, shape = ctx.out()
        x1 = ctx.b.op("Reshape", x, ctx.int_list([1]), out=(x.dtype, (1,)))
        y = ctx.b.op("GatherV2", x1, index, ctx.const(0, DataType.INT64), out=(dtype, index.shape))
        return ctx.b.op("Reshape", y, ctx.int_list(list(shape)), out=(dtype, shape))
    axis = ctx.const(dim % x.rank, DataType.INT64)
    return ctx.b.op("GatherV2", x, index, axis, out=ctx.out())


@register(aten.gather.default, dtypes=_GATHER_DTYPES, ge_ops=("GatherElements", "Cast"))
def gather(
    ctx: ConversionContext, x: TensorRef, dim: int, index: TensorRef, sparse_grad: bool = False
) -> TensorRef:
    if index.dtype not in (DataType.INT32, DataType.INT64):
        # Eager accepts another index dtype only for an empty index; GatherElements never does.
        index = ctx.cast(index, DataType.INT64)
    return ctx.b.op("GatherElements", x, index, out=ctx.out(), dim=dim % max(x.rank, 1))


@register(
    aten.index.Tensor,
    dtypes=DATA_DTYPES,
    ge_ops=("IndexByTensor",),
    predicate=_no_mask_indices,
)
def index(ctx: ConversionContext, x: TensorRef, indices: list[Any]) -> TensorRef:
    """Advanced indexing; ``None`` entries are full slices (``indices_mask`` 0)."""
    mask = [0 if i is None else 1 for i in indices]
    refs = [ctx.cast(i, DataType.INT64) for i in indices if i is not None]
    return ctx.b.op("IndexByTensor", x, refs, out=ctx.out(), indices_mask=mask)


def _scatter_elements(
    ctx: ConversionContext,
    x: TensorRef,
    dim: int,
    index: TensorRef,
    updates: TensorRef,
    reduction: str,
) -> TensorRef:
    dtype, shape = ctx.out()
    return ctx.b.op(
        "ScatterElements",
        ctx.cast(x, dtype),
        index,
        ctx.cast(updates, dtype),
        out=(dtype, shape),
        axis=dim % max(x.rank, 1),
        reduction=reduction,
    )


def _updates_like_index(ctx: ConversionContext, src: TensorRef) -> TensorRef:
    """``src`` cut to the index's shape (scatter reads only that corner of ``src``)."""
    index_val, src_val = _val(ctx, 2), _val(ctx, 3)
    if same_shape(index_val, src_val):
        return src
    sizes = dim_sizes(ctx, src, index_val)
    r = len(sizes)
    begin, axes, strides = (
        ctx.int_list([0] * r),
        ctx.int_list(list(range(r))),
        ctx.int_list([1] * r),
    )
    out = (src.dtype, spec_of(index_val)[1])
    return ctx.b.op("StridedSliceV2", src, begin, ctx.int_list(sizes), axes, strides, out=out)


_REDUCTIONS = {"add": "add", "multiply": "mul"}


def _known_reduce(node: Node) -> str | None:
    reduce = node.kwargs.get("reduce", node.args[4] if len(node.args) > 4 else None)
    if reduce is not None and reduce not in _REDUCTIONS:
        return f"reduce={reduce!r}; supported: {sorted(_REDUCTIONS)}"
    return None


@register(
    aten.scatter.src,
    aten.scatter.reduce,
    dtypes=_SCATTER_DTYPES,
    ge_ops=("ScatterElements",),
    predicate=_known_reduce,
)
def scatter_src(
    ctx: ConversionContext,
    x: TensorRef,
    dim: int,
    index: TensorRef,
    src: TensorRef,
    reduce: Any = None,
) -> TensorRef:
    reduction = "none" if reduce is None else _REDUCTIONS[reduce]
    return _scatter_elements(ctx, x, dim, index, _updates_like_index(ctx, src), reduction)


@register(aten.scatter_add.default, dtypes=_SCATTER_DTYPES, ge_ops=("ScatterElements",))
def scatter_add(
    ctx: ConversionContext, x: TensorRef, dim: int, index: TensorRef, src: TensorRef
) -> TensorRef:
    return _scatter_elements(ctx, x, dim, index, _updates_like_index(ctx, src), "add")


@register(
    aten.scatter.value,
    aten.scatter.value_reduce,
    dtypes=_SCATTER_DTYPES,
    ge_ops=("ScatterElements", "Shape", "Fill"),
    predicate=_known_reduce,
)
def scatter_value(
    ctx: ConversionContext, x: TensorRef, dim: int, index: TensorRef, value: Any, reduce: Any = None
) -> TensorRef:
    dtype = ctx.out()[0]
    index_val = _val(ctx, 2)
    # The updates are the value in the index's shape, read with Shape as TorchAir reads it.
    dims = ctx.b.op(
        "Shape", index, out=(DataType.INT32, (index.rank,)), dtype=DataType.INT32.ge_code
    )
    updates = ctx.b.op("Fill", dims, ctx.scalar(value, dtype), out=(dtype, spec_of(index_val)[1]))
    reduction = "none" if reduce is None else _REDUCTIONS[reduce]
    return _scatter_elements(ctx, x, dim, index, updates, reduction)


@register(
    aten.index_put.default,
    aten._unsafe_index_put.default,
    dtypes=_INDEX_PUT_DTYPES,
    ge_ops=("TensorMove", "IndexPutV2", "Cast"),
    predicate=_no_mask_indices,
)
def index_put(
    ctx: ConversionContext,
    x: TensorRef,
    indices: list[Any],
    values: TensorRef,
    accumulate: bool = False,
) -> TensorRef:
    """``x[indices] = values`` (or ``+=``); TorchAir has no converter, torch_npu uses IndexPutV2."""
    masks = ctx.const(torch.tensor([0 if i is None else 1 for i in indices], dtype=torch.int64))
    refs = [ctx.cast(i, DataType.INT64) for i in indices if i is not None]
    dtype, shape = ctx.out()
    # TensorMove's prototype lists no BF16: a bf16 input is copied by a Cast
    # to float32 instead (exact), and the result cast back.
    work = DataType.FLOAT if dtype == DataType.BF16 else dtype
    if work == dtype:
        fresh = ctx.b.op("TensorMove", x, out=x.spec)
    else:
        fresh = ctx.cast(x, work)
    out = ctx.b.op(
        "IndexPutV2",
        fresh,
        ctx.cast(values, work),
        masks,
        masks,
        refs,
        out=(work, shape),
        accumulate=bool(accumulate),
    )
    return ctx.cast(out, dtype)


@register(
    aten.index_copy.default,
    dtypes=_SCATTER_DTYPES,
    ge_ops=("Reshape", "BroadcastTo", "ScatterElements"),
)
def index_copy(
    ctx: ConversionContext, x: TensorRef, dim: int, index: TensorRef, src: TensorRef
) -> TensorRef:
    """``x.index_copy(dim, index, src)`` as a scatter of ``src`` with ``index`` broadcast along ``dim``."""
    src_val = _val(ctx, 3)
    rank = max(x.rank, 1)
    dim = dim % rank
    view = [1] * rank
    view[dim] = -1
    n = index.shape[0] if index.shape else 1
    idx = ctx.b.op(
        "Reshape",
        index,
        ctx.int_list(view),
        out=(index.dtype, tuple(n if d == -1 else 1 for d in view)),
    )
    if x.rank:
        idx = ctx.b.op(
            "BroadcastTo",
            idx,
            ctx.int_list(dim_sizes(ctx, src, src_val)),
            out=(index.dtype, spec_of(src_val)[1]),
        )
    return _scatter_elements(ctx, x, dim, idx, src, "none")


@register(aten.copy_.default, dtypes=DATA_DTYPES, ge_ops=("Assign", "Cast", "BroadcastTo"))
def copy_(
    ctx: ConversionContext, dst: TensorRef, src: TensorRef, non_blocking: bool = False
) -> TensorRef:
    """In-place update of a graph input: ``Assign`` of ``src`` cast and broadcast to ``dst``."""
    value = _like(ctx, src, dst, _val(ctx, 1), _val(ctx, 0))
    return ctx.b.op("Assign", dst, value, out=dst.spec)


@register(aten.copy.default, dtypes=DATA_DTYPES, ge_ops=("Cast", "BroadcastTo"))
def copy(
    ctx: ConversionContext, dst: TensorRef, src: TensorRef, non_blocking: bool = False
) -> TensorRef:
    return _like(ctx, src, dst, _val(ctx, 1), _val(ctx, 0))


def _like(
    ctx: ConversionContext, src: TensorRef, dst: TensorRef, src_val: Any, dst_val: Any
) -> TensorRef:
    """``src`` cast to ``dst``'s dtype and broadcast to its shape."""
    value = ctx.cast(src, dst.dtype)
    if same_shape(src_val, dst_val):
        return value
    sizes = ctx.int_list(dim_sizes(ctx, dst, dst_val))
    return ctx.b.op("BroadcastTo", value, sizes, out=dst.spec)


def _unit_step(node: Node) -> str | None:
    step = node.args[5] if len(node.args) > 5 else node.kwargs.get("step", 1)
    if step != 1:
        # A strided slice is written through its positions, known for static shapes.
        reason = static_positions(node)
        return None if reason is None else f"step={step}: {reason}"
    return None


@register(
    aten.slice_scatter.default,
    dtypes=DATA_DTYPES,
    ge_ops=("StridedSliceV2", "ConcatV2", "ScatterElements"),
    predicate=_unit_step,
)
def slice_scatter(
    ctx: ConversionContext,
    x: TensorRef,
    src: TensorRef,
    dim: int = 0,
    start: Any = None,
    end: Any = None,
    step: Any = 1,
) -> TensorRef:
    """``x`` with ``x[start:end:step]`` along ``dim`` replaced by ``src``.

    Step 1 is ``cat(x[:start], src, x[end:])``; a larger step writes the
    slice's positions with ``ScatterElements`` (static shapes).
    """
    if step != 1:
        shape = tuple(_val(ctx, 0).shape)
        positions = view_positions(shape, lambda t: aten.slice.Tensor(t, dim, start, end, step))
        return scatter_through_view(ctx, x, src, positions)
    return _write_slice(ctx, x, src, _val(ctx, 0), dim % x.rank, start, end)


@register(
    aten.select_scatter.default,
    dtypes=DATA_DTYPES,
    ge_ops=("Unsqueeze", "StridedSliceV2", "ConcatV2"),
)
def select_scatter(
    ctx: ConversionContext, x: TensorRef, src: TensorRef, dim: int, index: Any
) -> TensorRef:
    """``x`` with ``x.select(dim, index)`` replaced by ``src``."""
    val = _val(ctx, 0)
    dim = dim % x.rank
    if isinstance(index, int) and index < 0:
        size = dim_size(ctx, x, val, dim)
        index = index + size if isinstance(size, int) else _sym_add(ctx, size, index)
    shape = list(src.shape or ())
    shape.insert(dim, 1)
    row = ctx.b.op("Unsqueeze", src, out=(src.dtype, tuple(shape)), axes=[dim])
    end = index + 1 if isinstance(index, int) else _sym_add(ctx, index, 1)
    return _write_slice(ctx, x, row, val, dim, index, end)


def _sym_add(ctx: ConversionContext, a: Any, b: Any) -> SymValue:
    ref = ctx.b.op("Add", sym_operand(ctx, a), sym_operand(ctx, b), out=(DataType.INT64, ()))
    return SymValue(ref)


def _write_slice(
    ctx: ConversionContext, x: TensorRef, src: TensorRef, val: Any, dim: int, start: Any, end: Any
) -> TensorRef:
    dtype, shape = ctx.out()
    size = val.shape[dim]
    start = 0 if start is None else start
    if end is None or (isinstance(end, int) and end >= sys.maxsize):
        end = size if isinstance(size, int) else None
    elif isinstance(end, int) and isinstance(size, int):
        end = min(end, size)
    parts = []
    if not (isinstance(start, int) and start == 0):
        parts.append(strided_slice(ctx, x, dim, 0, start, out=_part_spec(x, dim, start)))
    parts.append(ctx.cast(src, dtype))
    if end is not None and not (isinstance(end, int) and guard_or_false(end == size)):
        part = _part_spec(x, dim, None, size, end)
        parts.append(strided_slice(ctx, x, dim, end, OPEN_END, out=part))
    if len(parts) == 1:
        return parts[0]
    concat_dim = ctx.const(dim, DataType.INT64)
    return ctx.b.op("ConcatV2", parts, concat_dim, out=(dtype, shape), N=len(parts))


def _part_spec(x: TensorRef, dim: int, stop: Any, size: Any = None, begin: Any = None) -> Any:
    """Spec of ``x[:stop]`` (or of ``x[begin:]`` when ``stop`` is None) along ``dim``."""
    shape = list(x.shape)
    n = -1
    if stop is not None and isinstance(stop, int) and shape[dim] >= 0:
        n = len(range(shape[dim])[:stop])
    elif stop is None and isinstance(begin, int) and isinstance(size, int):
        n = len(range(size)[begin:])
    shape[dim] = n
    return (x.dtype, tuple(shape))
