"""The warm program's input checks: the generated check agrees with the reference loop."""

from __future__ import annotations

import random

import pytest
import torch

from airgraph_cache.binding import InputBinding, OutputSpec
from airgraph_cache.program import GuardMismatch, InputMismatch, Program

_DTYPES = ["float32", "float16", "int64", "bool"]
_DEVICES = ["cpu", "meta"]


class _Three(torch.nn.Module):
    def forward(self, a, b, c):
        return a


def _program(checks: list[list]) -> Program:
    binding = InputBinding(_Three.forward, [[["local", name]] for name in "abc"])
    out = torch.zeros(1)
    return Program(
        _Three(), binding, lambda inputs: [out], ["t"], OutputSpec.capture(out, [out], []), checks
    )


def _spec(rng: random.Random, i: int) -> list:
    shape = [rng.choice([-1, 1, 2, 3]) for _ in range(rng.randint(0, 3))]
    return [i, rng.choice(_DTYPES), shape, rng.choice(_DEVICES)]


def _value(rng: random.Random, spec: list):
    """A tensor that fits ``spec``, or one that misses it in one way, or a non-tensor."""
    _, dtype, shape, device = spec
    sizes = [rng.choice([2, 5]) if n == -1 else n for n in shape]
    how = rng.choice(["fit", "fit", "dtype", "device", "rank", "size", "none", "int"])
    if how == "dtype":
        dtype = rng.choice([d for d in _DTYPES if d != dtype])
    elif how == "device":
        device = rng.choice([d for d in _DEVICES if d != device])
    elif how == "rank":
        sizes = sizes + [1] if rng.random() < 0.5 or not sizes else sizes[:-1]
    elif how == "size" and sizes:
        sizes[rng.randrange(len(sizes))] += 1  # misses a fixed dim, fits an open one
    elif how == "none":
        return None
    elif how == "int":
        return 3
    return torch.zeros(sizes, dtype=getattr(torch, dtype), device=device)


def _reference(program: Program, inputs: list) -> type[Exception] | None:
    try:
        program._check(inputs)
    except (GuardMismatch, InputMismatch) as e:
        return type(e)
    return None


@pytest.mark.parametrize("seed", range(8))
def test_generated_input_check_agrees_with_the_loop(seed):
    rng = random.Random(seed)
    for _ in range(40):
        checks = [_spec(rng, i) for i in rng.sample(range(3), rng.randint(1, 3))]
        program = _program(checks)
        for _ in range(10):
            args = tuple(
                _value(rng, next((s for s in checks if s[0] == i), [i, "float32", [], "cpu"]))
                for i in range(3)
            )
            inputs = list(args)
            expected = _reference(program, inputs)
            assert program._inputs_ok(inputs) is (expected is None), (checks, args)
            if expected is None:
                assert program(args, {}) is not None
            else:
                with pytest.raises(expected):
                    program(args, {})


def test_a_program_without_input_checks_has_no_generated_check():
    assert _program([])._inputs_ok is None
