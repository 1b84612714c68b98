"""empty_strided: a dense buffer (strides dropped) that the graph fills."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.testing import check_lowering


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int64, torch.bool])
@pytest.mark.parametrize("stride", [(3, 1), (1, 2)])
def test_empty_strided_filled(stride, dtype):
    def fn(x):
        buf = torch.empty_strided((2, 3), stride, dtype=dtype)
        buf.copy_(x)
        return buf, buf.sum(0)

    g = check_lowering(fn, [torch.randint(0, 3, (2, 3)).to(dtype)])
    assert "Fill" in g.op_types()


def test_empty_strided_dynamic():
    def fn(x):
        return torch.empty_strided(x.shape, (x.shape[1], 1)).fill_(2.0) * x

    check_lowering(fn, [torch.randn(4, 3)], dynamic=True)
