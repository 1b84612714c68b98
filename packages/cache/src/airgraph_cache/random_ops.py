"""RNG ops are refused in a cached method, as TorchAir's ``cache_compile`` refuses them.

A random op (``randn``, ``bernoulli``, ``dropout`` in training...) draws from
the process's generator state, which a cached program replayed in another
process would have to capture and advance exactly as eager does. TorchAir
does not cache such graphs: the cold compile fails with an ``AssertionError``
naming the GE input that would carry the generator state, and Dynamo reports
it as ``BackendCompilerFailed``. We do the same, whether or not the target
could lower the op, so a method that works under ``cache_compile`` here also
works under TorchAir's.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["RNG_REFUSAL", "random_op_nodes", "refuse_random_ops", "RandomOpRefusal"]

#: TorchAir's message; ``{index}`` is the GE input the generator state would take.
RNG_REFUSAL = "Cache compile does not support operator that depend on RNG, input index: {index}."


def random_op_nodes(graph: torch.fx.Graph) -> list[torch.fx.Node]:
    """The nodes of an ATen graph whose op draws random numbers (tagged ``nondeterministic_seeded``)."""
    return [
        node
        for node in graph.nodes
        if node.op == "call_function"
        and torch.Tag.nondeterministic_seeded in getattr(node.target, "tags", ())
    ]


def refuse_random_ops(aten_graph: torch.fx.GraphModule) -> None:
    """Raise TorchAir's refusal when the graph holds a random op.

    The index is where TorchAir puts the op's generator-state input: after
    the graph's tensor inputs (symbolic sizes are not GE data inputs).

    Raises:
        AssertionError: the graph draws random numbers (TorchAir's class and words).
    """
    nodes = random_op_nodes(aten_graph.graph)
    if not nodes:
        return
    tensors = sum(
        1
        for node in aten_graph.graph.find_nodes(op="placeholder")
        if isinstance(node.meta.get("val"), torch.Tensor)
    )
    ops = ", ".join(sorted({str(node.target) for node in nodes}))
    raise AssertionError(RNG_REFUSAL.format(index=tensors) + f" (random ops: {ops})")


class RandomOpRefusal:
    """A Dynamo backend wrapper applying :func:`refuse_random_ops` to every graph it compiles.

    A graph whose lowering failed on a random op is refused with TorchAir's
    error too (chained to the lowering error).

    Args:
        backend: an ``NpuBackend`` (its ``compiled`` records hold the ATen graphs).
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        # Dynamo names the backend by __name__ in its logs and errors.
        self.__name__ = getattr(backend, "__name__", "airgraph")

    @property
    def compiled(self) -> list[Any]:
        """The wrapped backend's compile records."""
        return self.backend.compiled

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: Any) -> Any:
        first = len(self.backend.compiled)
        try:
            compiled = self.backend(gm, example_inputs)
        except Exception as error:
            for record in self.backend.compiled[first:]:
                try:
                    refuse_random_ops(record.aten_graph)
                except AssertionError as refusal:
                    raise refusal from error
            raise
        for record in self.backend.compiled[first:]:
            refuse_random_ops(record.aten_graph)
        return compiled
