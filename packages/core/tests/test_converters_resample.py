"""Resampling converters: pixel_shuffle / pixel_unshuffle (Reshape, Transpose, Reshape)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering, random_tensor

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.bool]


@pytest.mark.parametrize("case", [((2, 8, 3, 5), 2), ((18, 2, 2), 3), ((2, 2, 4, 1, 1), 2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_shuffle(dtype, case):
    shape, r = case
    check_lowering(
        lambda x: F.pixel_shuffle(x, r), [random_tensor(shape, dtype)], expect_ops=["Transpose"]
    )


@pytest.mark.parametrize("case", [((2, 3, 4, 6), 2), ((2, 6, 9), 3), ((2, 2, 1, 4, 4), 2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_unshuffle(dtype, case):
    shape, r = case
    check_lowering(
        lambda x: F.pixel_unshuffle(x, r), [random_tensor(shape, dtype)], expect_ops=["Transpose"]
    )


def test_pixel_shuffle_symbolic_image_is_unsupported():
    with pytest.raises(UnsupportedOpError, match="symbolic channel/height/width"):
        check_lowering(lambda x: F.pixel_shuffle(x, 2), [torch.randn(2, 8, 3, 5)], dynamic=True)


@pytest.mark.slow
def test_inductor():
    x = torch.randn(2, 8, 3, 5)
    check_lowering(
        lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2) + 1, 2), [x],
        modes=("interpret", "inductor"),
    )  # fmt: skip


@pytest.mark.parametrize("shape", [(2, 8, 0, 2), (0, 8, 2, 2), (1, 0, 2, 3)])
def test_pixel_shuffle_zero_size(shape):
    check_lowering(lambda x: F.pixel_shuffle(x, 2), [torch.zeros(shape)])
