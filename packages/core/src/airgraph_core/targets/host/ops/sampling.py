"""Host semantics of GE's patch and grid sampling ops: Im2col, Col2im, GridSampler2D.

All three take NCHW data (the layout the converters mark on the descriptors).
``Im2col`` yields ``(N, C*kh*kw, out_h, out_w)`` with channel-major patches;
``Col2im`` takes ``(N, C, kh*kw, L)`` columns and sums overlapping patches.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from airgraph_core.targets.host.semantics import host_op


def _pair(values: Any, default: int) -> list[int]:
    values = [int(v) for v in (values if values is not None else [default])]
    return values * 2 if len(values) == 1 else values


@host_op("Im2col")
def im2col(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x = inputs[0]
    if attrs.get("padding_mode", "CALCULATED") != "CALCULATED":
        raise NotImplementedError("Im2col: only padding_mode CALCULATED is supported on host")
    pads = [int(p) for p in attrs.get("pads", [0])]
    pads = pads * 4 if len(pads) == 1 else pads
    top, bottom, left, right = pads
    if top != bottom or left != right:
        raise NotImplementedError(f"Im2col: asymmetric pads {pads} are not supported on host")
    k = _pair(attrs["ksizes"], 1)
    s = _pair(attrs.get("strides"), 1)
    d = _pair(attrs.get("dilations"), 1)
    n, c, h, w = x.shape
    out_h = (h + 2 * top - d[0] * (k[0] - 1) - 1) // s[0] + 1
    out_w = (w + 2 * left - d[1] * (k[1] - 1) - 1) // s[1] + 1
    cols = F.unfold(x, k, dilation=d, padding=[top, left], stride=s)
    return cols.reshape(n, c * k[0] * k[1], out_h, out_w)


@host_op("Col2im", const_inputs=(1,))
def col2im(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, output_size = inputs
    n, c, kk, length = x.shape
    return F.fold(
        x.reshape(n, c * kk, length),
        [int(v) for v in output_size],
        _pair(attrs["kernel_size"], 1),
        dilation=_pair(attrs["dilation"], 1),
        padding=_pair(attrs["padding"], 0),
        stride=_pair(attrs["stride"], 1),
    )


@host_op("GridSampler2D")
def grid_sampler_2d(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, grid = inputs
    return F.grid_sample(
        x,
        grid.to(x.dtype),
        mode=attrs.get("interpolation_mode", "bilinear"),
        padding_mode=attrs.get("padding_mode", "zeros"),
        align_corners=bool(attrs.get("align_corners", False)),
    )
