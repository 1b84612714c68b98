"""The host's rewrites before Inductor: the list, scalar exponents, what is never erased."""

from __future__ import annotations

import pytest
import torch

from airgraph_core import HostProgram
from airgraph_core.targets.host.program import specialize
from airgraph_core.targets.host.rewrites import REWRITES, erase_unused, rewrite_for_inductor
from airgraph_core.testing import TOLERANCES, check_lowering


def _rewritten(fn, inputs):
    graph = check_lowering(fn, inputs, capture="aot")
    gm, tensors, reference = specialize(graph, inputs)
    return rewrite_for_inductor(gm), gm, tensors, reference


def test_the_rewrites_are_named_and_ordered():
    assert [name for name, _ in REWRITES] == ["scalar_exponents", "attention"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1.0])
def test_a_scalar_exponent_becomes_a_number_with_eager_values(dtype, exponent):
    x = torch.rand(4, 16).to(dtype) + 0.5
    counts, gm, tensors, (reference,) = _rewritten(lambda x: x.pow(exponent) + 1, [x])
    assert counts["scalar_exponents"] == 1
    pows = [n for n in gm.graph.nodes if n.target is torch.pow]
    assert [n.args[1] for n in pows] == [float(exponent)]
    (got,) = gm(*tensors)
    atol, rtol = TOLERANCES[dtype]
    torch.testing.assert_close(got, reference, atol=atol, rtol=rtol)
    torch.testing.assert_close(got, x.pow(exponent) + 1, atol=atol, rtol=rtol)
    if exponent == 2:  # eager pow squares a 0-d exponent 2 as a number 2: x * x
        assert torch.equal(got, reference)


def test_integer_and_tensor_exponents_stay():
    ints = torch.randint(1, 4, (4, 8))
    counts, *_ = _rewritten(lambda x: x.pow(2), [ints])
    assert counts["scalar_exponents"] == 0
    x, e = torch.rand(4, 8), torch.rand(4, 8)
    counts, *_ = _rewritten(lambda x, e: x.pow(e), [x, e])
    assert counts["scalar_exponents"] == 0


def test_erase_unused_keeps_placeholders_and_used_nodes():
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    used = graph.call_function(torch.neg, (x,))
    dead = graph.call_function(torch.abs, (x,))
    graph.output(used)
    erase_unused(graph, [x, used, dead])
    assert [n.name for n in graph.nodes] == ["x", "neg", "output"]


@pytest.mark.slow
def test_inductor_runs_the_rewritten_rms_norm():
    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    x, w = torch.randn(8, 64), torch.randn(64)
    graph = check_lowering(rms, [x, w], capture="aot")
    program = HostProgram(graph, mode="inductor")
    program(x, w)
    (got,) = program(x, w)
    (signature,) = program.signatures
    module = program.specialized_module(signature)
    assert any(n.target is torch.pow for n in module.graph.nodes)
    torch.testing.assert_close(got, rms(x, w), atol=1e-5, rtol=1e-4)
