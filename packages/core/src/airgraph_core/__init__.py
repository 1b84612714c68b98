"""airgraph-core: the GE IR, FX → GE lowering and the targets that run GE graphs.

Main entry points:

- :func:`lower_graph` lowers an ATen FX graph to a :class:`GeGraph`.
- :class:`HostProgram` runs a GE graph on the CPU (Inductor or interpreted).
- :func:`dump_text` and :func:`validate_graph` inspect a GE graph;
  :func:`serialize` / :func:`deserialize` convert it to and from GE protobuf.
- :func:`support_table` lists every ATen overload that has a converter.
"""

from airgraph_core.converters.registry import register, registered, support_table
from airgraph_core.ir import (
    Attr,
    AttrKind,
    DataType,
    GeGraph,
    GeOp,
    GraphBuilder,
    TensorDesc,
    TensorRef,
    TensorValue,
    deserialize,
    dump_text,
    serialize,
    to_pbtxt,
    validate_graph,
)
from airgraph_core.logs import configure_from_env, configure_logging, logger
from airgraph_core.lowered import LoweredGraph, SizeBinding, lowered_of
from airgraph_core.lowering import (
    UnsupportedOp,
    UnsupportedOpError,
    convert_outputs,
    find_unsupported,
    lower_graph,
    output_views,
)
from airgraph_core.output_views import OutputViews
from airgraph_core.outputs import rebuild_outputs
from airgraph_core.targets.host import HostProgram

__version__ = "0.1.0"

configure_from_env()

__all__ = [
    "Attr",
    "AttrKind",
    "DataType",
    "GeGraph",
    "GeOp",
    "GraphBuilder",
    "HostProgram",
    "OutputViews",
    "TensorDesc",
    "TensorRef",
    "TensorValue",
    "UnsupportedOp",
    "UnsupportedOpError",
    "__version__",
    "configure_logging",
    "logger",
    "convert_outputs",
    "deserialize",
    "dump_text",
    "find_unsupported",
    "lower_graph",
    "lowered_of",
    "LoweredGraph",
    "SizeBinding",
    "output_views",
    "rebuild_outputs",
    "register",
    "registered",
    "serialize",
    "support_table",
    "to_pbtxt",
    "validate_graph",
]
