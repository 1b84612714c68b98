"""FX → GE lowering: inputs, outputs, dynamic dims, frozen inputs, unsupported ops."""

from __future__ import annotations

import pytest
import torch

from airgraph_core import UnsupportedOpError, find_unsupported, lower_graph
from airgraph_core.capture import capture_aten_graph
from airgraph_core.ir import AttrKind, DataType
from airgraph_core.testing import assert_valid_ge_graph, run_lowered


class AddParam(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        return x + self.bias


def test_inputs_become_indexed_data_ops_with_static_shapes():
    gm, ins = capture_aten_graph(lambda x, y: x + y, [torch.randn(2, 3), torch.randn(2, 3)])
    g = lower_graph(gm, ins, name="add")
    assert_valid_ge_graph(g)
    datas = g.data_ops
    assert [op.attr("index") for op in datas] == [0, 1]
    assert all(op.output_descs[0].shape == (2, 3) for op in datas)
    assert all(op.input_descs[0].name == "x" for op in datas)
    assert g.is_static()
    assert g.attrs["_input_placements"].value == (1, 1)
    assert g.attrs["_output_dtypes"].value == (DataType.FLOAT.ge_code,)
    assert g.attrs["_executor_type"].value == 1
    assert [op.type for op in g.ops] == ["Data", "Data", "Add", "NetOutput"]


def _size_placeholders(gm):
    return [
        n
        for n in gm.graph.nodes
        if n.op == "placeholder" and isinstance(n.meta.get("val"), torch.SymInt)
    ]


def test_dynamic_dims_are_minus_one_and_unread_sizes_get_no_data():
    # Dynamo passes a size placeholder per symbol; none is read here, so the
    # GE graph takes the two tensors only (as TorchAir's does), indexed densely.
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    gm, ins = capture_aten_graph(lambda x, y: x + y, [x, y], dynamic=True)
    assert _size_placeholders(gm)
    g = lower_graph(gm, ins)
    assert_valid_ge_graph(g)
    assert [op.attr("index") for op in g.data_ops] == [0, 1]
    assert all(op.output_descs[0].placement == "NPU" for op in g.data_ops)
    assert all(-1 in op.output_descs[0].shape for op in g.data_ops)
    assert g.attrs["_input_placements"].value == (1, 1)
    sources = g.attrs["_airgraph_input_sources"].value
    assert all(isinstance(ins[p], torch.Tensor) for p in sources)
    assert not g.is_static()
    (out,) = run_lowered(g, ins)
    torch.testing.assert_close(out, x + y)


@pytest.mark.parametrize("shape", [(4, 6), (3, 5)])
def test_sizes_a_tensor_carries_are_read_in_the_graph(shape):
    # x.shape[0] is a size placeholder in the ATen graph; TorchAir's
    # _optimize_sym_input reads it as Gather(Shape(x), 0) instead of feeding
    # it from the host, and so does airgraph.
    def fn(x):
        return x.view(x.shape[0], -1) * 2, x.new_zeros(x.shape[1], x.shape[0])

    x = torch.randn(shape)
    gm, ins = capture_aten_graph(fn, [x], dynamic=True)
    assert _size_placeholders(gm)
    g = lower_graph(gm, ins)
    assert_valid_ge_graph(g)
    assert len(g.data_ops) == 1 and g.data_ops[0].output_descs[0].placement == "NPU"
    assert g.attrs["_input_placements"].value == (1,)
    gathers = g.ops_of_type("Gather")
    assert len(gathers) == 2, "one read per size, reused by every use"
    for op in gathers:
        shape_op, index = (g.op(e.rpartition(":")[0]) for e in op.data_inputs)
        assert shape_op.type == "Shape" and shape_op.attr("dtype") == DataType.INT64.ge_code
        assert index.type == "Const" and index.attr("value").to_torch().dim() == 0
        assert index.attr("value").desc.dtype is DataType.INT64
    for run_shape in (shape, (7, 2)):
        x = torch.randn(run_shape)
        got = run_lowered(g, [x if isinstance(v, torch.Tensor) else None for v in ins])
        for a, e in zip(got, fn(x)):
            torch.testing.assert_close(a, e)


def test_a_size_no_tensor_carries_stays_a_host_scalar():
    # An int argument marked dynamic is a size no tensor input has: it stays
    # a host scalar Data (placement CPU, INT64, rank 0).
    def fn(x, n):
        return x.new_zeros(n) + x.sum()

    x = torch.randn(3)
    gm, ins = capture_aten_graph(fn, [x, 5], dynamic=True)
    assert _size_placeholders(gm)
    g = lower_graph(gm, ins)
    assert_valid_ge_graph(g)
    scalars = [op for op in g.data_ops if op.output_descs[0].placement == "CPU"]
    assert len(scalars) == 1
    assert scalars[0].output_descs[0].dtype is DataType.INT64
    assert scalars[0].output_descs[0].shape == ()
    placements = g.attrs["_input_placements"].value
    assert placements == tuple(0 if op in scalars else 1 for op in g.data_ops)
    assert not g.ops_of_type("Gather")
    (out,) = run_lowered(g, ins)
    torch.testing.assert_close(out, fn(x, 5))


def test_parameters_are_inputs_or_consts_when_frozen():
    m = AddParam()
    x = torch.randn(2, 3)
    gm, ins = capture_aten_graph(m, [x])
    g = lower_graph(gm, ins)
    assert len(g.data_ops) == 2
    frozen = lower_graph(gm, ins, frozen_inputs=[0])
    assert_valid_ge_graph(frozen)
    assert len(frozen.data_ops) == 1
    (const,) = frozen.ops_of_type("Const")
    torch.testing.assert_close(const.attr("value").to_torch(), m.bias.detach())
    assert frozen.attrs["_airgraph_input_sources"].value == (1,)
    (out,) = run_lowered(frozen, ins)
    torch.testing.assert_close(out, m(x).detach())


def test_frozen_inputs_out_of_range():
    gm, ins = capture_aten_graph(lambda x: x + 1, [torch.randn(2)])
    with pytest.raises(ValueError, match="frozen_inputs"):
        lower_graph(gm, ins, frozen_inputs=[5])


def test_example_inputs_count_must_match():
    gm, ins = capture_aten_graph(lambda x: x + 1, [torch.randn(2)])
    with pytest.raises(ValueError, match="example_inputs: 0 values for 1 placeholders"):
        lower_graph(gm, [])


def _no_converter_graph():
    def fn(x):
        y = torch.special.bessel_j0(x)
        return torch.special.bessel_j1(y) + 1

    return capture_aten_graph(fn, [torch.randn(3)])


def test_unsupported_ops_are_all_listed_with_source_lines():
    gm, ins = _no_converter_graph()
    found = find_unsupported(gm)
    names = [op.target for op in found]
    assert names == ["aten.special_bessel_j0.default", "aten.special_bessel_j1.default"]
    assert all("test_lowering.py" in op.source for op in found)
    assert "bessel_j0" in found[0].source
    with pytest.raises(UnsupportedOpError) as info:
        lower_graph(gm, ins)
    message = str(info.value)
    assert "2 unsupported op(s)" in message
    assert "aten.special_bessel_j0.default: no converter registered" in message
    assert "test_lowering.py:" in message


def test_unsupported_dtype_is_reported_before_emitting():
    gm, ins = capture_aten_graph(lambda x: x / x, [torch.randn(3, dtype=torch.complex128)])
    with pytest.raises(
        UnsupportedOpError, match="aten.div.Tensor: input 0 has dtype torch.complex128"
    ):
        lower_graph(gm, ins)


def test_output_kinds_record_non_tensor_outputs():
    gm, ins = capture_aten_graph(lambda x: (x + 1, x.shape[0]), [torch.randn(5)], dynamic=True)
    g = lower_graph(gm, ins)
    kinds = g.attrs["_airgraph_output_kinds"]
    assert kinds.kind is AttrKind.LIST_S
    assert "t" in kinds.value
    out = run_lowered(g, ins)
    assert torch.is_tensor(out[0])
