"""The compile pipeline: the named steps from an ATen graph to an executable.

:class:`~airgraph_dynamo.compiler.AtenCompiler` runs :data:`STEPS` in order
on one :class:`CompileState`. Each step is a function ``step(state) -> None``
that reads and fills in the state; the config decides which steps run
(:meth:`CompileStep.runs`). :func:`passes` lists them, so the order is
something a user can print, and each step's time is logged:

    >>> from airgraph_dynamo.pipeline import passes
    >>> passes()  # doctest: +NORMALIZE_WHITESPACE
    ['fx_summary', 'data_dump', 'post_grad_custom_pre_pass', 'remove_noop_ops',
     'freeze_parameters', 'split_gear_size_asserts', 'post_grad_custom_post_pass',
     'lower', 'dump_original_graph', 'check_static_marks', 'plan_gears', 'ref_data',
     'dump_graph', 'run_eagerly', 'compile_target']

The users' FX passes (``config.post_grad_custom_pre_pass`` and
``post_grad_custom_post_pass``, called as ``fn(gm, example_inputs, config)``)
run where TorchAir runs them: the pre pass first, on the ATen graph as
AOTAutograd made it; the post pass after airgraph's own FX steps, just
before lowering.

A step may decide that the graph runs eagerly in PyTorch instead of through
GE (``debug.fx_summary`` with ``skip_compile``, ``debug.data_dump``,
``debug.run_eagerly``, as TorchAir does): it sets :attr:`CompileState.eager`
and the pipeline stops there.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.fx import GraphModule

from airgraph_core import GeGraph, lower_graph, lowered_of
from airgraph_core.input_updates import as_ref_data
from airgraph_dynamo import _dynamo_compat
from airgraph_dynamo.config import CompilerConfig
from airgraph_dynamo.data_dump import DataDumper, GeOpDumper
from airgraph_dynamo.dumps import dump_graph
from airgraph_dynamo.fx_summary import write_summary
from airgraph_dynamo.gears import GearSetup, build_gear_setup, has_gears, split_size_asserts
from airgraph_dynamo.inputs import InputOrigin
from airgraph_dynamo.noop_ops import remove_noop_ops
from airgraph_dynamo.static_marks import StaticMarkReport, check_static_marks
from airgraph_dynamo.targets import Executable, Target

__all__ = [
    "STEPS",
    "CompileState",
    "CompileStep",
    "describe_passes",
    "passes",
    "run_pipeline",
    "timing_text",
]

log = logging.getLogger("airgraph.dynamo")


@dataclasses.dataclass
class CompileState:
    """Everything the steps of one compile read and write.

    Attributes:
        name: the GE graph's name.
        config: the compiler's options.
        gm: the ATen graph (user FX passes may change it in place).
        example_inputs: one value per placeholder (fake or real).
        origins: where each placeholder comes from.
        target: the target the graph is compiled for.
        ge_options: GE options for the target (gear options are added).
        frozen_inputs: placeholder positions of module state flagged frozen
            (GE's ``frozenInput``); they stay graph inputs.
        size_asserts: the runtime size asserts split off a geared graph.
        graph: the GE graph, once lowered.
        static_marks: the static-marks report.
        dump_path: where the GE graph was dumped as compiled (TorchAir's
            ``dynamo_optimized_graph_*``).
        original_dump_path: where it was dumped as lowered
            (``dynamo_original_graph_*``).
        summary_path: where ``debug.fx_summary`` wrote the op summary.
        eager: set by a step that makes the graph run eagerly: the callable
            that runs it (the pipeline stops after that step).
        eager_reason: why the graph runs eagerly.
        gears: the gear setup of a geared graph.
        executable: the target's executable, once compiled.
        timings: seconds per step that ran, in order.
    """

    name: str
    config: CompilerConfig
    gm: GraphModule
    example_inputs: list[Any]
    origins: list[InputOrigin]
    target: Target
    ge_options: dict[str, str]
    frozen_inputs: tuple[int, ...] = ()
    size_asserts: GraphModule | None = None
    graph: GeGraph | None = None
    static_marks: StaticMarkReport | None = None
    dump_path: Any = None
    original_dump_path: Any = None
    summary_path: Any = None
    eager: Callable[..., Any] | None = None
    eager_reason: str | None = None
    gears: GearSetup | None = None
    executable: Executable | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def geared(self) -> bool:
        """Whether an input carries ``set_dim_gears`` marks."""
        return has_gears(self.origins)


@dataclasses.dataclass(frozen=True)
class CompileStep:
    """One named step of the pipeline.

    Attributes:
        name: the step's name (as :func:`passes` lists it).
        run: ``run(state)``: does the step's work on the state.
        enabled: ``enabled(config)``: whether the step runs under ``config``.
        doc: one line on what the step does.
    """

    name: str
    run: Callable[[CompileState], None]
    enabled: Callable[[CompilerConfig], bool]
    doc: str

    def runs(self, config: CompilerConfig) -> bool:
        """Whether this step runs under ``config``."""
        return bool(self.enabled(config))


def _always(config: CompilerConfig) -> bool:
    return True


# -- the steps ------------------------------------------------------------------


def _user_pass(attribute: str) -> Callable[[CompileState], None]:
    def run(state: CompileState) -> None:
        fn = getattr(state.config, attribute)
        # TorchAir's log lines around a user pass (its users grep for them).
        log.debug("[forward] before [%s] execution, graph: %s", attribute, state.name)
        fn(state.gm, state.example_inputs, state.config)
        log.debug("[forward] after [%s] execution, graph: %s", attribute, state.name)
        state.gm.graph.lint()
        state.gm.recompile()

    return run


def _freeze_parameters(state: CompileState) -> None:
    # As TorchAir: parameters and buffers stay graph inputs, flagged in GE's
    # ``frozenInput`` option (their device address never changes), so their
    # values are read at every run: new weights of the same shapes need no
    # recompile, and a cached program never runs with stale weights.
    state.frozen_inputs = tuple(
        i
        for i, o in enumerate(state.origins)
        if o.is_module_state and isinstance(o.value, torch.Tensor)
    )


def _split_gear_size_asserts(state: CompileState) -> None:
    # Geared sizes are unbacked: their runtime asserts are checked per gear instead.
    if state.geared:
        state.size_asserts = split_size_asserts(state.gm)


def _lower(state: CompileState) -> None:
    state.graph = lower_graph(
        state.gm,
        state.example_inputs,
        name=state.name,
        output_aliases=_dynamo_compat.output_input_aliases(),
    )
    if state.frozen_inputs:
        frozen = set(state.frozen_inputs)
        sources = lowered_of(state.graph).input_sources
        flags = ["1" if pos in frozen else "0" for pos in sources]
        state.ge_options = {"frozenInput": ",".join(flags), **state.ge_options}


def _check_static_marks(state: CompileState) -> None:
    graph = _graph(state)
    state.static_marks = check_static_marks(graph, state.origins)
    graph.lowered = dataclasses.replace(lowered_of(graph), static_marks=state.static_marks)


def _dump_graph(state: CompileState) -> None:
    dump = state.config.debug.graph_dump
    state.dump_path = dump_graph(_graph(state), dump.type, dump.path, stage="optimized")


def _dump_original_graph(state: CompileState) -> None:
    dump = state.config.debug.graph_dump
    state.original_dump_path = dump_graph(_graph(state), dump.type, dump.path, stage="original")


def _fx_summary(state: CompileState) -> None:
    state.summary_path = write_summary(state.gm)
    if state.config.debug.fx_summary.skip_compile:
        _run_eagerly_instead(state, state.gm, "debug.fx_summary.skip_compile")


def _data_dump(state: CompileState) -> None:
    dump = state.config.debug.data_dump
    dumper = DataDumper(state.gm, state.name, dump.path, dump.filter)
    _run_eagerly_instead(state, dumper, "debug.data_dump")


def _remove_noop_ops(state: CompileState) -> None:
    removed = remove_noop_ops(state.gm)
    if removed:
        log.debug("%s: remove_noop_ops removed %d node(s)", state.name, removed)


def _run_eagerly(state: CompileState) -> None:
    _run_eagerly_instead(state, state.gm, "debug.run_eagerly")


def _run_eagerly_instead(state: CompileState, runner: Callable[..., Any], option: str) -> None:
    state.eager = runner
    state.eager_reason = option
    log.warning(
        "%s runs eagerly in PyTorch, not through GE, because %s is set; unset it once "
        "you are done debugging so that the graph is compiled (as TorchAir warns)",
        state.name,
        option,
    )


def _plan_gears(state: CompileState) -> None:
    if not state.geared:
        return
    graph = _graph(state)
    state.gears = build_gear_setup(
        state.gm,
        graph,
        state.example_inputs,
        state.origins,
        state.config.inference_config.dynamic_gears_merge_policy,
        state.size_asserts,
    )
    if state.target.capabilities.gear_options:  # one GE graph serves every gear
        state.ge_options = {**state.gears.ge_options(graph), **state.ge_options}


def _ref_data(state: CompileState) -> None:
    state.graph = as_ref_data(_graph(state))


def _compile_target(state: CompileState) -> None:
    state.executable = state.target.compile(_graph(state), state.ge_options)
    dump = state.config.dump_config
    # On the NPU, GE writes dump_config's dumps itself (ge.exec.* options).
    if dump.enable_dump and state.target.capabilities.device == "cpu":
        state.executable = GeOpDumper(
            state.executable, state.name, dump.dump_path, dump.dump_mode,
            dump.dump_step, dump.dump_layer, dump.dump_data,
        )  # fmt: skip


def _graph(state: CompileState) -> GeGraph:
    if state.graph is None:
        raise RuntimeError(f"pipeline: {state.name} has no GE graph yet (run 'lower' first)")
    return state.graph


#: The steps, in the order they run.
STEPS: tuple[CompileStep, ...] = (
    CompileStep(
        "fx_summary",
        _fx_summary,
        lambda c: c.debug.fx_summary.type is not None,
        "CSV summary of the ATen ops (eager run after it with skip_compile)",
    ),
    CompileStep(
        "data_dump",
        _data_dump,
        lambda c: c.debug.data_dump.type is not None,
        "run eagerly, saving every ATen op's inputs and outputs as .npy",
    ),
    CompileStep(
        "post_grad_custom_pre_pass",
        _user_pass("post_grad_custom_pre_pass"),
        lambda c: c.post_grad_custom_pre_pass is not None,
        "the user's FX pass on the ATen graph, before airgraph's own steps",
    ),
    CompileStep(
        "remove_noop_ops",
        _remove_noop_ops,
        lambda c: c.experimental_config.remove_noop_ops,
        "drop ops that return their input unchanged (Inductor's pass, as TorchAir)",
    ),
    CompileStep(
        "freeze_parameters",
        _freeze_parameters,
        lambda c: c.experimental_config.frozen_parameter,
        "module parameters and buffers are flagged as GE's frozenInput",
    ),
    CompileStep(
        "split_gear_size_asserts",
        _split_gear_size_asserts,
        _always,
        "with gears: move the runtime size asserts out, to check them per gear",
    ),
    CompileStep(
        "post_grad_custom_post_pass",
        _user_pass("post_grad_custom_post_pass"),
        lambda c: c.post_grad_custom_post_pass is not None,
        "the user's FX pass after airgraph's FX steps, before lowering",
    ),
    CompileStep("lower", _lower, _always, "lower the ATen graph to a GE graph"),
    CompileStep(
        "dump_original_graph",
        _dump_original_graph,
        lambda c: c.debug.graph_dump.type is not None,
        "write the GE graph as lowered (dynamo_original_graph_*)",
    ),
    CompileStep(
        "check_static_marks",
        _check_static_marks,
        _always,
        "report how torch._dynamo.mark_static shaped the GE inputs",
    ),
    CompileStep(
        "plan_gears",
        _plan_gears,
        _always,
        "with gears: the gear plan, and GE's gear options for the npu target",
    ),
    CompileStep(
        "ref_data",
        _ref_data,
        lambda c: c.experimental_config.enable_ref_data,
        "inputs the graph writes become GE RefData (TorchAir's enable_ref_data)",
    ),
    CompileStep(
        "dump_graph",
        _dump_graph,
        lambda c: c.debug.graph_dump.type is not None,
        "write the GE graph as compiled (dynamo_optimized_graph_*)",
    ),
    CompileStep(
        "run_eagerly",
        _run_eagerly,
        lambda c: c.debug.run_eagerly,
        "run the ATen graph eagerly instead of compiling the GE graph",
    ),
    CompileStep(
        "compile_target",
        _compile_target,
        _always,
        "compile the GE graph for the target (host: with dump_config's per-op dumps)",
    ),
)


def passes(config: CompilerConfig | None = None) -> list[str]:
    """The names of the pipeline's steps, in order: those that run under ``config``, or all.

    Args:
        config: a config to filter by; ``None`` lists every step.

    Returns:
        The step names.

    Raises:
        TypeError: ``config`` is not a ``CompilerConfig``.
    """
    if config is not None and not isinstance(config, CompilerConfig):
        raise TypeError(f"config: expected a CompilerConfig or None, got {type(config).__name__}")
    return [s.name for s in STEPS if config is None or s.runs(config)]


def describe_passes(config: CompilerConfig | None = None) -> str:
    """The pipeline as text: one line per step, marked ``-`` where ``config`` skips it."""
    lines = []
    for i, step in enumerate(STEPS, 1):
        mark = " " if config is None or step.runs(config) else "-"
        lines.append(f"{mark}{i:2d}. {step.name:28s} {step.doc}")
    return "\n".join(lines)


def run_pipeline(state: CompileState, steps: Sequence[CompileStep] = STEPS) -> CompileState:
    """Run the enabled ``steps`` on ``state`` in order, timing each.

    Returns:
        ``state``, filled in; it stops after a step that sets ``state.eager``.

    Raises:
        whatever a step raises (``UnsupportedOpError`` from ``lower``,
        ``NotImplementedError`` from a target that cannot run an op).
    """
    for step in steps:
        if not step.runs(state.config):
            continue
        start = time.perf_counter()
        step.run(state)
        state.timings[step.name] = time.perf_counter() - start
        log.debug("%s: step %s took %.3f s", state.name, step.name, state.timings[step.name])
        if state.eager is not None:  # the graph runs eagerly: nothing left to compile
            break
    return state


def timing_text(timings: Mapping[str, float]) -> str:
    """``lower 0.012 s, compile_target 1.204 s, ...`` for a log line."""
    return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in timings.items())
