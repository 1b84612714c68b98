"""The ATen-graph compiler: lower to GE, dump, pick a target, wrap the executable.

:class:`AtenCompiler` is what AOTAutograd calls as the forward compiler. It
can also be used on its own (``get_compiler``), e.g. as the
``fw_compiler`` of a hand-written ``aot_module_simplified`` backend.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.fx import GraphModule
from torch.utils.hooks import RemovableHandle

from airgraph_core import (
    GeGraph,
    OutputViews,
    lowered_of,
    rebuild_outputs,
)
from airgraph_dynamo import _dynamo_compat
from airgraph_dynamo.config import CompilerConfig
from airgraph_dynamo.gear_dispatch import GearedRunner
from airgraph_dynamo.gears import GearSetup
from airgraph_dynamo.inputs import InputOrigin
from airgraph_dynamo.pipeline import CompileState, run_pipeline, timing_text
from airgraph_dynamo.static_marks import StaticMarkReport
from airgraph_dynamo.targets import Executable, Target, select_target

__all__ = ["AtenCompiler", "CompiledGraph", "FirstCallHook"]

log = logging.getLogger("airgraph.dynamo")


# Graph names must be unique per process: dumps and GE sessions key on them.
_graph_ids = itertools.count()


@dataclasses.dataclass
class CompiledGraph:
    """The record of one ATen graph the compiler handled (for tests and debugging).

    Attributes:
        name: the GE graph's name (``graph_<n>``, unique per process).
        aten_graph: the ATen FX graph AOTAutograd produced.
        ge_graph: the lowered GE graph, or ``None`` when lowering fell back.
        target: ``"host"``, ``"npu"`` or ``"eager"`` (fallback).
        origins: where each ATen placeholder comes from.
        frozen_inputs: ATen placeholder positions of module state flagged in
            GE's ``frozenInput`` option (``frozen_parameter``).
        static_marks: the static-marks report (``None`` on fallback).
        dump_path: where the graph dump was written, if any.
        fallback_reason: why the graph runs eagerly, if it does.
        executable: the target's executable (``None`` on fallback).
        gears: the gear setup when inputs carry ``set_dim_gears`` marks
            (its ``plan``, and ``compiled``: the host gears compiled so far).
        gear_runner: the :class:`~airgraph_dynamo.gear_dispatch.GearedRunner`
            serving a geared graph (e.g. its ``wait_for_gears``), else None.
        timings: seconds per pipeline step that ran (see :mod:`airgraph_dynamo.pipeline`).
        ge_options: the GE options the target compiled the graph with.
    """

    name: str
    aten_graph: GraphModule
    ge_graph: GeGraph | None
    target: str
    origins: list[InputOrigin]
    frozen_inputs: tuple[int, ...] = ()
    static_marks: StaticMarkReport | None = None
    dump_path: Path | None = None
    fallback_reason: str | None = None
    executable: Executable | None = None
    gears: GearSetup | None = None
    gear_runner: GearedRunner | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    ge_options: dict[str, str] = dataclasses.field(default_factory=dict)


#: ``hook(record, inputs, outputs)``: see :meth:`AtenCompiler.add_first_call_hook`.
FirstCallHook = Callable[[CompiledGraph, tuple, list], None]


class _FirstCallObserver:
    """Runs a graph's callable and shows its first call to the compiler's first-call hooks."""

    __slots__ = ("runner", "record", "hooks", "called")

    def __init__(self, runner: Callable[..., Any], record: CompiledGraph, hooks: dict) -> None:
        self.runner = runner
        self.record = record
        self.hooks = hooks
        self.called = False

    def __call__(self, *args: Any) -> Any:
        outputs = self.runner(*args)
        if not self.called:
            self.called = True
            for hook in list(self.hooks.values()):
                hook(self.record, args, outputs)
        return outputs


class _GraphRunner:
    """The callable AOTAutograd gets back: ATen inputs -> target inputs -> outputs."""

    def __init__(
        self,
        executable: Executable,
        sources: Sequence[int],
        kinds: Sequence[str],
        views: OutputViews | None,
    ):
        self.executable = executable
        self.sources = tuple(sources)
        self.kinds = tuple(k for k in kinds if k)
        self.views = views

    def __call__(self, *args: Any) -> list[Any]:
        inputs = [args[p] for p in self.sources]
        return rebuild_outputs(self.executable(inputs), inputs, self.kinds, self.views)


class _ViewOutputs:
    """Rebuilds a geared graph's outputs that are views from their bases after it ran.

    The GE graph does not return them (see :class:`~airgraph_core.OutputViews`):
    they are replayed on the call's inputs or the graph's outputs, so they
    have eager's sizes, strides and storage offsets whatever the shapes.
    """

    __slots__ = ("runner", "views", "sources")

    def __init__(self, runner: Callable[..., Any], views: OutputViews, sources: Sequence[int]):
        self.runner = runner
        self.views = views
        self.sources = tuple(sources)

    def __call__(self, *args: Any) -> list[Any]:
        outs = self.runner(*args)
        return self.views.apply([args[p] for p in self.sources], outs)


def _fill_record(record: CompiledGraph, state: CompileState) -> None:
    """Copy what the pipeline produced into the graph's record."""
    record.frozen_inputs = state.frozen_inputs
    record.ge_graph = state.graph
    record.static_marks = state.static_marks
    record.dump_path = state.dump_path
    record.gears = state.gears
    record.executable = state.executable
    record.timings = dict(state.timings)
    record.ge_options = dict(state.ge_options)


