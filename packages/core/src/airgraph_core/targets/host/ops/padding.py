"""Host semantics of GE padding by index: MirrorPad (REFLECT / SYMMETRIC).

``index_pad`` also serves PadV3's ``reflect`` and ``edge`` modes (shape family).
Each padded dim gathers its source positions, so any rank and any set of
padded dims works (torch's F.pad only pads the last 1-3 dims in these modes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op

__all__ = ["index_pad"]


def _source_positions(n: int, begin: int, end: int, mode: str) -> torch.Tensor:
    i = torch.arange(-begin, n + end)
    if mode == "edge":
        return i.clamp(0, n - 1)
    if mode == "reflect":  # the border element is not repeated
        return torch.where(i < 0, -i, torch.where(i >= n, 2 * (n - 1) - i, i))
    if mode == "symmetric":  # the border element is repeated
        return torch.where(i < 0, -i - 1, torch.where(i >= n, 2 * n - 1 - i, i))
    raise NotImplementedError(f"padding mode {mode!r} is not supported on the host")


def index_pad(x: torch.Tensor, pairs: Sequence[Sequence[int]], mode: str) -> torch.Tensor:
    """``x`` padded by ``pairs`` (one ``(begin, end)`` per dim) in ``mode``
    (``edge``, ``reflect`` or ``symmetric``)."""
    for dim, (begin, end) in enumerate(pairs):
        if begin or end:
            index = _source_positions(x.shape[dim], int(begin), int(end), mode)
            x = x.index_select(dim, index.to(x.device))
    return x


@host_op("MirrorPad", const_inputs=(1,))
def mirror_pad(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, paddings = inputs
    pairs = [list(p) for p in paddings]
    return index_pad(x, pairs, str(attrs["mode"]).lower())
