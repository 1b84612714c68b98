"""Strided views GE has no op for, and writes through them, as static index maps.

``diagonal``, ``unfold`` and ``as_strided`` read their input at positions
that depend only on its shape; so do the functional writes through such
views and through slices with a step (``diagonal_scatter``,
``as_strided_scatter``, ``slice_scatter`` with ``step > 1``), which is what
``x.diagonal().add_(1)`` or ``x[::2] = v`` become after functionalization.
With static shapes the positions are known when lowering: the converter
applies the view op itself to ``arange(numel)`` and emits a ``GatherV2``
(read) or ``ScatterElements`` (write) over the flattened input, the
positions a constant. Symbolic shapes are refused with a clear reason, and
so are writes through views whose elements overlap (``unfold``,
``as_strided`` with repeats), which eager rejects too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import NUMERIC, register
from airgraph_core.converters.shape import DATA_DTYPES
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__ = ["scatter_through_view", "static_positions", "view_positions"]

aten = torch.ops.aten

#: ScatterElements takes NumberType (no bool).
_SCATTER_DTYPES = NUMERIC | {torch.int8, torch.uint8, torch.int16}


def view_positions(shape: tuple[int, ...], view: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """The flat positions in a tensor of ``shape`` that ``view`` reads, in the view's shape."""
    return view(torch.arange(math.prod(shape), dtype=torch.int64).reshape(shape))


def static_positions(node: Node) -> str | None:
    """Why ``node``'s positions cannot be computed when lowering, or None."""
    vals = [a.meta.get("val") for a in node.all_input_nodes] + [node.meta.get("val")]
    for val in vals:
        if isinstance(val, torch.Tensor) and not all(isinstance(n, int) for n in val.shape):
            return "needs static shapes (its positions are computed when lowering)"
        if isinstance(val, torch.SymInt):
            return "needs static arguments (its positions are computed when lowering)"
    return None


def _dense_input(node: Node) -> str | None:
    """``as_strided`` reads memory: the input must be laid out as its logical order."""
    reason = static_positions(node)
    if reason is not None:
        return reason
    val = node.args[0].meta.get("val") if isinstance(node.args[0], Node) else None
    if val is None or not val.is_contiguous() or val.storage_offset() != 0:
        return "as_strided of a tensor that is not contiguous from offset 0"
    return None


def _flat(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    numel = math.prod(x.shape or ())
    return ctx.b.op("Reshape", x, ctx.int_list([numel]), out=(x.dtype, (numel,)))


def _gather(ctx: ConversionContext, x: TensorRef, positions: torch.Tensor) -> TensorRef:
    flat = positions.reshape(-1)
    picked = ctx.b.op(
        "GatherV2",
        _flat(ctx, x),
        ctx.const(flat, DataType.INT64),
        ctx.const(0, DataType.INT64),
        out=(x.dtype, (flat.numel(),)),
    )
    shape = tuple(positions.shape)
    return ctx.b.op("Reshape", picked, ctx.int_list(list(shape)), out=(x.dtype, shape))


def scatter_through_view(
    ctx: ConversionContext, x: TensorRef, src: TensorRef, positions: torch.Tensor
) -> TensorRef:
    """``x`` with the elements at ``positions`` (a view's flat positions) replaced by ``src``.

    Raises:
        NotImplementedError: positions repeat (the view's elements overlap).
    """
    flat = positions.reshape(-1)
    if flat.numel() != torch.unique(flat).numel():
        raise NotImplementedError("a write through a view whose elements overlap")
    dtype, shape = ctx.out()
    src = ctx.cast(src, dtype)
    numel = flat.numel()
    updates = ctx.b.op("Reshape", src, ctx.int_list([numel]), out=(dtype, (numel,)))
    written = ctx.b.op(
        "ScatterElements",
        _flat(ctx, ctx.cast(x, dtype)),
        ctx.const(flat, DataType.INT64),
        updates,
        out=(dtype, (math.prod(shape),)),
        axis=0,
        reduction="none",
    )
    return ctx.b.op("Reshape", written, ctx.int_list(list(shape)), out=(dtype, shape))


def _shape(ctx: ConversionContext, arg: int = 0) -> tuple[int, ...]:
    return tuple(ctx.val(ctx.node.args[arg]).shape)


# -- reads --------------------------------------------------------------------


@register(
    aten.diagonal.default, dtypes=DATA_DTYPES, ge_ops=("GatherV2",), predicate=static_positions
)
def diagonal(
    ctx: ConversionContext, x: TensorRef, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> TensorRef:
    return _gather(ctx, x, view_positions(_shape(ctx), lambda t: t.diagonal(offset, dim1, dim2)))


@register(aten.unfold.default, dtypes=DATA_DTYPES, ge_ops=("GatherV2",), predicate=static_positions)
def unfold(ctx: ConversionContext, x: TensorRef, dim: int, size: int, step: int) -> TensorRef:
    return _gather(ctx, x, view_positions(_shape(ctx), lambda t: t.unfold(dim, size, step)))


@register(aten.as_strided.default, dtypes=DATA_DTYPES, ge_ops=("GatherV2",), predicate=_dense_input)
def as_strided(
    ctx: ConversionContext,
    x: TensorRef,
    size: list[int],
    stride: list[int],
    storage_offset: int | None = None,
) -> TensorRef:
    positions = view_positions(
        _shape(ctx), lambda t: t.as_strided(size, stride, storage_offset or 0)
    )
    return _gather(ctx, x, positions)


# -- writes -------------------------------------------------------------------


@register(
    aten.diagonal_scatter.default,
    dtypes=_SCATTER_DTYPES,
    ge_ops=("ScatterElements",),
    predicate=static_positions,
)
def diagonal_scatter(
    ctx: ConversionContext,
    x: TensorRef,
    src: TensorRef,
    offset: int = 0,
    dim1: int = 0,
    dim2: int = 1,
) -> TensorRef:
    positions = view_positions(_shape(ctx), lambda t: t.diagonal(offset, dim1, dim2))
    return scatter_through_view(ctx, x, src, positions)


@register(
    aten.as_strided_scatter.default,
    dtypes=_SCATTER_DTYPES,
    ge_ops=("ScatterElements",),
    predicate=_dense_input,
)
def as_strided_scatter(
    ctx: ConversionContext,
    x: TensorRef,
    src: TensorRef,
    size: list[int],
    stride: list[int],
    storage_offset: int | None = None,
) -> TensorRef:
    positions = view_positions(
        _shape(ctx), lambda t: t.as_strided(size, stride, storage_offset or 0)
    )
    return scatter_through_view(ctx, x, src, positions)
