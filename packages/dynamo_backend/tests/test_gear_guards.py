"""Backed gear tracing: the gear plan proves the trace's size guards for every gear."""

from __future__ import annotations

import logging

import pytest
import sympy
import torch
from torch._dynamo.utils import counters
from torch.utils._sympy.numbers import int_oo

from airgraph_dynamo import get_npu_backend
from airgraph_dynamo.gear_guards import TraceGuards
from airgraph_gears import get_gear_tracing, set_dim_gears, set_gear_tracing

s0, s1 = sympy.symbols("s0 s1", integer=True, positive=True)


# -- the proof on its own: guards and ranges evaluated per gear ---------------------


def test_every_guard_and_range_is_evaluated_per_gear():
    guards = TraceGuards.from_shape_env(
        [sympy.Ne(s1, 1), s0 <= s1, sympy.true],
        {s0: _Range(0, int_oo), s1: _Range(2, int_oo)},
        [s0, s1],
    )
    assert len(guards.guards) == 2  # the trivially true guard is dropped
    assert guards.broken({s0: 1, s1: 16}) == ([], [])
    assert guards.broken({s0: 8, s1: 8}) == ([], [])
    broken, undecided = guards.broken({s0: 1, s1: 1})
    assert broken == ["2 <= s1 <= int_oo (the range the trace assumed)", "Ne(s1, 1)"]
    assert undecided == []
    assert guards.broken({s0: 16, s1: 8}) == (["s0 <= s1"], [])


def test_a_guard_on_sizes_without_gears_is_undecided_not_broken():
    other = sympy.Symbol("s9", integer=True, positive=True)
    guards = TraceGuards.from_shape_env([sympy.Eq(s0 * 2, other)], {}, [s0])
    assert guards.broken({s0: 4}) == ([], ["Eq(2*s0, s9)"])
    undecided: set[str] = set()
    assert guards.reason({s0: 4}, undecided) is None
    assert undecided == {"Eq(2*s0, s9)"}


def test_the_reason_names_the_broken_guard():
    guards = TraceGuards.from_shape_env([sympy.Ne(32 * s0, 32)], {}, [s0])
    reason = guards.reason({s0: 1}, set())
    assert "Ne(32*s0, 32)" in reason and "Dynamo trace again" in reason
    assert guards.reason({s0: 2}, set()) is None


def test_ranges_of_symbols_without_gears_are_ignored():
    guards = TraceGuards.from_shape_env([], {s0: _Range(2, 8), s1: _Range(5, 5)}, [s0])
    assert list(guards.ranges) == [s0]
    assert guards.broken({s0: 9})[0] == ["2 <= s0 <= 8 (the range the trace assumed)"]


class _Range:
    def __init__(self, lower, upper):
        self.lower, self.upper = lower, upper


# -- end to end with backed tracing ---------------------------------------------------


@pytest.fixture
def backed():
    set_gear_tracing("backed")
    counters.clear()
    yield
    set_gear_tracing("unbacked")


def test_gear_tracing_is_validated_and_defaults_to_unbacked():
    assert get_gear_tracing() == "unbacked"
    with pytest.raises(ValueError, match=r"mode must be one of \['unbacked', 'backed'\]"):
        set_gear_tracing("oblivious")


def _traces() -> int:
    return counters["stats"]["unique_graphs"]


def _compile(fn, make_config, policy="zip"):
    config = make_config("interpret")
    config.inference_config.dynamic_gears_merge_policy = policy
    backend = get_npu_backend(compiler_config=config)
    return backend, torch.compile(fn, backend=backend, fullgraph=True)


def _branchy(x):
    # Library-style branches on a geared size: unbacked sizes cannot trace them.
    if x.shape[1] == 1:
        return x * 0
    scale = 2.0 if x.shape[0] > 0 else 3.0
    return (x * scale).softmax(-1)


@pytest.mark.parametrize("first", [1, 2, 8])
def test_branches_on_geared_sizes_trace_once_and_gear_one_shares_it(backed, make_config, first):
    backend, compiled = _compile(_branchy, make_config, policy="product")
    x = torch.randn(first, 16)
    set_dim_gears(x, {0: [1, 2, 4, 8], 1: [16, 32]})
    for batch in (first, 1, 2, 4, 8):
        for seq in (16, 32):
            y = x if (batch, seq) == (first, 16) else torch.randn(batch, seq)
            torch.testing.assert_close(compiled(y), _branchy(y), rtol=1e-6, atol=1e-6)
    gears = backend.compiled[0].gears
    assert _traces() == 1 and len(backend.compiled) == 1
    assert gears.infeasible == {} and sorted(gears.compiled) == list(range(8))


def test_a_gear_that_breaks_a_guard_is_reported_and_retraced(backed, make_config, caplog):
    backend, compiled = _compile(_branchy, make_config)
    x = torch.randn(2, 8)
    set_dim_gears(x, {1: [1, 8, 16]})
    with caplog.at_level(logging.WARNING, logger="airgraph.dynamo"):
        torch.testing.assert_close(compiled(x), _branchy(x))
    gears = backend.compiled[0].gears
    assert sorted(gears.infeasible) == [0]  # (2, 1): the trace took the x.shape[1] != 1 branch
    assert "Ne(s" in gears.infeasible[0] and "breaks" in gears.infeasible[0]
    assert "cannot run this model" in caplog.text
    y = torch.randn(2, 16)
    torch.testing.assert_close(compiled(y), _branchy(y))
    assert _traces() == 1  # gears the trace serves do not retrace
    one = torch.randn(2, 1)
    torch.testing.assert_close(compiled(one), _branchy(one))  # Dynamo's guard: its own trace
    assert _traces() == 2


def test_equal_geared_sizes_become_one_symbol(backed, make_config):
    backend, compiled = _compile(lambda a, b: a + b, make_config, policy="product")
    a, b = torch.ones(2, 3), torch.ones(2, 3)
    set_dim_gears(a, {0: [1, 2]})
    set_dim_gears(b, {0: [1, 2]})
    torch.testing.assert_close(compiled(a, b), a + b)
    torch.testing.assert_close(
        compiled(torch.ones(1, 3), torch.ones(1, 3)), torch.full((1, 3), 2.0)
    )
    gears = backend.compiled[0].gears
    assert sorted(gears.infeasible) == [1, 2]
    assert "L['a'] dim 0 == L['b'] dim 0" in gears.infeasible[1]
    assert _traces() == 1


def test_unbacked_tracing_still_fails_on_a_branch(make_config):
    assert get_gear_tracing() == "unbacked"
    _, compiled = _compile(_branchy, make_config)
    x = torch.randn(2, 8)
    set_dim_gears(x, {1: [8, 16]})
    with pytest.raises(Exception, match="data-dependent"):
        compiled(x)
