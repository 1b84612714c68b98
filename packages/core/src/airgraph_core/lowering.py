"""FX (ATen) → GE lowering.

:func:`lower_graph` walks an ATen-level FX graph (as AOTAutograd produces it
in inference mode) and emits one GE op sequence per node through the
registered converters. Inputs become ``Data`` ops (or ``Const`` when frozen),
outputs feed one ``NetOutput``. A symbolic size input that a tensor input's
dim carries is read inside the graph (``Shape`` + ``Gather``) instead of
becoming a host scalar ``Data``; a size input nothing reads gets no ``Data``.
The lowered graph then goes through :func:`~airgraph_core.graph_cleanup.cleanup_graph`
(chains of ``Reshape``/``Transpose`` folded, inner ``Identity`` ops bypassed).
"""

from __future__ import annotations

import dataclasses
import logging
import operator
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch
from torch.fx import GraphModule, Node

from airgraph_core.converters.context import ConversionContext, SymValue, spec_of
from airgraph_core.converters.registry import lookup, target_name
from airgraph_core.converters.symbolic import dim_size
from airgraph_core.graph_cleanup import cleanup_graph
from airgraph_core.ir.builder import GraphBuilder, TensorRef
from airgraph_core.ir.dtypes import DataType
from airgraph_core.ir.graph import Attr, AttrKind, GeGraph, GeOp
from airgraph_core.lowered import (
    INPUT_SOURCES_ATTR,
    OUTPUT_KINDS_ATTR,
    OUTPUT_VIEWS_ATTR,
    LoweredGraph,
    SizeBinding,
    lowered_of,
)
from airgraph_core.output_views import OutputViews, find_output_views

__all__ = [
    "lower_graph",
    "find_unsupported",
    "convert_outputs",
    "output_views",
    "UnsupportedOp",
    "UnsupportedOpError",
    # Defined in airgraph_core.lowered; re-exported for callers of this module.
    "INPUT_SOURCES_ATTR",
    "OUTPUT_KINDS_ATTR",
    "OUTPUT_VIEWS_ATTR",
]

log = logging.getLogger("airgraph.core")

# Ops whose results GE could prune although they have effects on an input.
_SIDE_EFFECT_OPS = frozenset({"Assign", "ScatterUpdate", "Scatter", "InplaceIndexAdd"})


@dataclasses.dataclass(frozen=True)
class UnsupportedOp:
    """One node the lowering cannot convert: the ATen overload, why, and the user's source line."""

    target: str
    reason: str
    source: str

    def __str__(self) -> str:
        where = f" (at {self.source})" if self.source else ""
        return f"{self.target}: {self.reason}{where}"


class UnsupportedOpError(NotImplementedError):
    """Raised by :func:`lower_graph` when a node has no converter that supports it."""

    def __init__(self, ops: Sequence[UnsupportedOp]) -> None:
        self.ops = list(ops)
        lines = "\n  ".join(str(op) for op in self.ops)
        super().__init__(f"{len(self.ops)} unsupported op(s) in the graph:\n  {lines}")


def find_unsupported(
    gm: GraphModule, *, nodes: Collection[Node] | None = None
) -> list[UnsupportedOp]:
    """Every node of ``gm`` that no converter supports, all at once.

    Args:
        gm: the ATen graph.
        nodes: only these nodes (by default all); :func:`lower_graph` passes
            the nodes the GE graph needs, leaving out those that only make
            outputs rebuilt as views (:class:`OutputViews`).
    """
    found = []
    for node in gm.graph.nodes:
        if nodes is not None and node not in nodes:
            continue
        if node.op != "call_function" or _is_folded(node) or node.target is operator.getitem:
            continue
        conv = lookup(node.target)
        if conv is None:
            found.append(
                UnsupportedOp(target_name(node.target), "no converter registered", _source(node))
            )
            continue
        reason = conv.why_unsupported(node)
        if reason is not None:
            found.append(UnsupportedOp(target_name(node.target), reason, _source(node)))
    return found


