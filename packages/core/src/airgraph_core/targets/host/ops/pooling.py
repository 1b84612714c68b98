"""Host semantics of GE pooling ops: AvgPoolV2, AvgPool3D, MaxPoolWithArgmaxV1,
MaxPool3DWithArgmaxV2, AdaptiveAvgPool2d.

The converters emit NCHW / NCDHW data with the window attributes in the
positions each prototype uses (see ``converters/pooling.py``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from airgraph_core.targets.host.semantics import host_op


def _symmetric(pads: list[int], op_type: str) -> list[int]:
    """``[begin0, end0, begin1, end1, ...]`` as one pad per dim (torch pads symmetrically)."""
    begins, ends = pads[0::2], pads[1::2]
    if begins != ends:
        raise NotImplementedError(f"{op_type}: asymmetric pads {pads} are not supported on host")
    return begins


def _format(attrs: dict[str, Any], expected: str, op_type: str, default: str) -> None:
    fmt = attrs.get("data_format", default)
    if fmt != expected:
        raise NotImplementedError(f"{op_type}: data_format {fmt!r} is not supported on host")


@host_op("AvgPoolV2")
def avg_pool_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """NCHW average pooling; ``exclusive`` leaves padding out of the divisor;
    ``divisor_override`` 0 means none."""
    _format(attrs, "NCHW", "AvgPoolV2", "NCHW")
    if (
        attrs.get("global_pooling", False)
        or attrs.get("padding_mode", "CALCULATED") != "CALCULATED"
    ):
        raise NotImplementedError("AvgPoolV2: only padding_mode CALCULATED is supported on host")
    return F.avg_pool2d(
        inputs[0],
        list(attrs["ksize"])[2:],
        list(attrs["strides"])[2:],
        _symmetric(list(attrs.get("pads", [0, 0, 0, 0])), "AvgPoolV2"),
        ceil_mode=bool(attrs.get("ceil_mode", False)),
        count_include_pad=not attrs.get("exclusive", True),
        divisor_override=int(attrs.get("divisor_override", 0)) or None,
    )


@host_op("AvgPool3D")
def avg_pool_3d(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    _format(attrs, "NCDHW", "AvgPool3D", "NDHWC")
    x = inputs[0]
    # torch's CPU kernel has no float16/bfloat16 avg_pool3d: compute in float32.
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return F.avg_pool3d(
        xf,
        list(attrs["ksize"])[2:],
        list(attrs["strides"])[2:],
        _symmetric(list(attrs["pads"]), "AvgPool3D"),
        ceil_mode=bool(attrs.get("ceil_mode", False)),
        count_include_pad=bool(attrs.get("count_include_pad", True)),
        divisor_override=int(attrs.get("divisor_override", 0)) or None,
    ).to(x.dtype)


@host_op("MaxPoolWithArgmaxV1")
def max_pool_with_argmax_v1(inputs: list[Any], attrs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    """NCHW max pooling; the window lists hold H and W in positions 1 and 2.

    On the NPU, ``argmax`` is a bit mask in a device-specific layout; no
    converter reads it. Here it holds the flat H*W indices as int32.
    """
    window = {
        key: list(attrs.get(key, [1, 1, 1, 1]))[1:3] for key in ("ksize", "strides", "dilation")
    }
    y, idx = F.max_pool2d(
        inputs[0],
        window["ksize"],
        window["strides"],
        list(attrs["pads"])[1:3],
        dilation=window["dilation"],
        ceil_mode=bool(attrs.get("ceil_mode", False)),
        return_indices=True,
    )
    return y, idx.to(torch.int32)


@host_op("MaxPool3DWithArgmaxV2")
def max_pool_3d_with_argmax_v2(
    inputs: list[Any], attrs: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """NCDHW max pooling; ``argmax`` is the flat index into each D*H*W volume,
    of the ``dtype`` attribute (int32 by default)."""
    _format(attrs, "NCDHW", "MaxPool3DWithArgmaxV2", "NCDHW")
    y, idx = F.max_pool3d(
        inputs[0],
        list(attrs["ksize"]),
        list(attrs["strides"]),
        list(attrs["pads"]),
        dilation=list(attrs.get("dilation", [1, 1, 1])),
        ceil_mode=bool(attrs.get("ceil_mode", False)),
        return_indices=True,
    )
    # ``dtype`` is a ge:: code: 3 int32 (the default), 9 int64.
    return y, idx.to(torch.int64 if int(attrs.get("dtype", 3)) == 9 else torch.int32)


@host_op("AdaptiveAvgPool2d")
def adaptive_avg_pool_2d(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return F.adaptive_avg_pool2d(inputs[0], list(attrs["output_size"]))
