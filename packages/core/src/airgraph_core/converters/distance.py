"""Pairwise distance converters: ``_cdist_forward``, ``_euclidean_dist``, ``_pdist_forward``.

TorchAir has no converter for either. GE's ``Cdist``/``Pdist`` are NPU
kernels whose input layouts are not documented in the op prototypes, so both
are written with portable ops: the differences of every pair of rows
(``Sub`` of broadcast operands for cdist; two ``GatherV2`` of the
upper-triangle row pairs for pdist) and the p-norm over the last dim:
``p = 0`` counts non-zero differences, ``p = 1`` sums ``Abs``, ``p = 2`` is
``Sqrt`` of the summed squares, ``p = inf`` is ``ReduceMax`` of ``Abs``,
other ``p`` are ``Pow(ReduceSum(Pow(Abs(d), p)), 1 / p)``. Eager's p=2
cdist of more than 25 rows goes through ``_euclidean_dist``, which lowers
as eager computes it: a ``BatchMatMulV2`` of the rows and their squared
norms, so no ``[*, P, R, M]`` difference tensor is built. Half precision is
computed in float32 and cast back.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.converters.context import ConversionContext, static_dim
from airgraph_core.converters.registry import FLOATS, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []

aten = torch.ops.aten

_NORM_OPS = ("Sub", "Abs", "Mul", "Pow", "Sqrt", "NotEqual", "Cast", "ReduceSum", "ReduceMax")


def _p_norm(ctx: ConversionContext, diff: TensorRef, p: float) -> TensorRef:
    """The p-norm of ``diff`` (float32) over its last dim."""
    f32 = DataType.FLOAT
    shape = diff.shape[:-1]
    axes = ctx.const(torch.tensor([-1], dtype=torch.int64))

    def reduce(op_type: str, x: TensorRef) -> TensorRef:
        return ctx.b.op(op_type, x, axes, out=(f32, shape), keep_dims=False)

    if p == 0:
        nonzero = ctx.b.op("NotEqual", diff, ctx.const(0.0, f32), out=(DataType.BOOL, diff.shape))
        return reduce("ReduceSum", ctx.cast(nonzero, f32))
    if p == 2:
        squares = ctx.b.op("Mul", diff, diff, out=diff.spec)
        return ctx.b.op("Sqrt", reduce("ReduceSum", squares), out=(f32, shape))
    magnitude = ctx.b.op("Abs", diff, out=diff.spec)
    if p == 1:
        return reduce("ReduceSum", magnitude)
    if math.isinf(p):
        return reduce("ReduceMax", magnitude)
    powered = ctx.b.op("Pow", magnitude, ctx.const(float(p), f32), out=diff.spec)
    return ctx.b.op("Pow", reduce("ReduceSum", powered), ctx.const(1.0 / p, f32), out=(f32, shape))


def _zeros(ctx: ConversionContext) -> TensorRef:
    dtype, shape = ctx.out()
    return ctx.b.op("Fill", ctx.int_list(list(shape)), ctx.const(0, dtype), out=(dtype, shape))


def _finish(ctx: ConversionContext, diff: TensorRef, p: float) -> TensorRef:
    if diff.shape[-1] == 0 or 0 in ctx.out()[1]:
        # No coordinates (every distance is 0) or no pairs: nothing to reduce.
        return _zeros(ctx)
    return ctx.cast(_p_norm(ctx, diff, float(p)), ctx.out()[0])


def _valid_p(node: Node, index: int, default: float) -> str | None:
    p = node.args[index] if len(node.args) > index else node.kwargs.get("p", default)
    if not isinstance(p, (int, float)):
        return "p is symbolic; GE takes the norm order as a constant"
    if p < 0:
        return f"p={p}: ATen requires p >= 0"
    return None


def _cdist_supported(node: Node) -> str | None:
    return _valid_p(node, 2, 2.0)


@register(
    aten._cdist_forward.default,
    dtypes=FLOATS,
    ranks=range(2, 8),
    ge_ops=(*_NORM_OPS, "Unsqueeze", "Fill"),
    predicate=_cdist_supported,
)
def cdist_forward(
    ctx: ConversionContext, x1: TensorRef, x2: TensorRef, p: float, compute_mode: Any = None
) -> TensorRef:
    """``[*, P, M]`` and ``[*, R, M]`` -> ``[*, P, R]``: the p-norm of every row difference."""
    f32 = DataType.FLOAT
    _, out_shape = ctx.out()
    a = ctx.cast(x1, f32)
    b = ctx.cast(x2, f32)
    a = ctx.b.op("Unsqueeze", a, out=(f32, (*a.shape[:-1], 1, a.shape[-1])), axes=[a.rank - 1])
    b = ctx.b.op("Unsqueeze", b, out=(f32, (*b.shape[:-2], 1, *b.shape[-2:])), axes=[b.rank - 2])
    diff = ctx.b.op("Sub", a, b, out=(f32, (*out_shape, x1.shape[-1])))
    return _finish(ctx, diff, p)


@register(
    aten._euclidean_dist.default,
    dtypes=FLOATS,
    ranks=range(2, 8),
    ge_ops=("Mul", "ReduceSum", "BatchMatMulV2", "Transpose", "Add", "Sub", "Maximum", "Sqrt"),
)
def euclidean_dist(ctx: ConversionContext, x1: TensorRef, x2: TensorRef) -> TensorRef:
    """cdist's p=2 path for more than 25 rows, as eager computes it: through a matrix
    product, ``sqrt(max(|a|^2 + |b|^2 - 2 a.b, 1e-30))``, so no ``[*, P, R, M]``
    difference tensor is built."""
    f32 = DataType.FLOAT
    dtype, out_shape = ctx.out()
    a, b = ctx.cast(x1, f32), ctx.cast(x2, f32)
    last = ctx.const(torch.tensor([-1], dtype=torch.int64))

    def squared_norm(t: TensorRef) -> TensorRef:
        sq = ctx.b.op("Mul", t, t, out=t.spec)
        return ctx.b.op("ReduceSum", sq, last, out=(f32, (*t.shape[:-1], 1)), keep_dims=True)

    na, nb = squared_norm(a), squared_norm(b)
    perm = [*range(nb.rank - 2), nb.rank - 1, nb.rank - 2]
    nb_row = ctx.b.op(
        "Transpose", nb, ctx.int_list(perm), out=(f32, (*nb.shape[:-2], 1, nb.shape[-2]))
    )
    prod = ctx.b.op("BatchMatMulV2", a, b, out=(f32, out_shape), adj_x1=False, adj_x2=True)
    twice = ctx.b.op("Mul", prod, ctx.const(2.0, f32), out=prod.spec)
    norms = ctx.b.op("Add", na, nb_row, out=(f32, out_shape))
    squared = ctx.b.op("Sub", norms, twice, out=(f32, out_shape))
    squared = ctx.b.op("Maximum", squared, ctx.const(1e-30, f32), out=squared.spec)
    return ctx.cast(ctx.b.op("Sqrt", squared, out=squared.spec), dtype)


def _pdist_supported(node: Node) -> str | None:
    x = node.args[0].meta["val"]
    if -1 in [static_dim(d) for d in x.shape]:
        return "symbolic sizes are not supported: the row pairs are constant indices"
    return _valid_p(node, 1, 2.0)


@register(
    aten._pdist_forward.default,
    dtypes=FLOATS,
    ranks=range(2, 3),
    ge_ops=(*_NORM_OPS, "GatherV2", "Fill"),
    predicate=_pdist_supported,
)
def pdist_forward(ctx: ConversionContext, x: TensorRef, p: float = 2.0) -> TensorRef:
    """``[N, M]`` -> ``[N * (N - 1) / 2]``: distances of rows ``i < j``, in row-major order."""
    f32 = DataType.FLOAT
    n, m = x.shape
    first, second = torch.triu_indices(n, n, offset=1)
    pairs = len(first)
    if pairs == 0 or m == 0:
        return _zeros(ctx)
    xf = ctx.cast(x, f32)
    axis = ctx.const(0, DataType.INT64)
    rows = [
        ctx.b.op("GatherV2", xf, ctx.const(idx, DataType.INT64), axis, out=(f32, (pairs, m)))
        for idx in (first, second)
    ]
    diff = ctx.b.op("Sub", rows[0], rows[1], out=(f32, (pairs, m)))
    return _finish(ctx, diff, p)
