"""embedding_bag max over bags whose rows are all -inf: -inf, as eager.

GE's UnsortedSegmentMax starts from the dtype's lowest value, so without a
correction such a bag (padded rows left out or not) came out as
``finfo.min`` instead of ``-inf``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.testing import check_lowering


@pytest.mark.parametrize("pad", [None, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_bag_of_minus_inf_rows(pad, dtype):
    weight = torch.arange(10.0).view(5, 2).to(dtype)
    weight[0] = weight[1] = -torch.inf
    weight[2, 0] = -torch.inf
    indices = torch.tensor([0, 3, 1, 2, 3, 0, 1])
    offsets = torch.tensor([0, 3, 5, 7])  # bag 2 is all -inf rows, the last one empty: 0

    def fn(w, i, o):
        return F.embedding_bag(i, w, o, mode="max", padding_idx=pad)

    expected = fn(weight, indices, offsets)
    assert torch.isneginf(expected).any()
    check_lowering(fn, [weight, indices, offsets])


def test_padded_rows_never_win_a_max():
    # A bag holding only -inf rows beside a padded row of large values.
    weight = torch.full((4, 2), -torch.inf)
    weight[3] = 100.0
    fn = lambda w, i, o: F.embedding_bag(i, w, o, mode="max", padding_idx=3)  # noqa: E731
    check_lowering(fn, [weight, torch.tensor([0, 3, 1]), torch.tensor([0])])
