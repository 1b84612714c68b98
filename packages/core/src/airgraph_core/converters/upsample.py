"""Upsampling converters: ``upsample_nearest2d`` and ``upsample_bilinear2d`` (NCHW).

``F.interpolate`` reaches ATen as the ``.vec`` overloads, which PyTorch's
composite kernels turn into these ``.default`` ones (output size computed,
scale factors passed on). Under ``torch.compile``, torch's Python kernels
would decompose both into index arithmetic while AOTAutograd traces; the
decomposition table module keeps them whole where :func:`nearest_takes` /
:func:`bilinear_takes` say these converters reproduce ATen. Nearest lowers to GE's ``ResizeNearestNeighborV2``
with ``align_corners`` and ``half_pixel_centers`` off, as TorchAir lowers it:
source index ``floor(dst * in / out)``, ATen's legacy ``nearest``. Bilinear
(TorchAir has no converter) lowers to ``ResizeBilinearV2``: ATen's
``align_corners=False`` is GE's ``half_pixel_centers`` (source
``(dst + 0.5) * in / out - 0.5``), ``align_corners=True`` is GE's own.

GE derives the scale from the sizes only; ATen uses ``1 / scale_factor``
when a scale is given, which differs where ``in * scale`` is not a whole
number (``scale_factor=1.5`` on 3 rows): such nodes are refused.
``ResizeBilinearV2`` outputs float32, so half precision is cast back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import Node
from torch.fx.experimental.symbolic_shapes import statically_known_true

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import FLOATS, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.opdefs import prototype

__all__ = ["bilinear_takes", "nearest_takes"]

aten = torch.ops.aten


def _scale_arg(node: Node, index: int, name: str) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name)


def _scales_match_sizes(node: Node, first_scale: int) -> str | None:
    """A given scale must equal ``out / in`` (GE computes ``in / out`` itself)."""
    x = node.args[0].meta["val"]
    out_size = node.args[1]
    for axis, name in enumerate(("scales_h", "scales_w")):
        scale = _scale_arg(node, first_scale + axis, name)
        if scale is None:
            continue
        if not isinstance(scale, (int, float)):
            return f"{name} is symbolic; GE derives the scale from the sizes"
        size_in, size_out = x.shape[2 + axis], out_size[axis]
        if isinstance(size_out, Node):
            size_out = size_out.meta["val"]  # a symbolic size computed in the graph
        if _scale_matches(float(scale), size_in, size_out):
            continue
        return (
            f"{name}={scale} with input size {size_in} and output size {size_out}: ATen maps "
            f"output pixels with 1/{scale}, GE's resize with in/out, and they differ"
        )
    return None


def _scale_matches(scale: float, size_in: Any, size_out: Any) -> bool:
    if scale.is_integer() and statically_known_true(size_out == size_in * int(scale)):
        return True
    if not (isinstance(size_in, int) and isinstance(size_out, int) and size_out > 0):
        return False
    return abs(1.0 / scale - size_in / size_out) <= 1e-7 * size_in / size_out


def _values_take(x: torch.Tensor, output_size: Sequence[Any], scales: Sequence[Any]) -> bool:
    if x.dtype not in FLOATS or x.dim() != 4:
        return False
    for axis, scale in enumerate(scales):
        if scale is None:
            continue
        if not isinstance(scale, (int, float)):
            return False
        if not _scale_matches(float(scale), x.shape[2 + axis], output_size[axis]):
            return False
    return True


def nearest_takes(
    x: torch.Tensor,
    output_size: Sequence[Any],
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> bool:
    """Whether ``upsample_nearest2d.default`` with these arguments lowers here.

    Takes the op's own arguments (fake tensors, symbolic sizes allowed), as
    the check before a trace keeps the op whole; the converter's predicate
    says the same of the FX node.
    """
    return _values_take(x, output_size, (scales_h, scales_w))


def bilinear_takes(
    x: torch.Tensor,
    output_size: Sequence[Any],
    align_corners: bool,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> bool:
    """Whether ``upsample_bilinear2d.default`` with these arguments lowers here (see :func:`nearest_takes`)."""
    return _values_take(x, output_size, () if align_corners else (scales_h, scales_w))


def _nearest_supported(node: Node) -> str | None:
    return _scales_match_sizes(node, 2)


def _bilinear_supported(node: Node) -> str | None:
    align_corners = node.args[2] if len(node.args) > 2 else node.kwargs.get("align_corners")
    if align_corners:
        return None  # ATen ignores the scales with align_corners
    return _scales_match_sizes(node, 3)


def _nchw(y: TensorRef) -> TensorRef:
    y.op.input_descs[0].layout = "NCHW"
    y.op.output_descs[0].layout = "NCHW"
    return y


def _sizes(ctx: ConversionContext, output_size: Sequence[Any]) -> TensorRef:
    """The int32 ``size`` input: a Const, or symbolic sizes packed as int64 and cast once (as TorchAir)."""
    values = list(output_size)
    if ctx.is_static(values):
        return ctx.int_list(values, DataType.INT32)
    return ctx.cast(ctx.int_list(values), DataType.INT32)


def _compute_dtype(op_type: str, dtype: DataType) -> DataType:
    allowed = prototype(op_type).inputs[0].dtypes
    return dtype if allowed is None or dtype.opdef_name in allowed else DataType.FLOAT


@register(
    aten.upsample_nearest2d.default,
    dtypes=FLOATS,
    ranks=range(4, 5),
    ge_ops=("ResizeNearestNeighborV2", "Cast"),
    predicate=_nearest_supported,
)
def upsample_nearest2d(
    ctx: ConversionContext,
    x: TensorRef,
    output_size: Sequence[Any],
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> TensorRef:
    """ResizeNearestNeighborV2 (NCHW, legacy nearest), bf16 through float32."""
    dtype, shape = ctx.out()
    cd = _compute_dtype("ResizeNearestNeighborV2", x.dtype)
    y = ctx.b.op(
        "ResizeNearestNeighborV2", ctx.cast(x, cd), _sizes(ctx, output_size),
        out=(cd, shape), align_corners=False, half_pixel_centers=False,
    )  # fmt: skip
    return ctx.cast(_nchw(y), dtype)


@register(
    aten.upsample_bilinear2d.default,
    dtypes=FLOATS,
    ranks=range(4, 5),
    ge_ops=("ResizeBilinearV2", "Cast"),
    predicate=_bilinear_supported,
)
def upsample_bilinear2d(
    ctx: ConversionContext,
    x: TensorRef,
    output_size: Sequence[Any],
    align_corners: bool,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> TensorRef:
    """ResizeBilinearV2 (NCHW); its float32 result is cast to the output dtype."""
    dtype, shape = ctx.out()
    cd = _compute_dtype("ResizeBilinearV2", x.dtype)
    y = ctx.b.op(
        "ResizeBilinearV2", ctx.cast(x, cd), _sizes(ctx, output_size),
        out=(DataType.FLOAT, shape), align_corners=bool(align_corners),
        half_pixel_centers=not align_corners,
    )  # fmt: skip
    return ctx.cast(_nchw(y), dtype)
