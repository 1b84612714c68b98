"""Test helpers: lower a callable, check the GE graph, run it on the host, compare with eager.

Used by airgraph's own tests and usable by anyone writing a converter.

Examples:
    >>> import torch
    >>> from airgraph_core.testing import check_lowering
    >>> g = check_lowering(lambda x: torch.relu(x) + 1, [torch.randn(4)])  # doctest: +SKIP
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from airgraph_core.capture import aot_inference_graph, capture_aten_graph
from airgraph_core.decompositions import merge_decompositions
from airgraph_core.ir.graph import GeGraph
from airgraph_core.ir.opdefs import validate_graph
from airgraph_core.lowered import lowered_of
from airgraph_core.lowering import lower_graph
from airgraph_core.outputs import rebuild_outputs
from airgraph_core.targets.host.program import HostProgram

__all__ = [
    "CAPTURE_ENV",
    "TOLERANCES",
    "assert_valid_ge_graph",
    "check_lowering",
    "random_tensor",
    "run_lowered",
]

#: (atol, rtol) per dtype for comparisons with eager PyTorch.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-5, 1e-4),
    torch.float16: (1e-3, 1e-3),
    torch.bfloat16: (1e-2, 1e-2),
    torch.float64: (1e-9, 1e-7),
}

#: Environment variable: ``dynamo`` makes every :func:`check_lowering` capture
#: through ``torch.compile`` (as ``capture="dynamo"``), whatever the call asks.
CAPTURE_ENV = "AIRGRAPH_TEST_CAPTURE"

_CAPTURES = ("auto", "dynamo", "aot")

# ATen overloads this process has already captured through torch.compile (``capture="auto"``).
_dynamo_covered: set[str] = set()


def random_tensor(shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """Random test data of ``dtype``: normal floats, ints in [-5, 5], fair bools."""
    if dtype is torch.bool:
        return torch.rand(shape) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    return torch.randint(-5, 6, tuple(shape), dtype=dtype)


def assert_valid_ge_graph(graph: GeGraph) -> None:
    """Fail with every problem :func:`validate_graph` finds in ``graph``."""
    problems = validate_graph(graph)
    if problems:
        raise AssertionError(f"GE graph {graph.name!r} is invalid:\n  " + "\n  ".join(problems))


def run_lowered(
    graph: GeGraph,
    aten_inputs: Sequence[Any],
    mode: str = "interpret",
    program: HostProgram | None = None,
) -> list[Any]:
    """Run a lowered graph on the host with the inputs of its ATen graph.

    ``program``: a :class:`HostProgram` of ``graph`` to call (a new one in
    ``mode`` when ``None``). In ``inductor`` mode a program's first call for
    a shape runs the specialization op by op while compiling it; only later
    calls run the compiled code.
    """
    lowered = lowered_of(graph)
    inputs = [aten_inputs[i] for i in lowered.input_sources]
    outs = (program or HostProgram(graph, mode))(*inputs)
    return rebuild_outputs(outs, inputs, lowered.output_kinds, lowered.output_views)


def check_lowering(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    modes: Iterable[str] = ("interpret",),
    dynamic: bool = False,
    expect_ops: Iterable[str] = (),
    atol: float | None = None,
    rtol: float | None = None,
    capture: str = "auto",
) -> GeGraph:
    """Capture ``fn`` as ATen, lower it, validate the GE graph and compare with eager.

    Args:
        fn: a module or callable taking ``inputs``.
        inputs: example inputs; tensors mutated in place by ``fn`` are
            compared after the run too.
        modes: host modes to run (``"interpret"``, ``"inductor"``).
        dynamic: capture with symbolic shapes.
        expect_ops: GE op types that must appear in the graph.
        atol, rtol: override the per-dtype :data:`TOLERANCES`.
        capture: how the ATen graph is made. ``"dynamo"``: through
            ``torch.compile``, as the backend gets it
            (:func:`~airgraph_core.capture.capture_aten_graph`). ``"aot"``:
            AOTAutograd over ``fn`` without Dynamo (the same decompositions
            and functionalization, a third of the CPU time); only for static
            shapes, tensor or constant arguments and tensor results.
            ``"auto"`` (default): ``"aot"`` where it applies, but through
            ``torch.compile`` whenever the graph holds an ATen overload this
            process has not yet captured through ``torch.compile``, so every
            converter a test reaches is also tested through Dynamo. The
            environment variable ``AIRGRAPH_TEST_CAPTURE=dynamo`` (see
            :data:`CAPTURE_ENV`) makes every capture go through Dynamo.

    Returns:
        The lowered GE graph.

    Raises:
        ValueError: if ``capture`` is not one of ``"auto"``, ``"dynamo"``, ``"aot"``.
        AssertionError: if the graph is invalid, lacks ``expect_ops`` or a
            result differs from eager.
    """
    if capture not in _CAPTURES:
        raise ValueError(f"capture must be one of {_CAPTURES}, got {capture!r}")
    eager_inputs = [_clone(x) for x in inputs]
    with torch.no_grad():
        expected = fn(*eager_inputs)
    captured = [_clone(x) for x in inputs]
    gm, aten_inputs = _capture(fn, inputs, captured, expected, dynamic=dynamic, capture=capture)
    graph = lower_graph(gm, aten_inputs)
    assert_valid_ge_graph(graph)
    missing = set(expect_ops) - {op.type for op in graph.ops}
    if missing:
        raise AssertionError(f"expected GE ops {sorted(missing)} in {graph.op_types()}")
    # Which ATen placeholders are the user's inputs (the rest are lifted parameters).
    user_pos = {id(x): j for j, x in enumerate(captured) if isinstance(x, torch.Tensor)}
    for mode in modes:
        program = HostProgram(graph, mode)
        runs = 1 if mode == "interpret" else 2  # the first call of a compiling mode is op by op
        for _ in range(runs):
            run_inputs = [_clone(x) for x in inputs]
            aten_run = [
                run_inputs[user_pos[id(a)]] if id(a) in user_pos else a for a in aten_inputs
            ]
            got = run_lowered(graph, aten_run, mode, program)
        _compare(expected, got, f"{mode} output", atol, rtol)
        for i, (a, b) in enumerate(zip(eager_inputs, run_inputs)):
            if isinstance(a, torch.Tensor):
                _compare(a, b, f"{mode} input {i} after in-place update", atol, rtol)
    return graph


def _capture(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    captured: list[Any],
    expected: Any,
    *,
    dynamic: bool,
    capture: str,
) -> tuple[torch.fx.GraphModule, list]:
    """The ATen graph of ``fn`` and its real inputs; ``captured`` are the user inputs it ran on.

    Both paths run ``fn`` on ``captured`` (clones of ``inputs``); before Dynamo
    captures after an AOT attempt, ``captured`` is cloned afresh, so it always
    ends as one run of ``fn`` leaves it (in-place updates applied once).
    """
    if os.environ.get(CAPTURE_ENV, "").strip().lower() == "dynamo":
        capture = "dynamo"
    applies = not dynamic and _aot_applies(inputs, expected)
    if capture == "aot" and not applies:
        raise ValueError(
            "capture='aot' needs dynamic=False, tensor or constant arguments and "
            "distinct tensor results; use capture='auto' or 'dynamo'"
        )
    if capture != "dynamo" and applies:
        try:
            gm, aten_inputs = _capture_aot(fn, captured)
        except Exception:  # noqa: BLE001 - Dynamo's capture below raises the error that counts
            if capture == "aot":
                raise
            captured[:] = [_clone(x) for x in inputs]
        else:
            targets = _aten_targets(gm)
            if capture == "aot" or (targets <= _dynamo_covered and _only_aten_ops(gm)):
                return gm, aten_inputs
            # An overload not yet seen through torch.compile: capture again with Dynamo
            # on the inputs as given (the AOT run updated ``captured`` in place).
            captured[:] = [_clone(x) for x in inputs]
    gm, aten_inputs = capture_aten_graph(fn, captured, dynamic=dynamic)
    _dynamo_covered.update(_aten_targets(gm))
    return gm, aten_inputs


def _aten_targets(gm: torch.fx.GraphModule) -> set[str]:
    return {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}


def _only_aten_ops(gm: torch.fx.GraphModule) -> bool:
    """Whether every call in ``gm`` is an ATen/prims overload or ``getitem``.

    Dynamo rewrites some calls before AOTAutograd sees them (in-place
    ``torch.distributed`` collectives become functional ones); without it they
    show up as effect tokens and other namespaces, so such graphs go through Dynamo.
    """
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if getattr(node.target, "namespace", None) not in ("aten", "prims"):
            return False
    return True


def _holds_tensor(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(_holds_tensor(y) for y in x)
    if isinstance(x, dict):
        return any(_holds_tensor(y) for y in x.values())
    return False


def _aot_applies(inputs: Sequence[Any], expected: Any) -> bool:
    """Whether the AOT capture makes the graph Dynamo would: plain tensor arguments and results.

    Tensors nested in containers, non-tensor or repeated results go through Dynamo,
    whose graph differs there (it flattens arguments, returns only distinct tensors).
    """
    if any(_holds_tensor(x) and not isinstance(x, torch.Tensor) for x in inputs):
        return False
    results = expected if isinstance(expected, (list, tuple)) else [expected]
    if not all(isinstance(r, torch.Tensor) for r in results):
        return False
    return len({id(r) for r in results}) == len(results)


class _TupleResults(torch.nn.Module):
    """``fn`` over its tensor arguments only, returning a tuple (what AOTAutograd takes)."""

    def __init__(self, fn: Callable[..., Any], args: Sequence[Any]) -> None:
        super().__init__()
        self.fn = fn
        self.args = list(args)
        self.tensor_positions = [i for i, x in enumerate(args) if isinstance(x, torch.Tensor)]

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        args = list(self.args)
        for i, t in zip(self.tensor_positions, tensors):
            args[i] = t
        out = self.fn(*args)
        return tuple(out) if isinstance(out, (list, tuple)) else (out,)


def _capture_aot(fn: Callable[..., Any], captured: list[Any]) -> tuple[torch.fx.GraphModule, list]:
    """AOTAutograd over ``fn`` without Dynamo: parameters and buffers lifted first, as Dynamo's."""
    module = _TupleResults(fn, captured)
    tensors = [captured[i] for i in module.tensor_positions]
    graphs: list[tuple[torch.fx.GraphModule, list]] = []
    runs: list[list[Any]] = []

    def fw_compiler(gm: torch.fx.GraphModule, fake_inputs: list) -> Callable[..., Any]:
        graphs.append((gm, fake_inputs))

        def run(*args: Any) -> Any:
            runs.append(list(args))
            return gm.forward(*args)

        return run

    compiled = aot_inference_graph(module, tensors, fw_compiler, merge_decompositions(None))
    with torch.no_grad():
        compiled(*tensors)
    if len(graphs) != 1 or not runs:
        raise RuntimeError(f"AOT capture made {len(graphs)} graphs and ran {len(runs)} times")
    return graphs[0][0], runs[0]


