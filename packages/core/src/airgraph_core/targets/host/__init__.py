"""The host target: GE graphs run on the CPU through the semantics table."""

from airgraph_core.targets.host.aliasing import written_inputs
from airgraph_core.targets.host.program import HostProgram, specialize
from airgraph_core.targets.host.semantics import HOST_OPS, HostOp, host_op, lookup_host_op

__all__ = [
    "HOST_OPS",
    "HostOp",
    "HostProgram",
    "host_op",
    "lookup_host_op",
    "specialize",
    "written_inputs",
]
