"""masked_scatter -> GE MaskedScatter, vs eager, over seeded shapes, broadcasts and dtypes."""

from __future__ import annotations

import random

import pytest
import torch

from airgraph_core.testing import check_lowering, random_tensor

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool)


def _cases(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        shape = tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))
        # self or mask may broadcast (a 1 where the other has the size).
        x_shape = tuple(1 if rng.random() < 0.2 else d for d in shape)
        m_shape = tuple(1 if rng.random() < 0.2 and x != 1 else d for x, d in zip(x_shape, shape))
        extra = rng.randint(0, 3)
        cases.append((x_shape, m_shape, extra, DTYPES[i % len(DTYPES)]))
    return cases


@pytest.mark.parametrize(("x_shape", "m_shape", "extra", "dtype"), _cases(12, 5))
def test_masked_scatter(x_shape, m_shape, extra, dtype):
    x = random_tensor(x_shape, dtype)
    mask = torch.rand(m_shape) > 0.4
    out_numel = torch.broadcast_shapes(x_shape, m_shape).numel()
    source = random_tensor((out_numel + extra,), dtype)
    g = check_lowering(lambda x, m, s: x.masked_scatter(m, s), [x, mask, source])
    assert "MaskedScatter" in g.op_types()


def test_masked_scatter_dynamic():
    x, mask, source = torch.randn(3, 4), torch.rand(3, 4) > 0.5, torch.randn(2, 6)
    check_lowering(lambda x, m, s: x.masked_scatter(m, s), [x, mask, source], dynamic=True)


@pytest.mark.parametrize(
    ("x_shape", "m_shape"), [((3, 1), (3, 4)), ((2, 3, 4), (3, 4)), ((3, 4), (2, 1, 4))]
)
def test_masked_scatter_broadcasts(x_shape, m_shape):
    x, mask = torch.randn(x_shape), torch.rand(m_shape) > 0.5
    source = torch.randn(torch.broadcast_shapes(x_shape, m_shape).numel())
    g = check_lowering(lambda x, m, s: x.masked_scatter(m, s), [x, mask, source])
    assert "BroadcastTo" in g.op_types()
