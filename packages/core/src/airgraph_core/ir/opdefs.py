"""GE op prototypes (CANN's ``REG_OP`` declarations) and graph validation.

The prototypes ship with the package as data (``opdefs.json.gz``, extracted
from the op builders in the torch_npu wheel). A graph that real GE accepts
uses only these op types, feeds each op the prototype's inputs in order,
sets every required attribute with the declared kind, uses no attribute the
prototype lacks (private ones start with ``_``) and respects the listed
dtypes. :func:`validate_graph` checks all of that.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
from importlib import resources

from airgraph_core.ir.graph import AttrKind, GeGraph, GeOp, TensorDesc, parse_edge

__all__ = ["IoProto", "OpPrototype", "prototype", "known_op_types", "validate_graph"]

_ATTR_KINDS = {
    "Int": AttrKind.I,
    "int": AttrKind.I,
    "Float": AttrKind.F,
    "Bool": AttrKind.B,
    "String": AttrKind.S,
    "Type": AttrKind.DT,
    "Tensor": AttrKind.T,
    "ListInt": AttrKind.LIST_I,
    "ListFloat": AttrKind.LIST_F,
    "ListBool": AttrKind.LIST_B,
    "ListString": AttrKind.LIST_S,
    "ListType": AttrKind.LIST_DT,
    "ListListInt": AttrKind.LIST_LIST_INT,
}


@dataclasses.dataclass(frozen=True)
class IoProto:
    """One input or output of a prototype.

    ``kind`` is ``input``, ``optional_input``, ``dynamic_input``, ``output``
    or ``dynamic_output``; ``dtypes`` the allowed ``DT_*`` names, or ``None``
    where the prototype does not list them exactly.
    """

    name: str
    kind: str
    dtypes: frozenset[str] | None

    @property
    def dynamic(self) -> bool:
        return self.kind.startswith("dynamic")


@dataclasses.dataclass(frozen=True)
class AttrProto:
    name: str
    kind: AttrKind
    required: bool
    default: str | None


@dataclasses.dataclass(frozen=True)
class OpPrototype:
    """The declared interface of one GE op type."""

    type: str
    inputs: tuple[IoProto, ...]
    outputs: tuple[IoProto, ...]
    attrs: dict[str, AttrProto]

    def input_names(self, dynamic_counts: dict[str, int] | None = None) -> list[str]:
        """Input descriptor names, expanding dynamic inputs to ``x0, x1, ...``."""
        return _expand(self.inputs, dynamic_counts or {})

    def output_names(self, dynamic_counts: dict[str, int] | None = None) -> list[str]:
        return _expand(self.outputs, dynamic_counts or {})


def _expand(ios: tuple[IoProto, ...], counts: dict[str, int]) -> list[str]:
    names: list[str] = []
    for io in ios:
        if io.dynamic:
            names.extend(f"{io.name}{i}" for i in range(counts.get(io.name, 0)))
        else:
            names.append(io.name)
    return names


#: Spellings in the prototypes that name the same GE dtype as another.
_DTYPE_ALIASES = {"DT_FLOAT32": "DT_FLOAT"}


@functools.cache
def _table() -> dict[str, OpPrototype]:
    raw = resources.files("airgraph_core.ir").joinpath("opdefs.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    table = {}
    for op_type, spec in data.items():

        def io(entry: dict) -> IoProto:
            dts = entry.get("dtypes")
            if dts:
                # Some prototypes (MaxPool*, Conv3D, ...) spell float32 DT_FLOAT32.
                dts = [_DTYPE_ALIASES.get(d, d) for d in dts]
            return IoProto(entry["name"], entry["kind"], frozenset(dts) if dts else None)

        attrs = {
            name: AttrProto(name, _ATTR_KINDS[a["type"]], bool(a["required"]), a.get("default"))
            for name, a in spec["attrs"].items()
            if a["type"] in _ATTR_KINDS
        }
        table[op_type] = OpPrototype(
            op_type,
            tuple(io(e) for e in spec["inputs"]),
            tuple(io(e) for e in spec["outputs"]),
            attrs,
        )
    return table


def known_op_types() -> frozenset[str]:
    """Every GE op type with a prototype."""
    return frozenset(_table())


def prototype(op_type: str) -> OpPrototype:
    """The prototype of ``op_type``.

    Raises:
        ValueError: GE has no op of that type.
    """
    try:
        return _table()[op_type]
    except KeyError:
        raise ValueError(f"op_type: {op_type!r} is not a GE op type") from None


def validate_graph(graph: GeGraph) -> list[str]:
    """Check ``graph`` against the GE op prototypes.

    Returns:
        One readable message per problem; an empty list for a valid graph.
    """
    problems: list[str] = []
    by_name: dict[str, GeOp] = {}
    for op in graph.ops:
        if op.name in by_name:
            problems.append(f"duplicate op name {op.name!r}")
        by_name[op.name] = op
    for op in graph.ops:
        problems.extend(_check_op(op, by_name))
    indices = [op.attr("index") for op in graph.data_ops]
    if indices != list(range(len(indices))):
        problems.append(f"Data indices are {indices}, expected 0..{len(indices) - 1}")
    if len(graph.ops_of_type("NetOutput")) != 1:
        problems.append("graph must have exactly one NetOutput")
    return problems


def _check_op(op: GeOp, by_name: dict[str, GeOp]) -> list[str]:
    where = f"{op.type} {op.name!r}"
    try:
        proto = prototype(op.type)
    except ValueError:
        return [f"{where}: unknown GE op type"]
    counts = _dynamic_counts(proto.inputs, len(op.data_inputs))
    if counts is None:
        return [f"{where}: {len(op.data_inputs)} inputs do not fit the prototype {_sig(proto)}"]
    problems = _check_inputs(op, proto, counts, by_name, where)
    for edge in op.inputs:
        if edge.endswith(":-1") and parse_edge(edge)[0] not in by_name:
            problems.append(f"{where}: control edge from missing op {edge!r}")
    problems += _check_outputs(op, proto, where)
    problems += _check_attrs(op, proto, where)
    return problems


def _check_inputs(
    op: GeOp, proto: OpPrototype, counts: dict[str, int], by_name: dict[str, GeOp], where: str
) -> list[str]:
    """Input descs against the prototype's names and dtypes and against their producers."""
    problems: list[str] = []
    data_inputs = op.data_inputs
    names = proto.input_names(counts)
    if len(op.input_descs) != len(data_inputs) and op.type != "Data":
        problems.append(f"{where}: {len(data_inputs)} inputs but {len(op.input_descs)} descs")
    kinds = _input_kinds(proto.inputs, counts)
    for i, (edge, name) in enumerate(zip(data_inputs, names)):
        io = kinds[i]
        desc = op.input_descs[i] if i < len(op.input_descs) else None
        if op.type == "NetOutput":
            name = f"input{i}"  # TorchAir's naming, not the prototype's
        if desc is not None and desc.name != name:
            problems.append(f"{where}: input {i} desc is named {desc.name!r}, expected {name!r}")
        if not edge:
            if io.kind != "optional_input":
                problems.append(f"{where}: required input {name!r} is not fed")
            continue
        problems += _check_producer(edge, name, io, desc, by_name, where)
    return problems


