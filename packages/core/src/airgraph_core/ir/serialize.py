"""GE protobuf serialization of :class:`GeGraph`: the bytes GE loads, and back.

The wire format is GE's ``ge_ir.proto`` (package ``ge.proto``): a ``ModelDef``
whose ``graph[0]`` is the graph. Every field of the airgraph IR maps to one
protobuf field:

================================  =============================================
airgraph IR                       ``ge_ir.proto``
================================  =============================================
``GeGraph`` name/inputs/outputs   ``GraphDef.name/input/output`` (and ``ModelDef.name``)
``GeGraph.ops`` / ``attrs``       ``GraphDef.op`` / ``GraphDef.attr``
``GeOp`` name/type/inputs         ``OpDef.name/type/input``
``GeOp`` descs / attrs            ``OpDef.input_desc/output_desc`` / ``OpDef.attr``
``TensorDesc.dtype``              ``TensorDescriptor.dtype`` (proto numbering)
``TensorDesc.shape``              ``ShapeDef.dim``; ``None`` (unknown rank) ⇔ ``[-2]``
``TensorDesc.placement``          ``TensorDescriptor.device_type`` (``"NPU"``/``"CPU"``)
``TensorValue``                   ``TensorDef`` (desc + raw bytes)
``Attr`` S/I/F/B                  ``AttrDef.s`` (UTF-8 bytes) / ``i`` / ``f`` / ``b``
``Attr`` DT / LIST_DT             ``AttrDef.dt`` / ``list.dt`` (**ge:: numbering**)
``Attr`` T                        ``AttrDef.t``
``Attr`` LIST_S/I/F/B             ``AttrDef.list`` with ``val_type`` set
``Attr`` LIST_LIST_INT            ``AttrDef.list_list_int``
================================  =============================================

Two things do not survive a round trip exactly, both because GE stores them
that way: ``AttrDef.f`` and ``list.f`` are 32-bit floats, so float attributes
come back rounded to float32; and a shape of ``(-2,)`` comes back as ``None``.

Examples:
    >>> from airgraph_core.ir.graph import GeGraph
    >>> deserialize(serialize(GeGraph("g"))) == GeGraph("g")
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import message as _message
from google.protobuf import text_format

from airgraph_core.ir.dtypes import DataType, from_ge_code
from airgraph_core.ir.graph import Attr, AttrKind, GeGraph, GeOp, TensorDesc, TensorValue
from airgraph_core.ir.proto import ge_ir_pb2 as pb

__all__ = ["to_proto", "from_proto", "serialize", "deserialize", "to_pbtxt"]

_UNKNOWN_RANK_DIMS = [-2]

_ListType = pb.AttrDef.ListValue.ListValueType

# list attribute kind -> (ListValue field, val_type, IR value -> proto value, back)
_LIST_FIELDS: dict[AttrKind, tuple[str, int, Callable[[Any], Any], Callable[[Any], Any]]] = {
    AttrKind.LIST_S: ("s", _ListType.VT_LIST_STRING, str.encode, bytes.decode),
    AttrKind.LIST_I: ("i", _ListType.VT_LIST_INT, int, int),
    AttrKind.LIST_F: ("f", _ListType.VT_LIST_FLOAT, float, float),
    AttrKind.LIST_B: ("b", _ListType.VT_LIST_BOOL, bool, bool),
    AttrKind.LIST_DT: ("dt", _ListType.VT_LIST_DATA_TYPE, lambda d: d.ge_code, from_ge_code),
}
_LIST_KIND_BY_VAL_TYPE = {val_type: kind for kind, (_, val_type, _, _) in _LIST_FIELDS.items()}


def to_proto(graph: GeGraph) -> pb.ModelDef:
    """Build GE's ``ModelDef`` message for ``graph`` (its only graph, ``graph[0]``).

    Raises:
        TypeError: ``graph`` is not a :class:`GeGraph`.
        ValueError: an attribute value does not fit its protobuf field (e.g. an
            integer outside int64); the message names the op and attribute.
    """
    if not isinstance(graph, GeGraph):
        raise TypeError(f"graph: expected a GeGraph, got {type(graph).__name__}")
    model = pb.ModelDef(name=graph.name)
    graph_def = model.graph.add(name=graph.name)
    graph_def.input.extend(graph.inputs)
    graph_def.output.extend(graph.outputs)
    _attrs_to_proto(graph.attrs, graph_def.attr, f"graph {graph.name!r}")
    for op in graph.ops:
        op_def = graph_def.op.add(name=op.name, type=op.type)
        op_def.input.extend(op.inputs)
        where = f"op {op.name!r}"
        _attrs_to_proto(op.attrs, op_def.attr, where)
        for desc in op.input_descs:
            _desc_to_proto(desc, op_def.input_desc.add(), where)
        for desc in op.output_descs:
            _desc_to_proto(desc, op_def.output_desc.add(), where)
    return model


def from_proto(model: pb.ModelDef) -> GeGraph:
    """Rebuild the :class:`GeGraph` held in a GE ``ModelDef``.

    Raises:
        TypeError: ``model`` is not a ``ModelDef`` message.
        ValueError: the model has no graph or several (subgraphs are not
            supported), or uses a data type or attribute kind the airgraph IR
            cannot hold (e.g. ``DT_HIFLOAT8``, a ``func`` attribute).
    """
    if not isinstance(model, pb.ModelDef):
        raise TypeError(f"model: expected a ge.proto.ModelDef, got {type(model).__name__}")
    if len(model.graph) != 1:
        raise ValueError(
            f"model: expected exactly one graph, found {len(model.graph)}"
            + (" (subgraphs are not supported)" if model.graph else "")
        )
    graph_def = model.graph[0]
    graph = GeGraph(
        name=graph_def.name,
        attrs=_attrs_from_proto(graph_def.attr, f"graph {graph_def.name!r}"),
        inputs=list(graph_def.input),
        outputs=list(graph_def.output),
    )
    for op_def in graph_def.op:
        where = f"op {op_def.name!r}"
        graph.ops.append(
            GeOp(
                name=op_def.name,
                type=op_def.type,
                inputs=list(op_def.input),
                input_descs=[_desc_from_proto(d, where) for d in op_def.input_desc],
                output_descs=[_desc_from_proto(d, where) for d in op_def.output_desc],
                attrs=_attrs_from_proto(op_def.attr, where),
            )
        )
    return graph


def serialize(graph: GeGraph) -> bytes:
    """The serialized ``ModelDef`` of ``graph``, as GE's graph loaders expect.

    Map entries are written in key order, so equal graphs give equal bytes
    (usable in cache keys).

    Raises:
        TypeError, ValueError: as :func:`to_proto`.
    """
    return to_proto(graph).SerializeToString(deterministic=True)


def deserialize(data: bytes) -> GeGraph:
    """Parse bytes written by :func:`serialize` (or by GE) back into a :class:`GeGraph`.

    Raises:
        TypeError: ``data`` is not bytes-like.
        ValueError: ``data`` is not a serialized GE ``ModelDef`` holding one
            graph the airgraph IR can represent.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    model = pb.ModelDef()
    try:
        model.ParseFromString(bytes(data))
    except _message.DecodeError as error:
        raise ValueError(
            f"data: {len(data)} bytes are not a serialized GE ModelDef ({error})"
        ) from None
    try:
        return from_proto(model)
    except ValueError as error:
        raise ValueError(f"data: not a GE model airgraph can read: {error}") from None


