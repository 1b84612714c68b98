"""Matmul converters: mm, bmm, addmm, baddbmm (and matmul/linear, which decompose to them)."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering

FLOATS = [torch.float32, torch.float16, torch.bfloat16]
MATMUL_DTYPES = FLOATS + [torch.int32]


def make(shape, dtype):
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    return torch.randint(-3, 4, shape, dtype=dtype)


def tol(dtype):
    # Half-precision products of K terms round differently from eager's kernel order.
    return {torch.float16: (1e-2, 1e-2), torch.bfloat16: (5e-2, 5e-2)}.get(dtype, (None, None))


@pytest.mark.parametrize("mkn", [(2, 3, 4), (1, 16, 1), (5, 8, 7)])
@pytest.mark.parametrize("dtype", MATMUL_DTYPES)
def test_mm(dtype, mkn):
    m, k, n = mkn
    atol, rtol = tol(dtype)
    g = check_lowering(torch.mm, [make((m, k), dtype), make((k, n), dtype)], atol=atol, rtol=rtol)
    assert [t for t in g.op_types() if t not in ("Data", "NetOutput")] == ["MatMul"]


@pytest.mark.parametrize("bmkn", [(2, 3, 4, 5), (1, 1, 8, 1)])
@pytest.mark.parametrize("dtype", MATMUL_DTYPES)
def test_bmm(dtype, bmkn):
    b, m, k, n = bmkn
    atol, rtol = tol(dtype)
    check_lowering(
        torch.bmm,
        [make((b, m, k), dtype), make((b, k, n), dtype)],
        expect_ops=["BatchMatMul"],
        atol=atol,
        rtol=rtol,
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_bmm_dynamic(dtype):
    atol, rtol = tol(dtype)
    g = check_lowering(
        torch.bmm,
        [make((4, 6, 8), dtype), make((4, 8, 6), dtype)],
        dynamic=True,
        expect_ops=["BatchMatMul"],
        atol=atol,
        rtol=rtol,
    )
    assert -1 in g.ops_of_type("BatchMatMul")[0].output_descs[0].shape


@pytest.mark.parametrize(
    "shapes",
    [((2, 1, 3, 4), (5, 4, 6)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4, 6))],
    ids=["batch_broadcast", "matrix_times_batch", "batch_times_matrix"],
)
@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_broadcasting(dtype, shapes):
    atol, rtol = tol(dtype)
    a, b = make(shapes[0], dtype), make(shapes[1], dtype)
    g = check_lowering(torch.matmul, [a, b], atol=atol, rtol=rtol)
    assert {"MatMul", "BatchMatMul"} & set(g.op_types())


@pytest.mark.parametrize("dtype", MATMUL_DTYPES)
def test_addmm_linear_bias_as_torchair(dtype):
    """TorchAir fuses a 1-D bias into MatMulV2 for float16/bfloat16 only; float32
    (and int32) keep MatMulV2 + Mul(1) + Add."""
    atol, rtol = tol(dtype)
    bias, x, w = make((5,), dtype), make((3, 4), dtype), make((4, 5), dtype)
    g = check_lowering(torch.addmm, [bias, x, w], atol=atol, rtol=rtol)
    (op,) = g.ops_of_type("MatMulV2")
    if dtype not in (torch.float16, torch.bfloat16):
        assert not op.inputs[2] and {"Mul", "Add"} <= set(g.op_types())
    else:
        assert op.inputs[2], "bias should feed MatMulV2's bias input"
        assert "Add" not in g.op_types()


@pytest.mark.parametrize(
    "bias_shape,beta,alpha,ops",
    [
        ((3, 5), 1, 1, ["MatMulV2", "Add"]),
        ((1, 5), 1, 1, ["MatMulV2", "Add"]),
        ((5,), 0.5, 1, ["MatMulV2", "AxpyV2"]),
        ((3, 5), 1, 2.0, ["MatMulV2", "Mul", "Add"]),
        ((3, 5), 2.0, 0.5, ["MatMulV2", "Mul", "AxpyV2"]),
        ((3, 5), 0, 1, ["MatMulV2"]),
    ],
)
@pytest.mark.parametrize("dtype", FLOATS)
def test_addmm_beta_alpha(dtype, bias_shape, beta, alpha, ops):
    atol, rtol = tol(dtype)
    bias, x, w = make(bias_shape, dtype), make((3, 4), dtype), make((4, 5), dtype)
    check_lowering(
        lambda b, x, w: torch.addmm(b, x, w, beta=beta, alpha=alpha),
        [bias, x, w],
        expect_ops=ops,
        atol=atol,
        rtol=rtol,
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_dynamic_batch(dtype):
    atol, rtol = tol(dtype)
    lin = torch.nn.Linear(8, 6).to(dtype)
    check_lowering(
        lin, [make((3, 5, 8), dtype)], dynamic=True, expect_ops=["MatMulV2"], atol=atol, rtol=rtol
    )


@pytest.mark.parametrize(
    "bias_shape,beta,alpha,ops",
    [
        ((2, 3, 5), 1, 1, ["BatchMatMul", "Add"]),
        ((5,), 1, 0.5, ["BatchMatMul", "Mul", "Add"]),
        ((2, 1, 5), 0.5, 2.0, ["BatchMatMul", "Mul", "AxpyV2"]),
    ],
)
@pytest.mark.parametrize("dtype", FLOATS)
def test_baddbmm(dtype, bias_shape, beta, alpha, ops):
    atol, rtol = tol(dtype)
    bias, b1, b2 = make(bias_shape, dtype), make((2, 3, 4), dtype), make((2, 4, 5), dtype)
    check_lowering(
        lambda b, x, y: torch.baddbmm(b, x, y, beta=beta, alpha=alpha),
        [bias, b1, b2],
        expect_ops=ops,
        atol=atol,
        rtol=rtol,
    )


@pytest.mark.parametrize("dtype", [torch.int64, torch.float64])
def test_unsupported_dtype_is_reported(dtype):
    a, b = torch.ones(2, 3, dtype=dtype), torch.ones(3, 4, dtype=dtype)
    with pytest.raises(UnsupportedOpError, match=r"aten\.mm\.default: input 0 has dtype"):
        check_lowering(torch.mm, [a, b])


@pytest.mark.slow
def test_linear_inductor():
    lin = torch.nn.Linear(4, 3)
    check_lowering(lin, [torch.randn(2, 4)], modes=("interpret", "inductor"))
