"""Matmul converters on operands with a size of 0: the result matches eager.

``addbmm`` merges the batch and contraction dims with Reshape; a -1 beside a
0 cannot be inferred (GE refuses it as torch does), so empty operands used
to crash the lowering.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core.testing import check_lowering

# (bias, x1, x2) shapes for addbmm: b, n, m, p set to 0 in turn.
ADDBMM_EMPTY = [
    ((3, 4), (0, 3, 5), (0, 5, 4)),
    ((0, 4), (2, 0, 5), (2, 5, 4)),
    ((3, 4), (2, 3, 0), (2, 0, 4)),
    ((3, 0), (2, 3, 5), (2, 5, 0)),
    ((4,), (2, 0, 5), (2, 5, 4)),
    ((0, 0), (2, 0, 5), (2, 5, 0)),
]


@pytest.mark.parametrize("shapes", ADDBMM_EMPTY)
@pytest.mark.parametrize(("beta", "alpha"), [(1, 1), (0.5, 2.0), (0, 1.5)])
def test_addbmm_with_an_empty_dim(shapes, beta, alpha):
    torch.manual_seed(0)
    args = [torch.randn(s) for s in shapes]
    check_lowering(lambda s, a, b: torch.addbmm(s, a, b, beta=beta, alpha=alpha), args)


def test_addbmm_symbolic_sizes_still_merge():
    torch.manual_seed(0)
    args = [torch.randn(3, 4), torch.randn(2, 3, 5), torch.randn(2, 5, 4)]
    check_lowering(
        lambda s, a, b: torch.addbmm(s, a, b, beta=0.5, alpha=2),
        args,
        dynamic=True,
        expect_ops=["MatMulV2"],
    )


@pytest.mark.parametrize(
    ("op", "shapes"),
    [
        (torch.baddbmm, ((2, 0, 4), (2, 0, 5), (2, 5, 4))),
        (torch.baddbmm, ((2, 3, 4), (2, 3, 0), (2, 0, 4))),
        (torch.addmm, ((3, 4), (3, 0), (0, 4))),
        (torch.addmm, ((0, 4), (0, 5), (5, 4))),
    ],
)
def test_other_matmuls_with_an_empty_dim(op, shapes):
    torch.manual_seed(0)
    args = [torch.randn(s) for s in shapes]
    check_lowering(lambda s, a, b: op(s, a, b, beta=0.5, alpha=2), args)
