"""GE protobuf serialization: lossless round trips and the exact wire facts GE relies on."""

from __future__ import annotations

import dataclasses
import struct

import pytest
import torch
from google.protobuf import text_format

from airgraph_core import lower_graph
from airgraph_core.capture import capture_aten_graph
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.graph import Attr, AttrKind, GeGraph, GeOp, TensorDesc, TensorValue
from airgraph_core.ir.proto import ge_ir_pb2 as pb
from airgraph_core.ir.serialize import deserialize, from_proto, serialize, to_pbtxt, to_proto


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _rounded(attrs: dict[str, Attr]) -> dict[str, Attr]:
    """``attrs`` as GE stores them: AttrDef.f and list.f are 32-bit floats."""
    out = {}
    for name, a in attrs.items():
        if a.kind is AttrKind.F:
            a = Attr(a.kind, _f32(a.value))
        elif a.kind is AttrKind.LIST_F:
            a = Attr(a.kind, tuple(_f32(v) for v in a.value))
        out[name] = a
    return out


def _as_stored(graph: GeGraph) -> GeGraph:
    def desc(d: TensorDesc) -> TensorDesc:
        return dataclasses.replace(d, attrs=_rounded(d.attrs))

    ops = [
        dataclasses.replace(
            op,
            attrs=_rounded(op.attrs),
            input_descs=[desc(d) for d in op.input_descs],
            output_descs=[desc(d) for d in op.output_descs],
        )
        for op in graph.ops
    ]
    return dataclasses.replace(graph, ops=ops, attrs=_rounded(graph.attrs))


def _graph(
    attrs: dict[str, Attr] | None = None,
    dtype: DataType = DataType.FLOAT,
    shape: tuple[int, ...] | None = (2, 3),
) -> GeGraph:
    """Data -> Op(optional input unfed, control edge) -> NetOutput, with a host scalar input."""
    x = TensorDesc("y", dtype, shape)
    size = TensorDesc("y", DataType.INT64, (), placement="CPU")
    ops = [
        GeOp("Data", "Data", [], [x.renamed("x")], [x], {"index": Attr(AttrKind.I, 0)}),
        GeOp("Data_1", "Data", [], [size.renamed("x")], [size], {"index": Attr(AttrKind.I, 1)}),
        GeOp(
            "Op",
            "SomeOp",
            ["Data:0", "", "Data_1:-1"],
            [x.renamed("x"), TensorDesc("bias", DataType.UNDEFINED, None, layout="")],
            [dataclasses.replace(x, attrs={"_note": Attr(AttrKind.S, "desc attr")})],
            dict(attrs or {}),
        ),
        GeOp("NetOutput", "NetOutput", ["Op:0"], [x.renamed("input0")], []),
    ]
    graph_attrs = {
        "_input_placements": Attr(AttrKind.LIST_I, (1, 0)),
        "_executor_type": Attr(AttrKind.I, 1),
    }
    return GeGraph("g", ops, graph_attrs, inputs=["Data", "Data_1"], outputs=["NetOutput"])


ATTRS = {
    "s": Attr(AttrKind.S, "NCHW"),
    "s_unicode": Attr(AttrKind.S, "héllo ✓"),
    "s_empty": Attr(AttrKind.S, ""),
    "i": Attr(AttrKind.I, -(2**62)),
    "f": Attr(AttrKind.F, 0.1),
    "f_exact": Attr(AttrKind.F, -2.5),
    "b": Attr(AttrKind.B, True),
    "b_false": Attr(AttrKind.B, False),
    "dt_bf16": Attr(AttrKind.DT, DataType.BF16),
    "dt_float": Attr(AttrKind.DT, DataType.FLOAT),
    "t_f16": Attr(
        AttrKind.T, TensorValue.from_torch(torch.tensor([1.5, -2.0], dtype=torch.float16))
    ),
    "t_bool": Attr(AttrKind.T, TensorValue.from_torch(torch.tensor([[True], [False]]))),
    "t_bf16_scalar": Attr(
        AttrKind.T, TensorValue.from_torch(torch.tensor(3.0, dtype=torch.bfloat16))
    ),
    "t_empty": Attr(AttrKind.T, TensorValue.from_torch(torch.zeros(0, 4))),
    "list_s": Attr(AttrKind.LIST_S, ("a", "", "ü")),
    "list_i": Attr(AttrKind.LIST_I, (1, -1, 2**40)),
    "list_i_empty": Attr(AttrKind.LIST_I, ()),
    "list_f": Attr(AttrKind.LIST_F, (0.1, 1.0, -3.25)),
    "list_f_empty": Attr(AttrKind.LIST_F, ()),
    "list_b": Attr(AttrKind.LIST_B, (True, False)),
    "list_dt": Attr(AttrKind.LIST_DT, (DataType.FLOAT16, DataType.BOOL, DataType.BF16)),
    "list_s_empty": Attr(AttrKind.LIST_S, ()),
    "list_list_int": Attr(AttrKind.LIST_LIST_INT, ((1, 2), (), (-1,))),
    "list_list_int_empty": Attr(AttrKind.LIST_LIST_INT, ()),
}


