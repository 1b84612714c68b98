"""Count the calls that run compiled host code, for harnesses that compare it with eager.

In ``host_mode="inductor"`` the first call of a new input signature runs the
GE graph op by op while Inductor compiles it; only later calls of that
signature run the compiled code (Inductor's, or a loaded or just-compiled
AOTInductor package). A harness that compares only first calls never
compares the compiled code with eager. Harnesses repeat each call (same
shapes and layouts, other values) and check with :func:`counting` that the
repeat ran compiled code.

Every compiled specialization is called through
:func:`airgraph_core.targets.host.layout.dense_inputs` (in-process compiles
through ``DenseInputs``, loaded packages through ``package.load_package``);
:func:`counting` wraps the runner it is given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import airgraph_core.targets.host.layout as layout
import airgraph_core.targets.host.package as package

#: Seed offset of a repeated call's input values (a repeat with the first call's values
#: would hide a specialization that kept a value of its first call).
REPEAT_SEED = 100


class CompiledRuns:
    """How many calls ran compiled host code while :func:`counting` was active."""

    def __init__(self) -> None:
        self.count = 0


@contextlib.contextmanager
def counting() -> Iterator[CompiledRuns]:
    """Within: count the calls of compiled host specializations made within.

    Only specializations compiled or loaded within are counted.
    """
    runs = CompiledRuns()
    original = layout.dense_inputs

    def counted_dense_inputs(graph: Any, run: Any) -> Any:
        def counted(tensors: list) -> list:
            runs.count += 1
            return run(tensors)

        return original(graph, counted)

    saved = (layout.dense_inputs, package.dense_inputs)
    layout.dense_inputs = package.dense_inputs = counted_dense_inputs
    try:
        yield runs
    finally:
        layout.dense_inputs, package.dense_inputs = saved
