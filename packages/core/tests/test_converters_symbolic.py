"""Symbolic-size converters: sym_size and arithmetic on SymInts, folded on the host."""

from __future__ import annotations

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from airgraph_core.lowering import UnsupportedOpError, lower_graph
from airgraph_core.testing import assert_valid_ge_graph, check_lowering, run_lowered
from airgraph_core.testing import random_tensor as make

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool]


@pytest.mark.parametrize("shape", [(4, 6), (3, 5), (6, 9)])
def test_size_arithmetic(shape):
    def fn(x):
        n, m = x.shape
        # clone: a plain view output is rebuilt outside the graph (OutputViews).
        return x.new_zeros(n * m + n // 2 - m % 4, 2), x.reshape(-1)[
            : max(n, m) - min(n, m)
        ].clone()

    graph = check_lowering(fn, [torch.randn(shape)], dynamic=True)
    assert {"Mul", "FloorDiv", "FloorMod", "Maximum", "Minimum"} <= set(graph.op_types())


@pytest.mark.parametrize("shape", [(4, 6), (5, 3)])
def test_symbolic_outputs_and_negation(shape):
    def fn(x):
        n, m = x.shape
        return x.new_ones(n, m - n + 10), -n + 2 * m

    check_lowering(fn, [torch.randn(shape)], dynamic=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 6, 2), (3, 2, 5)])
def test_sym_size_reads_shape_of_tensor(dtype, shape):
    # make_fx keeps aten.sym_size nodes and passes no SymInt inputs, so sizes
    # must be read off the tensor (Shape + Gather) and folded on the host.
    def fn(x):
        # clone: a plain view output is rebuilt outside the graph (OutputViews).
        return (
            x.view(x.shape[0] * x.shape[1], -1)
            if dtype is not torch.bool
            else x.view(-1, x.shape[2])
        ).clone()

    x = make(shape, dtype)
    gm = make_fx(fn, tracing_mode="symbolic")(x)
    assert any(n.target is torch.ops.aten.sym_size.int for n in gm.graph.nodes)
    graph = lower_graph(gm, [x])
    assert_valid_ge_graph(graph)
    assert {"Shape", "Gather"} <= set(graph.op_types())
    (got,) = run_lowered(graph, [x])
    torch.testing.assert_close(got, fn(x))


def test_sym_numel():
    def fn(x):
        return x.new_zeros(x.numel())

    x = torch.randn(3, 4)
    gm = make_fx(fn, tracing_mode="symbolic")(x)
    graph = lower_graph(gm, [x])
    assert_valid_ge_graph(graph)
    (got,) = run_lowered(graph, [x])
    torch.testing.assert_close(got, fn(x))


def test_sym_arithmetic_on_tensor_is_reported_unsupported():
    import operator

    gm = torch.fx.symbolic_trace(lambda x, y: operator.add(x, y))
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            node.meta["val"] = torch.empty(2)
    with pytest.raises(UnsupportedOpError, match="symbolic arithmetic on a tensor operand"):
        lower_graph(gm, [torch.randn(2), torch.randn(2)])