@pytest.mark.parametrize("name", sorted(ATTRS))
def test_every_attr_kind_round_trips(name):
    g = _graph({name: ATTRS[name]})
    back = deserialize(serialize(g))
    assert back == _as_stored(g)
    assert back.op("Op").attrs[name].kind is ATTRS[name].kind


def test_all_attrs_together_round_trip_through_the_message_too():
    g = _graph(ATTRS)
    assert from_proto(to_proto(g)) == _as_stored(g)
    assert deserialize(serialize(g)) == _as_stored(g)


def test_float_attrs_come_back_as_float32():
    back = deserialize(serialize(_graph({"f": Attr(AttrKind.F, 0.1)})))
    assert back.op("Op").attr("f") == _f32(0.1) != 0.1


@pytest.mark.parametrize("dtype", list(DataType), ids=lambda d: d.name)
def test_every_dtype_round_trips_in_descs_and_dt_attrs(dtype):
    g = _graph({"dt": Attr(AttrKind.DT, dtype), "ldt": Attr(AttrKind.LIST_DT, (dtype,))}, dtype)
    assert deserialize(serialize(g)) == g


@pytest.mark.parametrize(
    "shape",
    [(), (2, 3), (-1, 8), (1, -1, -1), None],
    ids=["scalar", "static", "dyn", "dyn2", "unknown_rank"],
)
def test_shapes_round_trip(shape):
    g = _graph(shape=shape)
    back = deserialize(serialize(g))
    assert back == g
    assert back.op("Data").output_descs[0].shape == shape


def test_unknown_rank_is_dim_minus_two_and_host_placement_is_cpu():
    model = to_proto(_graph(shape=None))
    data, size = model.graph[0].op[0], model.graph[0].op[1]
    assert list(data.output_desc[0].shape.dim) == [-2]
    assert data.output_desc[0].device_type == "NPU"
    assert size.output_desc[0].device_type == "CPU"
    assert list(size.output_desc[0].shape.dim) == []
    assert size.output_desc[0].HasField("shape")


def test_edges_keep_control_and_empty_optional_inputs():
    op_def = to_proto(_graph()).graph[0].op[2]
    assert list(op_def.input) == ["Data:0", "", "Data_1:-1"]
    assert [d.name for d in op_def.input_desc] == ["x", "bias"]


def test_serialize_is_deterministic_whatever_the_attr_order():
    a = _graph({"x": Attr(AttrKind.I, 1), "y": Attr(AttrKind.S, "z")})
    b = _graph({"y": Attr(AttrKind.S, "z"), "x": Attr(AttrKind.I, 1)})
    assert serialize(a) == serialize(b)


# --- wire facts, read with a schema-free decoder so a wrong field number in
# --- ge_ir.proto cannot hide behind the generated classes.


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise AssertionError(f"unexpected wire type {wire_type}")
        out.append((number, value))
    return out


def _field(data: bytes, number: int) -> list:
    return [v for n, v in _fields(data) if n == number]


def _attr_map(op_bytes: bytes) -> dict[str, bytes]:
    entries = [_fields(e) for e in _field(op_bytes, 10)]  # OpDef.attr (map entries)
    return {dict(e)[1].decode(): dict(e)[2] for e in entries}


def test_wire_layout_matches_ge_ir_proto():
    half = TensorDesc("y", DataType.FLOAT16, (2, -1))
    cast = GeOp(
        "Cast",
        "Cast",
        ["Data:0"],
        [half.renamed("x")],
        [half],
        {
            "dst_type": Attr(AttrKind.I, DataType.FLOAT16.ge_code),
            "dt": Attr(AttrKind.DT, DataType.BF16),
        },
    )
    data = serialize(GeGraph("tiny", [GeOp("Data", "Data", [], [], [half]), cast]))

    assert _field(data, 1) == [b"tiny"]  # ModelDef.name
    (graph,) = _field(data, 7)  # ModelDef.graph
    assert _field(graph, 1) == [b"tiny"]
    data_op, cast_op = _field(graph, 6)  # GraphDef.op
    assert _field(cast_op, 1) == [b"Cast"] and _field(cast_op, 2) == [b"Cast"]  # name, type
    assert _field(cast_op, 5) == [b"Data:0"]  # OpDef.input
    (out_desc,) = _field(cast_op, 34)  # OpDef.output_desc
    (in_desc,) = _field(cast_op, 33)  # OpDef.input_desc
    assert _field(in_desc, 1) == [b"x"]
    assert _field(out_desc, 2) == [2]  # TensorDescriptor.dtype: proto DT_FLOAT16
    assert _field(out_desc, 4) == [b"ND"]  # layout
    assert _field(out_desc, 14) == [b"NPU"]  # device_type
    (shape,) = _field(out_desc, 3)
    (dims,) = _field(shape, 1)  # packed repeated int64
    assert dims == bytes([2]) + b"\xff" * 9 + b"\x01"  # 2, -1 as int64 varints

    attrs = _attr_map(cast_op)
    assert _field(attrs["dst_type"], 3) == [1]  # AttrDef.i, ge:: numbering of float16
    assert _field(attrs["dt"], 15) == [27]  # AttrDef.dt, ge:: numbering of bf16
    assert _fields(data_op)[1] == (2, b"Data")


