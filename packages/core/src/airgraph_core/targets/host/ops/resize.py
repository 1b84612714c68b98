"""Host semantics of GE's image resize ops: ResizeNearestNeighborV2, ResizeBilinearV2.

Both resize the last two dims of NCHW data to ``size`` (``[out_h, out_w]``)
with TensorFlow's contract, which GE's ops follow. Per axis, with
``scale = (in - 1) / (out - 1)`` under ``align_corners`` (0 for one output
pixel) and ``in / out`` otherwise, computed in float32, the source
coordinate of output index ``i`` is ``(i + 0.5) * scale - 0.5`` under
``half_pixel_centers`` and ``i * scale`` otherwise. Nearest takes
``round`` of it under ``align_corners`` and ``floor`` otherwise (with
half-pixel centres, ``floor((i + 0.5) * scale)``), clamped into the input.
Bilinear blends ``floor`` and ``ceil`` of it, each clamped into the input,
by its fraction, and outputs float32.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op


def _scale(size_in: int, size_out: int, align_corners: bool) -> torch.Tensor:
    if align_corners:
        value = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    else:
        value = size_in / size_out
    return torch.tensor(value, dtype=torch.float32)


def _nearest_index(size_in: int, size_out: int, attrs: dict[str, Any]) -> torch.Tensor:
    align = bool(attrs.get("align_corners", False))
    i = torch.arange(size_out, dtype=torch.float32)
    scale = _scale(size_in, size_out, align)
    if attrs.get("half_pixel_centers", False):
        src = torch.floor((i + 0.5) * scale)
    elif align:
        src = torch.round(i * scale)
    else:
        src = torch.floor(i * scale)
    return src.to(torch.int64).clamp(0, size_in - 1)


@host_op("ResizeNearestNeighborV2", const_inputs=(1,))
def resize_nearest(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, size = inputs
    (h, w), (out_h, out_w) = x.shape[-2:], [int(s) for s in size]
    rows = _nearest_index(h, out_h, attrs)
    cols = _nearest_index(w, out_w, attrs)
    return x.index_select(-2, rows).index_select(-1, cols)


def _linear_weights(
    size_in: int, size_out: int, attrs: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    i = torch.arange(size_out, dtype=torch.float32)
    scale = _scale(size_in, size_out, bool(attrs.get("align_corners", False)))
    src = (i + 0.5) * scale - 0.5 if attrs.get("half_pixel_centers", False) else i * scale
    low = torch.floor(src)
    lower = low.to(torch.int64).clamp(min=0)
    upper = torch.ceil(src).to(torch.int64).clamp(max=size_in - 1)
    return lower, upper, src - low


@host_op("ResizeBilinearV2", const_inputs=(1,))
def resize_bilinear(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, size = inputs
    x = x.float()
    (h, w), (out_h, out_w) = x.shape[-2:], [int(s) for s in size]
    top, bottom, y_lerp = _linear_weights(h, out_h, attrs)
    left, right, x_lerp = _linear_weights(w, out_w, attrs)
    upper, lower = x.index_select(-2, top), x.index_select(-2, bottom)
    y_lerp = y_lerp[:, None]
    tl, tr = upper.index_select(-1, left), upper.index_select(-1, right)
    bl, br = lower.index_select(-1, left), lower.index_select(-1, right)
    top_row = tl + (tr - tl) * x_lerp
    bottom_row = bl + (br - bl) * x_lerp
    return top_row + (bottom_row - top_row) * y_lerp
