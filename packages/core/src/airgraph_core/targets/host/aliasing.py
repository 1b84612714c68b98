"""Which inputs of a GE graph are written in place, and which views of them must copy.

The host target runs view ops (see :class:`~airgraph_core.targets.host.HostOp`)
as torch views, where GE writes a new tensor for every op. The two differ
only when a side-effect op (``Assign``) writes a ``Data`` input that a view
also reads: this module finds those inputs and views.
"""

from __future__ import annotations

from airgraph_core.ir.graph import GeGraph, parse_edge, topological_order
from airgraph_core.targets.host.semantics import lookup_host_op

__all__ = ["views_of_written_inputs", "written_inputs"]


def written_inputs(graph: GeGraph) -> frozenset[str]:
    """Names of the ``Data`` inputs that side-effect ops (``Assign``) write,
    directly or through views of them. Op types without host semantics
    (an NPU-only graph) count as neither views nor writers."""
    return _aliasing(graph)[0]


def views_of_written_inputs(graph: GeGraph) -> frozenset[str]:
    """Names of view ops (see :class:`~airgraph_core.targets.host.HostOp`) whose result aliases a ``Data``
    input that a side-effect op (``Assign``) writes.

    On the NPU every op writes a new tensor, so such a result keeps the
    input's old values after the write; a view would see the new ones.
    """
    return _aliasing(graph)[1]


def _aliasing(graph: GeGraph) -> tuple[frozenset[str], frozenset[str]]:
    """(the written ``Data`` inputs, the view ops of them that must copy)."""
    bases: dict[str, str] = {}
    parents: dict[str, str] = {}
    written: set[str] = set()
    targets: set[str] = set()  # the view ops a side-effect op writes through
    views: list[tuple[str, str]] = []
    for op in topological_order(graph.ops):
        if op.type == "Data":
            bases[op.name] = op.name
            continue
        if op.type in ("Const", "NetOutput") or not op.data_inputs:
            continue
        try:
            sem = lookup_host_op(op.type)
        except NotImplementedError:
            continue
        source = parse_edge(op.data_inputs[0])[0] if op.data_inputs[0] else ""
        base = bases.get(source)
        if base is None:
            continue
        if sem.side_effect:
            written.add(base)
            while source in parents:  # a copy there would take the write instead of the input
                targets.add(source)
                source = parents[source]
        elif sem.view:
            bases[op.name] = base
            parents[op.name] = source
            views.append((op.name, base))
    copies = frozenset(name for name, base in views if base in written and name not in targets)
    return frozenset(written), copies
