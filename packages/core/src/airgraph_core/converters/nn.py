"""Neural-network layer converters: softmax, log-softmax, layer norm, embedding, convolution.

Group norm and batch norm never reach the lowering: the decomposition table
turns them into elementwise ops and reductions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.conv3d import CONV3D_GE_OPS, conv3d, conv3d_unsupported
from airgraph_core.converters.registry import FLOATS, NUMERIC, register
from airgraph_core.converters.symbolic import dim_size
from airgraph_core.ir.dtypes import DataType

aten = torch.ops.aten

#: SoftmaxV2 / LogSoftmaxV2 also take float64.
SOFTMAX_DTYPES = FLOATS | {torch.float64}


@register(aten._softmax.default, dtypes=SOFTMAX_DTYPES, ge_ops=("SoftmaxV2",))
def softmax(ctx: ConversionContext, x: Any, dim: int, half_to_float: bool) -> Any:
    """SoftmaxV2 over one axis; ``half_to_float`` is an attribute for float16
    input, a Cast to float32 first for bfloat16 (SoftmaxV2 defines it for half only)."""
    if half_to_float and x.dtype != DataType.FLOAT16:
        x, half_to_float = ctx.cast(x, DataType.FLOAT), False
    return ctx.b.op("SoftmaxV2", x, out=ctx.out(), axes=[dim], half_to_float=half_to_float)


@register(aten._log_softmax.default, dtypes=SOFTMAX_DTYPES, ge_ops=("LogSoftmaxV2",))
def log_softmax(ctx: ConversionContext, x: Any, dim: int, half_to_float: bool) -> Any:
    """LogSoftmaxV2 has no ``half_to_float``: Cast the input to float32 instead."""
    dtype, shape = ctx.out()
    return ctx.b.op("LogSoftmaxV2", ctx.cast(x, dtype), out=(dtype, shape), axes=[dim])


def _static_eps(node: Node) -> str | None:
    if isinstance(node.args[4], Node):
        return "eps is a traced tensor; LayerNormV4 needs it as a constant attribute"
    return None


def _filled_if_none(
    ctx: ConversionContext, t: Any, x: Any, normalized_shape: list, value: float
) -> Any:
    """``t``, or ``value`` in ``normalized_shape`` (INT32 dims) and ``x``'s dtype if absent."""
    if t is not None:
        return t
    dims = ctx.int_list(list(normalized_shape), DataType.INT32)
    spec = (x.dtype, ctx.out(0)[1][x.rank - len(normalized_shape) :])
    return ctx.b.op("Fill", dims, ctx.const(value, x.dtype), out=spec)


@register(
    aten.native_layer_norm.default,
    dtypes=FLOATS,
    ge_ops=("LayerNormV4", "Fill"),
    predicate=_static_eps,
)
def native_layer_norm(
    ctx: ConversionContext, x: Any, normalized_shape: list, weight: Any, bias: Any, eps: float
) -> Any:
    """LayerNormV4: ``normalized_shape`` is a 1-D int tensor input; an absent
    gamma/beta is fed as ones/zeros of that shape (``Fill``), as TorchAir feeds
    them, rather than left unfed (the prototype marks them optional, but
    TorchAir's is the form known to run on the NPU)."""
    shape = ctx.int_list(list(normalized_shape))
    weight = _filled_if_none(ctx, weight, x, normalized_shape, 1.0)
    bias = _filled_if_none(ctx, bias, x, normalized_shape, 0.0)
    y, mean, rstd = ctx.b.op(
        "LayerNormV4", x, shape, weight, bias,
        out=[ctx.out(0), ctx.out(1), ctx.out(2)], epsilon=float(eps),
    )  # fmt: skip
    return y, mean, rstd


