"""cleanup_graph: chains folded, values unchanged (host target vs eager), outputs kept new."""

from __future__ import annotations

import pytest
import torch

from airgraph_core import DataType, GraphBuilder, HostProgram
from airgraph_core.graph_cleanup import cleanup_graph
from airgraph_core.testing import check_lowering

F32 = DataType.FLOAT


def _run(graph, *inputs):
    return HostProgram(graph, "interpret")(*inputs)


def _transpose(b, x, perm, shape):
    return b.op("Transpose", x, b.const(perm), out=(F32, shape))


def _reshape(b, x, shape):
    return b.op("Reshape", x, b.const(list(shape)), out=(F32, tuple(shape)))


@pytest.mark.parametrize(
    "perms",
    [([1, 0], [1, 0]), ([1, 2, 0], [2, 0, 1]), ([2, 0, 1], [0, 2, 1]), ([1, 0, 2], [2, 1, 0])],
)
def test_transpose_pairs_fold_exactly(perms):
    p, q = perms
    x = torch.randn(2, 3, 4) if len(p) == 3 else torch.randn(3, 5)
    b = GraphBuilder("g")
    data = b.data(0, F32, tuple(x.shape))
    mid = tuple(x.shape[i] for i in p)
    y = _transpose(b, data, p, mid)
    z = _transpose(b, y, q, tuple(mid[i] for i in q))
    out = b.op("Mul", z, b.const(2.0), out=z.spec)
    b.net_output([out])
    expected = _run(b.graph, x)[0]

    graph = cleanup_graph(b.graph)

    assert len(graph.ops_of_type("Transpose")) <= 1
    if [p[i] for i in q] == list(range(len(p))):
        assert not graph.ops_of_type("Transpose")
    torch.testing.assert_close(_run(graph, x)[0], expected)
    assert len(graph.ops_of_type("Const")) == len(graph.ops_of_type("Transpose")) + 1


def test_identity_transpose_pair_feeding_an_output_stays():
    b = GraphBuilder("g")
    data = b.data(0, F32, (3, 5))
    y = _transpose(b, data, [1, 0], (5, 3))
    z = _transpose(b, y, [1, 0], (3, 5))
    b.net_output([z])
    graph = cleanup_graph(b.graph)
    # Returning the Data itself would hand GE's caller the input's memory.
    assert len(graph.ops_of_type("Transpose")) == 2


def test_reshape_chain_folds_unless_zero_copies_a_dim():
    x = torch.randn(4, 6)
    b = GraphBuilder("g")
    data = b.data(0, F32, (4, 6))
    out = _reshape(b, _reshape(b, _reshape(b, data, [24]), [2, 12]), [3, 8])
    b.net_output([out])
    expected = _run(b.graph, x)[0]
    graph = cleanup_graph(b.graph)
    (reshape,) = graph.ops_of_type("Reshape")
    assert reshape.inputs[0].startswith(graph.data_ops[0].name)
    assert len(graph.ops_of_type("Const")) == 1  # the folded Reshapes' shapes went with them
    torch.testing.assert_close(_run(graph, x)[0], expected)

    b = GraphBuilder("g")
    data = b.data(0, F32, (4, 6))
    out = b.op("Reshape", _reshape(b, data, [2, 12]), b.const([0, -1]), out=(F32, (2, 12)))
    b.net_output([out])
    assert len(cleanup_graph(b.graph).ops_of_type("Reshape")) == 2


def test_identity_read_by_ops_is_bypassed_but_an_output_copy_stays():
    b = GraphBuilder("g")
    data = b.data(0, F32, (3,))
    copy = b.op("Identity", data, out=data.spec)
    out = b.op("Add", copy, b.const(1.0), out=data.spec)
    b.net_output([out, copy])
    graph = cleanup_graph(b.graph)
    (add,) = graph.ops_of_type("Add")
    assert add.inputs[0].startswith(graph.data_ops[0].name)
    assert len(graph.ops_of_type("Identity")) == 1  # the second output is still a copy
    x = torch.randn(3)
    got = _run(graph, x)
    torch.testing.assert_close(got[0], x + 1)
    torch.testing.assert_close(got[1], x)


def _view_chain(x):
    return x.reshape(32).view(4, 8).view(2, 16) + 1


def _transpose_twice(x):
    return x.t().t() * 2 + x.transpose(0, 1).permute(1, 0)


def _permute_size1(x):
    return x.permute(1, 0, 2) + 1


@pytest.mark.parametrize("fn", [_view_chain, _transpose_twice, _permute_size1])
@pytest.mark.parametrize("dynamic", [False, True])
def test_lowered_graphs_fold_and_match_eager(fn, dynamic):
    shape = (1, 4, 8) if fn is _permute_size1 else (4, 8)
    graph = check_lowering(fn, [torch.randn(*shape)], dynamic=dynamic)
    if not dynamic:
        assert len(graph.ops_of_type("Reshape")) <= 1
        assert not graph.ops_of_type("Transpose")
