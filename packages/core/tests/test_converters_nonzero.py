"""nonzero (data-dependent output size) as GE's NonZero vs eager."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.testing import check_lowering
from airgraph_core.testing import random_tensor as make


def _indices_and_count(x):
    idx = torch.nonzero(x)
    return idx, idx.shape[0] * 2 + 1


def _size_from_count(x):
    idx = torch.nonzero(x > 0)
    # The unbacked count feeds a new tensor's size and arithmetic on the indices.
    return idx.float().sum(0) + idx.shape[0], x.new_zeros(idx.shape[0] + 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int32, torch.bool])
@pytest.mark.parametrize("shape", [(4, 5), (7,), (2, 3, 4), ()])
def test_nonzero(shape, dtype):
    graph = check_lowering(_indices_and_count, [make(shape, dtype)], expect_ops=["NonZero"])
    # The row count is unknown until run time.
    (nonzero_op,) = [op for op in graph.ops if op.type == "NonZero"]
    assert nonzero_op.output_descs[0].shape[0] == -1


@pytest.mark.parametrize("dynamic", [False, True])
def test_nonzero_count_used_in_sizes(dynamic):
    check_lowering(_size_from_count, [torch.randn(4, 5)], dynamic=dynamic)


def test_nonzero_all_zero_input():
    check_lowering(_indices_and_count, [torch.zeros(3, 2)])


@pytest.mark.slow
def test_nonzero_inductor_mode():
    check_lowering(_size_from_count, [torch.randn(4, 5)], modes=("inductor",))
