"""FFT converters (_fft_r2c, _fft_c2c, _fft_c2r) vs eager ``torch.fft``, over seeded cases.

Each case draws a shape, the transformed dims, a norm mode and the transform
(rfft/fft/ifft/irfft and their 2-D / n-D forms, round trips included).
"""

from __future__ import annotations

import random

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering

NORMS = (None, "ortho", "forward", "backward")


def _transform(kind: str, dims: tuple[int, ...], norm: str | None, shape: tuple[int, ...]):
    fft = torch.fft
    if kind == "rfftn":
        return lambda x: fft.rfftn(x, dim=dims, norm=norm)
    if kind == "fftn_real":
        return lambda x: fft.fftn(x, dim=dims, norm=norm)
    if kind == "fftn_complex":
        return lambda x: fft.ifftn(fft.fftn(x, dim=dims), dim=dims, norm=norm)
    sizes = [shape[d] for d in dims]
    # irfftn of an rfftn: the last transformed dim is given back its length.
    return lambda x: fft.irfftn(fft.rfftn(x, dim=dims, norm=norm), s=sizes, dim=dims, norm=norm)


def _cases(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    kinds = ("rfftn", "fftn_real", "fftn_complex", "round_trip")
    cases = []
    for i in range(n):
        shape = tuple(rng.randint(1, 7) for _ in range(rng.randint(1, 3)))
        dims = tuple(sorted(rng.sample(range(len(shape)), rng.randint(1, len(shape)))))
        if rng.random() < 0.3:
            dims = tuple(reversed(dims))
        cases.append((kinds[i % 4], shape, dims, rng.choice(NORMS)))
    return cases


@pytest.mark.parametrize(("kind", "shape", "dims", "norm"), _cases(16, 21))
def test_fft(kind, shape, dims, norm):
    g = check_lowering(_transform(kind, dims, norm, shape), [torch.randn(shape)], atol=1e-4)
    assert {"RFFT", "FFT", "IFFT", "IRFFT"} & set(g.op_types())


def test_rfft_padded_and_cropped():
    x = torch.randn(3, 6)
    check_lowering(lambda x: torch.fft.rfft(x, n=9) + torch.fft.rfft(x, n=9), [x], atol=1e-4)
    check_lowering(lambda x: torch.fft.irfft(torch.fft.rfft(x), n=4), [x], atol=1e-4)


def test_symbolic_signal_is_refused():
    with pytest.raises(UnsupportedOpError, match="fft_length is a constant"):
        check_lowering(lambda x: torch.fft.rfft(x), [torch.randn(3, 8)], dynamic=True)
