"""Strided views as static index maps: diagonal, unfold, as_strided, and writes through them."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering
from airgraph_core.testing import random_tensor as make

READ_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.bool]
WRITE_DTYPES = [torch.float32, torch.float16, torch.int32, torch.int64]


@pytest.mark.parametrize("dtype", READ_DTYPES)
@pytest.mark.parametrize(
    "view",
    [
        lambda x: x.diagonal(),
        lambda x: x.diagonal(1, 0, 1),
        lambda x: x.diagonal(-1, 1, 0),
        lambda x: x.unfold(1, 2, 1),
        lambda x: x.unfold(0, 2, 2),
        lambda x: x.as_strided((2, 3), (1, 2), 1),
    ],
    ids=["diag", "diag_offset", "diag_neg_swapped", "unfold", "unfold_step2", "as_strided"],
)
def test_strided_reads(view, dtype):
    # The view feeds a computation, so the graph computes it (a returned view
    # would be rebuilt outside the graph and need no converter).
    check_lowering(
        lambda x: torch.cat([view(x).reshape(-1), view(x).reshape(-1)]),
        [make((4, 6), dtype)],
        expect_ops=["GatherV2"],
    )


@pytest.mark.parametrize("dtype", WRITE_DTYPES)
@pytest.mark.parametrize(
    "write",
    [
        lambda x: x.diagonal().add_(1),
        lambda x: x.diagonal(1).mul_(3),
        lambda x: x[::2].copy_(torch.ones_like(x[::2]) * 5),
        lambda x: x[:, 1::3].fill_(2),
        lambda x: x.as_strided((2, 2), (1, 6), 2).fill_(-1),
    ],
    ids=["diag_add", "diag_offset_mul", "rows_step2", "cols_step3", "as_strided"],
)
def test_writes_through_strided_views(write, dtype):
    def fn(x):
        write(x)
        return x * 2

    check_lowering(fn, [make((4, 6), dtype)], expect_ops=["ScatterElements", "Assign"])


def test_symbolic_shapes_are_refused_with_the_reason():
    with pytest.raises(UnsupportedOpError, match="needs static shapes"):
        check_lowering(lambda x: x.diagonal() * 2, [make((4, 6), torch.float32)], dynamic=True)


def test_overlapping_write_is_refused():
    from airgraph_core.converters.strided import view_positions

    positions = view_positions((4,), lambda t: t.as_strided((3, 2), (1, 1)))
    assert positions.tolist() == [[0, 1], [1, 2], [2, 3]]  # repeats: eager refuses such writes
