"""Inductor compilation of host specializations: the direct call and when it is refused."""

from __future__ import annotations

import types

import pytest
import torch

from airgraph_core import HostProgram
from airgraph_core.ir import DataType, GraphBuilder
from airgraph_core.targets.host.inductor import DirectCall, why_wrapped


def _compiled(program: HostProgram):
    (fn,) = program._compiled.values()
    return fn.fn  # inside the any-layout wrapper (targets.host.layout.DenseInputs)


def _meta(**overrides):
    """A stand-in for AOTAutograd's ViewAndMutationMeta of a plain inference graph."""
    from torch._functorch._aot_autograd.schemas import OutputType, PlainTensorMeta

    fields = {
        "output_info": [types.SimpleNamespace(output_type=OutputType.non_alias)],
        "num_mutated_inp_runtime_indices": 0,
        "num_mutated_graph_handled_indices": 0,
        "num_intermediate_bases": 0,
        "tokens": {},
        "subclass_inp_meta": [PlainTensorMeta(0, memory_format=None)],
        "grad_enabled_mutation": None,
        "dynamic_outputs": False,
    }
    fields.update(overrides)
    return types.SimpleNamespace(**fields)


def test_the_wrapper_is_dropped_only_when_it_would_do_nothing():
    inference = {"is_inference": True}
    assert why_wrapped([(object(), 2, inference, _meta())], 2) is None
    assert "compiled 0 graphs" in why_wrapped([], 2)
    assert "not an inference graph" in why_wrapped([(None, 2, {}, _meta())], 2)
    assert "deduplicated" in why_wrapped([(None, 1, inference, _meta())], 2)
    assert "no AOTAutograd metadata" in why_wrapped([(None, 2, inference, None)], 2)
    assert "mutated" in why_wrapped(
        [(None, 2, inference, _meta(num_mutated_graph_handled_indices=1))], 2
    )
    from torch._functorch._aot_autograd.schemas import OutputType

    aliased = [types.SimpleNamespace(output_type=OutputType.alias_of_input)]
    assert "alias" in why_wrapped([(None, 2, inference, _meta(output_info=aliased))], 2)
    assert "unknown AOTAutograd metadata" in why_wrapped(
        [(None, 2, inference, types.SimpleNamespace())], 2
    )


@pytest.mark.slow
def test_plain_graph_with_constants_is_called_directly():
    b = GraphBuilder("direct")
    x = b.data(0, DataType.FLOAT, (2, 3))
    w = b.data(1, DataType.FLOAT, (3, 4))
    y = b.op("MatMulV2", x, w, out=(DataType.FLOAT, (2, 4)))
    scaled = b.op("Mul", y, b.const(0.5), out=y.spec)
    shifted = b.op("Add", scaled, b.const(torch.arange(4.0)), out=y.spec)
    b.net_output([b.op("Transpose", shifted, b.const([1, 0]), out=(DataType.FLOAT, (4, 2)))])
    program = HostProgram(b.graph, "inductor")
    xs, ws = torch.randn(2, 3), torch.randn(3, 4, requires_grad=True)
    program(xs, ws)  # specializes (runs the graph once)
    assert isinstance(_compiled(program), DirectCall)

    with torch.enable_grad():  # out= kernels must not see grad mode
        (out,) = program(xs, ws)
    expected = ((xs @ ws) * 0.5 + torch.arange(4.0)).t()
    torch.testing.assert_close(out, expected.detach(), rtol=1e-5, atol=1e-6)
    assert not out.requires_grad


@pytest.mark.slow
def test_graph_updating_an_input_keeps_the_wrapper_and_updates_in_place():
    b = GraphBuilder("mutating")
    cache = b.data(0, DataType.FLOAT, (4,))
    x = b.data(1, DataType.FLOAT, (4,))
    total = b.op("Add", cache, x, out=cache.spec)
    assign = b.op("Assign", cache, total, out=cache.spec)
    b.net_output([b.op("Mul", total, total, out=cache.spec)], control=[assign.op])
    program = HostProgram(b.graph, "inductor")
    program(torch.zeros(4), torch.ones(4))
    assert not isinstance(_compiled(program), DirectCall)

    c = torch.full((4,), 2.0)
    (out,) = program(c, torch.ones(4))
    torch.testing.assert_close(c, torch.full((4,), 3.0))
    torch.testing.assert_close(out, torch.full((4,), 9.0))


@pytest.mark.slow
def test_graph_returning_a_view_of_an_input_returns_a_new_tensor_directly():
    b = GraphBuilder("aliasing")
    x = b.data(0, DataType.FLOAT, (2, 3))
    b.net_output([b.op("Reshape", x, b.const([3, 2]), out=(DataType.FLOAT, (3, 2)))])
    program = HostProgram(b.graph, "inductor")
    xs = torch.randn(2, 3)
    program(xs)
    # The host copies views at the outputs, so nothing is left for the wrapper to do.
    assert isinstance(_compiled(program), DirectCall)
    (out,) = program(xs)
    torch.testing.assert_close(out, xs.reshape(3, 2))
    assert out.untyped_storage().data_ptr() != xs.untyped_storage().data_ptr()


@pytest.mark.slow
def test_the_same_specialization_in_a_new_program_comes_from_inductors_fx_graph_cache():
    from torch._dynamo.utils import counters

    b = GraphBuilder("cached")
    x = b.data(0, DataType.FLOAT, (-1, 8))
    b.net_output([b.op("Relu", b.op("Mul", x, b.const(3.0), out=x.spec), out=x.spec)])
    xs = torch.randn(4, 8)
    HostProgram(b.graph, "inductor")(xs)
    hits = counters["inductor"]["fxgraph_cache_hit"]
    program = HostProgram(b.graph, "inductor")
    program(xs)  # a fresh program: specializes and compiles again
    assert counters["inductor"]["fxgraph_cache_hit"] == hits + 1
    (out,) = program(xs)
    torch.testing.assert_close(out, torch.relu(xs * 3.0))
