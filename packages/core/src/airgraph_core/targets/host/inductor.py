"""Compile a specialized host graph with Inductor, without a second runtime wrapper.

A host specialization is already a plain inference graph: static shapes, no
autograd, outputs that are new tensors. ``compile_fx`` still wraps Inductor's
compiled graph in AOTAutograd's runtime wrapper (first-call context, grad
mode, mutation epilogue, output alias replay), which costs several
microseconds per call. Under a Dynamo backend that is the *second* such
wrapper on every call: the backend's own AOTAutograd already wraps the
whole graph. When AOTAutograd's metadata shows its wrapper would do nothing
for this graph, the compiled graph is called directly; otherwise the
wrapped function is used as is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import GraphModule

from airgraph_core import _torch_compat
from airgraph_core.targets.host.rewrites import rewrite_for_inductor

__all__ = ["COMPILE_LOCK", "DirectCall", "compile_inductor", "why_wrapped"]

log = logging.getLogger("airgraph.core")

#: Held around every host Inductor compile (in-process and AOTInductor packages):
#: ``gear_compile="background"`` compiles gears in a thread while the caller's
#: thread may compile other graphs; one at a time keeps Inductor's process-wide
#: caches and counters out of each other's way.
COMPILE_LOCK = threading.RLock()


def compile_inductor(gm: GraphModule, tensors: Sequence[torch.Tensor]) -> Any:
    """Compile ``gm`` (a host specialization) with Inductor for inference.

    Args:
        gm: the specialized graph; its buffers are the folded constants.
        tensors: example values of its placeholders, in order.

    Returns:
        A callable taking the placeholders' values positionally and
        returning the graph's outputs as a sequence.
    """
    from airgraph_core.targets.host import package

    rewrite_for_inductor(gm)  # patterns Inductor compiles slowly -> the torch op they compute
    if package.packaging_active():  # a cold ge_cache start: the package is the compile
        try:
            return package.compile_package(gm, tensors)
        except Exception as e:  # export limits: compiled in-process, packaged never
            log.warning("host: %s not compiled as a package: %s", gm.__class__.__name__, e)
    calls: list[tuple[Any, int, dict[str, Any], Any]] = []

    def on_inner_compile(compiled: Any, n_inputs: int, kwargs: dict[str, Any]) -> None:
        calls.append((compiled, n_inputs, kwargs, _torch_compat.current_forward_metadata()))

    # Compiling without grad makes AOTAutograd trace an inference graph even
    # when some inputs are parameters that require grad. A tracing context
    # whose fake mode has a shape env lets Inductor's FX graph cache serve the
    # compile (it refuses to without one); ``ignore_shape_env`` keeps every
    # size static, as taken from ``tensors``.
    #
    # (AOTAutograd's own cache, keyed on this graph before tracing, is
    # bypassed: the graph calls closures, which it cannot key. Inductor's FX
    # graph cache keys the traced ATen graph, so what the closures did counts.)
    # AOTAutograd lifts the graph's parameters, then its buffers, as the
    # compiled graph's first inputs: take them before compile_fx may rewrite gm.
    constants = [t for _, t in gm.named_parameters(remove_duplicate=False)]
    constants += [t for _, t in gm.named_buffers(remove_duplicate=False)]
    autocast = _torch_compat.autocast_enabled()
    with COMPILE_LOCK:
        wrapped = _torch_compat.compile_fx_static(gm, tensors, on_inner_compile)
    # Compiled under autocast, the wrapper turns it off around every call.
    reason = "autocast is on" if autocast else why_wrapped(calls, len(constants) + len(tensors))
    if reason is not None:
        log.debug("host: %s keeps AOTAutograd's runtime wrapper: %s", gm.__class__.__name__, reason)
        return wrapped
    return DirectCall(calls[0][0], constants)


def why_wrapped(calls: list[tuple[Any, int, dict[str, Any], Any]], n_inputs: int) -> str | None:
    """Why AOTAutograd's runtime wrapper is needed, or ``None`` when it would do nothing.

    Args:
        calls: per graph Inductor compiled: ``(compiled, n_inputs, kwargs, metadata)``.
        n_inputs: how many inputs the direct call would pass (constants + tensors).

    Returns:
        The first reason found, or ``None``.
    """
    if len(calls) != 1:
        return f"Inductor compiled {len(calls)} graphs"
    compiled, n_graph_inputs, kwargs, meta = calls[0]
    if not kwargs.get("is_inference", False):
        return "not an inference graph"
    if n_graph_inputs != n_inputs:
        return f"the graph takes {n_graph_inputs} inputs, not {n_inputs} (deduplicated inputs)"
    if meta is None:
        return "no AOTAutograd metadata"
    try:
        checks = _torch_compat.aot_blockers(meta)
    except AttributeError as e:  # a torch whose metadata has other fields: stay safe
        return f"unknown AOTAutograd metadata ({e})"
    for reason, present in checks.items():
        if present:
            return reason
    return None


class DirectCall:
    """Calls Inductor's compiled graph with the lifted constants first (its boxed convention)."""

    __slots__ = ("graph", "constants")

    def __init__(self, graph: Any, constants: list[torch.Tensor]) -> None:
        self.graph = graph
        self.constants = constants

    def __call__(self, *tensors: torch.Tensor) -> Any:
        if torch.is_grad_enabled():
            # Inductor's code calls out= kernels, which refuse inputs that require grad.
            with torch.no_grad():
                return self.graph([*self.constants, *tensors])
        return self.graph([*self.constants, *tensors])
