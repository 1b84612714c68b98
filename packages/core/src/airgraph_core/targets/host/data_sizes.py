"""Whether a GE graph reads a size that depends on tensor values.

A host specialization folds every size it reads (``Shape`` of a tensor) to a
Python value and is reused for every call with the same input shapes. The
output shape of an op such as ``NonZero`` depends on its input's values, so
a size read off it (or off anything computed from it) holds for the call
that computed it only.
"""

from __future__ import annotations

from airgraph_core.ir.graph import GeGraph, GeOp, parse_edge, topological_order
from airgraph_core.targets.host.semantics import lookup_host_op

__all__ = ["reads_sizes_from_data"]

# Ops that read their input's shape (``Rank`` is fixed by the graph).
_SIZE_READERS = frozenset({"Shape", "Size"})


def reads_sizes_from_data(graph: GeGraph) -> bool:
    """True when ``graph`` reads the shape of a tensor whose shape depends on values.

    Such a tensor is the output of an op registered with ``shape_from_data``
    (see :func:`~airgraph_core.targets.host.host_op`) or of any op that reads
    one (a conservative choice: most of those keep the shape, but an
    elementwise op may also broadcast it). Op types without host semantics
    count as neither, and so do sizes that nothing uses (the checks of a
    count that Dynamo's size asserts leave behind).
    """
    order = topological_order(graph.ops)
    used = _used(order)
    from_data: set[str] = set()
    for op in order:
        if op.type in ("Data", "Const", "NetOutput"):
            continue
        reads_from_data = any(e and parse_edge(e)[0] in from_data for e in op.data_inputs)
        if reads_from_data and op.type in _SIZE_READERS and op.name in used:
            return True
        try:
            sem = lookup_host_op(op.type)
        except NotImplementedError:
            continue
        if reads_from_data or sem.shape_from_data:
            from_data.add(op.name)
    return False


def _used(order: list[GeOp]) -> set[str]:
    """Names of the ops an output or a side-effect op (``Assign``) depends on."""
    used: set[str] = set()
    for op in reversed(order):
        if op.name in used or op.type == "NetOutput" or _writes(op.type):
            used.add(op.name)
            used.update(parse_edge(e)[0] for e in op.data_inputs if e)
    return used


def _writes(op_type: str) -> bool:
    try:
        return lookup_host_op(op_type).side_effect
    except NotImplementedError:
        return True  # unknown semantics: count it as used