def _check_producer(
    edge: str,
    name: str,
    io: IoProto,
    desc: TensorDesc | None,
    by_name: dict[str, GeOp],
    where: str,
) -> list[str]:
    """One fed input against the output that feeds it."""
    src, idx = parse_edge(edge)
    producer = by_name.get(src)
    if producer is None or idx >= len(producer.output_descs):
        return [f"{where}: input {name!r} reads missing output {edge!r}"]
    problems = []
    out = producer.output_descs[idx]
    if desc is not None and (desc.dtype != out.dtype or desc.shape != out.shape):
        problems.append(f"{where}: input {name!r} desc {_d(desc)} != producer {_d(out)}")
    if io.dtypes is not None and out.dtype.opdef_name not in io.dtypes:
        problems.append(f"{where}: input {name!r} dtype {out.dtype.name} not allowed")
    return problems


def _check_outputs(op: GeOp, proto: OpPrototype, where: str) -> list[str]:
    """Output descs against the prototype's names and dtypes."""
    out_counts = _dynamic_counts(proto.outputs, len(op.output_descs))
    if out_counts is None:
        return [f"{where}: {len(op.output_descs)} outputs do not fit {_sig(proto)}"]
    problems = []
    out_kinds = _input_kinds(proto.outputs, out_counts)
    for desc, name, io in zip(op.output_descs, proto.output_names(out_counts), out_kinds):
        if desc.name != name:
            problems.append(f"{where}: output desc {desc.name!r}, expected {name!r}")
        if io.dtypes is not None and desc.dtype.opdef_name not in io.dtypes:
            problems.append(f"{where}: output {name!r} dtype {desc.dtype.name} not allowed")
    return problems


def _check_attrs(op: GeOp, proto: OpPrototype, where: str) -> list[str]:
    """Required attributes present, every attribute known and of the prototype's kind."""
    problems = []
    for name, attr_proto in proto.attrs.items():
        if attr_proto.required and name not in op.attrs:
            problems.append(f"{where}: required attribute {name!r} missing")
    for name, attr in op.attrs.items():
        if name.startswith("_"):
            continue
        attr_proto = proto.attrs.get(name)
        if attr_proto is None:
            problems.append(f"{where}: attribute {name!r} is not in the prototype")
        elif attr.kind is not attr_proto.kind:
            problems.append(
                f"{where}: attribute {name!r} has kind {attr.kind.value}, "
                f"expected {attr_proto.kind.value}"
            )
    return problems


def _dynamic_counts(ios: tuple[IoProto, ...], n: int) -> dict[str, int] | None:
    fixed = sum(1 for io in ios if not io.dynamic)
    dynamic = [io for io in ios if io.dynamic]
    if not dynamic:
        return {} if n == fixed else None
    if len(dynamic) > 1 or n < fixed:
        return None if n < fixed else {dynamic[0].name: n - fixed}
    return {dynamic[0].name: n - fixed}


def _input_kinds(ios: tuple[IoProto, ...], counts: dict[str, int]) -> list[IoProto]:
    out: list[IoProto] = []
    for io in ios:
        out.extend([io] * (counts.get(io.name, 0) if io.dynamic else 1))
    return out


def _sig(proto: OpPrototype) -> str:
    return "(" + ", ".join(f"{io.name}:{io.kind}" for io in proto.inputs) + ")"


def _d(desc: TensorDesc) -> str:
    return f"{desc.dtype.name}{list(desc.shape) if desc.shape is not None else '[?]'}"
