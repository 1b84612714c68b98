"""Pooling converters: average, max (with indices) and adaptive average pooling, 2-D and 3-D.

GE's pooling ops work on NCHW / NCDHW data; an unbatched input (rank 3 for
2-D, rank 4 for 3-D) gets a batch dim of 1 (Unsqueeze before, Squeeze after).
The window attributes follow TorchAir's spelling per op: ``AvgPoolV2`` takes
4-value NCHW lists, ``MaxPoolWithArgmaxV1`` 4-value lists with the window in
positions 1 and 2, ``MaxPool3DWithArgmaxV2`` 3-value DHW lists. Dtypes a
prototype lacks (bf16 for most) run in float32 and are cast back.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, static_dim
from airgraph_core.converters.registry import FLOATS, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.opdefs import prototype

__all__: list[str] = []

aten = torch.ops.aten

_LAYOUTS = {2: "NCHW", 3: "NCDHW"}


def _per_dim(values: Sequence[int], n: int, default: Sequence[int]) -> list[int]:
    """An ATen window argument (``[]``, one value or ``n`` values) as ``n`` ints."""
    values = [int(v) for v in values]
    if not values:
        return list(default)
    return values * n if len(values) == 1 else values


def _window(
    n: int, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int]
) -> tuple[list[int], list[int], list[int]]:
    k = _per_dim(kernel, n, ())
    return k, _per_dim(stride, n, k), _per_dim(padding, n, [0] * n)


def _compute_dtype(op_type: str, dtype: DataType) -> DataType:
    allowed = prototype(op_type).inputs[0].dtypes
    return dtype if allowed is None or dtype.opdef_name in allowed else DataType.FLOAT


class _Batched:
    """Gives an unbatched input a batch dim of 1 and takes it off the results."""

    def __init__(self, ctx: ConversionContext, x: TensorRef, spatial: int) -> None:
        self.ctx = ctx
        self.unbatched = x.rank == spatial + 1
        self.x = x
        if self.unbatched:
            self.x = ctx.b.op("Unsqueeze", x, out=(x.dtype, (1, *x.shape)), axes=[0])

    def out_shape(self, index: int | None = None) -> tuple[int, ...]:
        shape = self.ctx.out(index)[1]
        return (1, *shape) if self.unbatched else shape

    def finish(self, y: TensorRef, index: int | None = None) -> TensorRef:
        dtype = self.ctx.out(index)[0]
        if self.unbatched:
            y = self.ctx.b.op("Squeeze", y, out=(y.dtype, y.shape[1:]), axis=[0])
        return self.ctx.cast(y, dtype)


def _set_layout(y: TensorRef, spatial: int) -> None:
    layout = _LAYOUTS[spatial]
    y.op.input_descs[0].layout = layout
    for desc in y.op.output_descs:
        desc.layout = layout


def _ranks(spatial: int) -> range:
    return range(spatial + 1, spatial + 3)


# --- average pooling ------------------------------------------------------------


def _static_divisor(node: Node) -> str | None:
    divisor = node.args[6] if len(node.args) > 6 else node.kwargs.get("divisor_override")
    if divisor is not None and not isinstance(divisor, int):
        return "divisor_override is symbolic; GE takes it as a constant attribute"
    return None


@register(
    aten.avg_pool2d.default,
    dtypes=FLOATS,
    ranks=_ranks(2),
    ge_ops=("AvgPoolV2",),
    predicate=_static_divisor,
)
def avg_pool2d(
    ctx: ConversionContext,
    x: TensorRef,
    kernel_size: Sequence[int],
    stride: Sequence[int] = (),
    padding: Sequence[int] = (0,),
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> TensorRef:
    """AvgPoolV2 in NCHW; ``exclusive`` is ``not count_include_pad``."""
    k, s, p = _window(2, kernel_size, stride, padding)
    batched = _Batched(ctx, x, 2)
    cd = _compute_dtype("AvgPoolV2", x.dtype)
    y = ctx.b.op(
        "AvgPoolV2", ctx.cast(batched.x, cd),
        out=(cd, batched.out_shape()),
        ksize=[1, 1, *k], strides=[1, 1, *s], pads=[p[0], p[0], p[1], p[1]],
        ceil_mode=bool(ceil_mode), exclusive=not count_include_pad,
        divisor_override=int(divisor_override or 0), data_format="NCHW",
    )  # fmt: skip
    _set_layout(y, 2)
    return batched.finish(y)


@register(
    aten.avg_pool3d.default,
    dtypes=FLOATS,
    ranks=_ranks(3),
    ge_ops=("AvgPool3D",),
    predicate=_static_divisor,
)
def avg_pool3d(
    ctx: ConversionContext,
    x: TensorRef,
    kernel_size: Sequence[int],
    stride: Sequence[int] = (),
    padding: Sequence[int] = (0,),
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> TensorRef:
    """AvgPool3D in NCDHW; pads are ``[front, back, top, bottom, left, right]``."""
    k, s, p = _window(3, kernel_size, stride, padding)
    return _avg_pool3d(ctx, x, k, s, p, ceil_mode, count_include_pad, divisor_override)


def _avg_pool3d(
    ctx: ConversionContext,
    x: TensorRef,
    k: list[int],
    s: list[int],
    p: list[int],
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> TensorRef:
    batched = _Batched(ctx, x, 3)
    cd = _compute_dtype("AvgPool3D", x.dtype)
    y = ctx.b.op(
        "AvgPool3D", ctx.cast(batched.x, cd),
        out=(cd, batched.out_shape()),
        ksize=[1, 1, *k], strides=[1, 1, *s], pads=[v for v in p for _ in (0, 1)],
        ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
        divisor_override=int(divisor_override or 0), data_format="NCDHW",
    )  # fmt: skip
    _set_layout(y, 3)
    return batched.finish(y)


# --- max pooling ----------------------------------------------------------------


def _indices_used(node: Node) -> bool:
    return any(u.target is operator.getitem and u.args[1] == 1 and u.users for u in node.users)


def _max_pool_args(node: Node, n: int) -> tuple[list[int], list[int], list[int], list[int], bool]:
    args = list(node.args) + [None] * 6
    kernel, stride, padding, dilation, ceil_mode = args[1:6]
    k, s, p = _window(n, kernel, stride or (), padding or (0,))
    return k, s, p, _per_dim(dilation or (1,), n, [1] * n), bool(ceil_mode)


@register(
    aten.max_pool2d_with_indices.default,
    dtypes=FLOATS,
    ranks=_ranks(2),
    ge_ops=("MaxPoolWithArgmaxV1", "MaxPool3DWithArgmaxV2", "Cast"),
)
def max_pool2d_with_indices(ctx: ConversionContext, x: TensorRef, *args: Any) -> list[TensorRef]:
    """MaxPoolWithArgmaxV1, as TorchAir lowers it, when only the values are used.

    That op's argmax is an NPU-specific mask, not ATen's indices; when the
    indices are used, the pooling runs as MaxPool3DWithArgmaxV2 over a depth
    of 1, whose argmax is ATen's flat index into each H*W plane.
    """
    k, s, p, d, ceil_mode = _max_pool_args(ctx.node, 2)
    if _indices_used(ctx.node):
        return _max_pool_3d_argmax(ctx, x, [1, *k], [1, *s], [0, *p], [1, *d], ceil_mode, 2)
    batched = _Batched(ctx, x, 2)
    cd = _compute_dtype("MaxPoolWithArgmaxV1", x.dtype)
    shape = batched.out_shape(0)
    y, _mask = ctx.b.op(
        "MaxPoolWithArgmaxV1", ctx.cast(batched.x, cd),
        out=[(cd, shape), (DataType.INT32, shape)],
        ksize=[1, *k, 1], strides=[1, *s, 1], pads=[1, *p, 1], dilation=[1, *d, 1],
        ceil_mode=ceil_mode,
    )  # fmt: skip
    _set_layout(y, 2)
    # The indices output is dead (checked above); the lowering needs a value for it.
    return [batched.finish(y, 0), None]


@register(
    aten.max_pool3d_with_indices.default,
    dtypes=FLOATS,
    ranks=_ranks(3),
    ge_ops=("MaxPool3DWithArgmaxV2", "Cast"),
)
def max_pool3d_with_indices(ctx: ConversionContext, x: TensorRef, *args: Any) -> list[TensorRef]:
    """MaxPool3DWithArgmaxV2 in NCDHW; its int32 argmax is Cast to ATen's int64."""
    k, s, p, d, ceil_mode = _max_pool_args(ctx.node, 3)
    return _max_pool_3d_argmax(ctx, x, k, s, p, d, ceil_mode, 3)