def lower_graph(
    gm: GraphModule,
    example_inputs: Sequence[Any],
    *,
    name: str = "graph",
    frozen_inputs: Collection[int] = (),
    output_aliases: Mapping[int, int] | None = None,
) -> GeGraph:
    """Lower an ATen FX graph to a :class:`GeGraph`.

    Args:
        gm: an ATen-level graph module (placeholders for parameters and user
            inputs; symbolic sizes as SymInt placeholders).
        example_inputs: one value per placeholder (tensors, ints or SymInts);
            used where a placeholder carries no ``meta["val"]``.
        name: the GE graph's name.
        frozen_inputs: placeholder positions to embed as ``Const`` (frozen
            parameters) instead of ``Data`` inputs.
        output_aliases: graph output position -> placeholder position of the
            input that eager's output is or views (AOTAutograd's output
            metadata). An output computed as the value written into an input
            is returned as that input only where this says so; ``None``
            (unknown) returns such outputs as new tensors.

    Returns:
        The GE graph. Its ``Data`` ops are indexed densely over non-frozen
        tensor inputs and the size inputs no tensor carries. Its ``lowered``
        field is the :class:`~airgraph_core.lowered.LoweredGraph` record:
        ``input_sources`` maps each ``Data`` index back to its placeholder
        position (placeholders without a ``Data`` are not in it),
        ``output_kinds``, ``output_views`` and ``size_bindings``.

    Raises:
        UnsupportedOpError: some nodes have no converter that supports them;
            the error lists them all with their source lines.
        ValueError: ``example_inputs`` does not match the placeholders.
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(example_inputs):
        raise ValueError(
            f"example_inputs: {len(example_inputs)} values for {len(placeholders)} placeholders"
        )
    bad = [i for i in frozen_inputs if not 0 <= i < len(placeholders)]
    if bad:
        raise ValueError(f"frozen_inputs: positions {bad} out of range 0..{len(placeholders) - 1}")
    carried = _sizes_carried_by_tensors(placeholders, example_inputs, frozen_inputs)
    inputs = [
        node
        for pos, (node, example) in enumerate(zip(placeholders, example_inputs))
        if pos not in frozen_inputs and _is_data_input(node, example, carried)
    ]
    data_index = {node: i for i, node in enumerate(inputs)}
    output_node = next(iter(gm.graph.find_nodes(op="output")))
    flat = output_node.args[0]
    flat = list(flat) if isinstance(flat, (list, tuple)) else [flat]
    views = find_output_views(gm, data_index, flat, output_aliases)
    view_outputs = views.view_outputs if views is not None else frozenset()
    # Intermediates the views are taken of and the ATen graph does not return
    # (output kind "b"): the GE graph returns them after the ATen outputs.
    bases = [] if views is None else [n for n in gm.graph.nodes if n.name in set(views.bases)]
    bases.sort(key=lambda n: views.bases.index(n.name))
    computed = [out for k, out in enumerate(flat) if k not in view_outputs]
    needed = _needed_nodes(gm, computed + bases)
    unsupported = find_unsupported(gm, nodes=needed)
    if unsupported:
        raise UnsupportedOpError(unsupported)

    b = GraphBuilder(name)
    env, sizes, sources, placements = _emit_inputs(
        b, placeholders, example_inputs, frozen_inputs, data_index, carried
    )

    for node in gm.graph.nodes:
        if node.op == "placeholder" or (node.op != "output" and node not in needed):
            continue
        if node.op == "get_attr":
            env[node] = b.const(_fetch_attr(gm, node.target))
        elif node.op == "call_function":
            env[node] = _convert(b, node, env, sizes)
        elif node.op == "output":
            kinds = _emit_outputs(b, flat + bases, env, view_outputs, sizes, returned=len(flat))
        else:
            raise ValueError(f"gm: node {node.name!r} has unsupported kind {node.op!r}")

    graph = cleanup_graph(b.graph)
    bindings = _size_bindings(placeholders, example_inputs, data_index, carried)
    graph.lowered = LoweredGraph(tuple(sources), tuple(kinds), views, bindings)
    graph.lowered.write_attrs(graph)
    graph.attrs["_input_placements"] = Attr(AttrKind.LIST_I, tuple(placements))
    graph.attrs["_executor_type"] = Attr(AttrKind.I, 1)
    log.debug("lowered %s: %d GE ops", name, len(graph.ops))
    return graph


def _emit_inputs(
    b: GraphBuilder,
    placeholders: Sequence[Node],
    example_inputs: Sequence[Any],
    frozen_inputs: Collection[int],
    data_index: dict[Node, int],
    carried: dict[Any, Any],
) -> tuple[dict[Node, Any], dict[Any, SymValue], list[int], list[int]]:
    """``Data``/``Const`` ops for the placeholders.

    Returns:
        The value of each placeholder (``env``), the size inputs by symbol,
        the placeholder position of each ``Data`` op, and each ``Data`` op's
        placement (1 device tensor, 0 host scalar).
    """
    env: dict[Node, Any] = {}
    sizes: dict[Any, SymValue] = {}
    sources: list[int] = []
    placements: list[int] = []
    for pos, (node, example) in enumerate(zip(placeholders, example_inputs)):
        val = node.meta.get("val", example)
        if isinstance(val, torch.Tensor):
            if pos in frozen_inputs:
                if not isinstance(example, torch.Tensor):
                    raise ValueError(f"frozen_inputs: placeholder {pos} is not a tensor")
                env[node] = b.const(example)
                continue
            dtype, shape = spec_of(val)
            env[node] = b.data(data_index[node], dtype, shape, name=_op_name(node.name))
            placements.append(1)
        elif isinstance(val, (int, torch.SymInt)):
            expr = val.node.expr if isinstance(val, torch.SymInt) else None
            if node not in data_index:
                # Read inside the graph from the tensor that carries it, on
                # first use, as TorchAir's ``_optimize_sym_input`` does; a
                # size nothing reads is never read.
                if expr in carried:
                    env[node] = _CarriedSize(*carried[expr])
                continue
            ref = b.data(
                data_index[node], DataType.INT64, (), placement="CPU", name=_op_name(node.name)
            )
            env[node] = SymValue(ref, str(val))
            if expr is not None:
                sizes[expr] = env[node]
            placements.append(0)
        else:
            raise ValueError(
                f"example_inputs: placeholder {node.name!r} is a {type(val).__name__}; "
                "expected a tensor or a symbolic int"
            )
        sources.append(pos)
    return env, sizes, sources, placements


def convert_outputs(outs: Sequence[Any], kinds: Sequence[str]) -> list[Any]:
    """Map a target's ``NetOutput`` values back to the ATen graph's outputs.

    Args:
        outs: the values a target returned, one per ``NetOutput`` input.
        kinds: :attr:`LoweredGraph.output_kinds`: per ATen
            output ``"t"`` (a tensor), ``"s"`` (a size, returned as ``int``),
            ``"n"`` (``None``) or ``"v"`` (a view, see :func:`output_views`),
            which have no ``NetOutput`` input, or ``"b"`` (an intermediate
            that views are rebuilt from, after the ATen outputs).

    Returns:
        One value per ATen output; ``None`` at the positions of views, which
        :meth:`OutputViews.apply` fills in.
    """
    result: list[Any] = []
    it = iter(outs)
    for kind in kinds:
        if kind == "n" or kind == "v":
            result.append(None)
        elif kind == "s":
            value = next(it)
            result.append(int(value.item() if isinstance(value, torch.Tensor) else value))
        elif kind == "t" or kind == "b":
            result.append(next(it))
    return result


def output_views(graph: GeGraph) -> OutputViews | None:
    """The record of ``graph``'s outputs that are views, or ``None`` when it has none.

    Raises:
        ValueError: the graph carries a malformed record.
    """
    return lowered_of(graph).output_views


def _needed_nodes(gm: GraphModule, outputs: Sequence[Any]) -> frozenset[Node]:
    """The nodes the GE graph computes: what ``outputs`` and the side effects depend on.

    Nodes that only make outputs rebuilt as views are left out: they need no
    converter and cost the device nothing.
    """
    stack = [out for out in outputs if isinstance(out, Node)]
    stack += [n for n in gm.graph.nodes if n.op == "call_function" and n.is_impure()]
    needed: set[Node] = set()
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(node.all_input_nodes)
    return frozenset(needed)


@dataclasses.dataclass(frozen=True)
class _CarriedSize:
    """A size placeholder whose value is dim ``dim`` of the tensor placeholder ``tensor``."""

    tensor: Node
    val: torch.Tensor
    dim: int


def _sizes_carried_by_tensors(
    placeholders: Sequence[Node], example_inputs: Sequence[Any], frozen_inputs: Collection[int]
) -> dict[Any, tuple[Node, torch.Tensor, int]]:
    """For each symbolic size a tensor input's dim carries, the first such (placeholder, dim).

    Sizes are matched by their sympy expression, so a size placeholder ``s0``
    matches a dim ``s0`` (TorchAir matches the same way, by the printed
    expression, in its ``_optimize_sym_input`` pass).
    """
    carried: dict[Any, tuple[Node, torch.Tensor, int]] = {}
    for pos, (node, example) in enumerate(zip(placeholders, example_inputs)):
        val = node.meta.get("val", example)
        if pos in frozen_inputs or not isinstance(val, torch.Tensor):
            continue
        for dim, size in enumerate(val.shape):
            if isinstance(size, torch.SymInt) and not size.node.expr.is_number:
                carried.setdefault(size.node.expr, (node, val, dim))
    return carried


def _size_bindings(
    placeholders: Sequence[Node],
    example_inputs: Sequence[Any],
    data_index: Mapping[Node, int],
    carried: Mapping[Any, tuple[Node, torch.Tensor, int]],
) -> tuple[SizeBinding, ...]:
    """Where each symbolic size is read: a tensor input's dim, else its own size ``Data``."""
    position = {node: pos for pos, node in enumerate(placeholders)}
    found = [
        SizeBinding(str(expr), position[node], dim) for expr, (node, _, dim) in carried.items()
    ]
    for node, example in zip(placeholders, example_inputs):
        val = node.meta.get("val", example)
        if node in data_index and isinstance(val, torch.SymInt):
            found.append(SizeBinding(str(val.node.expr), position[node]))
    return tuple(found)


