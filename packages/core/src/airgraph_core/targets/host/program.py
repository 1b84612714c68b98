"""Run a GE graph on the CPU: specialize, re-emit as FX, interpret or compile.

For each distinct input signature (tensor shapes and dtypes plus the values
of host scalar inputs) the graph is *specialized*: shape-like values (``Shape``
of a tensor, arithmetic on sizes, constants) are folded to Python values, so
every remaining op is a plain tensor op with static attributes. The result
is a ``torch.fx.GraphModule`` whose nodes call the host semantics table;
it is run as is (``interpret``) or compiled by Inductor (``inductor``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.fx import Graph, GraphModule

from airgraph_core.input_updates import as_plain_data
from airgraph_core.ir.dtypes import to_torch
from airgraph_core.ir.graph import GeGraph, GeOp, parse_edge, topological_order
from airgraph_core.targets.host.aliasing import views_of_written_inputs
from airgraph_core.targets.host.data_sizes import reads_sizes_from_data
from airgraph_core.targets.host.layout import DenseInputs
from airgraph_core.targets.host.rewrites import GE_NODE, GeNode
from airgraph_core.targets.host.semantics import HostOp, lookup_host_op, py_attrs

__all__ = ["HostProgram", "py_attrs", "specialize"]

log = logging.getLogger("airgraph.core")

HOST_MODES = ("inductor", "interpret")

# Ops whose output depends only on their input's shape, never its data.
_SHAPE_OPS = frozenset({"Shape", "Size", "Rank"})


class _Dyn:
    """A value computed in the emitted graph: its FX node and its value in this call.

    ``foldable`` marks values that depend only on constants and shapes (a
    causal mask, an ``arange``): they are known at specialization time but
    too large to bake in as constants, since Inductor computes them inside
    fused kernels faster than it loads them.
    """

    __slots__ = ("node", "value", "foldable")

    def __init__(self, node: torch.fx.Node, value: Any, foldable: bool = False) -> None:
        self.node = node
        self.value = value
        self.foldable = foldable


def specialize(
    graph: GeGraph,
    inputs: Sequence[Any],
    on_op: Callable[[GeOp, list[Any], list[Any]], None] | None = None,
) -> tuple[GraphModule, list[torch.Tensor], list[Any]]:
    """Fold ``graph`` for the signature of ``inputs``, emit it as FX, and run it once.

    Specializing evaluates every op on the real inputs (that is how shapes
    and foldable values are known), so it also yields this call's outputs
    and applies its in-place updates (``Assign``) to the inputs.

    Args:
        graph: the GE graph.
        inputs: one value per ``Data`` op in index order: tensors, or ints
            for host scalar inputs.
        on_op: if given, called as each op (``Data`` included, ``Const``
            and ``NetOutput`` not) has run, with its input and output
            values of this call (e.g. to dump them).

    Returns:
        The graph module (one placeholder per tensor input, returning a
        tuple of the ``NetOutput`` values), the tensor inputs to call it
        with, and the outputs of this call.
    """
    if torch.is_autocast_enabled("cpu"):  # the graph's dtypes are explicit: run them as they are
        with torch.autocast("cpu", enabled=False):
            return specialize(graph, inputs, on_op)
    datas = graph.data_ops
    if len(inputs) != len(datas):
        raise ValueError(
            f"inputs: graph {graph.name!r} takes {len(datas)} inputs, got {len(inputs)}"
        )
    fx = Graph()
    root = torch.nn.Module()
    values: dict[str, list[Any]] = {}
    tensor_inputs: list[torch.Tensor] = []
    buffers: dict[int, tuple[torch.fx.Node, torch.Tensor]] = {}

    def const_node(t: torch.Tensor) -> torch.fx.Node:
        if t.numel() == 1 and not t.is_complex():
            # A literal in the graph: Inductor inlines it into the kernels that
            # use it, where a buffer would be one more input loaded per element.
            return fx.call_function(torch.full, (tuple(t.shape), t.item()), {"dtype": t.dtype})
        # One buffer per constant however many ops read it (AOTAutograd would
        # deduplicate repeated inputs, and then keep its runtime wrapper).
        if id(t) not in buffers:
            name = f"_const{len(buffers)}"
            root.register_buffer(name, t)
            buffers[id(t)] = (fx.get_attr(name), t)
        return buffers[id(t)][0]

    _bind_inputs(fx, datas, inputs, values, tensor_inputs)
    must_copy = views_of_written_inputs(graph)
    outputs: list[Any] = []

    def ran(op: GeOp, ins: list[Any]) -> None:
        if on_op is not None:
            on_op(op, [_real(v) for v in ins], [_real(v) for v in values[op.name]])

    for op in topological_order(graph.ops):
        if op.type in ("Data",):
            ran(op, [])
            continue
        if op.type == "Const":
            values[op.name] = [op.attr("value").to_torch()]
            continue
        ins = [_read(values, e) for e in op.data_inputs]
        if op.type == "NetOutput":
            outputs = ins
            continue
        sem = lookup_host_op(op.type)
        attrs = py_attrs(op)
        if op.type in _SHAPE_OPS:
            shape_of = ins[0].value if isinstance(ins[0], _Dyn) else ins[0]
            values[op.name] = _as_list(sem.fn([shape_of], attrs))
            ran(op, ins)
            continue
        foldable = not sem.side_effect and all(not isinstance(v, _Dyn) or v.foldable for v in ins)
        if foldable and not any(isinstance(v, _Dyn) for v in ins):
            real = [_const_arg(sem, i, v, len(ins)) for i, v in enumerate(ins)]
            result = _as_list(sem.fn(real, attrs))
            if all(_is_small(r) for r in result):
                values[op.name] = result
                ran(op, ins)
                continue
        # An op writing an input (Assign) is seen with the input as it was before.
        seen = [_clone(_real(v)) for v in ins] if on_op and sem.side_effect else ins
        values[op.name] = _emit(fx, sem, op, ins, attrs, const_node, foldable, op.name in must_copy)
        ran(op, seen)

    # GE outputs are new, contiguous tensors. Views (of inputs, of constants,
    # or strided ones) are copied at the outputs, and only there.
    kept = {_storage(t) for t in tensor_inputs} | {_storage(t) for _, t in buffers.values()}
    out_nodes, results = _emit_outputs(fx, outputs, kept, const_node)
    fx.output(tuple(out_nodes))
    return GraphModule(root, fx, class_name=f"GeHost_{graph.name}"), tensor_inputs, results


def _bind_inputs(
    fx: Graph,
    datas: Sequence[GeOp],
    inputs: Sequence[Any],
    values: dict[str, list[Any]],
    tensor_inputs: list[torch.Tensor],
) -> None:
    """A placeholder per tensor input, a literal per host scalar input (into ``values``)."""
    for op, value in zip(datas, inputs):
        if op.output_descs[0].placement == "CPU" and not isinstance(value, torch.Tensor):
            values[op.name] = [torch.tensor(int(value), dtype=torch.int64)]
        else:
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"inputs: Data {op.name!r} expects a tensor, got {type(value).__name__}"
                )
            node = fx.placeholder(op.name)
            values[op.name] = [_Dyn(node, value)]
            tensor_inputs.append(value)


def _emit_outputs(
    fx: Graph,
    outputs: Sequence[Any],
    kept: set[int | None],
    const_node: Callable[[torch.Tensor], torch.fx.Node],
) -> tuple[list[torch.fx.Node], list[Any]]:
    """The output nodes and this call's results; views and kept storage are cloned."""
    out_nodes, results = [], []
    for v in outputs:
        if isinstance(v, _Dyn):
            node, value = v.node, v.value
            copy = isinstance(value, torch.Tensor) and (
                not value.is_contiguous() or _storage(value) in kept
            )
        else:  # a folded value: a fresh literal, or a constant buffer to copy
            node, value = const_node(v), v
            copy = node.op == "get_attr"
        if copy:
            node = fx.call_function(
                torch.clone, (node,), {"memory_format": torch.contiguous_format}
            )
            value = value.clone(memory_format=torch.contiguous_format)
        out_nodes.append(node)
        results.append(value)
    return out_nodes, results


