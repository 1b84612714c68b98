"""Math converters (trig/hyperbolic, log2/log10, rounding, fmod, atan2, bitwise_xor):
lower tiny graphs, validate against GE prototypes, compare with eager."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.testing import check_lowering

FLOATS = [torch.float32, torch.float16, torch.bfloat16]
INTS = [torch.int32, torch.int64]
SHAPES = [(5,), (2, 3, 4)]


def make(shape, dtype, low=-3.0, high=3.0):
    if dtype is torch.bool:
        return torch.rand(shape) > 0.5
    if dtype.is_floating_point:
        return torch.empty(shape).uniform_(low, high).to(dtype)
    return torch.randint(int(low), int(high) + 1, shape, dtype=dtype)


# name: (fn, GE op, (low, high) of the input domain)
UNARY = {
    "tan": (torch.tan, "Tan", (-1.2, 1.2)),
    "sinh": (torch.sinh, "Sinh", (-3, 3)),
    "cosh": (torch.cosh, "Cosh", (-3, 3)),
    "asin": (torch.asin, "Asin", (-0.99, 0.99)),
    "acos": (torch.acos, "Acos", (-0.99, 0.99)),
    "atan": (torch.atan, "Atan", (-5, 5)),
    "asinh": (torch.asinh, "Asinh", (-5, 5)),
    "acosh": (torch.acosh, "Acosh", (1.01, 5)),
    "atanh": (torch.atanh, "Atanh", (-0.95, 0.95)),
    "log2": (torch.log2, "Log", (0.1, 10)),
    "log10": (torch.log10, "Log", (0.1, 10)),
    "trunc": (torch.trunc, "Trunc", (-5, 5)),
    "round": (torch.round, "Round", (-5, 5)),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, dtype, shape):
    fn, ge, (low, high) = UNARY[name]
    check_lowering(fn, [make(shape, dtype, low, high)], expect_ops=[ge])


@pytest.mark.parametrize("name", ["tan", "sinh", "atan", "asinh", "log2", "log10"])
@pytest.mark.parametrize("dtype", INTS)
def test_unary_of_int_gives_float(name, dtype):
    fn, ge, _ = UNARY[name]
    check_lowering(fn, [make((6,), dtype, 1, 5)], expect_ops=[ge])


@pytest.mark.parametrize("name", ["round", "trunc"])
@pytest.mark.parametrize("dtype", INTS)
def test_rounding_an_int_is_identity(name, dtype):
    g = check_lowering(UNARY[name][0], [make((6,), dtype)])
    assert UNARY[name][1] not in g.op_types()


def test_round_half_to_even():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    check_lowering(torch.round, [x], expect_ops=["Round"])


@pytest.mark.parametrize("decimals", [-1, 0, 2])
@pytest.mark.parametrize("dtype", FLOATS)
def test_round_decimals(dtype, decimals):
    x = make((3, 5), dtype, -50, 50)
    check_lowering(lambda x: torch.round(x, decimals=decimals), [x], expect_ops=["Round"])


@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_fmod(dtype):
    x = make((2, 3, 4), dtype, -7, 7)
    y = make((3, 1), dtype, 1, 3)
    y = torch.where(torch.rand(y.shape) > 0.5, y, -y)  # divisors of both signs
    check_lowering(torch.fmod, [x, y], expect_ops=["Mod"])
    check_lowering(lambda x: torch.fmod(x, 2), [x], expect_ops=["Mod"])


def test_fmod_differs_from_remainder_on_negatives():
    x = torch.tensor([-5.0, -3.5, 3.5, 5.0])
    g = check_lowering(lambda x: torch.fmod(x, 3.0), [x])
    assert g.op_types().count("Mod") == 1 and "FloorMod" not in g.op_types()


@pytest.mark.parametrize("dtype", FLOATS)
def test_atan2(dtype):
    x, y = make((2, 3, 4), dtype), make((3, 1), dtype)
    check_lowering(torch.atan2, [x, y], expect_ops=["Atan2"])


def test_atan2_of_ints():
    check_lowering(torch.atan2, [make((4,), torch.int64), make((4,), torch.int64)])


@pytest.mark.parametrize("dtype", INTS + [torch.int8, torch.uint8])
def test_bitwise_xor(dtype):
    x, y = make((2, 3), dtype, 0, 100), make((2, 3), dtype, 0, 100)
    check_lowering(torch.bitwise_xor, [x, y], expect_ops=["BitwiseXor"])
    check_lowering(lambda x: torch.bitwise_xor(x, 5), [x], expect_ops=["BitwiseXor"])


def test_bitwise_xor_of_bools():
    x, y = make((7,), torch.bool), make((7,), torch.bool)
    check_lowering(torch.bitwise_xor, [x, y], expect_ops=["NotEqual"])


@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_dynamic(dtype):
    x = make((2, 3, 4), dtype, 0.1, 0.9)
    g = check_lowering(lambda x: torch.asin(x) + torch.log2(x), [x], dynamic=True)
    assert -1 in g.ops_of_type("Asin")[0].output_descs[0].shape


@pytest.mark.slow
def test_inductor():
    x = make((2, 3, 4), torch.float32, 0.1, 0.9)
    check_lowering(
        lambda x: (
            torch.atan2(torch.tan(x), torch.cosh(x))
            + torch.fmod(x, 0.3)
            + torch.round(x, decimals=1)
        ),
        [x],
        modes=("interpret", "inductor"),
    )
