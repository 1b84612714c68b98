"""Rewrites of a host specialization before Inductor compiles it.

A specialization (see :mod:`~airgraph_core.targets.host.program`) calls the
host semantics op by op, which is what the GE graph says. A few GE op
patterns compile to slower code than the torch op they stand for, because
Inductor cannot see through them: a power whose exponent is a one-element
constant (a tensor, so Inductor calls a vector ``pow`` where ``x ** 2`` is
``x * x``), or the matmul + softmax form attention is lowered to (Inductor
keeps it as two batched matmuls and a masked softmax, where
``scaled_dot_product_attention`` is one flash-attention kernel). The
rewrites below replace such patterns in the FX graph with the torch op of
the same values; the GE graph, and the ``interpret`` mode (the reference),
are unchanged.

Each rewrite is a named function in :data:`REWRITES` (run in that order)
that edits the graph in place and returns how many patterns it replaced.
It reads the GE op behind each node from ``node.meta[GE_NODE]``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.fx import Graph, GraphModule, Node

__all__ = ["GE_NODE", "REWRITES", "GeNode", "ge_node", "rewrite_for_inductor"]

log = logging.getLogger("airgraph.core")

#: The ``node.meta`` key holding a node's :class:`GeNode`.
GE_NODE = "airgraph_ge"


@dataclasses.dataclass(frozen=True)
class GeNode:
    """The GE op an FX node of a specialization calls, as the rewrites need it.

    Attributes:
        op_type: the GE op type.
        attrs: its attributes (as the host semantics take them).
        fixed: its inputs folded into the call, by input position (Python
            values: shapes, axes; ``None`` for an unfed optional input).
        outputs: per output, its ``(shape, dtype)`` in this specialization
            (``None`` for a non-tensor output).
    """

    op_type: str
    attrs: dict[str, Any]
    fixed: dict[int, Any]
    outputs: tuple[tuple[tuple[int, ...], torch.dtype] | None, ...]

    @classmethod
    def of(cls, op_type: str, attrs: dict[str, Any], fixed: dict[int, Any], outs: Iterable[Any]):
        """The record of one emitted op (``outs``: its values in this call)."""
        outputs = tuple(
            (tuple(o.shape), o.dtype) if isinstance(o, torch.Tensor) else None for o in outs
        )
        return cls(op_type, dict(attrs), dict(fixed), outputs)

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The shape of the first output."""
        return self.outputs[0][0] if self.outputs and self.outputs[0] else None

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype of the first output."""
        return self.outputs[0][1] if self.outputs and self.outputs[0] else None


def ge_node(node: Any, *op_types: str) -> GeNode | None:
    """``node``'s :class:`GeNode` if it is an FX node calling one of ``op_types``, else ``None``."""
    if not isinstance(node, Node):
        return None
    info = node.meta.get(GE_NODE)
    if info is None or info.op_type not in op_types:
        return None
    return info


def scalar_constant(node: Any) -> tuple[float | int | bool, torch.dtype] | None:
    """The value and dtype of a one-element literal the specialization emitted, else ``None``.

    Literals are ``torch.full(shape, value, dtype=...)`` nodes (see
    :func:`~airgraph_core.targets.host.program.specialize`); only those of
    shape ``()`` are taken, so replacing one by a number never changes a
    result's rank.
    """
    if not isinstance(node, Node) or node.op != "call_function" or node.target is not torch.full:
        return None
    shape, value = node.args[:2]
    dtype = node.kwargs.get("dtype")
    if tuple(shape) != () or dtype is None:
        return None
    return value, dtype


def erase_unused(graph: Graph, candidates: Iterable[Node]) -> None:
    """Erase the nodes of ``candidates`` no node uses any more (in reverse graph order).

    Only pattern nodes a rewrite replaced are candidates: the graph's other
    nodes may write inputs (``Assign``) and must stay even without users.
    """
    order = {n: i for i, n in enumerate(graph.nodes)}
    for node in sorted(set(candidates), key=order.__getitem__, reverse=True):
        if not node.users and node.op == "call_function":
            graph.erase_node(node)


def scalar_exponents(graph: Graph) -> int:
    """``Pow(x, c)`` with ``c`` a 0-d literal of x's floating dtype -> ``torch.pow(x, c)``.

    With a number for exponent Inductor expands integral powers into
    multiplications (``x * x`` for 2) instead of calling a vector ``pow``
    per element (about 3x slower for a RMSNorm). The values are those of
    eager ``torch.pow``, which treats a 0-d exponent as a number too.
    """
    count = 0
    for node in list(graph.nodes):
        info = ge_node(node, "Pow")
        if info is None or len(node.args) != 2 or info.fixed:
            continue
        literal = scalar_constant(node.args[1])
        dtype = info.dtype
        if literal is None or dtype is None or not dtype.is_floating_point:
            continue
        value, literal_dtype = literal
        if literal_dtype != dtype:
            continue
        with graph.inserting_before(node):
            new = graph.call_function(torch.pow, (node.args[0], float(value)))
        new.meta[GE_NODE] = info
        node.replace_all_uses_with(new)
        erase_unused(graph, [node, node.args[1]])
        count += 1
    return count


def _attention(graph: Graph) -> int:
    from airgraph_core.targets.host.attention import fuse_attention

    return fuse_attention(graph)


#: The rewrites, in the order they run: (name, function editing a graph in place).
REWRITES: tuple[tuple[str, Callable[[Graph], int]], ...] = (
    ("scalar_exponents", scalar_exponents),
    ("attention", _attention),
)


def rewrite_for_inductor(gm: GraphModule) -> dict[str, int]:
    """Apply :data:`REWRITES` to ``gm`` in place (recompiling it if any applied).

    Returns:
        Per rewrite, how many patterns it replaced.
    """
    counts = {name: fn(gm.graph) for name, fn in REWRITES}
    if any(counts.values()):
        gm.graph.lint()
        gm.recompile()
        log.debug("host: %s rewritten for Inductor: %s", gm.__class__.__name__, counts)
    return counts
