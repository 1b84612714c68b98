"""Host semantics of GE's ``NonZero``: indices of the non-zero elements.

The output size depends on the data: ``(count, rank)`` (``(rank, count)``
with ``transpose``), of the ``dtype`` attribute (int64 by default).
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.ir.dtypes import DataType, to_torch
from airgraph_core.targets.host.semantics import host_op


@host_op("NonZero", shape_from_data=True)
def nonzero(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    idx = torch.nonzero(inputs[0])
    if attrs.get("transpose", False):
        idx = idx.t()
    return idx.to(to_torch(attrs.get("dtype", DataType.INT64)))
