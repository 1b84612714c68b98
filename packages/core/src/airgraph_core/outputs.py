"""Rebuilding an ATen graph's outputs from what a target returned.

Every runtime of a lowered graph ends the same way: the backend's runner,
``cache_compile``'s warm program and the test harness all call
:func:`rebuild_outputs`, so sizes, ``None`` outputs and outputs that are
views come back the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airgraph_core.lowering import convert_outputs
from airgraph_core.output_views import OutputViews

__all__ = ["rebuild_outputs"]


def rebuild_outputs(
    outs: Sequence[Any],
    inputs: Sequence[Any],
    kinds: Sequence[str],
    views: OutputViews | None = None,
) -> list[Any]:
    """The ATen graph's outputs of one call, from the target's ``NetOutput`` values.

    Sizes come back as ``int``, ``None`` where the graph returns ``None``,
    and outputs that are views are replayed on their bases
    (:meth:`OutputViews.apply`); hidden bases are dropped.

    Args:
        outs: what the executable returned, one value per ``NetOutput`` input.
        inputs: the call's graph inputs, one per ``Data`` op in index order,
            after the run (inputs updated in place hold their new values).
        kinds: the graph's output kinds (see
            :func:`~airgraph_core.lowering.convert_outputs`).
        views: the graph's record of outputs that are views
            (``output_views(graph)``), if it has one.

    Returns:
        One value per ATen output.
    """
    result = convert_outputs(outs, kinds)
    return result if views is None else views.apply(inputs, result)