def _is_data_input(
    node: Node, example: Any, carried: Mapping[Any, tuple[Node, torch.Tensor, int]]
) -> bool:
    """Whether a (non-frozen) placeholder becomes a ``Data`` input.

    Tensors do. A size does only if something reads it and no tensor input
    carries it: Dynamo passes a size placeholder for every symbol its tensors
    use, most of them unread, and one a tensor carries is read inside the
    graph. Either way the device gets no host scalar to copy per call and
    ``ge.inputShape`` lists tensors only. The runtime maps ``Data`` ops to
    placeholders explicitly (``LoweredGraph.input_sources``), so dropped sizes
    need no renumbering downstream.
    """
    val = node.meta.get("val", example)
    if isinstance(val, torch.Tensor):
        return True
    if not node.users:
        return False
    return not (isinstance(val, torch.SymInt) and val.node.expr in carried)


def _resolve(b: GraphBuilder, node: Node, env: dict[Node, Any], sizes: dict[Any, SymValue]) -> Any:
    """``env[node]``, reading a carried size off its tensor the first time it is used."""
    value = env[node]
    if isinstance(value, _CarriedSize):
        ctx = ConversionContext(b, node, sizes)
        value = env[node] = dim_size(ctx, env[value.tensor], value.val, value.dim)
    return value


