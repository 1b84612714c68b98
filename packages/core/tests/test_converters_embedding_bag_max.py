"""embedding_bag vs eager over generated bag layouts, max mode first.

A seeded generator draws the bag boundaries (empty bags, empty index
lists), weight rows that are all ``-inf`` or hold one ``±inf``, the
padding index (bags of padded rows only), ``include_last_offset`` with the
last offset at or before the end of the indices, and static or symbolic
sizes. Indices past the last offset are where eager's kernels differ by
mode: max (and every mode with ``padding_idx``) puts them in the last
bag, the float sum/mean kernel without ``padding_idx`` leaves them out of
the sum (its mean still counts them); the generator covers all modes there.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.testing import check_lowering

ROWS, DIM = 6, 3


def _layout(rng: random.Random, past_end: bool) -> tuple[int, list[int], bool]:
    """(number of indices, offsets, include_last_offset)."""
    length = rng.randint(0, 8)
    bags = rng.randint(1, 5)
    starts = sorted([0] + [rng.randint(0, length) for _ in range(bags - 1)])
    last = past_end or rng.random() < 0.4
    if not last:
        return length, starts, False
    end = rng.randint(starts[-1], length) if past_end else length
    return length, starts + [end], True


def _cases(n: int, seed: int, modes: tuple[str, ...], past_end: bool) -> list[tuple]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        mode = modes[i % len(modes)]
        length, offsets, last = _layout(rng, past_end)
        # +inf beside -inf would make a NaN sum (which check_lowering does not equate).
        kinds = ["", "", "row-inf", "one-inf"] + (["one+inf"] if mode == "max" else [])
        infs = [rng.choice(kinds) for _ in range(ROWS)]
        pad = rng.choice([None, 1, 4])
        cases.append((mode, length, offsets, last, pad, infs, i % 2 == 1, i))
    return cases


def _weight(infs: list[str], seed: int) -> torch.Tensor:
    weight = torch.randn(ROWS, DIM, generator=torch.Generator().manual_seed(seed))
    for row, kind in enumerate(infs):
        if kind == "row-inf":
            weight[row] = -math.inf
        elif kind:
            weight[row, row % DIM] = -math.inf if kind == "one-inf" else math.inf
    return weight


def _check(mode, length, offsets, last, pad, infs, dynamic, seed):
    weight = _weight(infs, seed)
    indices = torch.randint(0, ROWS, (length,), generator=torch.Generator().manual_seed(seed))

    def fn(w, i, o):
        return F.embedding_bag(i, w, o, mode=mode, include_last_offset=last, padding_idx=pad)

    check_lowering(fn, [weight, indices, torch.tensor(offsets)], dynamic=dynamic)


ARGS = ("mode", "length", "offsets", "last", "pad", "infs", "dynamic", "seed")


@pytest.mark.parametrize(ARGS, _cases(24, 2026, ("max",), past_end=False))
def test_max_bags(mode, length, offsets, last, pad, infs, dynamic, seed):
    _check(mode, length, offsets, last, pad, infs, dynamic, seed)


@pytest.mark.parametrize(ARGS, _cases(12, 77, ("max", "sum", "mean"), past_end=True))
def test_indices_past_the_last_offset(mode, length, offsets, last, pad, infs, dynamic, seed):
    _check(mode, length, offsets, last, pad, infs, dynamic, seed)


@pytest.mark.parametrize("pad", [None, 4])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_past_the_last_offset_by_hand(mode, pad):
    # Eager (float32): the last bag of max takes index 1 (row 1) past offset 4;
    # sum without padding_idx drops it, mean drops it but divides by 2.
    weight = torch.arange(18.0).view(6, 3) - 5
    indices, offsets = torch.tensor([2, 4, 0, 4, 1]), torch.tensor([0, 2, 3, 4])
    expected_last = {
        (None, "sum"): [7.0, 8.0, 9.0],
        (None, "mean"): [3.5, 4.0, 4.5],
        (None, "max"): [7.0, 8.0, 9.0],
    }.get((pad, mode), [-2.0, -1.0, 0.0])

    def fn(w, i, o):
        return F.embedding_bag(i, w, o, mode=mode, include_last_offset=True, padding_idx=pad)

    assert fn(weight, indices, offsets)[2].tolist() == expected_last
    check_lowering(fn, [weight, indices, offsets])
