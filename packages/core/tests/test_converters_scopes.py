"""Scope marks and waits (scope_ops, converters/scopes, GraphBuilder scopes): attributes and edges."""

from __future__ import annotations

import pytest
import torch

from airgraph_core import DataType, GraphBuilder, HostProgram, scope_ops
from airgraph_core.capture import capture_aten_graph
from airgraph_core.graph_cleanup import cleanup_graph
from airgraph_core.lowering import lower_graph

F32 = DataType.FLOAT


def _lower(fn, *args):
    gm, inputs = capture_aten_graph(fn, args)
    return lower_graph(gm, inputs)


def test_ops_inside_a_scope_get_its_attributes_and_values_stay_exact():
    def fn(x, y):
        a = x + y
        scope_ops.enter_scope({"_user_stream_label": "s1", "_enable_inner_parallel": "False"})
        b = torch.mm(x, y)
        scope_ops.exit_scope()
        return a, b

    x, y = torch.randn(3, 3), torch.randn(3, 3)
    graph = _lower(fn, x, y)
    (add,) = graph.ops_of_type("Add")
    (mm,) = [op for op in graph.ops if "MatMul" in op.type]
    assert "_user_stream_label" not in add.attrs
    assert mm.attr("_user_stream_label") == "s1"
    assert mm.attr("_enable_inner_parallel") is False  # a bool, as GE reads it
    got = HostProgram(graph, "interpret")(x, y)
    torch.testing.assert_close(list(got), [x + y, x @ y], rtol=1e-6, atol=1e-6)


def test_nested_scopes_merge_and_an_empty_super_kernel_clears_it():
    b = GraphBuilder("g")
    x = b.data(0, F32, (2,))
    b.push_scope({"_super_kernel_scope": "k", "_super_kernel_options": "o", "_op_aicore_num": "1"})
    b.push_scope({"_super_kernel_scope": "", "_super_kernel_options": ""})
    inner = b.op("Abs", x, out=x.spec)
    b.pop_scope()
    outer = b.op("Neg", inner, out=x.spec)
    b.pop_scope()
    last = b.op("Exp", outer, out=x.spec)
    b.net_output([last])
    assert set(inner.op.attrs) == {"_op_aicore_num"}
    assert {k: outer.op.attr(k) for k in outer.op.attrs} == {
        "_super_kernel_scope": "k",
        "_super_kernel_options": "o",
        "_op_aicore_num": "1",
    }
    assert last.op.attrs == {}


def test_unpaired_scopes_are_refused():
    b = GraphBuilder("g")
    with pytest.raises(RuntimeError, match="without a scope_enter"):
        b.pop_scope()
    x = b.data(0, F32, (2,))
    b.push_scope({"_user_stream_label": "1"})
    with pytest.raises(RuntimeError, match="no paired scope_exit"):
        b.net_output([x])


def test_enter_scope_checks_its_attributes():
    with pytest.raises(TypeError, match="expected str names and values"):
        scope_ops.enter_scope({"_op_aicore_num": 1})


def test_wait_tensor_is_an_identity_after_its_dependency_and_survives_cleanup():
    def fn(x, y):
        z = x * 2
        w = scope_ops.wait_tensor(y, z)
        return z, w + 1

    x, y = torch.randn(4), torch.randn(4)
    assert torch.equal(scope_ops.wait_tensor(y, x), y)
    graph = cleanup_graph(_lower(fn, x, y))
    (identity,) = graph.ops_of_type("Identity")
    (mul,) = graph.ops_of_type("Mul")
    assert f"{mul.name}:-1" in identity.inputs
    (add,) = graph.ops_of_type("Add")
    assert f"{identity.name}:0" in add.inputs
    got = HostProgram(graph, "interpret")(x, y)
    torch.testing.assert_close(list(got), [x * 2, y + 1], rtol=0, atol=0)


@pytest.mark.parametrize("backend", [None, "aot_eager"])
def test_wait_tensor_passes_its_gradient_to_self(backend, recwarn):
    """Training through ``npu_wait_tensor``: ``self`` gets the result's gradient, the
    dependency none. Without an autograd formula eager warned and a graph traced by
    AOTAutograd dropped the gradient (x.grad was y, not 3 + y)."""

    def fn(x, y):
        z = x * y
        return (scope_ops.wait_tensor(x, z) * 3 + z).sum()

    torch._dynamo.reset()
    run = fn if backend is None else torch.compile(fn, backend=backend, fullgraph=True)
    x = torch.randn(3, 3, requires_grad=True)
    y = torch.randn(3, 3, requires_grad=True)
    run(x, y).backward()
    torch.testing.assert_close(x.grad, 3 + y.detach(), rtol=0, atol=0)
    torch.testing.assert_close(y.grad, x.detach(), rtol=0, atol=0)
    assert not [w for w in recwarn if "autograd kernel was not registered" in str(w.message)]
