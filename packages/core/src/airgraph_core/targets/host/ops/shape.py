"""Host semantics of GE shape ops: Reshape, Transpose, BroadcastTo, Squeeze/Unsqueeze,
ConcatV2, Pack/Unpack, SplitV, StridedSliceV2, Tile, PadV3, ReverseV2.

On the NPU these ops write a new tensor. Here the ops that only re-index
their input (Reshape, Transpose, BroadcastTo, Squeeze/Unsqueeze, Unpack,
SplitV, StridedSliceV2) return a view: the values are the same as long as
nothing writes the input afterwards, and the only writers in a GE graph are
``Assign``-style ops on ``Data`` inputs, which come after every read. A view
lets Inductor hand a strided operand to a matmul instead of materializing a
transposed or sliced copy on every call (as a direct ``torch.compile`` of
the same model does).
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.ops.padding import index_pad
from airgraph_core.targets.host.semantics import host_op


@host_op("Reshape", const_inputs=(1,), view=True)
def reshape(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, shape = inputs
    # GE (CANN op_proto array_ops.cc, ReshapeInfer): with the shape given as
    # the `shape` input and the default axis=0/num_axes=-1, a 0 is a size of
    # 0 (TF semantics) and -1 is inferred, failing on a zero product; only the
    # Caffe form (a `shape` attr holding 0, or other axis/num_axes) copies the
    # input's size. The converters emit the input form, with explicit sizes
    # whenever -1 would be ambiguous, so torch's reshape rules are GE's here.
    return x.reshape(list(shape))


@host_op("Transpose", const_inputs=(1,), view=True)
def transpose(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, perm = inputs
    return x.permute(perm)


@host_op("BroadcastTo", const_inputs=(1,), view=True)
def broadcast_to(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, shape = inputs
    return torch.broadcast_to(x, shape)


@host_op("Unsqueeze", view=True)
def unsqueeze(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    (x,) = inputs
    rank = x.dim() + len(attrs.get("axes", ()))
    for axis in sorted(a % rank for a in attrs.get("axes", ())):
        x = x.unsqueeze(axis)
    return x


@host_op("Squeeze", view=True)
def squeeze(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    (x,) = inputs
    axes = attrs.get("axis") or [i for i, s in enumerate(x.shape) if s == 1]
    return x.squeeze(tuple(a % x.dim() for a in axes)) if x.dim() else x


@host_op("ConcatV2", const_inputs=(-1,))
def concat_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    *xs, dim = inputs
    return torch.cat(xs, dim=dim)


@host_op("Pack")
def pack(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.stack(inputs, dim=attrs.get("axis", 0))


@host_op("Unpack", view=True)
def unpack(inputs: list[Any], attrs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    (x,) = inputs
    return torch.unbind(x, dim=attrs.get("axis", 0))


@host_op("SplitV", const_inputs=(1, 2), view=True)
def split_v(inputs: list[Any], attrs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    x, sizes, dim = inputs
    sizes = list(sizes)
    if -1 in sizes:
        # One -1 entry takes whatever the others leave.
        sizes[sizes.index(-1)] = x.shape[dim] - sum(s for s in sizes if s != -1)
    return torch.split(x, sizes, dim=dim)


@host_op("StridedSliceV2", const_inputs=(1, 2, 3, 4), view=True)
def strided_slice_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, begin, end, axes, strides = inputs
    if any(
        attrs.get(m, 0)
        for m in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    ):
        raise NotImplementedError("StridedSliceV2: masks are not supported on the host target")
    # 0-d begin/end/axes/strides (TorchAir's form for one axis) or 1-D lists.
    begin, end, axes, strides = ([v] if isinstance(v, int) else v for v in inputs[1:])
    axes = list(range(len(begin))) if axes is None else axes
    strides = [1] * len(begin) if strides is None else strides
    index: list[Any] = [slice(None)] * x.dim()
    for b, e, axis, s in zip(begin, end, axes, strides):
        # Python slice semantics: negative positions count from the end, out of range clamps.
        index[axis % x.dim()] = slice(b, e, s)
    return x[tuple(index)]


@host_op("Tile", const_inputs=(1,))
def tile(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, multiples = inputs
    return x.repeat(multiples)


@host_op("PadV3", const_inputs=(1,))
def pad_v3(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, paddings, value = (inputs + [None])[:3]
    rank = x.dim()
    if attrs.get("paddings_contiguous", True):
        pairs = [(paddings[2 * i], paddings[2 * i + 1]) for i in range(rank)]
    else:
        pairs = [(paddings[i], paddings[rank + i]) for i in range(rank)]
    mode = attrs.get("mode", "constant")
    if mode in ("edge", "reflect"):
        return index_pad(x, pairs, mode)
    if mode != "constant":
        raise NotImplementedError(f"PadV3: mode {mode!r} is not supported on the host")
    flat = [p for pair in reversed(pairs) for p in pair]
    out = torch.constant_pad_nd(x, flat, 0)
    if value is None:
        return out
    # The fill value is a tensor: write it into the pad region with a mask.
    mask = torch.constant_pad_nd(torch.zeros_like(x, dtype=torch.bool), flat, True)
    return torch.where(mask, value.to(out.dtype), out)


@host_op("ReverseV2", const_inputs=(1,))
def reverse_v2(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, axis = inputs
    return torch.flip(x, list(axis))
