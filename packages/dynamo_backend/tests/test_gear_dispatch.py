"""Gear dispatch per call: what stands between Dynamo's frame and a gear's compiled code.

A geared call pays, beyond a static ``torch.compile`` of the same shape,
the gear lookup and whatever airgraph puts between AOTAutograd's wrapper
and Inductor's compiled graph. On a small model at a small shape every
Python call there shows in the latency (the gears benchmark's LLaMA at
batch 1 x sequence 16: ~600 µs a call, 5% is 30 µs). These tests pin the
structure, not a time: the number of Python frames between the user's
compiled function and Inductor's graph, geared vs static.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch
from torch import nn

from airgraph_dynamo import get_npu_backend
from airgraph_gears import set_dim_gears

#: Frames a geared call adds over a static compile (torch 2.13): the dispatch
#: closure (one dict lookup by shape) and the gear's ``ArgsCall`` (picks the
#: inputs out of AOTAutograd's list), less a wrapper layer the static compile
#: has of its own. Before: five (AOTAutograd's unpacking wrapper, the runner,
#: the layout wrapper, its list runner, a lambda, the direct call).
EXTRA_FRAMES = 1


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def _frames_below(names: tuple[str, ...]) -> int:
    """Frames from the caller's caller down to the nearest frame of a function in ``names``."""
    frame, count = sys._getframe(2), 0
    while frame is not None and frame.f_code.co_name not in names:
        frame, count = frame.f_back, count + 1
    assert frame is not None, f"no frame of {names} on the stack"
    return count


@pytest.fixture
def graph_call_depths(monkeypatch):
    """Records, per call of Inductor's compiled graph, its depth below the user's function."""
    from torch._inductor.output_code import CompiledFxGraph

    depths: list[tuple[str, int]] = []
    original = CompiledFxGraph.__call__
    names = ("geared_call", "static_call")

    def spy(self: Any, inputs: Any) -> Any:
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_name not in names:
            frame = frame.f_back
        if frame is not None:  # a call of one of the two functions (not a compile's own run)
            depths.append((frame.f_code.co_name, _frames_below(names)))
        return original(self, inputs)

    monkeypatch.setattr(CompiledFxGraph, "__call__", spy)
    return depths


@pytest.mark.slow
def test_a_gear_reaches_inductors_graph_one_frame_below_a_static_compile(
    make_config, graph_call_depths
):
    torch.manual_seed(0)
    model = Mlp().eval()

    def geared_call(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    def static_call(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    config = make_config("inductor", gear_compile="eager")
    backend = get_npu_backend(compiler_config=config)
    geared = torch.compile(geared_call, backend=backend, fullgraph=True)
    static = torch.compile(static_call, dynamic=False)
    first = torch.randn(2, 8)
    set_dim_gears(first, {0: [1, 2, 4]})
    with torch.no_grad():
        geared(first)  # traces once, compiles every gear
        assert len(backend.compiled[0].gears.compiled) == 3
        for batch in (1, 2, 4):
            x = torch.randn(batch, 8)
            graph_call_depths.clear()
            torch.testing.assert_close(geared(x), model(x), rtol=1e-5, atol=1e-5)
            static(x)
            static(x)  # a compile's first call may take another path
            depths = dict(graph_call_depths)
            assert set(depths) == {"geared_call", "static_call"}, graph_call_depths
            extra = depths["geared_call"] - depths["static_call"]
            assert extra <= EXTRA_FRAMES, (
                f"batch {batch}: a geared call reaches Inductor's graph {extra} frames below a "
                f"static compile's (at most {EXTRA_FRAMES}): a layer was added to the per-call path"
            )


@pytest.mark.parametrize("hooked", [False, True])
def test_the_dispatch_takes_aot_autograds_list_or_positional_inputs(
    make_config, hooked, monkeypatch
):
    """Without first-call hooks AOTAutograd gets the runner's boxed dispatch (its list of
    inputs as it is); with one (``cache_compile``) the runner is called positionally, as
    ``get_compiler``'s contract says: every gear gives eager's results either way."""
    from airgraph_dynamo.gear_dispatch import GearedRunner

    positional: list[int] = []  # calls of GearedRunner(*args), not of its boxed dispatch
    original = GearedRunner.__call__

    def counted(self: GearedRunner, *args: Any) -> list[Any]:
        positional.append(1)
        return original(self, *args)

    monkeypatch.setattr(GearedRunner, "__call__", counted)
    torch.manual_seed(0)
    model = Mlp().eval()
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    seen: list[int] = []
    if hooked:
        backend.compiler.add_first_call_hook(lambda record, inputs, outputs: seen.append(1))
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    first = torch.randn(2, 8)
    set_dim_gears(first, {0: [1, 2, 4]})
    with torch.no_grad():
        for i, batch in enumerate((2, 1, 4, 2)):
            x = first if i == 0 else torch.randn(batch, 8)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    runner = backend.compiled[0].gear_runner
    assert runner.boxed._boxed_call is True
    assert len(backend.compiled) == 1 and seen == ([1] if hooked else [])
    # Unhooked, AOTAutograd calls ``runner.boxed`` itself (no positional layer); hooked,
    # the observer calls the runner positionally on every call.
    assert len(positional) == (4 if hooked else 0), positional
