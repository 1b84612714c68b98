"""In-place updates of graph inputs in the form the NPU runtime takes them.

The lowering writes an update of a graph input as ``Assign(Data, value)``
(AOTAutograd's ``copy_(input, new_value)`` at the end of the graph); the
host target applies it to the caller's tensor. On the NPU, GE may give a
``Data`` its own copy of the input, so an ``Assign`` into it need not reach
the caller's tensor. TorchAir therefore never hands GE such an ``Assign``:
it makes ``value`` a graph output whose memory is the input's
(``ge.exec.outputReuseInputMemIndexes``, the input tensor passed to ``run``
as that output's pre-assigned memory). :func:`updates_as_outputs` does the
same rewrite; the NPU target applies it before loading a graph.

One difference from TorchAir: where ``value`` is already returned as a new
tensor (eager returns ``y`` in ``y = x + 1; x.copy_(y); return y``), TorchAir
reuses that output for the update, so the returned tensor is the input's
memory and changes with it; here the update gets its own output and the
returned tensor stays a new one, as in eager.

With TorchAir's ``experimental_config.enable_ref_data``, every input an
``Assign`` writes is a ``RefData`` instead of a ``Data`` (:func:`as_ref_data`):
the same op with the same ``index``, telling GE the graph writes that input's
memory. The rewrite above treats both alike; targets that run graphs
themselves read a ``RefData`` as a ``Data`` (:func:`as_plain_data`).
"""

from __future__ import annotations

import copy
import dataclasses

from airgraph_core.ir.graph import Attr, AttrKind, GeGraph, GeOp, parse_edge

__all__ = [
    "INPUT_OP_TYPES",
    "REUSE_OPTION",
    "as_plain_data",
    "as_ref_data",
    "reuse_option",
    "updates_as_outputs",
    "written_inputs",
]

#: The GE option naming each (input, output) pair whose memory is shared.
REUSE_OPTION = "ge.exec.outputReuseInputMemIndexes"

#: The op types of a graph input: ``Data``, and ``RefData`` for an input the graph writes.
INPUT_OP_TYPES = ("Data", "RefData")

# TorchAir keeps a RefData's name as a Data under this attribute.
_ORIGIN_NAME = "_origin_data_name"


def written_inputs(graph: GeGraph) -> list[int]:
    """The ``index`` of every graph input an ``Assign`` writes, ascending."""
    inputs = {op.name: op for op in graph.ops if op.type in INPUT_OP_TYPES}
    written = {
        int(inputs[name].attr("index"))
        for op in graph.ops
        if op.type == "Assign" and (name := parse_edge(op.data_inputs[0])[0]) in inputs
    }
    return sorted(written)


def as_ref_data(graph: GeGraph) -> GeGraph:
    """``graph`` with each ``Data`` an ``Assign`` writes made a ``RefData``, as TorchAir emits it.

    TorchAir's ``experimental_config.enable_ref_data``: the op keeps its name,
    ``index`` and descriptor, changes type and records its name in the
    ``_origin_data_name`` attribute. (TorchAir also renames it after the
    first call's tensor, ``RefData_<shape>_<strides>_<offset>_<id>``, which
    makes the graph depend on that call; the name here stays the lowered one.)

    Args:
        graph: a lowered GE graph; it is not changed.

    Returns:
        The rewritten copy, or ``graph`` itself when no ``Data`` is written.
    """
    indices = set(written_inputs(graph))
    if not any(op.type == "Data" and int(op.attr("index")) in indices for op in graph.ops):
        return graph
    graph = copy.deepcopy(graph)
    for op in graph.ops:
        if op.type == "Data" and int(op.attr("index")) in indices:
            op.type = "RefData"
            op.attrs[_ORIGIN_NAME] = Attr(AttrKind.S, op.name)
    return graph


