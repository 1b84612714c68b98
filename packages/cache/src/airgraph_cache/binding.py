"""How a cached program finds its inputs and rebuilds its outputs without Dynamo.

At the cold start, Dynamo knows where every graph input comes from (its
*source*: ``L['x']``, ``L['self']._modules['attn']._parameters['weight']``,
``L['x'].size()[0]``...). :func:`~airgraph_cache.source_paths.source_to_path`
turns each source into a plain JSON path, and :class:`InputBinding` evaluates those paths on later
calls against the method's ``self`` and arguments, its module's globals and
its closure cells (Dynamo names a free variable ``L['y']`` like a local; its
cell is read at every call, so a rebound or mutated value is what runs). Outputs are described by
a pytree spec whose leaves say which program output (or input, or constant)
fills them.
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import sys
from collections.abc import Callable, Sequence
from keyword import iskeyword
from typing import Any

import torch

from airgraph_cache._dynamo_compat import (
    tree_flatten,
    tree_unflatten,
    treespec_dumps,
    treespec_loads,
)
from airgraph_cache.records import RecordError, decode_records, encode_records, has_records

__all__ = [
    "UncacheableError",
    "closure_cells",
    "dynamo_global",
    "InputBinding",
    "OutputSpec",
]

#: One step of a path: ``["local", name]``, ``["attr", name]``, ``["item", key]``,
#: ``["size", dim]``, ``["stride", dim]``, ``["float_tensor"]``, ``["int"]``.
Step = list[Any]


class UncacheableError(RuntimeError):
    """The compiled program cannot be replayed without Dynamo (the cache is skipped)."""


def closure_cells(fn: Callable[..., Any]) -> dict[str, Any]:
    """The closure cells of ``fn``'s free variables that are not its parameters, by name.

    Dynamo's source for a free variable of the traced frame is ``L['name']``,
    as for a local; the cell (not its contents) is what stays the same across
    calls, so callers keep the cell and read ``cell_contents`` when they need it.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    params = set(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    return {
        name: cell
        for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ())
        if name not in params
    }


def dynamo_global(namespace: dict[str, Any], name: str) -> Any:
    """A global of the traced frame as Dynamo names it, looked up in ``namespace`` now.

    Besides the method's own globals, Dynamo adds names to the traced frame's
    globals that a fresh process does not have: ``__import_a_dot_b`` (the
    module ``a.b``, for a function of that module Dynamo inlined, such as
    ``math.pi`` read by a transformers activation) and ``__builtins_dict__...``
    (the builtins). Those resolve to the module and the builtins.

    Raises:
        KeyError: no such global (or the aliased module is not imported).
    """
    if name in namespace:
        return namespace[name]
    if name.startswith("__import_"):
        module = sys.modules.get(name.removeprefix("__import_").replace("_dot_", "."))
        if module is not None:
            return module
    elif name.startswith("__builtins_dict__"):
        return builtins.__dict__
    raise KeyError(name)


def _step(obj: Any, step: Step) -> Any:
    op = step[0]
    if op == "attr":
        return getattr(obj, step[1])
    if op == "item":
        return obj[step[1]]
    if op == "size":
        return obj.size(step[1])
    if op == "stride":
        return obj.stride(step[1])
    if op == "float_tensor":
        return _float_tensor(obj)
    if op == "int":
        return int(obj)
    raise ValueError(f"path: unknown step {step!r}")


def evaluate(
    path: Sequence[Step], frame: dict[str, Any], module_globals: dict[str, Any] | None = None
) -> Any:
    """Follow ``path`` from the call's locals ``frame`` (or the method's ``module_globals``,
    read at every call as TorchAir's cached function reads them)."""
    head = path[0]
    if head[0] == "global" and module_globals is not None:
        obj = dynamo_global(module_globals, head[1])
    elif head[0] != "local":
        raise ValueError(f"path: must start with a local, got {head!r}")
    else:
        obj = frame[head[1]]
    for step in path[1:]:
        obj = _step(obj, step)
    return obj


def _is_module_state(path: Sequence[Step], self_name: str = "self") -> bool:
    # A parameter or buffer of the module: read through ``_parameters``/``_buffers``
    # under ``self`` (the method's first parameter, whatever its name) and not converted
    # afterwards.
    if path[0] != ["local", self_name] or len(path) < 3:
        return False
    return path[-2] in (["attr", "_parameters"], ["attr", "_buffers"])


