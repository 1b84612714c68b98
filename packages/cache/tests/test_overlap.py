"""``overlapping`` never misses a shared element, on generated views of one storage."""

from __future__ import annotations

import random

import pytest
import torch

from airgraph_cache.overlap import argument_tensors, distinct_storages_check, overlapping


def _elements(t: torch.Tensor) -> set[int]:
    """The storage offsets of every element of ``t`` (the brute-force truth)."""
    index = torch.zeros((), dtype=torch.long) + t.storage_offset()
    for n, s in zip(t.shape, t.stride()):
        index = index.unsqueeze(-1) + torch.arange(n) * s
    return set(index.flatten().tolist())


def _random_view(base: torch.Tensor, rng: random.Random) -> torch.Tensor:
    rank = rng.randint(0, 3)
    shape = [rng.randint(0, 4) for _ in range(rank)]
    stride = [rng.randint(0, 6) for _ in range(rank)]
    span = sum((n - 1) * s for n, s in zip(shape, stride)) if all(shape) else 0
    offset = rng.randint(0, base.numel() - 1 - span) if span < base.numel() else 0
    if span >= base.numel():
        shape, stride = [1] * rank, [1] * rank
    return base.as_strided(shape, stride, offset)


@pytest.mark.parametrize("seed", range(4))
def test_overlapping_is_never_wrong_about_a_shared_element(seed: int) -> None:
    rng = random.Random(seed)
    exact = 0
    for _ in range(200):
        base = torch.zeros(40)
        a, b = _random_view(base, rng), _random_view(base, rng)
        shared = bool(_elements(a) & _elements(b))
        found = overlapping([a, b])
        assert found or not shared, (a.shape, a.stride(), a.storage_offset(), b.stride())
        exact += found == shared
        # Another storage never overlaps; one object listed twice is not an overlap.
        assert not overlapping([a, torch.zeros(40)[: a.numel()]])
        assert not overlapping([a, a])
    assert exact > 150  # conservative only where strides interleave


def test_overlapping_cases() -> None:
    x = torch.zeros(5, 4)
    assert overlapping([x[1:], x[:4]])
    assert overlapping([x, x.view(20)])
    assert not overlapping([x[:2], x[2:]])
    assert not overlapping([x[:0], x])  # empty: touches nothing
    assert overlapping([x[:2], x[3:], x[1:4]])  # the third meets both
    assert not overlapping([x, None, 3, torch.zeros(2)])


def test_argument_tensors_looks_into_containers() -> None:
    a, b, c = torch.zeros(1), torch.zeros(2), torch.zeros(3)
    found = argument_tensors((a, [1, (b,)]), {"k": {"v": c}, "n": None})
    assert sorted(t.numel() for t in found) == [1, 2, 3]


def test_distinct_storages_check() -> None:
    assert distinct_storages_check([0]) is None
    check = distinct_storages_check([0, 2])
    assert check is not None
    x, y = torch.zeros(4), torch.zeros(4)
    assert check([x, x, y])
    assert not check([x, y, x[1:]])
    assert not check([x, y, None])
