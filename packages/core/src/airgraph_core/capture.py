"""Capture the ATen FX graph that our torch.compile backend would lower.

:func:`capture_aten_graph` runs ``fn`` through the same pipeline as the
backend (Dynamo with ``fullgraph=True``, then AOTAutograd in inference mode
with our decomposition table) but, instead of lowering the ATen graph to GE,
it hands the graph and its example inputs back to the caller. Tests and
converter writers use it to see exactly which ATen ops and argument patterns
a model produces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from airgraph_core import _torch_compat
from airgraph_core.decompositions import kept_whole_ops, merge_decompositions

__all__ = ["CaptureError", "aot_inference_graph", "capture_aten_graph"]

logger = logging.getLogger("airgraph.core")


class CaptureError(RuntimeError):
    """Raised when tracing does not yield exactly one ATen graph."""


def aot_inference_graph(
    gm: torch.fx.GraphModule,
    example_inputs: Sequence[Any],
    fw_compiler: Callable[[torch.fx.GraphModule, Sequence[Any]], Callable[..., Any]],
    decompositions: dict,
) -> Callable[..., Any]:
    """Run AOTAutograd in inference mode over a Dynamo FX graph; ``fw_compiler`` compiles the result.

    The one place the Dynamo graph becomes an ATen graph, for the backend and
    for :func:`capture_aten_graph` alike: functionalized, decomposed with
    ``decompositions``, traced without grad, in-place updates of inputs kept
    in the graph as ``aten.copy_`` nodes. Ops that a converter lowers
    whole are kept whole against torch's Python decompositions while
    tracing (:func:`airgraph_core.decompositions.kept_whole_ops`).

    Args:
        gm: the graph Dynamo hands a backend.
        example_inputs: its example inputs, as Dynamo passes them.
        fw_compiler: ``(aten_gm, aten_inputs) -> callable``, called once per ATen graph.
        decompositions: the full table (see :func:`merge_decompositions`).

    Returns:
        The callable Dynamo should run in place of ``gm``.
    """

    def compile_traced(aten_gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Callable[..., Any]:
        with _torch_compat.kept_whole_suspended():  # Inductor sees torch as it is
            return fw_compiler(aten_gm, inputs)

    with _torch_compat.kept_whole(*kept_whole_ops(decompositions)):
        return _torch_compat.aot_inference(gm, example_inputs, compile_traced, decompositions)


def capture_aten_graph(
    fn: torch.nn.Module | Callable[..., Any],
    example_inputs: Sequence[Any],
    *,
    dynamic: bool = False,
    decompositions: dict | None = None,
) -> tuple[torch.fx.GraphModule, list]:
    """Trace ``fn`` to a single functionalized ATen FX graph.

    ``fn`` is compiled with ``torch.compile(fn, backend=..., fullgraph=True,
    dynamic=dynamic)``. The backend runs
    ``aot_module_simplified(..., decompositions=merge_decompositions(
    decompositions), keep_inference_input_mutations=True)`` under
    ``torch.no_grad()``; its forward compiler records the ATen graph and its
    example inputs and returns the graph's own ``forward``, so the compiled
    function runs eagerly. Dynamo's caches are reset first so that every
    call traces afresh.

    In the captured graph, parameters and buffers are lifted to placeholders
    (they come first), and with ``dynamic=True`` symbolic sizes may appear
    as ``SymInt`` placeholders. Each placeholder's ``meta["val"]`` holds its
    fake tensor or ``SymInt``. In-place updates of inputs (e.g. a KV cache
    written with ``index_copy_``) are kept as ``aten.copy_`` nodes at the end
    of the graph; since ``fn`` really runs once, such inputs are mutated by
    the capture just as an eager call would mutate them.

    Args:
        fn: an ``nn.Module`` or any callable Dynamo can trace.
        example_inputs: positional arguments for one call of ``fn``.
        dynamic: passed to ``torch.compile``; ``True`` marks sizes symbolic.
        decompositions: the user's ``custom_decompositions`` (a dict from
            ``OpOverload``/``OpOverloadPacket`` to callables), merged over
            ours; ``None`` for ours only.

    Returns:
        ``(graph_module, inputs)``: the ATen ``torch.fx.GraphModule`` and the
        real values its placeholders received in the triggering call, in
        placeholder order (parameters, buffers, tensors, and plain ``int``\\ s
        for symbolic sizes when dynamic), so ``graph_module(*inputs)``
        reproduces the call.

    Raises:
        TypeError: if ``fn`` is not callable, ``example_inputs`` is not a
            list or tuple, ``dynamic`` is not a bool, or ``decompositions``
            is malformed (see :func:`merge_decompositions`).
        CaptureError: if Dynamo produced zero graphs (e.g. nothing to trace)
            or more than one graph.
        torch._dynamo.exc.Unsupported: if ``fn`` has a graph break
            (``fullgraph=True``).

    Examples:
        >>> gm, inputs = capture_aten_graph(torch.nn.Linear(4, 2), [torch.randn(3, 4)])
        >>> sorted({str(n.target) for n in gm.graph.nodes if n.op == "call_function"})
        ['aten.addmm.default', 'aten.t.default']
    """
    if not callable(fn):
        raise TypeError(f"fn must be an nn.Module or a callable, got {type(fn).__name__}")
    if not isinstance(example_inputs, (list, tuple)):
        raise TypeError(
            "example_inputs must be a list or tuple of positional arguments, "
            f"got {type(example_inputs).__name__}"
        )
    if not isinstance(dynamic, bool):
        raise TypeError(f"dynamic must be a bool, got {type(dynamic).__name__}")
    table = merge_decompositions(decompositions)

    # One entry per compiled graph: [graph module, fake inputs, real inputs
    # of its first call (None until it runs)].
    captured: list[list[Any]] = []

    def fw_compiler(gm: torch.fx.GraphModule, inputs: list) -> Callable:
        entry: list[Any] = [gm, list(inputs), None]
        captured.append(entry)

        def run(*args: Any) -> Any:
            if entry[2] is None:
                entry[2] = list(args)
            return gm.forward(*args)

        return run

    def backend(gm: torch.fx.GraphModule, inputs: list) -> Callable:
        return aot_inference_graph(gm, inputs, fw_compiler, table)

    _torch_compat.reset_dynamo()
    try:
        compiled = torch.compile(fn, backend=backend, fullgraph=True, dynamic=dynamic)
        with torch.no_grad():
            compiled(*example_inputs)
    finally:
        _torch_compat.reset_dynamo()

    if not captured:
        raise CaptureError(
            "no ATen graph was captured: Dynamo found nothing to compile in "
            f"{_describe(fn)} (does it run any tensor ops?)"
        )
    if len(captured) > 1:
        raise CaptureError(
            f"expected exactly one ATen graph from {_describe(fn)}, got "
            f"{len(captured)} (a recompilation or a second compiled region)"
        )
    gm, fake_inputs, real_inputs = captured[0]
    inputs = real_inputs if real_inputs is not None else fake_inputs
    logger.debug("captured %d-node ATen graph from %s", len(gm.graph.nodes), _describe(fn))
    return gm, inputs


def _describe(fn: Any) -> str:
    if isinstance(fn, torch.nn.Module):
        return type(fn).__name__
    return getattr(fn, "__qualname__", type(fn).__name__)
