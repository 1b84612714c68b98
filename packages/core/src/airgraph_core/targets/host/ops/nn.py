"""Host semantics of GE neural-network ops: SoftmaxV2, LogSoftmaxV2, LayerNormV4, Conv2D."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from airgraph_core.targets.host.semantics import host_op

_HALF = (torch.float16, torch.bfloat16)


def _axes(attrs: dict[str, Any]) -> list[int]:
    return list(attrs.get("axes", [-1]))


@host_op("SoftmaxV2")
def softmax_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """Softmax over ``axes``; ``half_to_float`` makes a float16 input yield float32."""
    x = inputs[0]
    out_dtype = torch.float32 if attrs.get("half_to_float", False) else x.dtype
    axes = _axes(attrs)
    if len(axes) == 1:
        return torch.softmax(x, axes[0], dtype=out_dtype)
    xf = x.float() if x.dtype in _HALF else x
    e = torch.exp(xf - torch.amax(xf, axes, keepdim=True))
    return (e / e.sum(axes, keepdim=True)).to(out_dtype)


@host_op("LogSoftmaxV2")
def log_softmax_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x = inputs[0]
    axes = _axes(attrs)
    if len(axes) == 1:
        return torch.log_softmax(x, axes[0])
    xf = x.float() if x.dtype in _HALF else x
    return (xf - torch.logsumexp(xf, axes, keepdim=True)).to(x.dtype)


@host_op("LayerNormV4", const_inputs=(1,))
def layer_norm_v4(inputs: list[Any], attrs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    """Normalise over the trailing ``normalized_shape`` dims.

    Returns ``(y, mean, rstd)``, all of ``x``'s dtype; mean and rstd keep
    the normalised dims as size 1. gamma/beta may be ``x``'s dtype or
    float32; half inputs are computed in float32, as eager PyTorch does.
    """
    x, normalized_shape, gamma, beta = inputs
    eps = float(attrs.get("epsilon", 1e-5))
    xf = x.float() if x.dtype in _HALF else x
    gf = None if gamma is None else gamma.to(xf.dtype)
    bf = None if beta is None else beta.to(xf.dtype)
    y, mean, rstd = torch.native_layer_norm(xf, list(normalized_shape), gf, bf, eps)
    stat_shape = tuple(x.shape[: x.dim() - len(normalized_shape)]) + (1,) * len(normalized_shape)
    mean, rstd = mean.reshape(stat_shape), rstd.reshape(stat_shape)
    return y.to(x.dtype), mean.to(x.dtype), rstd.to(x.dtype)


@host_op("Conv2D")
def conv2d(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """2-D convolution of NCHW data with an OIHW filter (the layout the
    converters emit). ``strides``/``dilations`` are 4 values in NCHW order;
    ``pads`` is ``[top, bottom, left, right]``."""
    x, weight, bias = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
    if len(inputs) > 3 and inputs[3] is not None:
        raise NotImplementedError("Conv2D: offset_w (int8 weights) is not supported on host")
    fmt = attrs.get("data_format", "NHWC")
    if fmt != "NCHW":
        raise NotImplementedError(f"Conv2D: data_format {fmt!r} is not supported on host")
    strides, dilations = list(attrs["strides"]), list(attrs.get("dilations", [1, 1, 1, 1]))
    top, bottom, left, right = attrs["pads"]
    if top != bottom or left != right:
        x = F.pad(x, [left, right, top, bottom])
        padding = [0, 0]
    else:
        padding = [top, left]
    b = None if bias is None else bias.to(x.dtype)
    return F.conv2d(
        x,
        weight,
        b,
        stride=strides[2:],
        padding=padding,
        dilation=dilations[2:],
        groups=int(attrs.get("groups", 1)),
    )


@host_op("Conv2DBackpropInput", "Conv3DBackpropInput", const_inputs=(0,))
def conv_backprop_input(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """The gradient of an NC(D)HW convolution with respect to its input, of shape
    ``input_size``: a transposed convolution of ``out_backprop`` by ``filter``
    (``[out_channels, in_channels / groups, *kernel]`` of the forward convolution),
    whose extra trailing rows/columns (``output_padding``) follow from ``input_size``."""
    input_size, weight, grad = inputs
    spatial = grad.dim() - 2
    strides = list(attrs["strides"])[2:]
    dilations = list(attrs.get("dilations", [1] * (spatial + 2)))[2:]
    pads = list(attrs["pads"])
    if pads[0::2] != pads[1::2]:
        raise NotImplementedError(f"ConvBackpropInput: asymmetric pads {pads} are not supported")
    padding = pads[0::2]
    output_padding = [
        int(input_size[2 + i])
        - (
            (grad.shape[2 + i] - 1) * strides[i]
            - 2 * padding[i]
            + dilations[i] * (weight.shape[2 + i] - 1)
            + 1
        )
        for i in range(spatial)
    ]
    fn = F.conv_transpose2d if spatial == 2 else F.conv_transpose3d
    return fn(
        grad,
        weight,
        None,
        stride=strides,
        padding=padding,
        output_padding=output_padding,
        groups=int(attrs.get("groups", 1)),
        dilation=dilations,
    )
