"""Host semantics of elementwise GE ops."""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op


@host_op("Add")
def add(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.add(inputs[0], inputs[1])


@host_op("AxpyV2")
def axpy_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x1, x2, alpha = inputs
    return x1 + x2 * alpha
