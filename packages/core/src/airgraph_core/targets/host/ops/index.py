"""Host semantics of GE index ops: Gather, GatherV2, GatherElements, IndexByTensor,
ScatterElements, IndexPutV2."""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op


@host_op("Gather")
def gather(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    # GatherV2 on axis 0, the axis fixed by the op type (symbolic sizes read
    # one entry of a Shape with it, as TorchAir does).
    x, indices = inputs
    if attrs.get("batch_dims", 0):
        raise NotImplementedError("Gather: batch_dims is not supported on the host target")
    flat = indices.reshape(-1).to(torch.int64)
    if attrs.get("negative_index_support", False):
        flat = torch.where(flat < 0, flat + x.shape[0], flat)
    return x.index_select(0, flat).reshape(indices.shape + x.shape[1:])


@host_op("GatherV2", const_inputs=(2,))
def gather_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, indices, axis = inputs
    if attrs.get("batch_dims", 0):
        raise NotImplementedError("GatherV2: batch_dims is not supported on the host target")
    axis = (axis[0] if isinstance(axis, list) else axis) % x.dim()  # 0-d or [1]
    flat = indices.reshape(-1).to(torch.int64)
    if attrs.get("negative_index_support", False):
        flat = torch.where(flat < 0, flat + x.shape[axis], flat)
    out = x.index_select(axis, flat)
    return out.reshape(x.shape[:axis] + indices.shape + x.shape[axis + 1 :])


@host_op("GatherElements")
def gather_elements(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, index = inputs
    return torch.gather(x, attrs.get("dim", 0), index.to(torch.int64))


def _full_indices(indices: list[Any], mask: list[int]) -> list[Any]:
    """Index tensors with ``None`` where ``mask`` says a dim is not indexed."""
    if not mask:
        return list(indices)
    it = iter(indices)
    return [next(it).to(torch.int64) if m else None for m in mask]


@host_op("IndexByTensor")
def index_by_tensor(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, *indices = inputs
    return torch.ops.aten.index.Tensor(
        x, _full_indices(indices, list(attrs.get("indices_mask", ())))
    )


@host_op("ScatterElements")
def scatter_elements(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    data, indices, updates = inputs
    axis, reduction = attrs.get("axis", 0), attrs.get("reduction", "none")
    indices = indices.to(torch.int64)
    if reduction == "none":
        return torch.scatter(data, axis, indices, updates)
    if reduction == "add":
        return torch.scatter_add(data, axis, indices, updates)
    if reduction == "mul":
        return torch.scatter_reduce(data, axis, indices, updates, "prod")
    raise NotImplementedError(f"ScatterElements: reduction {reduction!r}")


@host_op("IndexPutV2", const_inputs=(2, 3))
def index_put_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    # GE writes into x (its output is x); the host computes a new tensor, and
    # the lowering copies x first (TensorMove), so the results agree.
    x, value, indexed_sizes, _indexed_strides, *indices = inputs
    full = _full_indices(indices, list(indexed_sizes))
    return torch.ops.aten.index_put.default(x, full, value, bool(attrs.get("accumulate", False)))