def test_list_attrs_set_val_type_and_list_list_int_uses_field_14():
    g = GeGraph(
        "g",
        [
            GeOp(
                "A",
                "A",
                attrs={
                    "li": Attr(AttrKind.LIST_I, ()),
                    "ldt": Attr(AttrKind.LIST_DT, (DataType.FLOAT16,)),
                    "ls": Attr(AttrKind.LIST_S, ("x",)),
                    "lli": Attr(AttrKind.LIST_LIST_INT, ((3, 4),)),
                },
            )
        ],
    )
    (graph,) = _field(serialize(g), 7)
    attrs = _attr_map(_field(graph, 6)[0])
    (li,) = _field(attrs["li"], 1)  # AttrDef.list
    assert _field(li, 20) == [pb.AttrDef.ListValue.VT_LIST_INT] == [2]
    (ldt,) = _field(attrs["ldt"], 1)
    assert _field(ldt, 20) == [10] and _field(ldt, 12) == [bytes([1])]  # packed ge:: float16
    (ls,) = _field(attrs["ls"], 1)
    assert _field(ls, 20) == [1] and _field(ls, 2) == [b"x"]
    (lli,) = _field(attrs["lli"], 14)
    (row,) = _field(lli, 1)
    assert _field(row, 1) == [bytes([3, 4])]


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_lowered_graph_round_trips(dynamic):
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    gm, ins = capture_aten_graph(lambda x, y: x + y, [x, y], dynamic=dynamic)
    g = lower_graph(gm, ins, name="add")
    back = deserialize(serialize(g))
    assert back == _as_stored(g)
    assert back.name == "add" and "Add" in back.op_types()
    assert to_proto(g).name == "add" and to_proto(g).graph[0].name == "add"


def test_pbtxt_is_text_format_of_the_model():
    g = _graph(ATTRS)
    text = to_pbtxt(g)
    assert 'type: "SomeOp"' in text and "dtype: DT_FLOAT" in text
    assert "val_type: VT_LIST_DATA_TYPE" in text
    assert text_format.Parse(text, pb.ModelDef()) == to_proto(g)


@pytest.mark.parametrize("data", [b"not a graph", b"\x00\x01\x02", b"\x3a\x05ab"], ids=repr)
def test_deserialize_garbage_names_the_data_argument(data):
    with pytest.raises(ValueError, match=r"^data: "):
        deserialize(data)


def test_deserialize_rejects_models_without_a_graph_and_non_bytes():
    with pytest.raises(ValueError, match=r"^data: .*exactly one graph, found 0"):
        deserialize(b"")
    with pytest.raises(TypeError, match=r"^data: expected bytes, got str"):
        deserialize("not bytes")  # type: ignore[arg-type]


def test_from_proto_rejects_what_the_ir_cannot_hold():
    model = to_proto(_graph())
    model.graph[0].op[0].output_desc[0].dtype = pb.DT_HIFLOAT8
    with pytest.raises(ValueError, match="DT_HIFLOAT8"):
        from_proto(model)
    model = to_proto(_graph())
    model.graph[0].op[2].attr["fn"].func.name = "f"
    with pytest.raises(ValueError, match="'func'"):
        from_proto(model)
    model = to_proto(_graph())
    model.graph.add(name="sub")
    with pytest.raises(ValueError, match="subgraphs"):
        from_proto(model)


def test_list_without_val_type_is_read_by_its_filled_field():
    model = to_proto(_graph())
    model.graph[0].op[2].attr["axes"].list.i.extend([0, 2])  # val_type left unset
    assert from_proto(model).op("Op").attr("axes") == (0, 2)


def test_to_proto_names_the_op_and_attr_of_a_value_that_does_not_fit():
    g = _graph({"big": Attr(AttrKind.I, 2**64)})
    with pytest.raises(ValueError, match=r"^graph: op 'Op', attribute 'big'"):
        serialize(g)
