"""Host semantics of GE's MaskedScatter.

``y`` is ``x`` with the positions where ``mask`` is true (same shape as
``x``) filled, in row-major order, by the leading elements of ``updates``
read flat.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op


@host_op("MaskedScatter")
def masked_scatter(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, mask, updates = inputs
    if mask.shape != x.shape:
        raise ValueError(f"MaskedScatter: mask shape {tuple(mask.shape)} != x {tuple(x.shape)}")
    return x.masked_scatter(mask, updates)
