"""Forward 3-D convolution (``aten.convolution`` with rank-5 input, not transposed).

The dtype decides the GE form, because GE's ``Conv3D`` prototype takes
float16 (and int8) input only:

- **float16**: ``Conv3D`` in NCDHW, as TorchAir emits it (strides/dilations as
  5 values, pads as 6: a (begin, end) pair per spatial dim).
- **float32**: one ``Conv2D`` per depth tap of the kernel, summed. Tap ``kd``
  convolves, for every output depth ``od``, the input depth
  ``od * stride_d + kd * dilation_d`` (after zero-padding the depth with
  ``PadV3``) with ``weight[:, :, kd]``; the output depths ride in the batch
  dim (``(N*OD, C, H, W)``). ``Conv2D`` takes float32, so the result keeps
  float32 precision instead of rounding through float16, and grouping,
  dilation and padding are ``Conv2D``'s own.
- **bfloat16**: the float32 form on inputs cast to float32, cast back.

Channel, depth, height and width must be static (they fix the taps and the
slices); the batch may be symbolic.
"""

from __future__ import annotations

from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, static_dim
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__ = ["CONV3D_GE_OPS", "conv3d", "conv3d_unsupported"]

#: GE op types :func:`conv3d` emits, for the converter's declaration.
CONV3D_GE_OPS = ("Conv3D", "Conv2D", "PadV3", "StridedSliceV2", "Transpose", "Reshape", "Add")


def conv3d_unsupported(node: Node) -> str | None:
    """Why :func:`conv3d` cannot lower the convolution ``node``, or ``None``."""
    x = node.args[0].meta["val"]
    if any(static_dim(d) == -1 for d in x.shape[1:]):
        return "3-D convolution needs static channel/depth/height/width sizes"
    return None


def conv3d(
    ctx: ConversionContext,
    x: TensorRef,
    weight: TensorRef,
    bias: TensorRef | None,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    groups: int,
) -> TensorRef:
    """An NCDHW 3-D convolution: ``Conv3D`` for float16, per-tap ``Conv2D`` otherwise."""
    dtype, _ = ctx.out()
    stride, padding, dilation = ([int(v) for v in a] for a in (stride, padding, dilation))
    if dtype == DataType.FLOAT16:
        return _conv3d_op(ctx, x, weight, bias, stride, padding, dilation, groups)
    cd = DataType.FLOAT
    b = None if bias is None else ctx.cast(bias, cd)
    y = _depth_taps(
        ctx, ctx.cast(x, cd), ctx.cast(weight, cd), b, stride, padding, dilation, groups
    )
    return ctx.cast(y, dtype)


def _mark_layout(y: TensorRef, layout: str, inputs: tuple[int, ...]) -> None:
    for i in inputs:
        y.op.input_descs[i].layout = layout
    y.desc.layout = layout


def _conv3d_op(
    ctx: ConversionContext,
    x: TensorRef,
    weight: TensorRef,
    bias: TensorRef | None,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    groups: int,
) -> TensorRef:
    y = ctx.b.op(
        "Conv3D", x, weight, bias, None,
        out=ctx.out(),
        strides=[1, 1, *stride],
        pads=[p for p in padding for _ in (0, 1)],
        dilations=[1, 1, *dilation],
        groups=int(groups),
        data_format="NCDHW",
    )  # fmt: skip
    _mark_layout(y, "NCDHW", (0, 1))
    return y


def _depth_taps(
    ctx: ConversionContext,
    x: TensorRef,
    weight: TensorRef,
    bias: TensorRef | None,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    groups: int,
) -> TensorRef:
    """``sum over kd of Conv2D(x at depths od*sd + kd*dd, weight[:, :, kd])``."""
    _, out_shape = ctx.out()
    n, c, d, h, w = x.shape
    o, cg, kd_size, kh, kw = weight.shape
    od, oh, ow = out_shape[2:]
    f32 = DataType.FLOAT
    if padding[0]:
        pads = [0, 0, 0, 0, padding[0], padding[0], 0, 0, 0, 0]
        d += 2 * padding[0]
        x = ctx.b.op(
            "PadV3", x, ctx.int_list(pads), None, out=(f32, (n, c, d, h, w)),
            mode="constant", paddings_contiguous=True,
        )  # fmt: skip
    # Depth next to the batch, so a slice of depths reshapes to a batch of images.
    xt = ctx.b.op("Transpose", x, ctx.int_list([0, 2, 1, 3, 4]), out=(f32, (n, d, c, h, w)))
    batch = -1 if n == -1 else n * od
    total: TensorRef | None = None
    for kd in range(kd_size):
        start = kd * dilation[0]
        taps = ctx.b.op(
            "StridedSliceV2", xt, ctx.int_list([start]),
            ctx.int_list([start + (od - 1) * stride[0] + 1]),
            ctx.int_list([1]), ctx.int_list([stride[0]]),
            out=(f32, (n, od, c, h, w)),
        )  # fmt: skip
        images = ctx.b.op("Reshape", taps, ctx.int_list([-1, c, h, w]), out=(f32, (batch, c, h, w)))
        w_tap = ctx.b.op(
            "StridedSliceV2", weight, ctx.int_list([kd]), ctx.int_list([kd + 1]),
            ctx.int_list([2]), ctx.int_list([1]),
            out=(f32, (o, cg, 1, kh, kw)),
        )  # fmt: skip
        w2d = ctx.b.op("Reshape", w_tap, ctx.int_list([o, cg, kh, kw]), out=(f32, (o, cg, kh, kw)))
        tap_bias = bias if kd == 0 else None
        y = ctx.b.op(
            "Conv2D", images, w2d, tap_bias, None,
            out=(f32, (batch, o, oh, ow)),
            strides=[1, 1, stride[1], stride[2]],
            pads=[padding[1], padding[1], padding[2], padding[2]],
            dilations=[1, 1, dilation[1], dilation[2]],
            groups=int(groups),
            data_format="NCHW",
        )  # fmt: skip
        _mark_layout(y, "NCHW", (0, 1) if tap_bias is None else (0, 1, 2))
        total = y if total is None else ctx.b.op("Add", total, y, out=y.spec)
    split = ctx.b.op(
        "Reshape", total, ctx.int_list([-1, od, o, oh, ow]), out=(f32, (n, od, o, oh, ow))
    )
    return ctx.b.op(
        "Transpose", split, ctx.int_list([0, 2, 1, 3, 4]), out=(f32, (n, o, od, oh, ow))
    )
