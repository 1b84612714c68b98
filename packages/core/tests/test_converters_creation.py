"""Creation converters: Fill-based constants, Range, Triu/Tril."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering
from airgraph_core.testing import random_tensor as make

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool]
DYNAMIC = [False, True]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_full_zeros_ones(dtype, dynamic):
    def fn(x):
        n = x.shape[0]
        return (
            torch.full((n, 3), 1, dtype=dtype),
            torch.zeros(n, 2, dtype=dtype),
            torch.ones(2, n, dtype=dtype),
            torch.scalar_tensor(1, dtype=dtype),
        )

    check_lowering(fn, [make((4, 5), torch.float32)], dynamic=dynamic, expect_ops=["Fill"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_like_and_new_variants(dtype, dynamic):
    def fn(x):
        return (
            torch.full_like(x, 1),
            torch.zeros_like(x),
            torch.ones_like(x, dtype=torch.float32),
            x.new_zeros(x.shape[0], 4),
            x.new_ones(3, x.shape[1]),
            x.new_full((x.shape[1],), 1),
        )

    check_lowering(fn, [make((4, 5), dtype)], dynamic=dynamic, expect_ops=["Fill"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int64])
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_empty_is_filled(dtype, dynamic):
    # empty's values are undefined: overwrite them so the comparison is meaningful.
    def fn(x):
        return torch.empty_like(x).copy_(x * 2), torch.empty(x.shape[0], dtype=dtype).fill_(3)

    check_lowering(fn, [make((4, 5), dtype)], dynamic=dynamic, expect_ops=["Fill"])


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64]
)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_arange(dtype, dynamic):
    def fn(x):
        n = x.shape[1]
        return (
            torch.arange(n, dtype=dtype),
            torch.arange(1, n + 3, dtype=dtype),
            torch.arange(2, 3 * n, 3, dtype=dtype),
        )

    check_lowering(fn, [make((2, 6), torch.float32)], dynamic=dynamic, expect_ops=["Range"])


@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_arange_float_step(dynamic):
    def fn(x):
        return torch.arange(0, x.shape[0], 0.5) * 2, torch.arange(
            0.5, 3.0, 0.25, dtype=torch.float16
        )

    check_lowering(fn, [make((5, 2), torch.float32)], dynamic=dynamic, expect_ops=["Range"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_triu_tril(dtype, dynamic):
    def fn(x):
        return x.triu(), x.triu(1), x.tril(-1), x.tril(2)

    check_lowering(fn, [make((2, 4, 5), dtype)], dynamic=dynamic, expect_ops=["Triu", "Tril"])


def test_symbolic_diagonal_is_reported_unsupported():
    with pytest.raises(UnsupportedOpError, match="diagonal is symbolic"):
        check_lowering(lambda x: x.triu(x.shape[0] - 3), [torch.randn(4, 5)], dynamic=True)


@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_causal_mask(dynamic):
    def fn(x):
        n = x.shape[1]
        mask = torch.full((n, n), float("-inf")).triu(1)
        return x + mask

    check_lowering(fn, [make((2, 5, 5), torch.float32)], dynamic=dynamic)


def test_triu_float64_is_reported_unsupported():
    with pytest.raises(UnsupportedOpError, match=r"aten\.triu\.default: input 0 has dtype"):
        check_lowering(lambda x: x.triu(), [torch.randn(3, 3, dtype=torch.float64)])
