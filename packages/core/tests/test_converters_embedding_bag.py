"""_embedding_bag(_forward_only) vs eager ``F.embedding_bag``, over seeded cases.

Each case draws the mode, the bag boundaries (empty bags included), the
padding index, per-sample weights (sum only), include_last_offset and the
weight dtype; symbolic lengths are tested too.
"""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.testing import check_lowering

TOL = {torch.float32: (1e-5, 1e-4), torch.float16: (2e-3, 2e-3), torch.bfloat16: (2e-2, 2e-2)}


def _cases(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        mode = ("sum", "mean", "max")[i % 3]
        length = rng.randint(1, 9)
        bags = rng.randint(1, 4)
        starts = sorted([0] + [rng.randint(0, length) for _ in range(bags - 1)])
        last = rng.random() < 0.4
        offsets = starts + [length] if last else starts
        pad = rng.choice([None, 2])
        psw = mode == "sum" and rng.random() < 0.5
        dtype = (torch.float32, torch.float32, torch.float16, torch.bfloat16)[i % 4]
        cases.append((mode, length, offsets, last, pad, psw, dtype, rng.randint(0, 2**16)))
    return cases


@pytest.mark.parametrize(
    ("mode", "length", "offsets", "last", "pad", "psw", "dtype", "seed"), _cases(15, 9)
)
def test_embedding_bag(mode, length, offsets, last, pad, psw, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(6, 3, generator=gen).to(dtype)
    indices = torch.randint(0, 6, (length,), generator=gen)
    inputs = [weight, indices, torch.tensor(offsets)]
    if psw:
        inputs.append(torch.randn(length, generator=gen).to(dtype))

    def fn(w, i, o, p=None):
        return F.embedding_bag(
            i, w, o, mode=mode, include_last_offset=last, padding_idx=pad, per_sample_weights=p
        )

    atol, rtol = TOL[dtype]
    g = check_lowering(fn, inputs, atol=atol, rtol=rtol)
    assert {"GatherV2", "UnsortedSegmentMax" if mode == "max" else "UnsortedSegmentSum"} <= set(
        g.op_types()
    )


def test_module_with_2d_input_int32():
    bag = torch.nn.EmbeddingBag(10, 4, mode="mean")
    check_lowering(bag, [torch.randint(0, 10, (3, 5), dtype=torch.int32)])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_module_dynamic(mode):
    """Symbolic numbers of indices and bags (2-D input: offsets from an arange)."""
    bag = torch.nn.EmbeddingBag(10, 4, mode=mode, padding_idx=3 if mode == "mean" else None)
    check_lowering(bag, [torch.randint(0, 10, (3, 5))], dynamic=True)


@pytest.mark.parametrize("last", [False, True])
def test_offsets_dynamic(last):
    weight, indices = torch.randn(8, 3), torch.randint(0, 8, (7,))
    offsets = torch.tensor([0, 2, 2, 7] if last else [0, 2, 2, 5])
    check_lowering(
        lambda w, i, o: F.embedding_bag(i, w, o, mode="mean", include_last_offset=last),
        [weight, indices, offsets],
        dynamic=True,
    )