# Bumped whenever any module registers (or re-assigns) a parameter, buffer or
# submodule, so bound module state is re-read after e.g. ``m.weight = Parameter(...)``
# or ``load_state_dict(assign=True)``; in-place updates keep the same tensors.
_STATE_VERSION = [0]
_HOOKS: list[Any] = []


def _bump(*args: Any) -> None:
    # Not while Dynamo traces: a forward that builds modules (transformers' LLaMA slices its
    # ModuleList, which registers the layers in a new one) would make Dynamo guard on this
    # counter, whose value then differs in the next process (a variant per start, then the
    # cache gave up). Modules built inside a traced forward are not bound state anyway.
    if torch.compiler.is_compiling():
        return
    _STATE_VERSION[0] += 1


def _watch_module_state() -> None:
    if not _HOOKS:
        from torch.nn.modules import module

        _HOOKS.append(module.register_module_parameter_registration_hook(_bump))
        _HOOKS.append(module.register_module_buffer_registration_hook(_bump))
        _HOOKS.append(module.register_module_module_registration_hook(_bump))


@dataclasses.dataclass
class InputBinding:
    """Fetches the program's inputs from a call of the cached method.

    Parameters and buffers are resolved once (:meth:`bind_module`) and again
    only after some module registers or re-assigns a parameter, buffer or
    submodule; other paths are followed on every call.

    Args:
        fn: the unbound function of the cached method (for its signature).
        paths: one access path per program input, in program order.
    """

    fn: Callable[..., Any]
    paths: list[list[Step]]

    def __post_init__(self) -> None:
        self._signature = inspect.signature(self.fn)
        params = list(self._signature.parameters.values())
        # Dynamo names the module by the method's own first parameter (``L['s']`` for
        # ``def _forward(s, x)``): module state is read under that name.
        self._self_name = params[0].name if params else "self"
        self._positional = [
            p.name for p in params[1:] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self._simple = all(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
            for p in params[1:]
        )
        self._state: list[Any] | None = None
        self._version = -1
        _watch_module_state()
        cells = closure_cells(self.fn)
        self._getters: list[Callable[[dict[str, Any]], Any]] = []
        for path in self.paths:
            self._getters.append(_compile_getter(path, self.fn.__globals__, cells))
        # Fast path for positional calls: each input is module state, or an argument or
        # closure cell's value followed by attribute, item and size steps, fetched by one
        # generated expression.
        self._direct = _direct_function(self.paths, self._positional, cells, self._self_name)

    def frame(self, module: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
        """The method's locals for a call: ``self`` plus its bound arguments."""
        if self._simple and not kwargs and len(args) == len(self._positional):
            frame = dict(zip(self._positional, args))
            frame[self._self_name] = module
            return frame
        bound = self._signature.bind(module, *args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def bind_module(self, module: Any) -> None:
        """Resolve the inputs that are module state: parameters and buffers."""
        frame = {self._self_name: module}
        self._version = _STATE_VERSION[0]
        self._state = [
            evaluate(path, frame) if _is_module_state(path, self._self_name) else None
            for path in self.paths
        ]

    def inputs(self, module: Any, args: tuple, kwargs: dict) -> list[Any]:
        """The program inputs for one call, in program order."""
        if self._version != _STATE_VERSION[0]:
            self.bind_module(module)
        state = self._state
        direct = self._direct
        if direct is not None and not kwargs and len(args) == len(self._positional):
            return direct(args, state)
        frame = self.frame(module, args, kwargs)
        return [
            state[i] if state[i] is not None else get(frame)  # type: ignore[index]
            for i, get in enumerate(self._getters)
        ]


def _direct_function(
    paths: Sequence[Sequence[Step]],
    positional: Sequence[str],
    cells: dict[str, Any],
    self_name: str = "self",
) -> Callable[[tuple, list[Any]], list[Any]] | None:
    """``(args, state) -> inputs`` for a positional call, or None when a path needs the frame.

    Each input is ``state[i]`` (module state), or ``args[p]`` or a closure cell's
    contents followed by attribute, item, size and stride steps. Only indices
    (written through ``int()``) and checked identifiers enter the compiled text;
    cells and str keys live in its namespace.
    """
    position = {name: i for i, name in enumerate(positional)}
    namespace: dict[str, Any] = {}
    items = []
    for i, path in enumerate(paths):
        if _is_module_state(path, self_name):
            items.append(f"state[{int(i)}]")
            continue
        text = _direct_text(path, position, cells, namespace)
        if text is None:
            return None
        items.append(text)
    text = f"lambda args, state: [{', '.join(items)}]"
    return eval(compile(text, "<airgraph_cache input binding>", "eval"), namespace)  # noqa: S307


def _direct_text(
    path: Sequence[Step], position: dict[str, int], cells: dict[str, Any], namespace: dict
) -> str | None:
    """The expression of one input for :func:`_direct_function`, or None."""
    head = path[0]
    if head[0] != "local":
        return None
    if head[1] in position:
        text = f"args[{int(position[head[1]])}]"
    elif head[1] in cells:
        slot = f"_v{len(namespace)}"
        namespace[slot] = cells[head[1]]
        text = f"{slot}.cell_contents"
    else:
        return None
    for step in path[1:]:
        op, arg = step[0], step[1] if len(step) > 1 else None
        if op == "attr" and isinstance(arg, str) and arg.isidentifier() and not iskeyword(arg):
            text += f".{arg}"
        elif op == "item" and type(arg) is int:
            text += f"[{int(arg)}]"
        elif op == "item" and type(arg) is str:
            slot = f"_v{len(namespace)}"
            namespace[slot] = arg
            text += f"[{slot}]"
        elif op == "size" and type(arg) is int:
            text += f".shape[{int(arg)}]"
        elif op == "stride" and type(arg) is int:
            text += f".stride({int(arg)})"
        elif op == "float_tensor":
            namespace["_float_tensor"] = _float_tensor
            text = f"_float_tensor({text})"
        elif op == "int":
            text = f"int({text})"
        else:
            return None
    return text


def _float_tensor(value: Any) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64)


def _compile_getter(
    path: Sequence[Step], module_globals: dict[str, Any], cells: dict[str, Any]
) -> Callable[[dict[str, Any]], Any]:
    steps = [tuple(s) for s in path]
    if steps[0][0] == "local" and steps[0][1] in cells:
        cell, rest = cells[steps[0][1]], steps[1:]

        def from_cell(frame: dict[str, Any]) -> Any:
            obj = cell.cell_contents
            for step in rest:
                obj = _step(obj, step)
            return obj

        return from_cell
    if len(steps) == 1 and steps[0][0] == "local":
        name = steps[0][1]
        return lambda frame: frame[name]
    return lambda frame: evaluate(path, frame, module_globals)


def _layout(t: torch.Tensor) -> tuple:
    """Which memory ``t`` reads and how: equal layouts are interchangeable tensors."""
    return (
        t.untyped_storage().data_ptr(),
        t.dtype,
        t.device,
        tuple(t.shape),
        t.stride(),
        t.storage_offset(),
    )


@dataclasses.dataclass
class OutputSpec:
    """How to rebuild the method's return value from the program's outputs.

    ``leaves`` holds one entry per pytree leaf: ``["out", k]`` (program
    output ``k``), ``["input", i]`` (program input ``i`` returned as is) or
    ``["const", value]`` (a JSON value such as ``None`` or an int).
    """

    treespec: str
    leaves: list[list[Any]]

    @staticmethod
    def capture(result: Any, outputs: Sequence[Any], inputs: Sequence[Any]) -> OutputSpec:
        """Describe ``result`` by matching its leaves to ``outputs``/``inputs`` by identity.

        Raises:
            UncacheableError: a tensor leaf is neither a program output nor
                an input (e.g. a fresh view made by a runtime wrapper), or
                a leaf is not JSON-serializable.
        """
        try:
            flat, spec = tree_flatten(encode_records(result))
        except RecordError as e:
            raise UncacheableError(str(e)) from e
        sizes = _size_leaves(flat, outputs)
        out_ids = {id(t): k for k, t in enumerate(outputs) if isinstance(t, torch.Tensor)}
        in_ids = {id(t): i for i, t in enumerate(inputs) if isinstance(t, torch.Tensor)}
        # A view output reaches the caller as a new tensor object that AOTAutograd
        # rebuilt from the same base: the same memory, read the same way.
        out_views: dict[tuple, list[int]] = {}
        for k, t in enumerate(outputs):
            if isinstance(t, torch.Tensor) and t.numel():
                out_views.setdefault(_layout(t), []).append(k)
        # Outputs equal in layout now may differ at other sizes (``x[2:], x[n:]``
        # called with n == 2): each leaf takes its own output, in output order,
        # never one another leaf holds.
        taken = {out_ids[id(leaf)] for leaf in flat if id(leaf) in out_ids}
        by_layout: dict[int, int] = {}
        leaves: list[list[Any]] = []
        for i, leaf in enumerate(flat):
            if i in sizes:
                leaves.append(["out", sizes[i]])
            elif isinstance(leaf, torch.Tensor):
                if id(leaf) in out_ids:
                    leaves.append(["out", out_ids[id(leaf)]])
                elif id(leaf) in in_ids:
                    leaves.append(["input", in_ids[id(leaf)]])
                elif id(leaf) in by_layout:
                    leaves.append(["out", by_layout[id(leaf)]])
                elif leaf.numel() and _layout(leaf) in out_views:
                    candidates = out_views[_layout(leaf)]
                    free = [k for k in candidates if k not in taken]
                    if free:
                        k = free[0]
                    elif len(candidates) == 1:  # views of the one output of that layout
                        k = candidates[0]
                    else:
                        raise UncacheableError(
                            "a returned tensor is not an output of the compiled graph "
                            "(more views of one layout than outputs of it)"
                        )
                    taken.add(k)
                    by_layout[id(leaf)] = k
                    leaves.append(["out", k])
                else:
                    raise UncacheableError(
                        "a returned tensor is not an output of the compiled graph "
                        "(e.g. a view created after it ran)"
                    )
            elif leaf is None or isinstance(leaf, (bool, int, float, str)):
                leaves.append(["const", leaf])
            else:
                raise UncacheableError(f"cannot cache a returned {type(leaf).__name__}")
        try:
            text = treespec_dumps(spec)
        except Exception as e:  # custom containers without a serialized name
            raise UncacheableError(f"cannot serialize the output structure: {e}") from e
        return OutputSpec(text, leaves)

    def builder(self) -> Callable[[Sequence[Any], Sequence[Any]], Any]:
        """A function ``(outputs, inputs) -> result`` for this spec."""
        spec = treespec_loads(self.treespec)
        leaves = [tuple(leaf) for leaf in self.leaves]
        if spec.num_leaves == 1 and leaves[0][0] == "out" and spec.type is None:
            k = leaves[0][1]
            return lambda outs, ins: outs[k]
        records = has_records(self.treespec)

        def build(outs: Sequence[Any], ins: Sequence[Any]) -> Any:
            flat = [
                outs[v] if kind == "out" else ins[v] if kind == "input" else v for kind, v in leaves
            ]
            result = tree_unflatten(flat, spec)
            return decode_records(result) if records else result

        return build


def _size_leaves(flat: Sequence[Any], outputs: Sequence[Any]) -> dict[int, int]:
    """Which int leaves of the result are the graph's symbolic size outputs: leaf -> output.

    Dynamo returns a symbolic int of the result (``x.shape[0]``, ``2 * n``) as a
    graph output, in the result's order; constants stay out of the graph. A value
    the result holds as often as the graph outputs it is matched in order; any
    other count leaves the constants and sizes apart by nothing, so it is refused.

    Raises:
        UncacheableError: int leaves and size outputs of one value differ in number.
    """
    size_outputs: dict[int, list[int]] = {}
    for k, value in enumerate(outputs):
        if isinstance(value, int) and not isinstance(value, bool):
            size_outputs.setdefault(value, []).append(k)
    if not size_outputs:
        return {}
    int_leaves: dict[int, list[int]] = {}
    for i, leaf in enumerate(flat):
        if isinstance(leaf, int) and not isinstance(leaf, bool) and leaf in size_outputs:
            int_leaves.setdefault(leaf, []).append(i)
    matched: dict[int, int] = {}
    for value, ks in size_outputs.items():
        positions = int_leaves.get(value, [])
        if len(positions) != len(ks):
            raise UncacheableError(
                f"the method returns sizes that may be symbolic: {len(positions)} int(s) equal "
                f"to {value} in the result, {len(ks)} size output(s) of the graph"
            )
        matched.update(zip(positions, ks))
    return matched
