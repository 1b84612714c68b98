"""GE-graph cleanup after lowering: fold op chains the converters leave behind.

Converters lower one ATen node at a time, so a chain of views becomes a
chain of GE ops that one op (or none) would do: ``Reshape`` of a
``Reshape``, ``Transpose`` of a ``Transpose``, an ``Identity`` that only
feeds other ops. TorchAir's graphs have none of them. :func:`cleanup_graph`
folds them, and removes the ops the folding left unread (their ``Const``
inputs included); other dead ops stay (TorchAir keeps them too, and GE
prunes them). It runs on every lowered graph, so every target gets it.

Each rule keeps values exact:

* ``Reshape(Reshape(x, a), b)`` -> ``Reshape(x, b)`` when ``b`` is a ``Const``
  with no ``0`` entry (GE's ``0`` copies the input's dim, which would now be
  ``x``'s);
* ``Transpose(Transpose(x, p), q)`` with ``Const`` perms -> ``Transpose(x, p[q])``,
  or ``x`` itself when that is the identity permutation;
* ``Identity(x)`` read by ops other than ``NetOutput`` -> ``x`` for those
  readers (an output stays a copy: GE must not return an input's memory).
"""

from __future__ import annotations

import logging
from collections import Counter

import torch

from airgraph_core.ir.graph import Attr, AttrKind, GeGraph, GeOp, TensorValue, parse_edge

__all__ = ["cleanup_graph"]

log = logging.getLogger("airgraph.core")


def cleanup_graph(graph: GeGraph) -> GeGraph:
    """Fold ``graph``'s redundant op chains in place (see the module docstring).

    Args:
        graph: a lowered GE graph.

    Returns:
        ``graph``, for chaining.
    """
    ops = {op.name: op for op in graph.ops}
    touched: set[str] = set()
    for op in list(graph.ops):
        if op.type == "Reshape":
            _fold_reshape(op, ops, touched)
        elif op.type == "Transpose":
            _fold_transpose(op, ops, touched, graph)
        elif op.type == "Identity":
            _bypass_identity(op, graph, touched)
    if touched:
        _drop_unread(graph, touched)
        log.debug("cleanup: %s folded around %d ops", graph.name, len(touched))
    return graph


def _producer(edge: str, ops: dict[str, GeOp]) -> GeOp | None:
    return ops.get(parse_edge(edge)[0]) if edge else None


def _const_list(edge: str, ops: dict[str, GeOp]) -> list[int] | None:
    op = _producer(edge, ops)
    if op is None or op.type != "Const":
        return None
    value = op.attr("value").to_torch()
    return [int(v) for v in value.reshape(-1).tolist()]


def _fold_reshape(op: GeOp, ops: dict[str, GeOp], touched: set[str]) -> None:
    inner = _producer(op.inputs[0], ops)
    if inner is None or inner.type != "Reshape":
        return
    shape = _const_list(op.inputs[1], ops)
    if shape is None or 0 in shape:
        return
    op.inputs[0] = inner.inputs[0]
    op.input_descs[0] = inner.input_descs[0].renamed(op.input_descs[0].name)
    touched.add(inner.name)


def _fold_transpose(op: GeOp, ops: dict[str, GeOp], touched: set[str], graph: GeGraph) -> None:
    inner = _producer(op.inputs[0], ops)
    if inner is None or inner.type != "Transpose":
        return
    outer_perm, inner_perm = _const_list(op.inputs[1], ops), _const_list(inner.inputs[1], ops)
    if outer_perm is None or inner_perm is None or len(outer_perm) != len(inner_perm):
        return
    perm = [inner_perm[q] for q in outer_perm]
    readers = _readers(graph)
    if perm == list(range(len(perm))):
        target = f"{op.name}:0"
        if any(target in r.inputs for r in graph.ops if r.type == "NetOutput"):
            return  # an output stays a new tensor, never the input's memory
        for reader in graph.ops:
            reader.inputs = [inner.inputs[0] if e == target else e for e in reader.inputs]
        touched.update((op.name, inner.name))
        return
    const = ops[parse_edge(op.inputs[1])[0]]
    if readers[const.name] > 1:
        return  # the composed perm would need a Const of its own
    op.inputs[0] = inner.inputs[0]
    op.input_descs[0] = inner.input_descs[0].renamed(op.input_descs[0].name)
    dtype = const.attr("value").to_torch().dtype
    const.attrs["value"] = Attr(AttrKind.T, TensorValue.from_torch(torch.tensor(perm, dtype=dtype)))
    touched.add(inner.name)


def _bypass_identity(op: GeOp, graph: GeGraph, touched: set[str]) -> None:
    source = op.inputs[0] if op.inputs else ""
    if not source or any(e.endswith(":-1") for e in op.inputs):
        return  # an Identity with a control edge orders its readers (npu_wait_tensor)
    target = f"{op.name}:0"
    for reader in graph.ops:
        if reader.type == "NetOutput":
            continue
        reader.inputs = [source if e == target else e for e in reader.inputs]
    touched.add(op.name)


def _readers(graph: GeGraph) -> Counter[str]:
    counts: Counter[str] = Counter()
    for op in graph.ops:
        for edge in op.inputs:
            if edge:
                counts[parse_edge(edge)[0]] += 1
    return counts


def _drop_unread(graph: GeGraph, candidates: set[str]) -> None:
    """Remove the ``candidates`` nobody reads any more, then their unread ``Const`` inputs."""
    while candidates:
        readers = _readers(graph)
        dead = {
            op.name
            for op in graph.ops
            if op.name in candidates and readers[op.name] == 0 and op.type != "NetOutput"
        }
        if not dead:
            return
        inputs = {parse_edge(e)[0] for op in graph.ops if op.name in dead for e in op.inputs if e}
        graph.ops = [op for op in graph.ops if op.name not in dead]
        consts = {op.name for op in graph.ops if op.type == "Const"}
        candidates = (candidates - dead) | (inputs & consts)
