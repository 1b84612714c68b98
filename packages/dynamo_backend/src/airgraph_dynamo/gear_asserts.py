"""Runtime size asserts on the gears path: moved out of the ATen graph, checked per gear.

Geared sizes can bring asserts such as ``Eq(s0, s1)`` into the traced graph.
Each gear fixes every size, so :func:`split_size_asserts` moves them into a
small checker graph before lowering, and :func:`check_size_asserts` runs it
once per gear combination at compile time (see :mod:`airgraph_dynamo.gears`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.fx import Graph, GraphModule, Node

__all__ = ["check_size_asserts", "split_size_asserts"]

log = logging.getLogger("airgraph.dynamo")


# Ops that only check sizes; they return nothing the graph uses.
_SIZE_ASSERTS = tuple(
    overload
    for name, overload_name in (
        ("_assert_scalar", "default"),
        ("sym_constrain_range", "default"),
        ("sym_constrain_range_for_size", "default"),
    )
    if hasattr(torch.ops.aten, name)
    for overload in (getattr(getattr(torch.ops.aten, name), overload_name),)
)
_SCALAR_VALUES = (torch.SymInt, torch.SymBool, torch.SymFloat, int, bool, float)


def split_size_asserts(gm: GraphModule) -> GraphModule | None:
    """Move the runtime size asserts out of ``gm`` into a checker graph.

    Symbolic sizes can come with asserts such as ``u0 >= 0`` or
    ``Eq(s0, s1)`` computed from size placeholders only. On
    the gears path each gear's sizes are fixed, so the asserts are evaluated
    once per gear (see :func:`check_size_asserts`) rather than lowered. Asserts that
    depend on tensor data (e.g. after ``.item()``) stay in ``gm``.

    Args:
        gm: the ATen graph; changed in place.

    Returns:
        A graph module with ``gm``'s placeholders that runs the moved
        asserts (raising ``RuntimeError`` when one fails), or None when there
        were none.
    """
    moved: list[Node] = []
    needed: set[Node] = set()
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target not in _SIZE_ASSERTS:
            continue
        ancestors = _scalar_ancestors(node)
        if ancestors is None:
            continue
        moved.append(node)
        needed |= ancestors
    if not moved:
        return None
    checker = Graph()
    env: dict[Node, Node] = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder" or node in needed or node in moved:
            env[node] = checker.node_copy(node, lambda n: env[n])
    checker.output(None)
    for node in reversed(moved):
        gm.graph.erase_node(node)
    # Drop the size arithmetic only the asserts used, newest first.
    for node in reversed(list(gm.graph.nodes)):
        if node in needed and node.op == "call_function" and not node.users:
            gm.graph.erase_node(node)
    gm.recompile()
    log.debug("gears: moved %d runtime size assert(s) out of the graph", len(moved))
    return GraphModule(gm, checker, class_name="GearSizeAsserts")


def _scalar_ancestors(node: Node) -> set[Node] | None:
    """The non-placeholder ancestors of an assert, or None if one computes a tensor."""
    seen: set[Node] = set()
    stack = list(node.all_input_nodes)
    while stack:
        n = stack.pop()
        if n in seen or n.op == "placeholder":
            continue
        if n.op != "call_function" or not isinstance(n.meta.get("val"), _SCALAR_VALUES):
            return None
        seen.add(n)
        stack.extend(n.all_input_nodes)
    return seen


def check_size_asserts(
    checker: GraphModule | None,
    example_inputs: Sequence[Any],
    geared: Mapping[int, Sequence[int]],
    scalars: Mapping[int, int],
) -> str | None:
    """Run the moved size asserts for one gear combination; the failure message, or None.

    Args:
        checker: the graph :func:`split_size_asserts` returned (None: nothing to check).
        example_inputs: one value per ATen placeholder, as traced.
        geared: ATen position -> the shape a geared input has in this combination.
        scalars: ATen position -> the value of a symbolic size placeholder.
    """
    if checker is None:
        return None
    args: list[Any] = []
    for pos, example in enumerate(example_inputs):
        if pos in scalars:
            args.append(scalars[pos])
        elif isinstance(example, torch.Tensor):
            shape = geared.get(pos)
            if shape is None:
                shape = tuple(
                    int(s) if not isinstance(s, torch.SymInt) else 0 for s in example.shape
                )
            args.append(torch.empty(shape, dtype=example.dtype, device="meta"))
        else:
            args.append(example)
    try:
        checker(*args)
    except RuntimeError as e:
        return f"the model's size check fails: {e}"
    return None
