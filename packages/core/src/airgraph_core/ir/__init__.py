"""GE IR: data types, graphs, the builder converters use, dumps and validation."""

from airgraph_core.ir.builder import GraphBuilder, Spec, TensorRef
from airgraph_core.ir.dtypes import DataType, from_ge_code, from_torch, to_torch
from airgraph_core.ir.dump import dump_text
from airgraph_core.ir.graph import (
    Attr,
    AttrKind,
    GeGraph,
    GeOp,
    TensorDesc,
    TensorValue,
    parse_edge,
    topological_order,
)
from airgraph_core.ir.opdefs import OpPrototype, known_op_types, prototype, validate_graph
from airgraph_core.ir.serialize import deserialize, from_proto, serialize, to_pbtxt, to_proto

__all__ = [
    "Attr",
    "AttrKind",
    "DataType",
    "GeGraph",
    "GeOp",
    "GraphBuilder",
    "OpPrototype",
    "Spec",
    "TensorDesc",
    "TensorRef",
    "TensorValue",
    "deserialize",
    "dump_text",
    "from_proto",
    "from_ge_code",
    "from_torch",
    "known_op_types",
    "parse_edge",
    "prototype",
    "serialize",
    "to_pbtxt",
    "to_proto",
    "to_torch",
    "topological_order",
    "validate_graph",
]