@register(aten.embedding.default, dtypes=NUMERIC | {torch.bool}, ge_ops=("GatherV2",))
def embedding(
    ctx: ConversionContext,
    weight: Any,
    indices: Any,
    padding_idx: Any = -1,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Any:
    """Rows of ``weight``: GatherV2 along axis 0 (``padding_idx`` only matters for gradients)."""
    axis = ctx.const(torch.tensor([0], dtype=torch.int64))  # a [1] tensor, as TorchAir's
    return ctx.b.op("GatherV2", weight, indices, axis, out=ctx.out(), batch_dims=0)


def _plain_conv(node: Node) -> str | None:
    x = node.args[0].meta["val"]
    if node.args[6]:
        if x.dim() not in (3, 4, 5):
            return f"transposed convolution needs input rank 3, 4 or 5, got rank {x.dim()}"
    elif x.dim() == 5 and conv3d_unsupported(node):
        return conv3d_unsupported(node)
    elif x.dim() not in (3, 4, 5):
        return f"convolution needs input rank 3, 4 or 5, got rank {x.dim()}"
    if any(isinstance(p, (Node, torch.SymInt)) for p in [*node.args[4], *node.args[7]]):
        return "symbolic padding is not supported"
    if node.args[6] and any(not isinstance(d, int) for d in node.meta["val"].shape[1:]):
        return "transposed convolution needs a static output shape except the batch (input_size)"
    return None


@register(
    aten.convolution.default,
    dtypes=FLOATS,
    ge_ops=("Conv2DBackpropInput", "Conv3DBackpropInput", "Unsqueeze", "Squeeze", *CONV3D_GE_OPS),
    predicate=_plain_conv,
)
def convolution(
    ctx: ConversionContext,
    x: Any,
    weight: Any,
    bias: Any,
    stride: list,
    padding: list,
    dilation: list,
    transposed: bool,
    output_padding: list,
    groups: int,
) -> Any:
    """Conv2D in NCHW; a 1-D convolution runs as a 2-D one with H = 1
    (Unsqueeze at axis 2 before, Squeeze after), as TorchAir lowers it.
    Transposed convolutions: see :func:`_transposed_conv`."""
    # ATen broadcasts a one-value stride/padding/dilation over every spatial
    # dim (``conv2d(padding='valid')`` arrives as ``padding=[0]``).
    spatial = x.rank - 2
    stride, padding, dilation = (
        list(v) * spatial if len(v) == 1 else list(v) for v in (stride, padding, dilation)
    )
    if transposed:
        return _transposed_conv(ctx, x, weight, bias, stride, padding, dilation, groups)
    dtype, out_shape = ctx.out()
    if len(out_shape) == 5:
        return conv3d(ctx, x, weight, bias, stride, padding, dilation, groups)
    stride, padding, dilation = list(stride), list(padding), list(dilation)
    is_1d = len(out_shape) == 3
    if is_1d:
        x = _unsqueeze_h(ctx, x)
        weight = _unsqueeze_h(ctx, weight)
        stride, padding, dilation = [1] + stride, [0] + padding, [1] + dilation
        shape_2d = (out_shape[0], out_shape[1], 1, out_shape[2])
    else:
        shape_2d = out_shape
    if bias is not None and bias.dtype == DataType.BF16:
        bias = ctx.cast(bias, DataType.FLOAT)  # Conv2D's bias takes float32/float16 only
    y = ctx.b.op(
        "Conv2D", x, weight, bias, None,
        out=(dtype, shape_2d),
        strides=[1, 1, *stride],
        pads=[padding[0], padding[0], padding[1], padding[1]],
        dilations=[1, 1, *dilation],
        groups=int(groups),
        data_format="NCHW",
    )  # fmt: skip
    # GE reads the layout from the descriptors (Conv2D's declared default is
    # NHWC); TorchAir marks x, filter and bias NCHW (its input_layout_info,
    # a TorchAir-only attribute it turns into these same descriptor layouts).
    for i in (0, 1) if bias is None else (0, 1, 2):
        y.op.input_descs[i].layout = "NCHW"
    y.desc.layout = "NCHW"
    if is_1d:
        y = ctx.b.op("Squeeze", y, out=(dtype, out_shape), axis=[2])
    return y


def _unsqueeze_h(ctx: ConversionContext, x: Any) -> Any:
    shape = (x.shape[0], x.shape[1], 1, *x.shape[2:])
    return ctx.b.op("Unsqueeze", x, out=(x.dtype, shape), axes=[2])


@register(
    aten._weight_norm_interface.default,
    dtypes=FLOATS,
    ge_ops=("Mul", "ReduceSum", "Sqrt", "RealDiv", "Cast"),
)
def weight_norm_interface(ctx: ConversionContext, v: Any, g: Any, dim: int = 0) -> Any:
    """``w = v * (g / ||v||)``, the norm over every dim but ``dim``, kept as size 1.

    GE has no weight-norm op (nor does TorchAir convert it), so it is written
    with Mul/ReduceSum/Sqrt/RealDiv in float32 (ATen's norm output is float32
    for half inputs too).
    """
    (w_dtype, w_shape), (n_dtype, n_shape) = ctx.out(0), ctx.out(1)
    keep = dim % v.rank
    axes = ctx.const(torch.tensor([i for i in range(v.rank) if i != keep], dtype=torch.int64))
    vf, gf = ctx.cast(v, DataType.FLOAT), ctx.cast(g, DataType.FLOAT)
    sq = ctx.b.op("Mul", vf, vf, out=vf.spec)
    total = ctx.b.op("ReduceSum", sq, axes, out=(DataType.FLOAT, n_shape), keep_dims=True)
    norm = ctx.b.op("Sqrt", total, out=total.spec)
    scale = ctx.b.op("RealDiv", gf, norm, out=(DataType.FLOAT, n_shape))
    w = ctx.b.op("Mul", vf, scale, out=(DataType.FLOAT, w_shape))
    return ctx.cast(w, w_dtype), ctx.cast(norm, n_dtype)


def _transposed_conv(
    ctx: ConversionContext,
    x: Any,
    weight: Any,
    bias: Any,
    stride: list,
    padding: list,
    dilation: list,
    groups: int,
) -> Any:
    """The gradient of a convolution with respect to its input, which is what a
    transposed convolution computes: Conv2DBackpropInput / Conv3DBackpropInput
    with the output shape as ``input_size`` (it carries ``output_padding``), the
    bias added after. TorchAir emits Conv2DTranspose/Conv3DTranspose, whose
    prototypes take float16/int8 input only; these take float32 too.
    bfloat16 runs in float32."""
    dtype, out_shape = ctx.out()
    stride, padding, dilation = list(stride), list(padding), list(dilation)
    is_1d = len(out_shape) == 3
    if is_1d:
        x, weight = _unsqueeze_h(ctx, x), _unsqueeze_h(ctx, weight)
        stride, padding, dilation = [1] + stride, [0] + padding, [1] + dilation
        out_shape_nd = (out_shape[0], out_shape[1], 1, out_shape[2])
    else:
        out_shape_nd = out_shape
    op_type, layout = (
        ("Conv3DBackpropInput", "NCDHW")
        if len(out_shape_nd) == 5
        else ("Conv2DBackpropInput", "NCHW")
    )
    cd = DataType.FLOAT if dtype == DataType.BF16 else dtype
    # A symbolic batch is read off the input (Shape + Gather); the rest is constant.
    batch = dim_size(ctx, x, ctx.val(ctx.node.args[0]), 0)
    size = ctx.int_list([batch, *out_shape_nd[1:]], DataType.INT32)
    y = ctx.b.op(
        op_type, size, ctx.cast(weight, cd), ctx.cast(x, cd),
        out=(cd, out_shape_nd),
        strides=[1, 1, *stride],
        pads=[p for p in padding for _ in (0, 1)],
        dilations=[1, 1, *dilation],
        groups=int(groups),
        data_format=layout,
    )  # fmt: skip
    for i in (1, 2):
        y.op.input_descs[i].layout = layout
    y.desc.layout = layout
    if bias is not None:
        spatial = len(out_shape_nd) - 2
        b = ctx.b.op(
            "Unsqueeze", ctx.cast(bias, cd), out=(cd, (bias.shape[0],) + (1,) * spatial),
            axes=list(range(1, spatial + 1)),
        )  # fmt: skip
        y = ctx.b.op("Add", y, b, out=(cd, out_shape_nd))
    if is_1d:
        y = ctx.b.op("Squeeze", y, out=(cd, out_shape), axis=[2])
    return ctx.cast(y, dtype)