def standalone_origins(example_inputs: Sequence[Any]) -> list[InputOrigin]:
    """Origins when no Dynamo graph is known: real ``nn.Parameter`` inputs count as module state."""
    origins = []
    for i, value in enumerate(example_inputs):
        real = None if _dynamo_compat.is_fake(value) or isinstance(value, torch.SymInt) else value
        kind = "param" if isinstance(real, torch.nn.Parameter) else "arg"
        origins.append(InputOrigin(kind, f"input{i}", real))
    return origins


def _load_compiler(
    cls: type[AtenCompiler], config: CompilerConfig, target: Target | None
) -> AtenCompiler:
    """A pickled :class:`AtenCompiler` loaded: its options and given target, no records."""
    return cls(config, target=target)


class AtenCompiler:
    """Compiles ATen FX graphs (AOTAutograd's inference graphs) with airgraph.

    ``copy.deepcopy`` gives a compiler with a deep copy of the config that
    shares this one's ``compiled`` list, first-call hooks and target, so what
    either compiles is recorded in both (``copy.copy`` shares the config too).
    The records are not copied: they hold Dynamo's fake tensors and symbolic
    sizes (which cannot be copied) and the executables of compiled graphs. A
    pickled compiler loads with the same options, the target given to it (one
    selected from the config is selected again) and no records.

    Args:
        config: the options; ``None`` for defaults. A copy is kept.
        target: force a target (tests pass a fake NPU target); ``None``
            selects one per ``airgraph_config.target``.

    Attributes:
        compiled: one :class:`CompiledGraph` per graph compiled, in order.
    """

    def __init__(self, config: CompilerConfig | None = None, *, target: Target | None = None):
        if config is None:
            config = CompilerConfig()
        if not isinstance(config, CompilerConfig):
            raise TypeError(f"config: expected a CompilerConfig, got {type(config).__name__}")
        self.config = config.copy()
        self._given_target = target
        self._target = target
        self.compiled: list[CompiledGraph] = []
        # An OrderedDict: RemovableHandle keeps a weak reference to it.
        self._first_call_hooks: OrderedDict[int, FirstCallHook] = OrderedDict()

    def add_first_call_hook(self, hook: FirstCallHook) -> RemovableHandle:
        """Show the first call of the graphs compiled from now on to ``hook``.

        ``hook(record, inputs, outputs)`` runs after that call with the
        graph's :class:`CompiledGraph`, the ATen inputs (placeholders' values,
        positionally) and the outputs the call returned. ``cache_compile``
        uses it to learn the output structure and the values of size inputs.

        The hooks called are those registered when the graph first runs (a
        hook removed before then is not called). A graph compiled while no
        hook is registered runs unobserved, with no per-call cost.

        Args:
            hook: the callable; what it raises propagates to the caller.

        Returns:
            A handle whose ``remove()`` unregisters the hook.

        Raises:
            TypeError: ``hook`` is not callable.
        """
        if not callable(hook):
            raise TypeError(f"hook: expected a callable, got {type(hook).__name__}")
        handle = RemovableHandle(self._first_call_hooks)
        self._first_call_hooks[handle.id] = hook
        return handle

    def __deepcopy__(self, memo: dict[int, Any]) -> AtenCompiler:
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.config = copy.deepcopy(self.config, memo)
        new._given_target = self._given_target
        new._target = self._target
        new.compiled = self.compiled
        new._first_call_hooks = self._first_call_hooks
        return new

    def __copy__(self) -> AtenCompiler:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __reduce__(self) -> tuple[Any, ...]:
        return (_load_compiler, (type(self), self.config, self._given_target))

    @property
    def graphs(self) -> list[GeGraph]:
        """The GE graphs compiled so far (fallbacks have none)."""
        return [c.ge_graph for c in self.compiled if c.ge_graph is not None]

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = select_target(self.config)
        return self._target

    def __call__(self, gm: GraphModule, example_inputs: Sequence[Any]) -> Callable[..., Any]:
        """Compile ``gm`` (the ``fw_compiler`` signature of AOTAutograd)."""
        return self.compile(gm, example_inputs)

    def compile(
        self,
        gm: GraphModule,
        example_inputs: Sequence[Any],
        *,
        origins: Sequence[InputOrigin] | None = None,
        ge_options: Mapping[str, str] | None = None,
    ) -> Callable[..., Any]:
        """Lower ``gm`` to GE and return a callable that runs it on the target.

        Args:
            gm: an ATen FX graph in inference form (placeholders for
                parameters, inputs and symbolic sizes).
            example_inputs: one value per placeholder (fake or real).
            origins: where each placeholder comes from (see
                :func:`~airgraph_dynamo.inputs.aten_input_origins`); by
                default real ``nn.Parameter`` inputs are module state.
            ge_options: extra GE options for the target (e.g. gear options).

        Returns:
            A callable taking the placeholders' values positionally and
            returning the graph's outputs as a list (tensors; symbolic sizes
            as ``int``; ``None`` where the graph returns ``None``).

        Raises:
            airgraph_core.UnsupportedOpError: some ops cannot be lowered and
                ``airgraph_config.unsupported_op`` is ``"error"``.
        """
        # AOTAutograd calls its compilers with the fake mode still active;
        # lowering builds real constant tensors, so step out of it.
        with _dynamo_compat.real_mode():
            return self._compile(gm, example_inputs, origins, ge_options)

    def _compile(
        self,
        gm: GraphModule,
        example_inputs: Sequence[Any],
        origins: Sequence[InputOrigin] | None,
        ge_options: Mapping[str, str] | None,
    ) -> Callable[..., Any]:
        if origins is None:
            origins = standalone_origins(example_inputs)
        state = CompileState(
            name=f"graph_{next(_graph_ids)}",
            config=self.config,
            gm=gm,
            example_inputs=list(example_inputs),
            origins=list(origins),
            target=self.target,
            ge_options=dict(ge_options or {}),
        )
        record = CompiledGraph(state.name, gm, None, "eager", state.origins)
        self.compiled.append(record)
        start = time.perf_counter()
        try:
            run_pipeline(state)
        except NotImplementedError as e:  # an unsupported ATen op, or a GE op the target lacks
            _fill_record(record, state)
            return self._fallback(record, e)
        _fill_record(record, state)
        if state.eager is not None:  # debug.run_eagerly, data_dump, fx_summary.skip_compile
            record.target = "eager"
            record.fallback_reason = state.eager_reason
            return self._observed(record, state.eager)
        graph, executable = state.graph, state.executable
        assert graph is not None and executable is not None  # the pipeline's last steps
        record.target = state.target.name
        log.info(
            "compiled %s for the %s target in %.2f s: %d ATen nodes -> %d GE ops; "
            "%d inputs (%d frozen), %s%s; steps: %s",
            state.name,
            state.target.name,
            time.perf_counter() - start,
            len(gm.graph.nodes),
            len(graph.ops),
            len(graph.data_ops),
            len(state.frozen_inputs),
            "static" if graph.is_static() else "dynamic",
            f", {len(state.gears.plan)} gears" if state.gears is not None else "",
            timing_text(state.timings),
        )
        return self._observed(record, self._runner(record, executable, gm, graph))

    def _runner(
        self, record: CompiledGraph, executable: Executable, gm: GraphModule, graph: GeGraph
    ) -> Callable[..., Any]:
        lowered = lowered_of(graph)
        sources, kinds, views = lowered.input_sources, lowered.output_kinds, lowered.output_views
        if record.gears is None:
            return _GraphRunner(executable, sources, kinds, views)
        # Views are rebuilt after the gear runner sliced padded outputs back.
        runner = GearedRunner(
            record.gears,
            executable,
            sources,
            kinds,
            gm,
            gear_compile=self.config.airgraph_config.gear_compile,
            out_of_gear=self.config.airgraph_config.out_of_gear,
            graph_name=record.name,
            per_shape=self.target.capabilities.compiles_per_shape,
        )
        record.gear_runner = runner
        return runner if views is None else _ViewOutputs(runner, views, sources)

    def _observed(self, record: CompiledGraph, runner: Callable[..., Any]) -> Callable[..., Any]:
        if not self._first_call_hooks:
            return runner
        return _FirstCallObserver(runner, record, self._first_call_hooks)

    def _fallback(self, record: CompiledGraph, error: NotImplementedError) -> Callable[..., Any]:
        if self.config.airgraph_config.unsupported_op != "fallback":
            raise error
        record.fallback_reason = str(error)
        record.target = "eager"
        log.warning(
            "airgraph: %s runs eagerly in PyTorch (airgraph_config.unsupported_op='fallback'): %s",
            record.name,
            error,
        )
        return self._observed(record, record.aten_graph)
