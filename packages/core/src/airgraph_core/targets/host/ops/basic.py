"""Host semantics of graph plumbing: Data, Const, Cast, Identity, Assign, Shape."""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.ir.dtypes import from_ge_code, to_torch
from airgraph_core.targets.host.semantics import host_op


@host_op("Identity", view=True)
def identity(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    # The same values; no copy, as for the re-indexing ops in ``shape.py``: an
    # ATen graph traced with unbacked (geared) sizes clones before every
    # reshape it cannot prove to be a view, and a static specialization
    # should not pay for those copies.
    return inputs[0]


@host_op("TensorMove")
def tensor_move(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    # A real copy: the lowering puts one before ops that GE runs in place (IndexPutV2).
    return inputs[0].clone()


@host_op("Cast", view=True)
def cast(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    # To the same dtype ``to`` returns the input itself: a view as far as aliasing goes.
    return inputs[0].to(to_torch(from_ge_code(attrs["dst_type"])))


@host_op("Assign", side_effect=True)
def assign(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    ref, value = inputs
    return ref.copy_(value)


@host_op("Shape")
def shape(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    dtype = to_torch(from_ge_code(attrs.get("dtype", 3)))
    return torch.tensor(list(inputs[0].shape), dtype=dtype)
