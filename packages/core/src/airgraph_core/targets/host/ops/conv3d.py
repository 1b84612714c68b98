"""Host semantics of GE's forward 3-D convolution, ``Conv3D`` (NCDHW data, OIDHW filter).

The converters emit it for float16 only (its prototype's input dtype); the
NPU's cube unit accumulates float16 products in float32, so the host does
the same: it convolves in float32 and rounds the result once.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from airgraph_core.targets.host.semantics import host_op


@host_op("Conv3D")
def conv3d(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    """``strides``/``dilations`` are 5 values in NCDHW order, ``pads`` a (begin, end)
    pair per spatial dim."""
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    if len(inputs) > 3 and inputs[3] is not None:
        raise NotImplementedError("Conv3D: offset_w (int8 weights) is not supported on host")
    fmt = attrs.get("data_format", "NDHWC")
    if fmt != "NCDHW":
        raise NotImplementedError(f"Conv3D: data_format {fmt!r} is not supported on host")
    pads = [int(p) for p in attrs["pads"]]
    if pads[0::2] != pads[1::2]:
        raise NotImplementedError(f"Conv3D: asymmetric pads {pads} are not supported on host")
    y = F.conv3d(
        x.float(),
        weight.float(),
        None if bias is None else bias.float(),
        stride=list(attrs["strides"])[2:],
        padding=pads[0::2],
        dilation=list(attrs.get("dilations", [1] * 5))[2:],
        groups=int(attrs.get("groups", 1)),
    )
    return y.to(x.dtype)