def _storage(t: torch.Tensor) -> int | None:
    """An identity of ``t``'s memory (``None`` for empty tensors, which share nothing)."""
    return t.untyped_storage().data_ptr() if t.numel() else None


#: Folded results up to this many elements become constants; larger ones are computed.
FOLD_LIMIT = 16


def _is_small(value: Any) -> bool:
    return not isinstance(value, torch.Tensor) or value.numel() <= FOLD_LIMIT


def _emit(
    fx: Graph,
    sem: HostOp,
    op: GeOp,
    ins: list[Any],
    attrs: dict[str, Any],
    const_node: Any,
    foldable: bool = False,
    copy: bool = False,
) -> list[Any]:
    n = len(ins)
    args: list[Any] = []
    fixed: dict[int, Any] = {}
    for i, v in enumerate(ins):
        if sem.is_const_input(i, n):
            if isinstance(v, _Dyn) and v.foldable:
                fixed[i] = _const_arg(sem, i, v.value, n)
            elif isinstance(v, _Dyn):
                raise NotImplementedError(
                    f"{op.type} {op.name!r}: input {i} must be foldable to a constant on the "
                    "host target (a data-dependent shape)"
                )
            else:
                fixed[i] = _const_arg(sem, i, v, n)
        elif isinstance(v, _Dyn):
            args.append(v.node)
        elif v is None:
            fixed[i] = None
        else:
            args.append(const_node(v))
    real = [
        fixed[i] if i in fixed else (v.value if isinstance(v, _Dyn) else v)
        for i, v in enumerate(ins)
    ]
    outs = _as_list(sem.fn(real, attrs))
    call = _bind(sem, op, fixed, n, attrs, copy)
    if copy:
        outs = [_clone(o) for o in outs]
    node = fx.call_function(call, tuple(args))
    node.meta[GE_NODE] = GeNode.of(op.type, attrs, fixed, outs)  # for the Inductor rewrites
    if len(outs) == 1 and len(op.output_descs) <= 1:
        return [_Dyn(node, outs[0], foldable)]
    return [_Dyn(fx.call_function(_getitem, (node, i)), m, foldable) for i, m in enumerate(outs)]


