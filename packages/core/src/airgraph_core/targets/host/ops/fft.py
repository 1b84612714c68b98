"""Host semantics of GE's FFT ops: RFFT, IRFFT, FFT, IFFT.

Each transforms the innermost dim, with TensorFlow's contract: ``RFFT``
takes float32 and an int32 ``fft_length`` ``[n]`` (the input cropped or
zero-padded to ``n``) and yields the ``n // 2 + 1`` non-negative frequency
bins, unscaled; ``IRFFT`` takes those bins and ``fft_length`` and yields
``n`` real points scaled by ``1 / n``; ``FFT`` is the unscaled complex
transform, ``IFFT`` its inverse scaled by ``1 / n``.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op


@host_op("RFFT", const_inputs=(1,))
def rfft(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, length = inputs
    return torch.fft.rfft(x.float(), n=int(length[0]), dim=-1)


@host_op("IRFFT", const_inputs=(1,))
def irfft(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, length = inputs
    return torch.fft.irfft(x, n=int(length[0]), dim=-1)


@host_op("FFT")
def fft(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.fft.fft(inputs[0], dim=-1)


@host_op("IFFT")
def ifft(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.fft.ifft(inputs[0], dim=-1)
