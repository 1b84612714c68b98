"""Creation converters: Fill-based constants, Range, Triu/Tril."""

from __future__ import annotations

import random

import pytest
import torch

from airgraph_core import DataType
from airgraph_core.ir.graph import parse_edge
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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_like_ops_take_torchairs_forms(dtype, dynamic):
    # OnesLike/ZerosLike of the input, Fill of its Shape: the shape is read
    # from the input inside the graph, so dynamic=True needs no size ops.
    def fn(x):
        return torch.ones_like(x), torch.zeros_like(x), torch.full_like(x, 3)

    g = check_lowering(
        fn, [make((4, 5), dtype)], dynamic=dynamic, expect_ops=["OnesLike", "ZerosLike", "Fill"]
    )
    (fill,) = g.ops_of_type("Fill")
    if dtype != torch.bfloat16:  # Shape's prototype lists no BF16: sizes as for full()
        assert g.op(parse_edge(fill.data_inputs[0])[0]).type == "Shape"
        assert not {"Gather", "Pack"} & set(g.op_types())


def test_float64_fill_is_exact():
    # 0.1 rounded through float32 is off by ~1.5e-9: compare bit-exactly.
    def fn(x):
        return (
            torch.full_like(x, 0.1),
            x.new_full((3,), -2.3),
            torch.full((2,), 1 / 3, dtype=x.dtype),
        )

    check_lowering(fn, [torch.zeros(2, 3, dtype=torch.float64)], atol=0, rtol=0)


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


ARANGE_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int32]


def _arange_cases(seed: int, count: int) -> list[tuple[float, float, float, torch.dtype]]:
    """Seeded (start, end, step, dtype) with fractional steps of both signs,
    plus the cases a float32 length count got wrong."""
    rng = random.Random(seed)
    cases = [(0, 1, 0.1, torch.float32), (-1.5, 2.3, 0.3, torch.float32)]
    cases += [(0, 1, 0.1, torch.float16), (-1.5, 2.3, 1.3, torch.int32), (0, 2.5, 1, torch.int64)]
    while len(cases) < count:
        dtype = rng.choice(ARANGE_DTYPES)
        start = round(rng.uniform(-5, 5), rng.choice([0, 1, 2, 7]))
        # Integer dtypes truncate the step, and torch rejects a zero one.
        low = 1 if not dtype.is_floating_point else 0.05
        step = round(rng.uniform(low, 1.5 + low), rng.choice([1, 2, 7])) * rng.choice([1, -1])
        end = start + step * rng.uniform(0, 40)
        cases.append((start, end, step, dtype))
    return cases


@pytest.mark.parametrize("seed", [0, 1])
def test_arange_fractional_matches_eager_exactly(seed):
    # ATen's length is ceil((end - start) / step) in double; values are
    # start + step * i in the accumulate type (the CPU kernel may fuse that
    # into an FMA, so values near 0 can differ by ~1e-16: default tolerances).
    cases = _arange_cases(seed, 40)

    def fn(x):
        return tuple(torch.arange(a, b, c, dtype=d) + x.sum().to(d) * 0 for a, b, c, d in cases)

    check_lowering(fn, [torch.zeros(1)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64, torch.bfloat16])
def test_arange_fractional_step_symbolic_end(dtype):
    def fn(x):
        n = x.shape[0]
        return (
            torch.arange(0, n, 0.1, dtype=dtype),
            torch.arange(-1.5, n + 2, 0.3, dtype=dtype),
            torch.arange(n, -1.25, -1.7, dtype=dtype),
        )

    for rows in (5, 7):
        check_lowering(fn, [make((rows, 2), torch.float32)], dynamic=True)


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


@pytest.mark.parametrize(
    ("start", "end", "step", "float_range"),
    [
        (0, 4, 0.5, True),  # TorchAir's float32 Range counts ATen's length
        (0.5, 3.0, 0.25, True),
        (-2.0, -4.0, -0.01, False),  # a float32 count drifts from ATen's: exact form
        (2.7, -0.1, -0.1, False),
        (-2.9, 2.8, 1.9, False),
    ],
)
def test_arange_float32_range_only_where_its_count_is_atens(start, end, step, float_range):
    def fn(x):
        return torch.arange(start, end, step) + x

    graph = check_lowering(fn, [torch.zeros(1)])
    ranges = graph.ops_of_type("Range")
    assert len(ranges) == 1
    # The float form is one float32 Range; the exact form counts an int64 index.
    assert (ranges[0].output_descs[0].dtype == DataType.FLOAT) is float_range
