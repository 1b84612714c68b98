"""Host semantics of GE creation ops: Fill, OnesLike, ZerosLike, Range, Triu, Tril."""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op


@host_op("Fill", const_inputs=(0,))
def fill(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    dims, value = inputs
    return value.reshape(()).expand(list(dims)).contiguous()


@host_op("OnesLike")
def ones_like(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.ones_like(inputs[0])


@host_op("ZerosLike")
def zeros_like(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.zeros_like(inputs[0])


@host_op("Range", const_inputs=(0, 1, 2))
def range_(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    # The bounds arrive as Python numbers, so their tensor dtype is gone; the
    # converters emit Range only in int64 or float32, which the numbers tell apart.
    start, limit, delta = inputs
    integral = all(isinstance(v, int) for v in (start, limit, delta))
    return torch.arange(start, limit, delta, dtype=torch.int64 if integral else torch.float32)


@host_op("Triu")
def triu(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.triu(inputs[0], attrs.get("diagonal", 0))


@host_op("Tril")
def tril(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.tril(inputs[0], attrs.get("diagonal", 0))