def _max_pool_3d_argmax(
    ctx: ConversionContext,
    x: TensorRef,
    k: list[int],
    s: list[int],
    p: list[int],
    d: list[int],
    ceil_mode: bool,
    spatial: int,
) -> list[TensorRef]:
    """MaxPool3DWithArgmaxV2; a 2-D pooling (``spatial`` 2) gets a depth of 1 at axis 2."""
    batched = _Batched(ctx, x, spatial)
    xb, shape = batched.x, batched.out_shape(0)
    if spatial == 2:
        xb = ctx.b.op("Unsqueeze", xb, out=(xb.dtype, (*xb.shape[:2], 1, *xb.shape[2:])), axes=[2])
        shape = (*shape[:2], 1, *shape[2:])
    y, argmax = ctx.b.op(
        "MaxPool3DWithArgmaxV2", xb,
        out=[(xb.dtype, shape), (DataType.INT32, shape)],
        ksize=k, strides=s, pads=p, dilation=d, ceil_mode=ceil_mode, data_format="NCDHW",
    )  # fmt: skip
    _set_layout(y, 3)
    if spatial == 2:
        y = ctx.b.op("Squeeze", y, out=(y.dtype, shape[:2] + shape[3:]), axis=[2])
        argmax = ctx.b.op("Squeeze", argmax, out=(argmax.dtype, shape[:2] + shape[3:]), axis=[2])
    return [batched.finish(y, 0), batched.finish(argmax, 1)]


