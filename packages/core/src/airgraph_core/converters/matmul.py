"""Matrix-product converters: mm, bmm, addmm, baddbmm, addmv, addbmm, addr.

``aten.matmul`` and ``aten.linear`` never reach the lowering: they are
CompositeImplicit and arrive as ``view``/``expand`` + ``mm``/``bmm`` and
``t`` + ``addmm``. GE's MatMul family accepts float32, float16, bfloat16
and int32 only (int64 and float64 are rejected up front).
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import FLOATS, register
from airgraph_core.converters.shape import same_shape
from airgraph_core.converters.symbolic import dim_size
from airgraph_core.ir.dtypes import DataType

aten = torch.ops.aten

#: What GE's MatMul / MatMulV2 / BatchMatMul prototypes accept.
MATMUL_DTYPES = FLOATS | {torch.int32}


@register(aten.mm.default, dtypes=MATMUL_DTYPES, ranks=range(2, 3), ge_ops=("MatMul",))
def mm(ctx: ConversionContext, x1: Any, x2: Any) -> Any:
    return ctx.b.op("MatMul", x1, x2, None, out=ctx.out(), transpose_x1=False, transpose_x2=False)


@register(aten.bmm.default, dtypes=MATMUL_DTYPES, ranks=range(3, 4), ge_ops=("BatchMatMul",))
def bmm(ctx: ConversionContext, x1: Any, x2: Any) -> Any:
    return ctx.b.op("BatchMatMul", x1, x2, out=ctx.out(), adj_x1=False, adj_x2=False)


#: Where TorchAir gives MatMulV2 the bias (``is_need_to_convert_bias``).
_FUSED_BIAS_DTYPES = frozenset({DataType.FLOAT16, DataType.BF16})


def _bias_fits(ctx: ConversionContext) -> bool:
    """``self`` of addmm is a 1-D ``[N]`` bias, so MatMulV2 can add it."""
    bias, _, mat2 = (ctx.val(a) for a in ctx.node.args[:3])
    # Compare sizes by name: evaluating a symbolic equality would add a guard.
    return bias.dim() == 1 and str(bias.shape[0]) == str(mat2.shape[1])


@register(
    aten.addmm.default,
    dtypes=MATMUL_DTYPES,
    ranks=range(0, 3),
    ge_ops=("MatMulV2", "Mul", "Add", "AxpyV2", "BroadcastTo", "Fill"),
)
def addmm(
    ctx: ConversionContext, bias: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1
) -> Any:
    """``beta * bias + alpha * (mat1 @ mat2)``: a biased MatMulV2 for the
    half-precision ``nn.Linear`` case, else MatMulV2 followed by Mul / Add / AxpyV2.

    As TorchAir: only a float16/bfloat16 1-D bias goes into MatMulV2;
    otherwise the product is multiplied by ``alpha`` even when it is 1 (a
    ``Mul`` TorchAir's source says must stay for float32), then added.
    ``alpha == 0`` skips the product (see :func:`_without_product`).
    """
    dtype, shape = ctx.out()
    if alpha == 0:
        return _without_product(ctx, bias, beta, [(mat1, 1, 0), (mat2, 2, 1)])
    if dtype in _FUSED_BIAS_DTYPES and beta == 1 and alpha == 1 and _bias_fits(ctx):
        return ctx.b.op(
            "MatMulV2", mat1, mat2, bias, None, out=(dtype, shape),
            transpose_x1=False, transpose_x2=False,
        )  # fmt: skip
    prod_shape = (mat1.shape[0], mat2.shape[1])
    y = ctx.b.op(
        "MatMulV2", mat1, mat2, out=(dtype, prod_shape), transpose_x1=False, transpose_x2=False
    )
    y = ctx.b.op("Mul", y, ctx.scalar(alpha, dtype), out=y.spec)
    return _scaled_sum(ctx, y, ctx.cast(bias, dtype), beta, 1)


@register(
    aten.baddbmm.default,
    dtypes=MATMUL_DTYPES,
    ranks=range(0, 4),
    ge_ops=("BatchMatMul", "Mul", "Add", "AxpyV2", "BroadcastTo", "Fill"),
)
def baddbmm(
    ctx: ConversionContext, bias: Any, x1: Any, x2: Any, *, beta: Any = 1, alpha: Any = 1
) -> Any:
    """``beta * bias + alpha * (x1 @ x2)`` per batch; ``alpha == 0`` skips the product."""
    dtype, _ = ctx.out()
    if alpha == 0:
        return _without_product(ctx, bias, beta, [(x1, 1, 0), (x1, 1, 1), (x2, 2, 2)])
    prod_shape = (x1.shape[0], x1.shape[1], x2.shape[2])
    y = ctx.b.op("BatchMatMul", x1, x2, out=(dtype, prod_shape), adj_x1=False, adj_x2=False)
    return _scaled_sum(ctx, y, ctx.cast(bias, dtype), beta, alpha)


@register(
    aten.addmv.default,
    dtypes=MATMUL_DTYPES,
    ranks=range(0, 3),
    ge_ops=("MatMulV2", "Unsqueeze", "Squeeze", "Mul", "Add", "AxpyV2", "BroadcastTo", "Fill"),
)
def addmv(
    ctx: ConversionContext, bias: Any, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1
) -> Any:
    """``beta * self + alpha * (mat @ vec)``: MatMulV2 with ``vec`` as a column.

    ``alpha == 0`` skips the product, as eager's gemv does.
    """
    dtype, _ = ctx.out()
    if alpha == 0:
        return _without_product(ctx, bias, beta, [(mat, 1, 0)])
    col = ctx.b.op("Unsqueeze", vec, out=(vec.dtype, (vec.shape[0], 1)), axes=[1])
    rows = mat.shape[0]
    y = ctx.b.op(
        "MatMulV2", mat, col, out=(dtype, (rows, 1)), transpose_x1=False, transpose_x2=False
    )
    y = ctx.b.op("Squeeze", y, out=(dtype, (rows,)), axis=[1])
    return _scaled_sum(ctx, y, ctx.cast(bias, dtype), beta, alpha)


@register(
    aten.addbmm.default,
    dtypes=MATMUL_DTYPES,
    ranks=range(0, 4),
    ge_ops=("Transpose", "Reshape", "MatMulV2", "Mul", "Add", "AxpyV2", "BroadcastTo", "Fill"),
)
def addbmm(
    ctx: ConversionContext, bias: Any, x1: Any, x2: Any, *, beta: Any = 1, alpha: Any = 1
) -> Any:
    """``beta * self + alpha * sum_b(x1[b] @ x2[b])`` as one MatMulV2 over the batch and
    the contraction dim together: ``x1`` as ``[N, B*M]``, ``x2`` as ``[B*M, P]`` (one
    GEMM, and closer to eager's per-batch accumulation than a BatchMatMul + ReduceSum).

    ``alpha == 0`` skips the product, as eager's does.
    """
    dtype, shape = ctx.out()
    if alpha == 0:
        return _without_product(ctx, bias, beta, [(x1, 1, 1), (x2, 2, 2)])
    b, n, m = x1.shape
    rows = dim_size(ctx, x1, ctx.val(ctx.node.args[1]), 1)
    cols = dim_size(ctx, x2, ctx.val(ctx.node.args[2]), 2)
    if 0 in (rows, cols):
        # An empty output: no product to compute, and a Reshape to [0, -1]
        # (or [-1, 0]) cannot infer its -1 (GE fails as torch does).
        return _without_product(ctx, bias, beta, [(x1, 1, 1), (x2, 2, 2)])
    # The merged size written out when static: -1 beside a 0 is ambiguous.
    inner = b * m if -1 not in (b, m) else -1
    moved = ctx.b.op("Transpose", x1, ctx.int_list([1, 0, 2]), out=(x1.dtype, (n, b, m)))
    a = ctx.b.op("Reshape", moved, ctx.int_list([rows, inner]), out=(x1.dtype, (n, inner)))
    w = ctx.b.op("Reshape", x2, ctx.int_list([inner, cols]), out=(x2.dtype, (inner, shape[1])))
    y = ctx.b.op("MatMulV2", a, w, out=(dtype, shape), transpose_x1=False, transpose_x2=False)
    return _scaled_sum(ctx, y, ctx.cast(bias, dtype), beta, alpha)


@register(
    aten.addr.default,
    dtypes=MATMUL_DTYPES,
    ranks=range(0, 3),
    ge_ops=("Unsqueeze", "Mul", "Add", "AxpyV2"),
)
def addr(
    ctx: ConversionContext, bias: Any, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1
) -> Any:
    """``beta * self + alpha * outer(vec1, vec2)``: a broadcast Mul of a column and a row.

    Eager multiplies even when ``alpha == 0`` (infs give NaN), and so does this.
    """
    dtype, shape = ctx.out()
    col = ctx.b.op("Unsqueeze", ctx.cast(vec1, dtype), out=(dtype, (vec1.shape[0], 1)), axes=[1])
    row = ctx.b.op("Unsqueeze", ctx.cast(vec2, dtype), out=(dtype, (1, vec2.shape[0])), axes=[0])
    outer = ctx.b.op("Mul", col, row, out=(dtype, shape))
    return _scaled_sum(ctx, outer, ctx.cast(bias, dtype), beta, alpha)


def _without_product(
    ctx: ConversionContext, bias: Any, beta: Any, dims: list[tuple[Any, int, int]]
) -> Any:
    """``beta * bias`` broadcast to the output, for ``alpha == 0``.

    BLAS (and so eager's float32 addmm/addmv/addbmm, and baddbmm above its
    small-size kernel) does not read the factors when ``alpha`` is 0, so
    inf/NaN in them stay out of the result; ``alpha * product`` would give
    NaN there. As TorchAir: ``Mul(self, beta)``; broadcast to the output
    shape (``dims``: operand, its FX argument index, its dim, per output
    dim) when ``self`` is smaller, and all zeros when ``beta`` is 0 too
    (``self`` is then ignored, NaNs included).
    """
    dtype, shape = ctx.out()
    sizes = [dim_size(ctx, x, ctx.val(ctx.node.args[i]), d) for x, i, d in dims]
    if beta == 0:
        return ctx.b.op("Fill", ctx.int_list(sizes), ctx.scalar(0, dtype), out=(dtype, shape))
    bias = ctx.cast(bias, dtype)
    y = ctx.b.op("Mul", bias, ctx.scalar(beta, dtype), out=bias.spec)
    if same_shape(ctx.val(ctx.node.args[0]), ctx.node.meta["val"]):
        return y
    return ctx.b.op("BroadcastTo", y, ctx.int_list(sizes), out=(dtype, shape))


def _scaled_sum(ctx: ConversionContext, prod: Any, bias: Any, beta: Any, alpha: Any) -> Any:
    """``beta * bias + alpha * prod`` with the output's dtype and shape.

    As in ATen, ``beta == 0`` ignores ``bias`` entirely (NaNs included).
    """
    dtype, shape = ctx.out()
    if alpha != 1:
        prod = ctx.b.op("Mul", prod, ctx.scalar(alpha, dtype), out=prod.spec)
    if beta == 0:
        if prod.shape != shape:
            raise NotImplementedError("beta=0 with a bias that broadcasts the product")
        return prod
    if beta == 1:
        return ctx.b.op("Add", prod, bias, out=(dtype, shape))
    return ctx.b.op("AxpyV2", prod, bias, ctx.scalar(beta, dtype), out=(dtype, shape))
