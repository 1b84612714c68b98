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

from collections.abc import Callable, Sequence
from typing import Any

import torch

from airgraph_core.ir.graph import GeGraph
from airgraph_core.targets.host.aliasing import written_inputs
from airgraph_core.targets.host.inductor import DirectCall

__all__ = ["ArgsCall", "DenseInputs", "dense_inputs"]

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

    def from_args(self, positions: Sequence[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
        """The same call, its tensor inputs read from the caller's own argument sequence.

        Args:
            positions: where each tensor input sits in that sequence.

        Returns:
            ``run(args)``, the outputs of the call with ``[args[p] for p in
            positions]``: an :class:`ArgsCall` when the compiled function is
            Inductor's graph called directly, else a plain function.
        """
        if isinstance(self.fn, DirectCall):
            return ArgsCall(self.fn, positions, self.run_list)
        run_list, positions = self.run_list, tuple(positions)

        def run(args: Sequence[Any]) -> list[Any]:
            return run_list([args[p] for p in positions])

        return run


class ArgsCall:
    """Inductor's compiled graph called straight from a caller's argument sequence.

    The one layer between a caller that holds all its arguments (gear
    dispatch: the ATen inputs of a graph) and Inductor's boxed call: the
    tensor inputs are picked, their layout checked (another layout goes
    through :class:`DenseInputs`' copies) and the constants put first in one
    list. Each extra Python call or list here costs every call of a gear.

    Attributes:
        direct: the :class:`~airgraph_core.targets.host.inductor.DirectCall`.
        positions: where each tensor input sits in the caller's arguments.
        dense: the call over one list of tensor inputs of any layout.
    """

    __slots__ = ("direct", "positions", "dense", "_graph", "_constants")

    def __init__(
        self,
        direct: DirectCall,
        positions: Sequence[int],
        dense: Callable[[list[torch.Tensor]], list[Any]],
    ) -> None:
        self.direct = direct
        self.positions = tuple(positions)
        self.dense = dense
        self._graph = direct.graph
        self._constants = direct.constants

    def __call__(self, args: Sequence[Any]) -> Any:
        tensors = [args[p] for p in self.positions]
        for t in tensors:
            if not t.is_contiguous():
                return self.dense(tensors)
        if torch.is_grad_enabled():  # see DirectCall
            with torch.no_grad():
                return self._graph(self._constants + tensors)
        return self._graph(self._constants + tensors)