# --- adaptive average pooling ---------------------------------------------------


@register(
    aten._adaptive_avg_pool2d.default, dtypes=FLOATS, ranks=_ranks(2), ge_ops=("AdaptiveAvgPool2d",)
)
def adaptive_avg_pool2d(
    ctx: ConversionContext, x: TensorRef, output_size: Sequence[int]
) -> TensorRef:
    return ctx.b.op(
        "AdaptiveAvgPool2d", x, out=ctx.out(), output_size=[int(v) for v in output_size]
    )


def _divisible_3d(node: Node) -> str | None:
    x = node.args[0].meta["val"]
    sizes = [static_dim(v) for v in x.shape[-3:]]
    out = [static_dim(v) for v in node.args[1]]
    if -1 in sizes or -1 in out:
        return "GE has no adaptive 3-D average pool; symbolic sizes cannot be checked"
    if any(o <= 0 or i % o for i, o in zip(sizes, out)):
        return (
            f"GE has no adaptive 3-D average pool; it runs as AvgPool3D only when the input "
            f"sizes {sizes} are multiples of output_size {out}"
        )
    return None


@register(
    aten._adaptive_avg_pool3d.default,
    dtypes=FLOATS,
    ranks=_ranks(3),
    ge_ops=("AvgPool3D",),
    predicate=_divisible_3d,
)
def adaptive_avg_pool3d(
    ctx: ConversionContext, x: TensorRef, output_size: Sequence[int]
) -> TensorRef:
    """AvgPool3D with window = stride = input size / output size (which must divide)."""
    k = [int(i) // int(o) for i, o in zip(x.shape[-3:], output_size)]
    return _avg_pool3d(ctx, x, k, k, [0, 0, 0])
