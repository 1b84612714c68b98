"""GE's IR schema (``ge_ir.proto``) and its generated protobuf module.

``ge_ir_pb2`` is generated code, committed so that installing airgraph-core
needs no protoc. Edit ``ge_ir.proto``, then run
``python packages/core/tools/gen_proto.py``; ``nox -s proto`` checks that the
two agree. Use :mod:`airgraph_core.ir.serialize` rather than these messages
directly.
"""

from airgraph_core.ir.proto import ge_ir_pb2

__all__ = ["ge_ir_pb2"]
