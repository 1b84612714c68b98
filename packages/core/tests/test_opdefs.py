"""Validation of GE graphs against the op prototypes."""

from __future__ import annotations

import pytest

from airgraph_core.ir import (
    Attr,
    AttrKind,
    DataType,
    GraphBuilder,
    known_op_types,
    prototype,
    validate_graph,
)


def _graph():
    b = GraphBuilder("g")
    x = b.data(0, DataType.FLOAT, (2, 3))
    y = b.op("SoftmaxV2", x, out=x.spec, axes=[-1])
    b.net_output([y])
    return b.graph


def test_prototypes_are_shipped():
    types = known_op_types()
    assert len(types) > 1700
    assert {"Add", "MatMul", "SoftmaxV2", "Data", "Const", "NetOutput", "Cast"} <= types
    p = prototype("LayerNormV4")
    assert [i.name for i in p.inputs] == ["x", "normalized_shape", "gamma", "beta"]
    assert p.attrs["epsilon"].kind is AttrKind.F


def test_valid_graph_has_no_problems():
    assert validate_graph(_graph()) == []


def _problems_after(mutate):
    g = _graph()
    mutate(g)
    return validate_graph(g)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda g: setattr(g.op("SoftmaxV2"), "type", "Softmaxx"), "unknown GE op type"),
        (lambda g: g.op("SoftmaxV2").attrs.update(bogus=Attr.infer(1)), "'bogus' is not in"),
        (
            lambda g: g.op("SoftmaxV2").attrs.update(axes=Attr.infer(1)),
            "has kind i, expected list_i",
        ),
        (lambda g: g.op("Data").attrs.pop("index"), "required attribute 'index'"),
        (lambda g: g.op("Data").attrs.update(index=Attr.infer(3)), "Data indices"),
        (lambda g: g.op("SoftmaxV2").inputs.append("Data:0"), "do not fit the prototype"),
        (lambda g: setattr(g.op("SoftmaxV2").input_descs[0], "shape", (9,)), "!= producer"),
        (lambda g: setattr(g.op("SoftmaxV2").input_descs[0], "name", "z"), "expected 'x'"),
        (lambda g: setattr(g.op("SoftmaxV2"), "inputs", ["Nope:0"]), "missing output"),
        (lambda g: g.ops.pop(), "exactly one NetOutput"),
    ],
)
def test_problems_are_reported(mutate, expected):
    problems = _problems_after(mutate)
    assert any(expected in p for p in problems), problems


def test_dtype_not_allowed_by_prototype():
    b = GraphBuilder("g")
    x = b.data(0, DataType.INT64, (2, 2))
    y = b.op("MatMul", x, x, out=x.spec)
    b.net_output([y])
    problems = validate_graph(b.graph)
    assert any("dtype INT64 not allowed" in p for p in problems), problems


def test_float32_spelled_dt_float32_is_float():
    # MaxPoolWithArgmaxV1's prototype lists DT_FLOAT32, GE's other name for DT_FLOAT.
    assert "DT_FLOAT" in prototype("MaxPoolWithArgmaxV1").inputs[0].dtypes


def test_private_attributes_are_allowed():
    g = _graph()
    g.op("SoftmaxV2").attrs["_note"] = Attr(AttrKind.S, "x")
    assert validate_graph(g) == []


def test_unfed_required_input():
    b = GraphBuilder("g")
    x = b.data(0, DataType.FLOAT, (2,))
    y = b.op("Add", x, x, out=x.spec)
    y.op.inputs[1] = ""
    b.net_output([y])
    assert any("required input 'x2'" in p for p in validate_graph(b.graph))
