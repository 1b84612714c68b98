"""The small interface every target implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from airgraph_core import GeGraph

__all__ = ["Executable", "Target"]


class Executable(abc.ABC):
    """A GE graph made runnable by a target.

    Attributes:
        graph: the GE graph it runs.
    """

    graph: GeGraph

    @abc.abstractmethod
    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        """Run once.

        Args:
            inputs: one value per ``Data`` op in ``index`` order: a tensor,
                or a Python ``int`` for a host scalar (symbolic size) input.

        Returns:
            The ``NetOutput`` values, in order.
        """

    def warm_up(self, inputs: Sequence[Any]) -> None:  # noqa: B027 - optional hook
        """Prepare for inputs like ``inputs`` without running (default: nothing)."""


class Target(abc.ABC):
    """Turns GE graphs into :class:`Executable` objects.

    Attributes:
        name: ``"host"`` or ``"npu"``.
    """

    name: str

    @abc.abstractmethod
    def compile(self, graph: GeGraph, options: Mapping[str, str] | None = None) -> Executable:
        """Make ``graph`` runnable.

        Args:
            graph: a lowered GE graph.
            options: GE compile options (e.g. the gear options
                ``ge.inputShape``/``ge.dynamicDims``); a target that has no
                use for an option ignores it.

        Returns:
            The executable.
        """