def as_plain_data(graph: GeGraph) -> GeGraph:
    """``graph`` with every ``RefData`` read as the ``Data`` it stands for (``graph`` if none).

    For a target that runs the graph itself (the host target): a
    ``RefData`` is an input like a ``Data``, its writes applied the same way.
    """
    if not any(op.type == "RefData" for op in graph.ops):
        return graph
    graph = copy.deepcopy(graph)
    for op in graph.ops:
        if op.type == "RefData":
            op.type = "Data"
            op.attrs.pop(_ORIGIN_NAME, None)
    return graph


def updates_as_outputs(graph: GeGraph) -> tuple[GeGraph, dict[int, int]]:
    """``graph`` with every ``Assign`` into a ``Data`` turned into an output that reuses its memory.

    An ``Assign`` whose result ``NetOutput`` returns is replaced there by the
    assigned value; otherwise the value is appended as a new output (after
    the graph's own outputs, which keep their positions). ``Assign`` ops
    into anything but a ``Data`` (or ``RefData``) stay, as in TorchAir.

    Args:
        graph: a lowered GE graph; it is not changed.

    Returns:
        The rewritten copy (``graph`` itself when it has no such ``Assign``)
        and, per output position that must be written into an input, the
        ``Data`` index of that input.
    """
    datas = {op.name: op for op in graph.ops if op.type in INPUT_OP_TYPES}
    assigns = [
        op for op in graph.ops if op.type == "Assign" and parse_edge(op.data_inputs[0])[0] in datas
    ]
    if not assigns:
        return graph, {}
    graph = copy.deepcopy(graph)
    datas = {op.name: op for op in graph.ops if op.type in INPUT_OP_TYPES}
    net = graph.net_output
    reuse: dict[int, int] = {}
    dropped: set[str] = set()
    for old in assigns:
        op = graph.op(old.name)
        ref, value = op.data_inputs[0], op.data_inputs[1]
        data = datas[parse_edge(ref)[0]]
        positions = _return_value_instead(net, f"{op.name}:0", value)
        if not positions:
            positions = [_append_output(graph, net, value, op, data)]
        for position in positions:
            reuse[position] = int(data.attr("index"))
        dropped.add(op.name)
    graph.ops = [op for op in graph.ops if op.name not in dropped]
    controls = {f"{name}:-1" for name in dropped}
    for op in graph.ops:
        op.inputs = [e for e in op.inputs if e not in controls]
    return graph, reuse


def reuse_option(reuse: dict[int, int]) -> dict[str, str]:
    """The GE option for :func:`updates_as_outputs`' pairs, TorchAir's spelling.

    ``"input,output|input,output"``, in output order; ``{}`` when nothing is
    reused.
    """
    if not reuse:
        return {}
    return {REUSE_OPTION: "|".join(f"{reuse[k]},{k}" for k in sorted(reuse))}


def _return_value_instead(net: GeOp, assign_out: str, value: str) -> list[int]:
    """Output positions returning the ``Assign``'s result, now fed by ``value``."""
    positions = []
    data_edges = [i for i, e in enumerate(net.inputs) if not e.endswith(":-1")]
    for position, i in enumerate(data_edges):
        if net.inputs[i] == assign_out:
            net.inputs[i] = value
            positions.append(position)
    return positions


def _append_output(graph: GeGraph, net: GeOp, value: str, assign: GeOp, data: GeOp) -> int:
    """Feed ``value`` to ``NetOutput`` as a new last output; its position."""
    position = sum(1 for e in net.inputs if not e.endswith(":-1"))
    net.inputs.insert(position, value)
    # TorchAir's shape for it: the input's (the Assign's own may be less known).
    desc = dataclasses.replace(
        assign.output_descs[0].renamed(f"input{position}"), shape=data.output_descs[0].shape
    )
    net.input_descs.insert(position, desc)
    dtypes = graph.attrs.get("_output_dtypes")
    codes = tuple(dtypes.value) if dtypes is not None else ()
    graph.attrs["_output_dtypes"] = Attr(AttrKind.LIST_I, (*codes, desc.dtype.ge_code))
    return position
