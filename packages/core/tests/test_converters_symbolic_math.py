"""Symbolic-scalar math (``**``, sym_float, sqrt, floor/ceil/trunc, sym_not/ite) vs eager.

The cases follow TorchAir's tests/st (``test_builtin_with_sym``,
``test_torch_sym``, ``test_autograd_symexpr``, ``test_torch_floor``): sizes
of a ``dynamic=True`` capture go through Python math and come back as
tensor sizes or scalar operands.
"""

from __future__ import annotations

import math

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError, lower_graph
from airgraph_core.testing import check_lowering


@pytest.mark.parametrize(("y", "z"), [(2, 3), (3, 4)])
def test_builtin_arithmetic_on_int_inputs(y, z):
    # torchair_st.py test_builtin_with_sym: +, -, *, /, //, ** of two int arguments.
    def fn(x, y, z):
        x = torch.add(x, y + z)
        x = torch.add(x, y - z)
        x = torch.add(x, y * z)
        x = torch.add(x, y / z)
        x = torch.add(x, y // z)
        return torch.add(x, y**z)

    graph = check_lowering(fn, [torch.randn(2, 2), y, z], dynamic=True)
    assert "Pow" in graph.op_types()


@pytest.mark.parametrize("last", [10, 13])
def test_sym_float_and_sqrt(last):
    # torchair_st.py test_torch_sym / test_autograd_symexpr: float(n) and 1 / sqrt(n).
    def fn(x):
        a = float(x.size(-1))
        b = 1 / math.sqrt(x.size(-1))
        return x * b + a

    graph = check_lowering(fn, [torch.randn(3, last)], dynamic=True)
    assert {"Sqrt", "Cast"} <= set(graph.op_types())


@pytest.mark.parametrize("rows", [10, 7])
def test_floor_of_a_float_size(rows):
    # torchair_st.py test_torch_floor: math.floor(n + 1.0) * 3 (eager 33 for n = 10).
    def fn(x):
        b = math.floor(x.size(0) + 1.0)
        return x.new_zeros(b * 3)

    graph = check_lowering(fn, [torch.randn(rows, 2)], dynamic=True)
    assert "Floor" in graph.op_types()


@pytest.mark.parametrize("rows", [5, 9, 12])
def test_ceil_floor_sqrt_in_sizes(rows):
    def fn(x):
        n = x.shape[0]
        pad = x.new_ones(math.ceil(n / 4), 2)
        idx = torch.arange(math.floor(math.sqrt(n)) * 2, dtype=torch.float32)
        return pad * idx.sum(), torch.full((int(n / 3) + 1,), 2.0)

    graph = check_lowering(fn, [torch.randn(rows, 2)], dynamic=True)
    assert {"Ceil", "Floor", "Sqrt", "Trunc"} <= set(graph.op_types())


@pytest.mark.parametrize("rows", [3, 6])
def test_sym_ite_and_not(rows):
    def fn(x):
        n = x.shape[0]
        big = torch.sym_not(n < 5)
        return x.new_zeros(torch.sym_ite(big, n * 2, n + 1))

    graph = check_lowering(fn, [torch.randn(rows, 2)], dynamic=True)
    assert "SelectV2" in graph.op_types()


def test_math_on_a_tensor_operand_is_reported_unsupported():
    import operator

    gm = torch.fx.symbolic_trace(lambda x, y: operator.pow(x, y))
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            node.meta["val"] = torch.empty(2)
    with pytest.raises(UnsupportedOpError, match="symbolic math on a tensor operand"):
        lower_graph(gm, [torch.empty(2), torch.empty(2)])
