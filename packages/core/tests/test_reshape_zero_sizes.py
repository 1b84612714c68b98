"""Reshape of empty tensors: a 0 in the target shape is a size of 0, as on GE.

GE's Reshape with the shape as an input reads 0 as a real zero (only its
Caffe form copies the input's size); the host used to copy, so
``(5, 0, 3).view(0, 0)`` came out ``(5, 0)``. Seeded generated cases compare
view/reshape/flatten of shapes containing 0 with eager.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from airgraph_core.testing import check_lowering


def _empty_shape(rng: random.Random) -> tuple[int, ...]:
    rank = rng.randint(1, 4)
    shape = [rng.randint(1, 4) for _ in range(rank)]
    shape[rng.randrange(rank)] = 0
    return tuple(shape)


def _target(rng: random.Random, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A view target for an empty ``shape``: a 0 somewhere (often where the
    input has a non-zero size), or -1 beside non-zero sizes."""
    rank = rng.randint(1, 4)
    if rng.random() < 0.25:
        target = [rng.randint(1, 5) for _ in range(rank)]
        target[rng.randrange(rank)] = -1
        return tuple(target)
    target = [rng.choice([0, 1, 2, 3, 7]) for _ in range(rank)]
    target[rng.randrange(rank)] = 0
    return tuple(target)


def _cases(count: int, seed: int) -> list[tuple[tuple[int, ...], str, tuple[int, ...]]]:
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        shape = _empty_shape(rng)
        kind = rng.choice(["view", "reshape", "flatten"])
        if kind == "flatten":
            start = rng.randrange(len(shape))
            cases.append((shape, kind, (start, rng.randrange(start, len(shape)))))
        else:
            cases.append((shape, kind, _target(rng, shape)))
    return cases


def _program(kind: str, arg: tuple[int, ...]):
    if kind == "flatten":
        return lambda x: x.flatten(*arg) + 1
    if kind == "view":
        return lambda x: x.view(arg) * 2
    return lambda x: x.reshape(arg) - 1


@pytest.mark.parametrize(("shape", "kind", "arg"), _cases(16, seed=20261130))
def test_generated_empty_reshapes_match_eager(shape, kind, arg):
    fn = _program(kind, arg)
    assert math.prod(shape) == 0
    check_lowering(fn, [torch.randn(shape)])


@pytest.mark.parametrize(
    ("shape", "target"),
    [((5, 0, 3), (0, 0)), ((5, 0), (0, 0, 7)), ((4, 0), (0, 4, 0)), ((2, 0, 4), (0, 2, 4))],
)
def test_zero_lines_up_with_a_nonzero_input_size(shape, target):
    # The reviewer's cases: each 0 sits where the input has a non-zero size.
    check_lowering(lambda x: x.view(target).sum(-1), [torch.randn(shape)])


@pytest.mark.slow
def test_inductor_host_zero_is_a_size():
    check_lowering(lambda x: x.view(0, 0) + 1, [torch.randn(5, 0, 3)], modes=("inductor",))
