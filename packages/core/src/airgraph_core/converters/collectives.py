"""Collective converters: Dynamo's functional collectives as GE Hcom ops.

Dynamo (torch 2.13) traces ``torch.distributed`` calls and
``torch.distributed._functional_collectives`` into ``_c10d_functional``
ops, each followed by ``wait_tensor``; an in-place ``dist.all_reduce(t)``
becomes ``all_reduce`` + ``wait_tensor`` + ``copy`` after functionalization.
Each op becomes the Hcom op TorchAir emits for it, with the same attributes
(``fusion=0``, ``fusion_id=-1`` set explicitly, ``product`` as ``prod``);
``wait_tensor`` is an ``Identity`` (GE runs Hcom ops synchronously within
the graph). The ``group`` attribute names the process group as the runtime
finds it (see :mod:`airgraph_core.process_groups`).

GE's reductions are sum, prod, max and min: ``avg`` is a ``sum`` followed
by a ``RealDiv`` by the group size (TorchAir refuses ``avg``).
"""

from __future__ import annotations

import math

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import ALL_DTYPES, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.process_groups import ge_group_name, group_ranks

c10d = torch.ops._c10d_functional

#: dtypes of HcomAllReduce / HcomReduceScatter's prototypes (no bf16, no int64).
REDUCE_DTYPES = frozenset({torch.float32, torch.float16, torch.int32, torch.int8, torch.int16})
#: dtypes of HcomAllGather / HcomAllToAllV / HcomBroadcast's prototypes.
MOVE_DTYPES = REDUCE_DTYPES | {torch.int64, torch.uint8, torch.float64}

#: ATen reduce op -> GE ``reduction`` (``avg`` is emitted as sum, then divided).
REDUCTIONS = {"sum": "sum", "avg": "sum", "product": "prod", "max": "max", "min": "min"}

#: Attributes TorchAir sets on every fusable Hcom op.
_NO_FUSION = {"fusion": 0, "fusion_id": -1}


def _reduce_op(position: int):
    def check(node: Node) -> str | None:
        op = node.args[position]
        if op not in REDUCTIONS:
            return f"reduce op {op!r}; supported: {', '.join(REDUCTIONS)}"
        val = node.args[0].meta.get("val")
        if op == "avg" and isinstance(val, torch.Tensor) and not val.dtype.is_floating_point:
            return f"reduce op 'avg' on {val.dtype}; only floating point averages"
        return None

    check.__name__ = "known_reduce_op"
    return check


def _averaged(ctx: ConversionContext, y: TensorRef, reduce_op: str, group_size: int) -> TensorRef:
    if reduce_op != "avg":
        return y
    return ctx.b.op("RealDiv", y, ctx.const(group_size, y.dtype), out=y.spec)


@register(
    c10d.all_reduce.default,
    dtypes=REDUCE_DTYPES,
    ge_ops=("HcomAllReduce", "RealDiv"),
    predicate=_reduce_op(1),
)
def all_reduce(ctx: ConversionContext, x: TensorRef, reduce_op: str, group_name: str) -> TensorRef:
    y = ctx.b.op(
        "HcomAllReduce",
        x,
        out=ctx.out(),
        reduction=REDUCTIONS[reduce_op],
        group=ge_group_name(group_name),
        **_NO_FUSION,
    )
    return _averaged(ctx, y, reduce_op, len(group_ranks(group_name)))


@register(c10d.all_gather_into_tensor.default, dtypes=MOVE_DTYPES, ge_ops=("HcomAllGather",))
def all_gather_into_tensor(
    ctx: ConversionContext, x: TensorRef, group_size: int, group_name: str
) -> TensorRef:
    return ctx.b.op(
        "HcomAllGather",
        x,
        out=ctx.out(),
        group=ge_group_name(group_name),
        rank_size=group_size,
        **_NO_FUSION,
    )


@register(
    c10d.reduce_scatter_tensor.default,
    dtypes=REDUCE_DTYPES,
    ge_ops=("HcomReduceScatter", "RealDiv"),
    predicate=_reduce_op(1),
)
def reduce_scatter_tensor(
    ctx: ConversionContext, x: TensorRef, reduce_op: str, group_size: int, group_name: str
) -> TensorRef:
    y = ctx.b.op(
        "HcomReduceScatter",
        x,
        out=ctx.out(),
        reduction=REDUCTIONS[reduce_op],
        group=ge_group_name(group_name),
        rank_size=group_size,
        **_NO_FUSION,
    )
    return _averaged(ctx, y, reduce_op, group_size)


def _static_splits(node: Node) -> str | None:
    val = node.args[0].meta.get("val")
    if any(not isinstance(d, int) for d in val.shape[1:]):
        return "all_to_all_single of a tensor with dynamic non-leading dims"
    for name, sizes in (("output", node.args[1]), ("input", node.args[2])):
        if sizes is not None and any(not isinstance(s, int) for s in sizes):
            return f"symbolic {name}_split_sizes {sizes}; only static split sizes"
    return None


@register(
    c10d.all_to_all_single.default,
    dtypes=MOVE_DTYPES,
    ge_ops=("HcomAllToAllV",),
    predicate=_static_splits,
)
def all_to_all_single(
    ctx: ConversionContext,
    x: TensorRef,
    output_split_sizes: list[int] | None,
    input_split_sizes: list[int] | None,
    group_name: str,
) -> TensorRef:
    # HcomAllToAllV counts and displaces elements of the flattened tensor,
    # where ATen splits rows of dim 0 (as TorchAir converts them).
    val = ctx.val(ctx.node.args[0])
    row = math.prod(val.shape[1:])
    group_size = len(group_ranks(group_name))
    equal = [val.shape[0] // group_size] * group_size
    send = [s * row for s in (input_split_sizes if input_split_sizes is not None else equal)]
    recv = [s * row for s in (output_split_sizes if output_split_sizes is not None else equal)]

    def const(values: list[int]) -> TensorRef:
        return ctx.const(torch.tensor(values, dtype=torch.int64))

    return ctx.b.op(
        "HcomAllToAllV",
        x,
        const(send),
        const(_displacements(send)),
        const(recv),
        const(_displacements(recv)),
        out=ctx.out(),
        group=ge_group_name(group_name),
    )


def _displacements(counts: list[int]) -> list[int]:
    return [sum(counts[:i]) for i in range(len(counts))]


@register(c10d.broadcast.default, dtypes=MOVE_DTYPES, ge_ops=("HcomBroadcast",))
def broadcast(ctx: ConversionContext, x: TensorRef, src: int, group_name: str) -> TensorRef:
    # ``src`` is the rank within the group, as HcomBroadcast's root_rank.
    (y,) = ctx.b.op(
        "HcomBroadcast",
        [x],
        out=[ctx.out()],
        root_rank=src,
        group=ge_group_name(group_name),
        **_NO_FUSION,
    )
    return y


@register(c10d.wait_tensor.default, dtypes=ALL_DTYPES, ge_ops=("Identity",))
def wait_tensor(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    # GE runs an Hcom op to completion inside the graph: nothing to wait for.
    # An Identity, as TorchAir emits.
    return ctx.b.op("Identity", x, out=x.spec)
