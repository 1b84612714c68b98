"""scatter_reduce.two through GE's segment reductions vs eager, every reduce x include_self."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering
from airgraph_core.testing import random_tensor as make

REDUCES = ["sum", "prod", "amax", "amin", "mean"]

#: (self shape, index/src shape, dim): index smaller than self, src larger than index, rank 0.
CASES = [
    ((3, 5), (3, 4), 1),
    ((6, 4), (4, 4), 0),
    ((2, 3, 4), (2, 2, 3), -1),
    ((4,), (7,), 0),
    ((), (), 0),
]


def _inputs(self_shape, idx_shape, dim, dtype, src_extra=0):
    size = self_shape[dim] if self_shape else 1
    index = torch.randint(0, size, idx_shape)
    src_shape = tuple(s + src_extra for s in idx_shape)
    if dtype.is_floating_point:
        # Values near 1 keep prod well inside float16/bfloat16 range.
        return [make(self_shape, dtype), index, (torch.rand(src_shape) + 0.5).to(dtype)]
    return [make(self_shape, dtype), index, make(src_shape, dtype)]


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize(("self_shape", "idx_shape", "dim"), CASES)
def test_scatter_reduce_float32(self_shape, idx_shape, dim, reduce, include_self):
    def fn(x, i, s):
        return x.scatter_reduce(dim, i, s, reduce, include_self=include_self)

    inputs = _inputs(self_shape, idx_shape, dim, torch.float32)
    check_lowering(fn, inputs, expect_ops=["SelectV2"])


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32, torch.int64])
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_dtypes(dtype, reduce, include_self):
    def fn(x, i, s):
        return x.scatter_reduce(1, i, s, reduce, include_self=include_self)

    check_lowering(fn, _inputs((3, 6), (3, 5), 1, dtype, src_extra=1))


def test_scatter_reduce_with_a_larger_src_reads_only_the_indexed_part():
    def fn(x, i, s):
        return x.scatter_reduce(0, i, s, "sum")

    graph = check_lowering(fn, _inputs((5, 3), (4, 2), 0, torch.float32, src_extra=2))
    assert "StridedSliceV2" in graph.op_types()


def test_scatter_reduce_dynamic_shapes_are_refused_with_the_reason():
    def fn(x, i, s):
        return x.scatter_reduce(1, i, s, "sum")

    with pytest.raises(UnsupportedOpError, match="symbolic shapes are not supported"):
        check_lowering(fn, _inputs((3, 5), (3, 4), 1, torch.float32), dynamic=True)
