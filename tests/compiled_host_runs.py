"""Count the calls that run compiled host code, for harnesses that compare it with eager.

In ``host_mode="inductor"`` the first call of a new input signature runs the
GE graph op by op while Inductor compiles it; only later calls of that
signature run the compiled code (Inductor's, or a loaded or just-compiled
AOTInductor package). A harness that compares only first calls never
compares the compiled code with eager. Harnesses repeat each call (same
shapes and layouts, other values) and check with :func:`counting` that the
repeat ran compiled code.

What is counted: calls of what
:func:`airgraph_core.targets.host.warm_hints.compile_hinted` returns (every
in-process compile, and the package a cold ``ge_cache`` start compiles; for a
``DirectCall``, its Inductor graph, which gear dispatch may call directly)
and of the packages :func:`airgraph_core.targets.host.package.load_package`
installs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import airgraph_core.targets.host.package as package
import airgraph_core.targets.host.warm_hints as warm_hints
from airgraph_core.targets.host.inductor import DirectCall

#: Seed offset of a repeated call's input values (a repeat with the first call's values
#: would hide a specialization that kept a value of its first call).
REPEAT_SEED = 100


class CompiledRuns:
    """How many calls ran compiled host code while :func:`counting` was active."""

    def __init__(self) -> None:
        self.count = 0


@contextlib.contextmanager
def counting() -> Iterator[CompiledRuns]:
    """Within: count the calls of compiled host code.

    Only code compiled or loaded within is counted (a specialization made
    before keeps its uncounted function).
    """
    runs = CompiledRuns()
    compile_hinted, dense_inputs = warm_hints.compile_hinted, package.dense_inputs

    def counted(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            runs.count += 1
            return fn(*args)

        return run

    def counted_compile(*args: Any) -> Any:
        compiled = compile_hinted(*args)
        if isinstance(compiled, DirectCall):
            return DirectCall(counted(compiled.graph), compiled.constants)
        return counted(compiled)

    def counted_load(graph: Any, run: Any) -> Any:
        return dense_inputs(graph, counted(run))

    warm_hints.compile_hinted, package.dense_inputs = counted_compile, counted_load
    try:
        yield runs
    finally:
        warm_hints.compile_hinted, package.dense_inputs = compile_hinted, dense_inputs