def _real(value: Any) -> Any:
    return value.value if isinstance(value, _Dyn) else value


def _getitem(seq: Any, i: int) -> Any:
    return seq[i]


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


def _bind(sem: HostOp, op: GeOp, fixed: dict[int, Any], n: int, attrs: dict[str, Any], copy: bool):
    order = [i for i in range(n) if i not in fixed]

    def call(*tensors: torch.Tensor) -> Any:
        full: list[Any] = [None] * n
        for i, v in fixed.items():
            full[i] = v
        for i, t in zip(order, tensors):
            full[i] = t
        result = sem.fn(full, attrs)
        return _clone(result) if copy else result

    call.__name__ = f"ge_{op.type}"
    call.__qualname__ = call.__name__
    return call


def _const_arg(sem: HostOp, i: int, v: Any, n: int) -> Any:
    if v is not None and sem.is_const_input(i, n):
        return v.tolist()
    return v


def _read(values: dict[str, list[Any]], edge: str) -> Any:
    if not edge:
        return None
    src, idx = parse_edge(edge)
    return values[src][idx]


def _as_list(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


class HostProgram:
    """A GE graph made executable on the CPU.

    Calls take one value per ``Data`` op (in index order) and return the
    ``NetOutput`` values as a list. Each new input signature is specialized
    and, in ``inductor`` mode, compiled once; later calls with the same
    signature reuse it.

    Args:
        graph: the GE graph to run.
        mode: ``"inductor"`` (compile each specialization) or
            ``"interpret"`` (run the FX graph op by op: the reference mode).
    """

    def __init__(self, graph: GeGraph, mode: str = "inductor") -> None:
        if mode not in HOST_MODES:
            raise ValueError(f"mode: {mode!r} is not one of {HOST_MODES}")
        graph = as_plain_data(graph)  # a RefData runs as the Data it stands for
        self.graph = graph
        self.mode = mode
        self._compiled: dict[tuple, Any] = {}
        #: Per signature, a :class:`~airgraph_core.targets.host.warm_hints.WarmHint`.
        self.hints: dict[tuple, Any] = {}
        self._modules: dict[tuple, GraphModule] = {}
        datas = graph.data_ops
        self._host_scalar = [op.output_descs[0].placement == "CPU" for op in datas]
        self._tensor_pos = [i for i, scalar in enumerate(self._host_scalar) if not scalar]
        # Only inputs whose shape the graph leaves open (or host scalars) can
        # change between calls; static inputs are fixed by the graph itself.
        self._scalar_pos = [i for i, scalar in enumerate(self._host_scalar) if scalar]
        self._open_pos = [
            i
            for i, op in enumerate(datas)
            if not self._host_scalar[i] and not op.output_descs[0].is_static
        ]
        self._n_inputs = len(datas)
        self._fixed_signature = not self._scalar_pos and not self._open_pos
        self._all_tensors = not self._scalar_pos
        # Per signature, the specialization called with a list of its tensor inputs.
        self._runners: dict[tuple, Callable[[list[Any]], list[Any]]] = {}
        self._key, self._tensors_of = _call_functions(
            self._scalar_pos, self._open_pos, self._tensor_pos
        )
        # A size read off a NonZero output is folded per call: specialized at every call.
        self._per_call = reads_sizes_from_data(graph)

    def signature(self, inputs: Sequence[Any]) -> tuple:
        """The specialization key of ``inputs``: the values of host scalar
        inputs, then the shapes of the tensor inputs whose GE shape has ``-1`` dims."""
        if self._fixed_signature:
            return ()
        # torch.Size hashes and compares like the tuple it is.
        if not self._scalar_pos:  # the common case, on every call: one list fewer
            return tuple([inputs[i].shape for i in self._open_pos])
        return tuple(
            [int(inputs[i]) for i in self._scalar_pos] + [inputs[i].shape for i in self._open_pos]
        )

    def compile_for(self, inputs: Sequence[Any]) -> Any:
        """Specialize (and compile) for the signature of ``inputs``; cached.

        A new signature runs the graph once on ``inputs`` (see
        :func:`specialize`), so pass inputs whose in-place updates may happen.
        """
        return self._specialization(inputs)[0]

    def _specialization(self, inputs: Sequence[Any]) -> tuple[Any, list[Any] | None]:
        key = self.signature(inputs)
        fn = self._compiled.get(key)
        if fn is not None:
            return fn, None
        if torch.is_autocast_enabled("cpu"):  # Inductor too compiles the graph's own dtypes
            with torch.autocast("cpu", enabled=False):
                return self._specialization(inputs)
        gm, tensors, outputs = specialize(self.graph, inputs)
        if self._per_call:
            runner = self._per_call_runner(key)
            self._compiled[key] = lambda *tensors: runner(list(tensors))
            self._runners[key] = runner
            return self._compiled[key], outputs
        if self.mode == "inductor":
            from airgraph_core.targets.host.warm_hints import compile_hinted

            # Compiled for contiguous inputs; another layout is passed as a copy.
            dense = [t.contiguous() if isinstance(t, torch.Tensor) else t for t in tensors]
            fn = DenseInputs(self.graph, compile_hinted(self.hints, key, gm, dense))
            self._runners[key] = fn.run_list
        else:
            fn = _interpreted(gm)
            self._runners[key] = _list_runner(fn)
        self._compiled[key] = fn
        self._modules[key] = gm
        log.debug("host: specialized %s for %s", self.graph.name, key)
        return fn, outputs

    def _per_call_runner(self, key: tuple) -> Callable[[list[Any]], list[Any]]:
        """Runs each call (its tensor inputs) through :func:`specialize` afresh."""
        scalars = key[: len(self._scalar_pos)]

        def run(tensors: list[Any]) -> list[Any]:
            inputs: list[Any] = [None] * self._n_inputs
            for i, value in zip(self._scalar_pos, scalars):
                inputs[i] = value
            for i, tensor in zip(self._tensor_pos, tensors):
                inputs[i] = tensor
            return specialize(self.graph, inputs)[2]

        return run

    @property
    def signatures(self) -> list[tuple]:
        """The input signatures specialized so far (see :meth:`signature`)."""
        return list(self._compiled)

    def specialized_module(self, signature: tuple) -> GraphModule:
        """The FX module of one specialization (for export, e.g. as an AOTInductor package)."""
        if self._per_call and signature in self._compiled:
            raise KeyError(f"{signature}: folds sizes read off values per call, none to export")
        return self._modules[signature]

    def example_inputs(self, signature: tuple) -> list[torch.Tensor]:
        """Zero tensors shaped as the tensor inputs of a call with ``signature``."""
        shapes = iter(signature[len(self._scalar_pos) :])
        open_pos = set(self._open_pos)
        tensors = []
        for i in self._tensor_pos:
            desc = self.graph.data_ops[i].output_descs[0]
            shape = next(shapes) if i in open_pos else desc.shape
            tensors.append(torch.zeros(shape, dtype=to_torch(desc.dtype)))
        return tensors

    def install(
        self,
        signature: tuple,
        fn: Any,
        list_fn: Callable[[list[Any]], list[Any]] | None = None,
    ) -> None:
        """Use ``fn`` (called with the tensor inputs) for ``signature`` instead of compiling;
        ``list_fn``, if given, is the same called with one list of them (a new list back)."""
        self._compiled[signature] = fn
        self._runners[signature] = _list_runner(fn) if list_fn is None else list_fn

    def __call__(self, *inputs: Any) -> list[Any]:
        return self.run(inputs)

    def run(self, inputs: Sequence[Any]) -> list[Any]:
        """The ``NetOutput`` values (a new list) of a call with one value per ``Data`` op."""
        if len(inputs) != self._n_inputs:
            raise ValueError(
                f"inputs: graph {self.graph.name!r} takes {self._n_inputs} inputs, got {len(inputs)}"
            )
        runner = self._runners.get(self._key(inputs))
        if runner is None:
            fn, outputs = self._specialization(inputs)
            if outputs is not None:  # the specialization just ran this call
                return outputs
            runner = self._runners[self.signature(inputs)]
        if self._all_tensors:
            return runner(inputs if type(inputs) is list else list(inputs))
        return runner(self._tensors_of(inputs))


def _list_runner(fn: Callable[..., Any]) -> Callable[[list[Any]], list[Any]]:
    """``fn`` (called with the tensor inputs) as a function of one list of them."""
    return lambda tensors: list(fn(*tensors))


def _interpreted(gm: GraphModule) -> Callable[..., Any]:
    """``gm`` run op by op with CPU autocast off: the graph's dtypes are explicit
    (autocast was applied when it was traced); the Inductor-compiled path turns it off too."""

    def run(*tensors: Any) -> Any:
        if torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return gm(*tensors)
        return gm(*tensors)

    return run


def _call_functions(
    scalar_pos: Sequence[int], open_pos: Sequence[int], tensor_pos: Sequence[int]
) -> tuple[Callable[[Sequence[Any]], tuple], Callable[[Sequence[Any]], list[Any]]]:
    """:meth:`HostProgram.signature` and the pick of the tensor inputs, each one expression;
    only indices (written through ``int()``) enter the compiled text."""
    key = [f"int(inputs[{int(i)}])" for i in scalar_pos]
    key += [f"inputs[{int(i)}].shape" for i in open_pos]
    tensors = [f"inputs[{int(i)}]" for i in tensor_pos]
    text = f"(lambda inputs: ({', '.join(key)}{',' if key else ''}), "
    text += f"lambda inputs: [{', '.join(tensors)}])"
    return eval(compile(text, "<airgraph_core host call>", "eval"), {})  # noqa: S307