def _clone(x: Any) -> Any:
    return x.clone() if isinstance(x, torch.Tensor) else x


def _flatten(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [y for item in x for y in _flatten(item)]
    if isinstance(x, dict):
        return [y for k in x for y in _flatten(x[k])]
    if hasattr(x, "to_tuple"):  # transformers ModelOutput
        return _flatten(x.to_tuple())
    return [x]


def _compare(expected: Any, got: Any, what: str, atol: float | None, rtol: float | None) -> None:
    exp = [e for e in _flatten(expected) if e is not None]
    act = [g for g in _flatten(got) if g is not None]
    if len(exp) != len(act):
        raise AssertionError(f"{what}: {len(act)} values, eager gave {len(exp)}")
    for i, (e, a) in enumerate(zip(exp, act)):
        if not isinstance(e, torch.Tensor):
            assert e == a, f"{what} {i}: {a} != eager {e}"
            continue
        assert a.shape == e.shape, f"{what} {i}: shape {tuple(a.shape)} != eager {tuple(e.shape)}"
        assert a.dtype == e.dtype, f"{what} {i}: dtype {a.dtype} != eager {e.dtype}"
        d_atol, d_rtol = TOLERANCES.get(e.dtype, (0, 0))
        torch.testing.assert_close(
            a,
            e,
            atol=d_atol if atol is None else atol,
            rtol=d_rtol if rtol is None else rtol,
            msg=lambda m, i=i: f"{what} {i}: {m}",
        )