def to_pbtxt(graph: GeGraph) -> str:
    """``graph``'s ``ModelDef`` in protobuf text format, for graph dumps.

    Raises:
        TypeError, ValueError: as :func:`to_proto`.
    """
    return text_format.MessageToString(to_proto(graph))


def _desc_to_proto(desc: TensorDesc, out: pb.TensorDescriptor, where: str) -> None:
    out.name = desc.name
    out.dtype = desc.dtype.proto
    # Always present, so that a scalar (no dims) differs from "no shape".
    out.shape.SetInParent()
    out.shape.dim.extend(_UNKNOWN_RANK_DIMS if desc.shape is None else desc.shape)
    out.layout = desc.layout
    out.device_type = desc.placement
    _attrs_to_proto(desc.attrs, out.attr, f"{where}, tensor {desc.name!r}")


def _desc_from_proto(desc: pb.TensorDescriptor, where: str) -> TensorDesc:
    dims = tuple(desc.shape.dim)
    try:
        dtype = DataType(desc.dtype)
    except ValueError:
        name = pb.DataType.Name(desc.dtype) if desc.dtype in pb.DataType.values() else "?"
        raise ValueError(
            f"{where}, tensor {desc.name!r}: data type {name} ({desc.dtype}) "
            "has no airgraph DataType"
        ) from None
    return TensorDesc(
        name=desc.name,
        dtype=dtype,
        shape=None if list(dims) == _UNKNOWN_RANK_DIMS else dims,
        layout=desc.layout,
        # GE leaves device_type empty for device tensors in graphs it writes.
        placement=desc.device_type or "NPU",
        attrs=_attrs_from_proto(desc.attr, f"{where}, tensor {desc.name!r}"),
    )


