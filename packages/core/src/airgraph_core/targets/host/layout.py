"""Run a host specialization compiled for contiguous inputs on inputs of any layout.

Both compiled forms of a specialization take their inputs by the strides
they were compiled for: Inductor's code asserts them (a transposed input of
the right shape raised ``AssertionError``) and an AOTInductor package reads
by them unchecked (wrong values). Both are compiled for contiguous inputs;
a call with another layout passes contiguous copies instead, and the inputs
the graph updates in place get the copies' new values back. A change of
layout costs a copy, never a result or a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from airgraph_core.ir.graph import GeGraph
from airgraph_core.targets.host.aliasing import written_inputs

__all__ = ["DenseInputs", "dense_inputs"]

ListRunner = Callable[[list[torch.Tensor]], list[Any]]


def dense_inputs(graph: GeGraph, run: ListRunner) -> ListRunner:
    """``run`` (over the list of ``graph``'s tensor inputs) for inputs of any memory layout.

    Args:
        graph: the host graph; its ``Data`` ops not placed on the CPU are the
            tensor inputs, in order.
        run: the compiled specialization, called with one list of contiguous
            tensor inputs.

    Returns:
        The same function of one list, for tensors of any layout.
    """
    tensor_datas = [op for op in graph.data_ops if op.output_descs[0].placement != "CPU"]
    written = written_inputs(graph)
    updated = [i for i, op in enumerate(tensor_datas) if op.name in written]

    def run_list(tensors: list[torch.Tensor]) -> list[Any]:
        for t in tensors:
            if not t.is_contiguous():
                break
        else:
            return run(tensors)
        dense = [t if t.is_contiguous() else t.contiguous() for t in tensors]
        outputs = run(dense)
        for i in updated:
            if dense[i] is not tensors[i]:
                tensors[i].copy_(dense[i])
        return outputs

    return run_list


class DenseInputs:
    """A compiled specialization ``fn`` (called with the tensor inputs) for any layout.

    Attributes:
        fn: the compiled function, for contiguous inputs.
        run_list: the wrapped call over one list of tensor inputs (a new list back).
    """

    __slots__ = ("fn", "run_list")

    def __init__(self, graph: GeGraph, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.run_list = dense_inputs(graph, lambda tensors: list(fn(*tensors)))

    def __call__(self, *tensors: torch.Tensor) -> list[Any]:
        return self.run_list(list(tensors))
