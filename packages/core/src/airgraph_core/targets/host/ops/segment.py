"""Host semantics of GE's unsorted segment reductions:
UnsortedSegmentSum, UnsortedSegmentProd, UnsortedSegmentMax, UnsortedSegmentMin.

``y[s]`` reduces every ``x[i]`` with ``segment_ids[i] == s`` over the first
dim(s) of ``x`` (``segment_ids`` covers ``x``'s leading dims); a segment no
element lands in holds the reduction's identity: 0 for sum, 1 for prod, the
dtype's lowest value for max and its highest for min (as TensorFlow's ops,
whose contract GE's follow).
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op

_REDUCE = {
    "UnsortedSegmentSum": "sum",
    "UnsortedSegmentProd": "prod",
    "UnsortedSegmentMax": "amax",
    "UnsortedSegmentMin": "amin",
}


def _identity(op_type: str, dtype: torch.dtype) -> float | int:
    if op_type == "UnsortedSegmentSum":
        return 0
    if op_type == "UnsortedSegmentProd":
        return 1
    info = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    return info.min if op_type == "UnsortedSegmentMax" else info.max


def _segment(op_type: str) -> Any:
    def semantics(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
        x, ids, num = inputs
        ids = ids.to(torch.int64)
        lead = ids.dim()
        rows = x.reshape(ids.numel(), *x.shape[lead:])
        flat_ids = ids.reshape(-1)
        out = torch.full((int(num), *x.shape[lead:]), _identity(op_type, x.dtype), dtype=x.dtype)
        index = flat_ids.reshape(-1, *([1] * (rows.dim() - 1))).expand_as(rows)
        return out.scatter_reduce(0, index, rows, _REDUCE[op_type], include_self=True)

    return semantics


for _op_type in _REDUCE:
    host_op(_op_type, const_inputs=(2,))(_segment(_op_type))