def _attrs_to_proto(attrs: dict[str, Attr], out: Any, where: str) -> None:
    for name, attr in attrs.items():
        try:
            _attr_to_proto(attr, out[name])
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(
                f"graph: {where}, attribute {name!r} ({attr.kind.value}={attr.value!r}) "
                f"does not fit GE's AttrDef: {error}"
            ) from None


def _attr_to_proto(attr: Attr, out: pb.AttrDef) -> None:
    kind, value = attr.kind, attr.value
    if kind is AttrKind.S:
        out.s = value.encode()
    elif kind is AttrKind.I:
        out.i = value
    elif kind is AttrKind.F:
        out.f = value
    elif kind is AttrKind.B:
        out.b = value
    elif kind is AttrKind.DT:
        out.dt = value.ge_code
    elif kind is AttrKind.T:
        _desc_to_proto(value.desc, out.t.desc, "tensor value")
        out.t.data = value.data
    elif kind is AttrKind.LIST_LIST_INT:
        lists = out.list_list_int
        lists.SetInParent()  # an empty list of lists still selects the oneof field
        for row in value:
            lists.list_list_i.add().list_i.extend(row)
    else:
        field, val_type, encode, _ = _LIST_FIELDS[kind]
        out.list.val_type = val_type  # set even when empty: it carries the kind
        getattr(out.list, field).extend(encode(v) for v in value)


def _attrs_from_proto(attrs: Any, where: str) -> dict[str, Attr]:
    # Sorted, so the dict order does not depend on the wire order of map entries.
    return {
        name: _attr_from_proto(attrs[name], f"{where}, attribute {name!r}")
        for name in sorted(attrs)
    }


def _attr_from_proto(attr: pb.AttrDef, where: str) -> Attr:
    field = attr.WhichOneof("value")
    if field == "s":
        return Attr(AttrKind.S, attr.s.decode())
    if field == "i":
        return Attr(AttrKind.I, attr.i)
    if field == "f":
        return Attr(AttrKind.F, attr.f)
    if field == "b":
        return Attr(AttrKind.B, attr.b)
    if field == "dt":
        return Attr(AttrKind.DT, _from_ge_code(attr.dt, where))
    if field == "t":
        desc = _desc_from_proto(attr.t.desc, where)
        return Attr(AttrKind.T, TensorValue(desc, bytes(attr.t.data)))
    if field == "list_list_int":
        rows = tuple(tuple(row.list_i) for row in attr.list_list_int.list_list_i)
        return Attr(AttrKind.LIST_LIST_INT, rows)
    if field == "list":
        return _list_from_proto(attr.list, where)
    raise ValueError(f"{where}: AttrDef field {field!r} has no airgraph attribute kind")


def _list_from_proto(values: pb.AttrDef.ListValue, where: str) -> Attr:
    kind = _LIST_KIND_BY_VAL_TYPE.get(values.val_type)
    if kind is None and values.val_type == _ListType.VT_LIST_NONE:
        # Writers that leave val_type unset: the kind is the non-empty field;
        # with none, an empty int list (GE's most common empty list).
        kind = next(
            (k for k, spec in _LIST_FIELDS.items() if len(getattr(values, spec[0]))),
            AttrKind.LIST_I,
        )
    if kind is None:
        name = _ListType.Name(values.val_type) if values.val_type in _ListType.values() else "?"
        raise ValueError(f"{where}: list kind {name} ({values.val_type}) is not supported")
    field, _, _, decode = _LIST_FIELDS[kind]
    if kind is AttrKind.LIST_DT:
        return Attr(kind, tuple(_from_ge_code(v, where) for v in values.dt))
    return Attr(kind, tuple(decode(v) for v in getattr(values, field)))


def _from_ge_code(code: int, where: str) -> DataType:
    try:
        return from_ge_code(code)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
