"""Test helpers: lower a callable, check the GE graph, run it on the host, compare with eager.

Used by airgraph's own tests and usable by anyone writing a converter.

Examples:
    >>> import torch
    >>> from airgraph_core.testing import check_lowering
    >>> g = check_lowering(lambda x: torch.relu(x) + 1, [torch.randn(4)])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from airgraph_core.capture import capture_aten_graph
from airgraph_core.ir.graph import GeGraph
from airgraph_core.ir.opdefs import validate_graph
from airgraph_core.lowered import lowered_of
from airgraph_core.lowering import lower_graph
from airgraph_core.outputs import rebuild_outputs
from airgraph_core.targets.host.program import HostProgram

__all__ = [
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


def run_lowered(graph: GeGraph, aten_inputs: Sequence[Any], mode: str = "interpret") -> list[Any]:
    """Run a lowered graph on the host with the inputs of its ATen graph."""
    lowered = lowered_of(graph)
    inputs = [aten_inputs[i] for i in lowered.input_sources]
    outs = HostProgram(graph, mode)(*inputs)
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

    Returns:
        The lowered GE graph.
    """
    eager_inputs = [_clone(x) for x in inputs]
    with torch.no_grad():
        expected = fn(*eager_inputs)
    captured = [_clone(x) for x in inputs]
    gm, aten_inputs = capture_aten_graph(fn, captured, dynamic=dynamic)
    graph = lower_graph(gm, aten_inputs)
    assert_valid_ge_graph(graph)
    missing = set(expect_ops) - {op.type for op in graph.ops}
    if missing:
        raise AssertionError(f"expected GE ops {sorted(missing)} in {graph.op_types()}")
    # Which ATen placeholders are the user's inputs (the rest are lifted parameters).
    user_pos = {id(x): j for j, x in enumerate(captured) if isinstance(x, torch.Tensor)}
    for mode in modes:
        run_inputs = [_clone(x) for x in inputs]
        aten_run = [run_inputs[user_pos[id(a)]] if id(a) in user_pos else a for a in aten_inputs]
        got = run_lowered(graph, aten_run, mode)
        _compare(expected, got, f"{mode} output", atol, rtol)
        for i, (a, b) in enumerate(zip(eager_inputs, run_inputs)):
            if isinstance(a, torch.Tensor):
                _compare(a, b, f"{mode} input {i} after in-place update", atol, rtol)
    return graph


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
