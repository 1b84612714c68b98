"""Elementwise converters: lower tiny graphs, validate against GE prototypes, compare with eager."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering, run_lowered

FLOATS = [torch.float32, torch.float16, torch.bfloat16]
INTS = [torch.int32, torch.int64]
NUMERIC = FLOATS + INTS
# (shape of x, shape of y): same shape, and broadcasting both ways.
SHAPES = [((2, 3), (2, 3)), ((2, 1, 4), (3, 1))]


def make(shape, dtype, *, low=-3.0, high=3.0, nonzero=False):
    """Random values of ``dtype``; ``nonzero`` keeps divisors away from 0."""
    if dtype is torch.bool:
        return torch.rand(shape) > 0.5
    if dtype.is_floating_point:
        x = torch.empty(shape).uniform_(low, high)
        if nonzero:
            x = torch.where(x.abs() < 0.25, torch.full_like(x, 0.5), x)
        return x.to(dtype)
    x = torch.randint(int(low), int(high) + 1, shape, dtype=dtype)
    return torch.where(x == 0, torch.ones_like(x), x) if nonzero else x


# --- arithmetic -----------------------------------------------------------------

BINARY = {
    "add": (lambda x, y: x + y, ["Add"]),
    "add_alpha": (lambda x, y: torch.add(x, y, alpha=2), []),  # AxpyV2, or Mul + Add for int64
    "sub": (lambda x, y: x - y, ["Sub"]),
    "sub_alpha": (lambda x, y: torch.sub(x, y, alpha=3), ["Sub", "Mul"]),
    "mul": (lambda x, y: x * y, ["Mul"]),
    "div": (lambda x, y: x / y, ["RealDiv"]),
    "maximum": (torch.maximum, ["Maximum"]),
    "minimum": (torch.minimum, ["Minimum"]),
}


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, dtype, shapes):
    fn, ops = BINARY[name]
    x, y = make(shapes[0], dtype), make(shapes[1], dtype, nonzero=True)
    check_lowering(fn, [x, y], expect_ops=ops)


@pytest.mark.parametrize("dtype", FLOATS + [torch.int32])
def test_add_alpha_uses_axpy(dtype):
    g = check_lowering(lambda x, y: torch.add(x, y, alpha=2), [make((4,), dtype)] * 2)
    assert "AxpyV2" in g.op_types()


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x + 2,
        lambda x: 2 - x,
        lambda x: torch.rsub(x, 1, alpha=2),
        lambda x: x * 3,
        lambda x: x * 0.5,
        lambda x: x / 4,
        lambda x: 1.5 - x,
        lambda x: torch.clamp(x, 0.5),
    ],
    ids=["add", "rsub", "rsub_alpha", "mul_int", "mul_float", "div", "rsub_float", "clamp_float"],
)
def test_python_scalar_operands(fn, dtype):
    # int tensors with float scalars promote to float32, as in eager.
    check_lowering(fn, [make((2, 3), dtype)])


@pytest.mark.parametrize(
    "fn, dtypes",
    [
        (lambda x, y: x + y, (torch.int32, torch.float32)),
        (lambda x, y: x * y, (torch.bool, torch.float16)),
        (lambda x, y: x * y, (torch.float16, torch.float32)),
        (lambda x, y: x / y, (torch.int64, torch.int64)),
        (lambda x, y: x + y, (torch.bool, torch.int64)),
        (lambda x, y: x + y, (torch.bool, torch.bool)),
        (lambda x, y: torch.maximum(x, y), (torch.bfloat16, torch.int32)),
    ],
    ids=["int+f32", "bool*f16", "f16*f32", "int/int", "bool+int", "bool+bool", "max_bf16_int"],
)
def test_type_promotion(fn, dtypes):
    x, y = make((2, 3), dtypes[0]), make((3,), dtypes[1], nonzero=True)
    check_lowering(fn, [x, y])


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_div_rounding_modes(mode, dtype):
    x, y = make((2, 3), dtype, low=-9, high=9), make((3,), dtype, nonzero=True)
    ge = {"floor": "FloorDiv", "trunc": "TruncateDiv"}[mode]
    check_lowering(lambda a, b: torch.div(a, b, rounding_mode=mode), [x, y], expect_ops=[ge])


@pytest.mark.parametrize("dtype", NUMERIC)
def test_floor_divide_and_remainder(dtype):
    x, y = make((2, 3), dtype, low=-9, high=9), make((2, 3), dtype, nonzero=True)
    check_lowering(
        lambda a, b: (a // 3, a // b, a % b, a % 4, 7 % b),
        [x, y],
        expect_ops=["FloorDiv", "FloorMod"],
    )


@pytest.mark.parametrize("dtype", NUMERIC)
def test_pow(dtype):
    x, y = make((2, 3), dtype, low=1, high=3), make((3,), dtype, low=0, high=2)
    if dtype.is_floating_point:
        fn = lambda a, b: (a**2, a**0.5, a**b, 2**a)  # noqa: E731
    else:
        fn = lambda a, b: (a**2, a**b, 2**a)  # noqa: E731
    check_lowering(fn, [x, y], expect_ops=["Pow"])


# --- unary math and activations --------------------------------------------------

UNARY_FLOAT = {
    "rsqrt": (torch.rsqrt, "Rsqrt"),
    "sqrt": (torch.sqrt, "Sqrt"),
    "exp": (torch.exp, "Exp"),
    "log": (torch.log, "Log"),
    "log1p": (torch.log1p, "Log1p"),
    "expm1": (torch.expm1, "Expm1"),
    "erf": (torch.erf, "Erf"),
    "sin": (torch.sin, "Sin"),
    "cos": (torch.cos, "Cos"),
    "tanh": (torch.tanh, "Tanh"),
    "sigmoid": (torch.sigmoid, "Sigmoid"),
    "reciprocal": (torch.reciprocal, "Reciprocal"),
    "gelu": (F.gelu, "GeluV2"),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), "Gelu"),
    "silu": (F.silu, "Swish"),
    "floor": (torch.floor, "Floor"),
    "ceil": (torch.ceil, "Ceil"),
}


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(UNARY_FLOAT))
def test_unary_float(name, dtype, shape):
    fn, ge = UNARY_FLOAT[name]
    check_lowering(fn, [make(shape, dtype, low=0.5, high=3)], expect_ops=[ge])


@pytest.mark.parametrize("name", ["sqrt", "exp", "sigmoid", "reciprocal"])
@pytest.mark.parametrize("dtype", INTS + [torch.bool])
def test_unary_float_of_int(name, dtype):
    # Integer inputs give a float32 result: the input is cast first.
    fn, ge = UNARY_FLOAT[name]
    check_lowering(fn, [make((2, 3), dtype, low=1, high=5)], expect_ops=["Cast", ge])


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize(
    "fn, ge",
    [(torch.neg, "Neg"), (torch.abs, "Abs"), (torch.sign, "Sign"), (torch.relu, "Relu")],
    ids=["neg", "abs", "sign", "relu"],
)
def test_unary_numeric(fn, ge, dtype):
    check_lowering(fn, [make((2, 3), dtype)], expect_ops=[ge])


@pytest.mark.parametrize("dtype", FLOATS)
def test_isnan_isinf(dtype):
    # NaN and inf made inside the graph: check_lowering compares inputs without equal_nan.
    x = torch.tensor([1.0, -1.0, 0.0, 2.0], dtype=dtype)
    check_lowering(
        lambda a: (a.log().isnan(), (1 / a).isinf(), a.isnan()), [x], expect_ops=["IsNan", "IsInf"]
    )


# --- comparisons and logic --------------------------------------------------------

COMPARISONS = {
    "eq": (torch.eq, "Equal"),
    "ne": (torch.ne, "NotEqual"),
    "lt": (torch.lt, "Less"),
    "le": (torch.le, "LessEqual"),
    "gt": (torch.gt, "Greater"),
    "ge": (torch.ge, "GreaterEqual"),
}


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("dtype", NUMERIC + [torch.bool])
@pytest.mark.parametrize("name", list(COMPARISONS))
def test_comparisons(name, dtype, shapes):
    fn, ge = COMPARISONS[name]
    x, y = make(shapes[0], dtype, low=-2, high=2), make(shapes[1], dtype, low=-2, high=2)
    check_lowering(lambda a, b: (fn(a, b), fn(a, 1), fn(a, 0.5)), [x, y], expect_ops=[ge])


def test_comparison_promotes_operands():
    x, y = make((2, 3), torch.int32), make((3,), torch.float16)
    check_lowering(lambda a, b: (a < b, a == 1.5, b > a), [x, y], expect_ops=["Cast", "Less"])


@pytest.mark.parametrize("dtype", [torch.bool] + INTS)
def test_bitwise(dtype):
    x, y = make((2, 3), dtype), make((3,), dtype)
    ops = ["LogicalAnd", "LogicalOr", "LogicalNot"] if dtype is torch.bool else ["BitwiseAnd"]
    check_lowering(lambda a, b: (a & b, a | b, ~a), [x, y], expect_ops=ops)


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.int64])
def test_logical(dtype):
    x, y = make((2, 3), dtype), make((2, 1), dtype)
    check_lowering(
        lambda a, b: (
            torch.logical_and(a, b),
            torch.logical_or(a, b),
            torch.logical_xor(a, b),
            torch.logical_not(a),
        ),
        [x, y],
        expect_ops=["LogicalAnd", "LogicalOr", "LogicalNot"],
    )


# --- selection --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", NUMERIC + [torch.bool])
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 3, 4), (3, 1))])
def test_where(shapes, dtype):
    cond = make(shapes[1], torch.bool)
    x, y = make(shapes[0], dtype), make(shapes[1], dtype)
    check_lowering(torch.where, [cond, x, y], expect_ops=["SelectV2"])


def test_where_promotes():
    cond, x, y = make((2, 3), torch.bool), make((2, 3), torch.int64), make((3,), torch.float16)
    check_lowering(torch.where, [cond, x, y], expect_ops=["SelectV2", "Cast"])


@pytest.mark.parametrize("dtype", NUMERIC + [torch.bool])
@pytest.mark.parametrize("mask_shape", [(2, 3), (1, 3)])
def test_masked_fill(dtype, mask_shape):
    x, mask = make((2, 3), dtype), make(mask_shape, torch.bool)
    value = torch.tensor(1, dtype=dtype)
    check_lowering(
        lambda a, m, v: (a.masked_fill(m, 0), a.masked_fill(m, v)),
        [x, mask, value],
        expect_ops=["MaskedFill"],
    )


@pytest.mark.parametrize("dtype", NUMERIC)
def test_clamp(dtype):
    x, lo, hi = make((2, 3), dtype), make((3,), dtype, low=-2, high=0), make((3,), dtype, low=0)
    check_lowering(
        lambda a, b, c: (
            a.clamp(-1, 2),
            a.clamp(min=0),
            a.clamp(max=1),
            torch.clamp_min(a, b),
            torch.clamp_max(a, c),
            a.clamp(b, c),
        ),
        [x, lo, hi],
        expect_ops=["ClipByValueV2", "Maximum", "Minimum"],
    )


# --- copies and casts -------------------------------------------------------------


@pytest.mark.parametrize("src", NUMERIC + [torch.bool])
@pytest.mark.parametrize("dst", NUMERIC + [torch.bool])
def test_to_copy(src, dst):
    ops = ["Cast"] if src != dst else []
    check_lowering(
        lambda a: a.to(dst) * 1 if dst is not torch.bool else a.to(dst),
        [make((2, 3), src)],
        expect_ops=ops,
    )


@pytest.mark.parametrize("dtype", NUMERIC + [torch.bool])
def test_clone_and_same_dtype_copy(dtype):
    x = make((2, 3), dtype)
    g = check_lowering(lambda a: (a.clone(), a.detach(), a.to("cpu", copy=True)), [x])
    copies = {"Identity", "TensorMove", "Cast"} & set(g.op_types())
    assert copies, g.op_types()


@pytest.mark.parametrize("dynamic", [False, True])
def test_fill(dynamic):
    def fn(x):
        y = x * 2
        y.fill_(3)
        return y

    check_lowering(fn, [make((2, 3), torch.float32)], dynamic=dynamic, expect_ops=["Fill"])


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, y: (x + y, x - 2 * y, x * y, x / y, torch.maximum(x, y)),
        lambda x, y: (x.sqrt(), x.rsqrt(), x.exp(), x.log(), x**0.5, -x, x.floor()),
        lambda x, y: (x < y, x == 1.0, torch.where(x > 1, x, y), x.clamp(0.5, 1.5)),
    ],
    ids=["arith", "unary", "select"],
)
def test_float64(fn):
    # float64 arrives as scalar math from AOTAutograd's tensorify pass; GE ops take DT_DOUBLE.
    x, y = make((2, 3), torch.float64, low=0.5), make((3,), torch.float64, low=0.5)
    check_lowering(fn, [x, y])


# --- dynamic shapes ---------------------------------------------------------------


def test_dynamic_arithmetic():
    class Model(torch.nn.Module):
        eps = 1e-6

        def forward(self, x, y, scale):
            return (
                x / x.shape[-1],
                x.shape[0] * x + y,
                torch.sub(x, y, alpha=2) * scale + self.eps,
                (x.to(torch.int32) * 2.5) // 2,
                torch.div(x, y, rounding_mode="trunc"),
                x.abs() ** 0.5,
            )

    x, y = make((4, 3), torch.float32), make((3,), torch.float32, nonzero=True)
    check_lowering(Model(), [x, y, 0.5], dynamic=True, expect_ops=["RealDiv", "Sub"])


def test_dynamic_symbolic_float_scale():
    # GPT-2's attention scale: a SymFloat that AOTAutograd turns into float64 scalar math.
    def fn(x):
        return x * (x.size(-1) ** -0.5)

    check_lowering(fn, [make((2, 8), torch.float32)], dynamic=True, expect_ops=["Pow", "Cast"])


def test_dynamic_unary_and_activations():
    def fn(x):
        return torch.rsqrt(x.abs() + 1), F.gelu(x), F.silu(x), torch.relu(x), x.to(torch.float16)

    check_lowering(fn, [make((4, 5), torch.float32)], dynamic=True, expect_ops=["Swish"])


def test_dynamic_comparisons_and_selection():
    def fn(x, y, m):
        mask = (x > y) & m
        return (
            torch.where(mask, x, y),
            x.masked_fill(~m, -1e4),
            x.clamp(-1, 1),
            x < x.shape[0],
            (x == y).logical_not(),
        )

    x, y, m = make((4, 3), torch.float32), make((3,), torch.float32), make((4, 3), torch.bool)
    check_lowering(fn, [x, y, m], dynamic=True, expect_ops=["SelectV2", "MaskedFill"])


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, dtype, overload",
    [
        (F.silu, torch.float64, "aten.silu.default"),
        (torch.sqrt, torch.complex64, "aten.sqrt.default"),
        (lambda x: x.masked_fill(x > 0, 1.0), torch.float64, "aten.masked_fill.Scalar"),
    ],
    ids=["silu_f64", "sqrt_complex", "masked_fill_f64"],
)
def test_unsupported_dtype_names_the_overload(fn, dtype, overload):
    with pytest.raises(
        UnsupportedOpError, match=re.escape(f"{overload}: input 0 has dtype {dtype}")
    ):
        check_lowering(fn, [torch.rand(3).to(dtype)])


@pytest.mark.slow
def test_inductor_tiny():
    def fn(x, y):
        return torch.where(x > 0, F.gelu(x) * y, -y).clamp(-1, 1)

    check_lowering(
        fn,
        [make((2, 3), torch.float32), make((3,), torch.float32)],
        modes=("interpret", "inductor"),
    )


@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (0.0, 6.0), (-0.5, 2)])
@pytest.mark.parametrize("dtype", NUMERIC)
def test_hardtanh(dtype, bounds):
    x = make((2, 3, 4), dtype, low=-8, high=8)
    lo, hi = bounds if dtype.is_floating_point else (int(bounds[0]), int(bounds[1]))
    check_lowering(lambda x: F.hardtanh(x, lo, hi), [x], expect_ops=["ClipByValueV2"])


@pytest.mark.parametrize("dtype", FLOATS)
def test_relu6(dtype):
    check_lowering(F.relu6, [make((4, 5), dtype, low=-8, high=8)], expect_ops=["ClipByValueV2"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_mul_by_python_scalar_on_half_keeps_the_scalar_in_float32(dtype):
    # TorchAir lowers x * 1/sqrt(d) on fp16/bf16 to Muls with a float32 value
    # attribute; a half Const would round the scalar first (12 of these 64
    # fp16 products then differ from eager's).
    scale = 1 / math.sqrt(80)
    x = torch.linspace(-4, 4, 64).to(dtype)
    graph = check_lowering(lambda x: x * scale, [x], expect_ops=["Muls"], atol=0, rtol=0)
    (op,) = graph.ops_of_type("Muls")
    assert op.attr("value") == pytest.approx(scale, rel=1e-7)
    assert not [c for c in graph.ops_of_type("Const") if c.output_descs[0].dtype.name != "FLOAT"]
    (got,) = run_lowered(graph, [x])
    assert torch.equal(got, x * scale)
    if dtype is torch.float16:
        assert not torch.equal(got, x * torch.tensor(scale, dtype=dtype))


def test_mul_by_python_scalar_on_float32_stays_mul():
    # TorchAir keeps Mul with a float32 Const there; so does airgraph.
    graph = check_lowering(lambda x: x * 0.125, [make((4, 8), torch.float32)], expect_ops=["Mul"])
    assert not graph.ops_of_type("Muls")
