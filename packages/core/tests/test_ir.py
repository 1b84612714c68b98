"""GE IR: data types, attributes, tensor values, builder, topological order, dump."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.ir import (
    Attr,
    AttrKind,
    DataType,
    GeOp,
    GraphBuilder,
    TensorValue,
    dump_text,
    from_ge_code,
    from_torch,
    to_torch,
    topological_order,
)


@pytest.mark.parametrize(
    ("torch_dtype", "proto", "ge_code"),
    [
        (torch.float32, 1, 0),
        (torch.float16, 2, 1),
        (torch.int32, 7, 3),
        (torch.int64, 8, 9),
        (torch.bool, 11, 12),
        (torch.bfloat16, 27, 27),
        (torch.int8, 3, 2),
        (torch.uint8, 4, 4),
    ],
)
def test_dtype_numberings(torch_dtype, proto, ge_code):
    dt = from_torch(torch_dtype)
    assert dt.proto == proto
    assert dt.ge_code == ge_code
    assert from_ge_code(ge_code) is dt
    assert to_torch(dt) is torch_dtype


def test_dtype_errors_name_the_argument():
    with pytest.raises(TypeError, match="dtype"):
        from_torch(torch.complex32)  # GE has DT_COMPLEX32; airgraph does not map it
    with pytest.raises(ValueError, match="code: 99"):
        from_ge_code(99)
    with pytest.raises(TypeError, match="STRING"):
        to_torch(DataType.STRING)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, AttrKind.B),
        (3, AttrKind.I),
        (1.5, AttrKind.F),
        ("ND", AttrKind.S),
        (DataType.FLOAT16, AttrKind.DT),
        ([1, 2], AttrKind.LIST_I),
        ([1.0, 2.0], AttrKind.LIST_F),
        ([True], AttrKind.LIST_B),
        (["a"], AttrKind.LIST_S),
        ([DataType.INT32], AttrKind.LIST_DT),
        ([[1, 2], [3]], AttrKind.LIST_LIST_INT),
    ],
)
def test_attr_infer(value, kind):
    assert Attr.infer(value).kind is kind


@pytest.mark.parametrize("value", [[], [1, "a"], object()])
def test_attr_infer_rejects(value):
    with pytest.raises(TypeError, match="value"):
        Attr.infer(value)


@pytest.mark.parametrize(
    "tensor",
    [
        torch.arange(6, dtype=torch.float32).reshape(2, 3),
        torch.tensor(3.5, dtype=torch.float16),
        torch.tensor([True, False, True]),
        torch.arange(4, dtype=torch.int64),
        torch.randn(2, 2).to(torch.bfloat16),
        torch.empty(0, 3),
    ],
)
def test_tensor_value_round_trip(tensor):
    tv = TensorValue.from_torch(tensor)
    assert tv.desc.dtype is from_torch(tensor.dtype)
    assert tv.desc.shape == tuple(tensor.shape)
    back = tv.to_torch()
    assert back.dtype == tensor.dtype
    assert torch.equal(back, tensor)


def test_builder_names_descs_and_copies_producer_desc():
    b = GraphBuilder("g")
    x = b.data(0, DataType.FLOAT, (2, -1))
    y = b.data(1, DataType.FLOAT, (2, -1))
    s = b.op("Add", x, y, out=x.spec)
    s2 = b.op("Add", s, y, out=x.spec)
    b.net_output([s2])
    names = [op.name for op in b.graph.ops]
    assert names == ["Data", "Data_1", "Add", "Add_1", "NetOutput"]
    add = b.graph.op("Add")
    assert [d.name for d in add.input_descs] == ["x1", "x2"]
    assert add.input_descs[0].shape == (2, -1)
    assert add.output_descs[0].name == "y"
    assert add.inputs == ["Data:0", "Data_1:0"]
    assert [d.name for d in b.graph.net_output.input_descs] == ["input0"]


def test_builder_pads_optional_inputs_and_expands_dynamic_inputs():
    b = GraphBuilder("g")
    x = b.data(0, DataType.FLOAT, (2, 3))
    dim = b.const(0, DataType.INT32)
    cat = b.op("ConcatV2", [x, x, x], dim, out=(DataType.FLOAT, (6, 3)), N=3)
    assert [d.name for d in cat.op.input_descs] == ["x0", "x1", "x2", "concat_dim"]
    mm = b.op("MatMul", x, x, out=(DataType.FLOAT, (2, 2)), transpose_x2=True)
    assert mm.op.inputs[-1] == ""
    assert mm.op.input_descs[-1].dtype is DataType.UNDEFINED


def test_builder_errors():
    b = GraphBuilder("g")
    x = b.data(0, DataType.FLOAT, (2,))
    with pytest.raises(ValueError, match="not a GE op type"):
        b.op("NoSuchOp", x, out=x.spec)
    with pytest.raises(ValueError, match="required"):
        b.add_op("Add", [x, None], outputs=[x.spec])
    with pytest.raises(ValueError, match="outputs"):
        b.add_op("Add", [x, x], outputs=[x.spec, x.spec])
    with pytest.raises(ValueError, match="inputs"):
        b.add_op("Relu", [x, x], outputs=[x.spec])


def test_topological_order_and_cycle():
    a = GeOp("a", "Data")
    b = GeOp("b", "Relu", inputs=["a:0"])
    c = GeOp("c", "Add", inputs=["b:0", "a:0"])
    assert [op.name for op in topological_order([c, b, a])] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        topological_order([GeOp("p", "Relu", inputs=["q:0"]), GeOp("q", "Relu", inputs=["p:0"])])
    with pytest.raises(ValueError, match="no op 'z'"):
        topological_order([GeOp("p", "Relu", inputs=["z:0"])])


def test_dump_text():
    b = GraphBuilder("demo")
    x = b.data(0, DataType.FLOAT16, (-1, 4))
    n = b.data(1, DataType.INT64, (), placement="CPU")
    y = b.op("Cast", x, out=(DataType.FLOAT, (-1, 4)), dst_type=DataType.FLOAT.ge_code)
    b.net_output([y, n])
    text = dump_text(b.graph)
    assert text.splitlines()[0] == "graph demo"
    assert "%Data = Data() {index=0} -> FLOAT16[-1,4]" in text
    assert "INT64[]@host" in text
    assert "%Cast = Cast(%Data:0) {dst_type=0} -> FLOAT[-1,4]" in text
    assert "%NetOutput = NetOutput(%Cast:0, %Data_1:0)" in text


def test_is_static_ignores_unfed_optional_inputs():
    b = GraphBuilder("g")
    x = b.data(0, DataType.FLOAT, (2, 2))
    b.net_output([b.op("MatMul", x, x, out=x.spec)])
    assert b.graph.is_static()
    b2 = GraphBuilder("g")
    y = b2.data(0, DataType.FLOAT, (-1, 2))
    b2.net_output([b2.op("MatMul", y, y, out=y.spec)])
    assert not b2.graph.is_static()


@pytest.mark.slow
def test_tensor_values_do_not_need_numpy():
    # numpy is not a dependency of airgraph: a machine without it must still lower graphs.
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import torch\n"
        "from airgraph_core.ir import TensorValue\n"
        "t = torch.arange(6.0).reshape(2, 3)\n"
        "assert torch.equal(TensorValue.from_torch(t).to_torch(), t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
