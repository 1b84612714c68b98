"""Tests of the converter test harness (airgraph_core.testing.check_lowering)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import airgraph_core.testing as testing
from airgraph_core.converters import registry
from airgraph_core.testing import CAPTURE_ENV, check_lowering

aten = torch.ops.aten


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(6, 4)

    def forward(self, x: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.relu(self.linear(x)) * scale
        return y, y.sum(-1)


@pytest.fixture
def dynamo_captures(monkeypatch):
    """Counts the captures that go through torch.compile; no overload counts as seen before."""
    calls = []
    real = testing.capture_aten_graph

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(testing, "capture_aten_graph", counting)
    monkeypatch.setattr(testing, "_dynamo_covered", set())
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    return calls


@pytest.fixture
def relu_as_abs(monkeypatch):
    """A deliberately wrong converter: aten.relu lowered as Abs."""
    registry.lookup(aten.relu.default)  # loads every converter first
    wrong = registry._REGISTRY[aten.relu.default]

    def abs_instead(ctx, x):
        return ctx.b.op("Abs", x, out=ctx.out())

    monkeypatch.setitem(
        registry._REGISTRY,
        aten.relu.default,
        dataclasses.replace(wrong, fn=abs_instead, ge_ops=("Abs",)),
    )


@pytest.mark.parametrize("capture", ["aot", "dynamo", "auto"])
def test_every_capture_matches_eager(capture):
    graph = check_lowering(_Block(), [torch.randn(3, 6), 0.5], capture=capture)
    assert {"MatMulV2", "Relu", "ReduceSum"} <= set(graph.op_types()), graph.op_types()


def test_aot_and_dynamo_lower_to_the_same_ge_ops():
    inputs = [torch.randn(3, 6), 0.5]
    block = _Block()
    via_aot = check_lowering(block, inputs, capture="aot")
    via_dynamo = check_lowering(block, inputs, capture="dynamo")
    assert sorted(via_aot.op_types()) == sorted(via_dynamo.op_types())


@pytest.mark.parametrize("capture", ["aot", "dynamo", "auto"])
def test_a_wrong_converter_fails_whatever_the_capture(capture, relu_as_abs):
    with pytest.raises(AssertionError, match="output 0"):
        check_lowering(torch.relu, [torch.randn(4, 5)], capture=capture)


def test_auto_goes_through_dynamo_once_per_new_overload(dynamo_captures):
    x = torch.randn(4, 5)
    check_lowering(lambda a: torch.relu(a) + 1, [x])
    check_lowering(lambda a: torch.relu(a) + 2, [x])
    assert len(dynamo_captures) == 1
    check_lowering(lambda a: torch.tanh(a) + 1, [x])  # tanh is new here
    assert len(dynamo_captures) == 2
    check_lowering(lambda a: torch.tanh(torch.relu(a)), [x])
    assert len(dynamo_captures) == 2


def test_the_environment_forces_dynamo(dynamo_captures, monkeypatch):
    monkeypatch.setenv(CAPTURE_ENV, "dynamo")
    x = torch.randn(4, 5)
    for _ in range(2):
        check_lowering(lambda a: torch.relu(a) + 1, [x], capture="aot")
    assert len(dynamo_captures) == 2


def test_dynamic_and_nested_inputs_go_through_dynamo(dynamo_captures):
    testing._dynamo_covered.update({"aten.add.Tensor", "aten.cat.default"})
    check_lowering(lambda a: a + 1, [torch.randn(4, 5)], dynamic=True)
    check_lowering(lambda xs: torch.cat(xs), [[torch.randn(2), torch.randn(3)]])
    assert len(dynamo_captures) == 2


def test_in_place_updates_are_applied_once_and_compared(dynamo_captures):
    x = torch.randn(4)
    check_lowering(lambda a: a.mul_(2), [x])  # first: AOT, then Dynamo on fresh clones
    check_lowering(lambda a: a.mul_(3), [x])  # AOT only
    assert len(dynamo_captures) == 1


def test_a_graph_break_raises_dynamos_error():
    def branchy(x):
        return x * 2 if x.sum() > 0 else x - 1

    with pytest.raises(Exception) as info:
        check_lowering(branchy, [torch.randn(4)])
    assert type(info.value).__module__.startswith("torch._dynamo"), repr(info.value)


def test_bad_capture_arguments_are_refused():
    with pytest.raises(ValueError, match="capture must be one of"):
        check_lowering(torch.relu, [torch.randn(2)], capture="fx")
    with pytest.raises(ValueError, match="capture='aot' needs dynamic=False"):
        check_lowering(torch.relu, [torch.randn(2)], capture="aot", dynamic=True)
