"""Host semantics of the GE matrix-product ops: MatMul(V2), BatchMatMul(V2).

``transpose_x*`` / ``adj_x*`` transpose the last two dims of an operand;
the batch dims of BatchMatMul(V2) broadcast; ``bias`` (1-D, ``[N]``) is
added to the product. The int8/int4 quantisation inputs (``offset_w``,
``offset_x``) are not supported on the host.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op


def _product(x1: torch.Tensor, x2: torch.Tensor, t1: bool, t2: bool, bias: Any) -> torch.Tensor:
    if t1:
        x1 = x1.transpose(-1, -2)
    if t2:
        x2 = x2.transpose(-1, -2)
    if bias is None:
        return torch.matmul(x1, x2)
    # Bias added before the one rounding, as GE's accumulator and eager's linear (addmm)
    # do: a bfloat16 product rounded first was off by its last place (~0.02 at 10).
    if x2.dim() == 2 and x1.dim() >= 2 and bias.dtype == x1.dtype and _flattens(bias, x1):
        # Batch dims of x1 only (a linear on n-D input): eager's linear flattens them
        # into one addmm as well. A bias of another dtype (float32 with bfloat16
        # operands) is not rounded to x1's first: it takes the float32 sum below.
        y = torch.addmm(bias, x1.reshape(-1, x1.shape[-1]), x2)
        return y.reshape(*x1.shape[:-1], x2.shape[-1])
    if x1.dtype in (torch.float16, torch.bfloat16):
        # Both operands batched (or a bias that is not one row): accumulate and add in
        # float32, then round once.
        y = torch.matmul(x1.float(), x2.float()) + bias.float()
        return y.to(x1.dtype)
    return torch.matmul(x1, x2) + bias.to(x1.dtype)


def _flattens(bias: torch.Tensor, x1: torch.Tensor) -> bool:
    """Whether ``bias`` broadcasts onto x1's rows flattened into one matrix (``[N]``)."""
    return bias.dim() <= 1 or (bias.dim() == 2 and (x1.dim() == 2 or bias.shape[0] == 1))


def _no_offset(inputs: list[Any], op_type: str) -> None:
    if len(inputs) > 3 and inputs[3] is not None:
        raise NotImplementedError(f"{op_type}: offset_w (int8 weights) is not supported on host")


@host_op("MatMul", "MatMulV2")
def matmul(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    _no_offset(inputs, "MatMulV2")
    bias = inputs[2] if len(inputs) > 2 else None
    t1, t2 = attrs.get("transpose_x1", False), attrs.get("transpose_x2", False)
    return _product(inputs[0], inputs[1], t1, t2, bias)


@host_op("BatchMatMul", "BatchMatMulV2")
def batch_matmul(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    _no_offset(inputs, "BatchMatMulV2")
    bias = inputs[2] if len(inputs) > 2 else None
    t1, t2 = attrs.get("adj_x1", False), attrs.get("adj_x2", False)
    return _product(inputs[0], inputs[1], t1, t2, bias)