def _convert(b: GraphBuilder, node: Node, env: dict[Node, Any], sizes: dict[Any, SymValue]) -> Any:
    if _is_folded(node):
        return node.meta["val"]
    if node.target is operator.getitem:
        seq, idx = node.args
        return _resolve(b, seq, env, sizes)[idx]
    conv = lookup(node.target)
    assert conv is not None  # find_unsupported ran first
    args = torch.fx.node.map_arg(node.args, lambda n: _resolve(b, n, env, sizes))
    kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: _resolve(b, n, env, sizes))
    ctx = ConversionContext(b, node, sizes)
    try:
        return conv.fn(ctx, *args, **kwargs)
    except (UnsupportedOpError, NotImplementedError, TypeError, ValueError) as e:
        raise UnsupportedOpError(
            [UnsupportedOp(target_name(node.target), f"converter failed: {e}", _source(node))]
        ) from e


def _emit_outputs(
    b: GraphBuilder,
    flat: Sequence[Any],
    env: dict[Node, Any],
    views: Collection[int],
    sizes: dict[Any, SymValue],
    returned: int | None = None,
) -> list[str]:
    """Feed ``NetOutput``; outputs past the first ``returned`` are hidden view bases.

    Returns:
        The output kinds (:attr:`LoweredGraph.output_kinds`).
    """
    refs: list[TensorRef] = []
    kinds: list[str] = []
    for k, out in enumerate(flat):
        if k in views:  # rebuilt from its base after the graph ran: not a GE output
            kinds.append("v")
            continue
        value = _resolve(b, out, env, sizes) if isinstance(out, Node) else out
        if isinstance(value, TensorRef):
            refs.append(value)
            kinds.append("t" if returned is None or k < returned else "b")
        elif isinstance(value, SymValue):
            refs.append(value.ref)
            kinds.append("s")
        elif value is None:
            kinds.append("n")
        elif isinstance(value, int):
            refs.append(b.const(value, DataType.INT64))
            kinds.append("s")
        else:
            raise ValueError(f"gm: graph output of type {type(value).__name__} is not supported")
    used = {e.rpartition(":")[0] for op in b.graph.ops for e in op.inputs if e}
    used |= {r.op.name for r in refs}
    effects: list[GeOp] = [
        op for op in b.graph.ops if op.type in _SIDE_EFFECT_OPS and op.name not in used
    ]
    net = b.net_output(refs, control=effects)
    dtypes = tuple(r.dtype.ge_code for r in refs)
    b.graph.attrs["_output_dtypes"] = Attr(AttrKind.LIST_I, dtypes)
    del net
    return kinds


def _is_folded(node: Node) -> bool:
    # A node whose value is a concrete Python number (e.g. sym_size of a
    # static dim) is folded into a constant instead of being converted.
    val = node.meta.get("val")
    return isinstance(val, (int, float, bool)) and not isinstance(val, torch.SymInt)


def _fetch_attr(gm: GraphModule, target: str) -> torch.Tensor:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+)')


def _source(node: Node) -> str:
    """The innermost user source line of ``node``, e.g. ``model.py:12``."""
    trace = node.meta.get("stack_trace") or ""
    matches = _FILE_LINE.findall(trace)
    if not matches:
        return ""
    path, line = matches[-1]
    tail = trace[trace.rfind('File "') :].splitlines()[1:]
    code = next((ln.strip() for ln in tail if ln.strip().strip("^~ ")), "")
    return f"{path}:{line}" + (f": {code}" if code else "")


def _op_name(fx_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", fx_name)
