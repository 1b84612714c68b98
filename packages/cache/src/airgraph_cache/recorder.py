"""The cold start's recorder: what the cache needs from one Dynamo trace.

:class:`Recorder` wraps the airgraph backend: it counts Dynamo's compilations
of the frame, keeps each graph input's Dynamo source (to turn into an access
path), the first graph call's inputs and outputs, and every guard Dynamo built
(through the ``guard_filter_fn`` option it hands to ``torch.compile``), from
which :mod:`airgraph_cache.guards` derives the warm path's checks.
:func:`record_trace` runs the cold start's one traced call through it.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
from collections.abc import Callable, Sequence
from typing import Any

import torch

from airgraph_cache import sharing
from airgraph_cache._dynamo_compat import (
    GuardRecord,
    compile_frame_id,
    guard_recording_options,
    placeholder_source,
    tree_leaves,
)
from airgraph_cache.random_ops import RandomOpRefusal

__all__ = ["ColdTrace", "Recorder", "compile_options", "record_trace"]


class Recorder:
    """A Dynamo backend wrapper that records what the cache needs from the cold compile."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        # Dynamo names the backend by __name__ (else its repr) in its logs and errors.
        self.__name__ = getattr(backend, "__name__", "airgraph")
        self.traces = 0
        self._compile_ids: set[Any] = set()
        self.sources: dict[str, Any] = {}
        self.as_tensor: set[str] = set()
        self.runner_calls: list[tuple[tuple, list]] = []
        #: Every guard Dynamo built for the trace (filled through ``options``).
        self.guards: list[GuardRecord] = []
        #: ``torch.compile`` options that make Dynamo report its guards to :attr:`guards`.
        self.options = guard_recording_options(self.guards)
        #: ``hook(record)``, called before the compiled graph's first run (ranks agree there).
        self.before_first_run: Callable[[Any], None] | None = None

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> Any:
        # Count compilations of the frame, not attempts: Dynamo may restart the
        # analysis of one compilation (e.g. to tensorify a float such as
        # nn.Embedding's norm_type) after calling the backend; only the last
        # attempt's graph is kept, so a restart is not a second trace.
        compile_id = compile_frame_id()
        self._compile_ids.add(object() if compile_id is None else compile_id)
        self.traces = len(self._compile_ids)
        self.sources = {}
        self.as_tensor = set()
        for node in gm.graph.find_nodes(op="placeholder"):
            source, as_tensor = placeholder_source(node)
            if source is not None:
                self.sources[source.name] = source
                # A Python float (e.g. a module's ``self.scale``) that Dynamo's bytecode
                # turns into a tensor before calling the graph: the path must do the same.
                if as_tensor:
                    self.as_tensor.add(source.name)
        try:
            compiled = self.backend(gm, example_inputs)
        except Exception as error:  # airgraph's errors reach the user as themselves
            from airgraph_dynamo.backend import user_facing_error

            surfaced = user_facing_error(error, self.__name__, inspect.currentframe())
            if surfaced is error:
                raise
            raise surfaced.with_traceback(error.__traceback__) from error.__cause__
        if self.before_first_run is None:
            return compiled
        return _BeforeFirstRun(compiled, self.before_first_run, self.backend.compiled[-1])

    def record_first_call(self, record: Any, inputs: tuple, outputs: list) -> None:
        """The backend's first-call hook: keep the first graph call's ATen inputs and outputs."""
        if not self.runner_calls:
            self.runner_calls.append((inputs, outputs))


class _BeforeFirstRun:
    """Dynamo's compiled graph, with ``hook(record)`` called once before it first runs."""

    def __init__(self, compiled: Callable[..., Any], hook: Callable[[Any], None], record: Any):
        self.compiled = compiled
        self.hook: Callable[[Any], None] | None = hook
        self.record = record
        # Dynamo calls a boxed function with one list: pass it through as it comes.
        self._boxed_call = getattr(compiled, "_boxed_call", False)

    def __call__(self, *args: Any) -> Any:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook(self.record)
        return self.compiled(*args)


def compile_options(kwargs: dict[str, Any], recording: dict[str, Any]) -> dict[str, Any]:
    """``torch.compile`` keyword arguments: the user's, plus the guard-recording options.

    ``mode=`` cannot be combined with ``options=`` in ``torch.compile``; with it,
    the guards go unrecorded and the method is left uncached (with a warning).
    """
    merged = dict(kwargs)
    if merged.get("mode") is not None:
        return merged
    merged["options"] = {**(merged.get("options") or {}), **recording}
    return merged


@dataclasses.dataclass
class ColdTrace:
    """What :func:`record_trace` returns: the compiled function, its first result, and
    the recorder and backend that saw the trace."""

    compiled: Callable[..., Any]
    result: Any
    recorder: Recorder
    backend: Any


def record_trace(
    func: Any,
    args: tuple,
    kwargs: dict,
    *,
    config: Any,
    decompositions: dict | None,
    dynamic: bool,
    compile_kwargs: dict[str, Any],
    before_first_run: Callable[[Any], None] | None = None,
) -> ColdTrace:
    """Compile ``func`` through the airgraph backend with a :class:`Recorder` and call it once.

    Args:
        func: the cached bound method.
        args: the call's positional arguments.
        kwargs: the call's keyword arguments.
        config: the ``CompilerConfig`` to compile with.
        decompositions: the user's decomposition table, or None.
        dynamic: ``cache_compile``'s ``dynamic`` (ignored when an input has gears).
        compile_kwargs: the user's ``torch.compile`` keyword arguments.
        before_first_run: called with the backend's record before the graph first runs.

    Returns:
        The :class:`ColdTrace`; an exception of the call propagates.
    """
    from airgraph_dynamo import get_npu_backend

    backend = get_npu_backend(compiler_config=config, custom_decompositions=decompositions)
    recorder = Recorder(RandomOpRefusal(backend))
    recorder.before_first_run = before_first_run
    # With gears, exactly the geared dims are dynamic (Dynamo's default
    # marks-only mode); dynamic=True would leave other dims without gears.
    mode = None if _has_gears(args, kwargs) else dynamic
    # A code object of its own: the Nth instance (or recompile) is a first compile for
    # Dynamo, never FailOnRecompileLimitHit.
    fresh = sharing.fresh_method(func)
    # The plain function, bound afterwards: torch.compile wraps a bound method whose
    # source file it cannot find (code run by exec, e.g. from a replaced __main__) in a
    # frame of its own, whose guards name that frame's closure (`fn`), not the method's.
    compiled = types.MethodType(
        torch.compile(
            fresh.__func__,
            backend=recorder,
            fullgraph=True,
            dynamic=mode,
            **compile_options(compile_kwargs, recorder.options),
        ),
        fresh.__self__,
    )
    hook = backend.compiler.add_first_call_hook(recorder.record_first_call)
    try:
        result = compiled(*args, **kwargs)
    finally:
        hook.remove()
    return ColdTrace(compiled, result, recorder, backend)


def _has_gears(args: tuple, kwargs: dict) -> bool:
    from airgraph_gears import get_dim_gears

    leaves = tree_leaves((args, kwargs))
    return any(isinstance(t, torch.Tensor) and get_dim_gears(t) for t in leaves)
