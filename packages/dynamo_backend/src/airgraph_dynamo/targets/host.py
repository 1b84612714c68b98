"""The host target: airgraph-core's CPU executor behind the :class:`Target` interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airgraph_core import GeGraph, HostProgram
from airgraph_core.targets.host import lookup_host_op
from airgraph_dynamo import _dynamo_compat
from airgraph_dynamo.targets.base import Executable, Target

__all__ = ["HostExecutable", "HostTarget"]

# Handled by HostProgram itself, not by the semantics table.
_PLUMBING = frozenset({"Data", "Const", "NetOutput"})


class HostExecutable(Executable):
    """A :class:`airgraph_core.HostProgram` (one specialization per input signature)."""

    def __init__(self, graph: GeGraph, mode: str) -> None:
        self.graph = graph
        self.program = HostProgram(graph, mode)

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        # AOTAutograd runs the first call under a dispatch mode that checks
        # custom-op aliasing; a new specialization (which runs the graph
        # once and, in inductor mode, compiles it) must not trace through it.
        if _dynamo_compat.dispatch_modes_active():
            with _dynamo_compat.no_dispatch_modes():
                return self.program(*inputs)
        return self.program(*inputs)

    def warm_up(self, inputs: Sequence[Any]) -> None:
        """Specialize (and, in inductor mode, compile) for the signature of ``inputs``."""
        self.program.compile_for(inputs)


class HostTarget(Target):
    """Runs GE graphs on the CPU.

    Args:
        mode: ``"inductor"`` or ``"interpret"`` (see :class:`airgraph_core.HostProgram`).
    """

    name = "host"

    def __init__(self, mode: str = "inductor") -> None:
        if mode not in ("inductor", "interpret"):
            raise ValueError(f"mode: {mode!r} is not one of 'inductor', 'interpret'")
        self.mode = mode

    def compile(self, graph: GeGraph, options: Mapping[str, str] | None = None) -> HostExecutable:
        """Wrap ``graph`` in a host program; GE options have no meaning here and are ignored.

        Raises:
            NotImplementedError: the graph has GE op types without host
                semantics (all of them are listed).
        """
        missing = []
        for op_type in graph.op_types():
            if op_type in _PLUMBING:
                continue
            try:
                lookup_host_op(op_type)
            except NotImplementedError:
                missing.append(op_type)
        if missing:
            raise NotImplementedError(
                f"the host target has no semantics for GE op type(s) {', '.join(missing)} "
                f"in graph {graph.name!r}"
            )
        return HostExecutable(graph, self.mode)

    def __repr__(self) -> str:
        return f"HostTarget(mode={self.mode!r})"
