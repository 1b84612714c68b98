"""The program recipe: what a cold start records, and how a warm start rebuilds the program.

A cold start's one Dynamo trace yields the GE graph and, here, the recipe
written beside it as ``program.json``: the access path of every graph input,
the output structure, the input and guard checks, the gears and the GE
options the target compiled with (plus, with ``ge_cache``, the target's
compiled artifacts: for the host target, an AOTInductor package per
specialization). A warm start reads the recipe back and
binds the program to the method's ``self`` without Dynamo.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from airgraph_cache.binding import InputBinding, OutputSpec, UncacheableError
from airgraph_cache.cache_access import private_extraction_dir
from airgraph_cache.checks import GuardChecks
from airgraph_cache.guards import checks_from_guards, traced_functions
from airgraph_cache.manifest import safe_json_loads
from airgraph_cache.program import Program
from airgraph_cache.recorder import Recorder
from airgraph_cache.source_paths import source_to_path
from airgraph_core import lowered_of, output_views
from airgraph_core.input_updates import written_inputs

__all__ = [
    "GRAPH_FILE",
    "PROGRAM_FILE",
    "PROGRAM_FORMAT",
    "MethodContext",
    "cold_compile",
    "capture_program",
    "load_program",
    "package_artifacts",
]

log = logging.getLogger("airgraph.cache")

GRAPH_FILE = "graph.pb"
PROGRAM_FILE = "program.json"
PROGRAM_FORMAT = 4  # 4: same checks (DUPLICATE_INPUT), distinct_inputs


@dataclasses.dataclass(frozen=True)
class MethodContext:
    """What the recipe needs of a cached method: the bound method, its config,
    whether inputs are checked per call, and its cache key."""

    func: Any
    config: Any
    check_inputs: bool
    key: Any


def capture_program(
    method: MethodContext, recorder: Recorder, backend: Any, result: Any
) -> tuple[Program, dict[str, bytes]]:
    """The program and the entry's files (``program.json``) of a cold start's one trace.

    Raises:
        UncacheableError: the trace cannot be replayed without Dynamo.
    """
    if recorder.traces != 1:
        raise UncacheableError(f"Dynamo traced the method {recorder.traces} times, expected 1")
    record = backend.compiled[-1]
    if record.ge_graph is None or record.executable is None:
        raise UncacheableError(f"the graph fell back to eager: {record.fallback_reason}")
    if not recorder.runner_calls:
        raise UncacheableError("the compiled graph did not run")
    graph = record.ge_graph
    lowered = lowered_of(graph)
    aten_positions = lowered.input_sources
    paths = []
    for pos in aten_positions:
        origin = record.origins[pos]
        source = recorder.sources.get(origin.name)
        if source is None:
            raise UncacheableError(f"graph input {origin.name!r} has no Dynamo source")
        path = source_to_path(source)
        if origin.name in recorder.as_tensor:
            value = recorder.runner_calls[0][0][pos]
            if not isinstance(value, torch.Tensor) or value.dtype != torch.float64:
                raise UncacheableError(
                    f"graph input {origin.name!r} is a scalar passed as a tensor"
                )
            path.append(["float_tensor"])
        paths.append(path)
    aten_inputs, outputs = recorder.runner_calls[0]
    inputs = [aten_inputs[p] for p in aten_positions]
    spec = OutputSpec.capture(result, outputs, inputs)
    kinds = list(lowered.output_kinds)
    all_checks = _input_checks(paths, inputs, graph, method.func.__func__)
    checks = all_checks if method.check_inputs else None
    guard_specs, guards = _guard_checks(method, recorder, paths)
    distinct = _distinct_inputs(graph, inputs)
    gears = _gear_recipe(record, method.config)
    recipe = {
        "format": PROGRAM_FORMAT,
        "method": method.func.__qualname__,
        "inputs": paths,
        "outputs": {"treespec": spec.treespec, "leaves": spec.leaves},
        "output_kinds": kinds,
        "checks": all_checks,
        "gears": gears,
        "guards": guard_specs,
        "distinct_inputs": distinct,
        "target": record.target,
        "ge_options": dict(getattr(record, "ge_options", {}) or {}),
        # Where the target's compiler cache holds the compiled code (no code itself).
        "hints": record.executable.export_hints(),
    }
    binding = InputBinding(method.func.__func__, paths)
    executable = record.executable
    program = Program(
        method.func.__self__,
        binding,
        executable,
        kinds,
        spec,
        checks,
        gears,
        output_views(graph),
        guards,
        method.key,
        distinct,
    )
    files = {PROGRAM_FILE: json.dumps(recipe, indent=1, sort_keys=True).encode()}
    return program, files


def _guard_checks(
    method: MethodContext, recorder: Recorder, paths: list
) -> tuple[list[dict], GuardChecks]:
    """The checks of what Dynamo guarded in this trace (see :mod:`airgraph_cache.guards`)."""
    if not recorder.guards:
        raise UncacheableError(
            "Dynamo's guards were not recorded (torch.compile's mode= cannot be combined "
            "with the options that report them); drop mode="
        )
    specs = checks_from_guards(
        recorder.guards, input_paths=paths, functions=traced_functions(method.func)
    )
    try:
        return specs, GuardChecks(specs, method.func.__func__)
    except (ValueError, SyntaxError) as e:
        raise UncacheableError(f"a guard cannot be checked without Dynamo: {e}") from e


@contextlib.contextmanager
def cold_compile(config: Any, ge_cache: bool) -> Iterator[None]:
    """Around a cold trace. On the host target in inductor mode, Inductor's check of
    the CPU's vector ISA (seconds of compiler runs, once per process) starts in a
    thread, overlapping Dynamo's trace and the lowering. With ``ge_cache``, the
    specializations compile as the packages :func:`package_artifacts` keeps (one
    Inductor compile, not two)."""
    from airgraph_core.targets import target_class

    options = config.airgraph_config
    if target_class(options.target).name == "host" and options.host_mode == "inductor":
        from airgraph_core.targets.host.warm_hints import start_isa_probe

        start_isa_probe(import_first=True)
    if not ge_cache:
        yield
        return
    from airgraph_core.targets.host.package import compile_as_packages

    with compile_as_packages():
        yield


def package_artifacts(program: Program, files: dict[str, bytes]) -> None:
    """Add the target's compiled artifacts (``ge_cache``), so a warm start compiles nothing.

    The host target exports an AOTInductor package per specialization; the
    NPU target none (GE's own compile cache serves ``ge_cache`` there).
    """
    recipe = safe_json_loads(files[PROGRAM_FILE])
    kept = []
    for artifact in program.executable.export_artifacts():
        if artifact.name in files:  # a warm start then compiles what it holds
            log.warning("ge_cache: artifact %r clashes with an entry file; not kept", artifact.name)
            continue
        files[artifact.name] = artifact.data
        kept.append({"file": artifact.name, "meta": artifact.meta})
    recipe["artifacts"] = kept
    files[PROGRAM_FILE] = json.dumps(recipe, indent=1, sort_keys=True).encode()


def load_program(
    method: MethodContext, files: dict[str, bytes], executable: Callable | None = None
) -> Program:
    """Bind a verified (signed) entry's program to this method's ``self``.

    ``executable``: the compiled program another instance of this process
    already built from the same files; None to build it here.
    """
    from airgraph_core import deserialize

    recipe = safe_json_loads(files[PROGRAM_FILE])
    if recipe.get("format") != PROGRAM_FORMAT:
        raise ValueError(f"program format {recipe.get('format')!r} is not {PROGRAM_FORMAT}")
    graph = deserialize(files[GRAPH_FILE])
    if executable is None:
        executable = _build_executable(method.config, graph, recipe, files)
    spec = OutputSpec(recipe["outputs"]["treespec"], recipe["outputs"]["leaves"])
    binding = InputBinding(method.func.__func__, recipe["inputs"])
    checks = recipe["checks"] if method.check_inputs else None
    guards = GuardChecks(recipe["guards"], method.func.__func__)
    return Program(
        method.func.__self__,
        binding,
        executable,
        recipe["output_kinds"],
        spec,
        checks,
        recipe.get("gears"),
        output_views(graph),
        guards,
        method.key,
        recipe["distinct_inputs"],
    )


def _distinct_inputs(graph: Any, inputs: Sequence[Any]) -> list[int]:
    """The tensor inputs checked per call to be distinct objects: all of them when the
    graph writes an input in place, else none (a pure graph reads one tensor passed
    twice correctly; the trace's own aliasing is a ``same`` guard check)."""
    if not written_inputs(graph):
        return []
    return [i for i, value in enumerate(inputs) if isinstance(value, torch.Tensor)]


def _build_executable(config: Any, graph: Any, recipe: dict, files: dict[str, bytes]) -> Callable:
    from airgraph_core.targets import Artifact
    from airgraph_dynamo.targets import select_target

    # The GE options the cold start compiled with (gear options, frozenInput).
    executable = select_target(config).compile(graph, dict(recipe.get("ge_options") or {}))
    executable.load_hints(recipe.get("hints") or [])
    artifacts = [
        Artifact(a["file"], files[a["file"]], a["meta"]) for a in recipe.get("artifacts") or []
    ]
    if artifacts:
        # Native code: only reached for entries signed with the user's key (the store
        # checks the signature before anything else); extracted where nothing stays.
        with private_extraction_dir():
            executable.load_artifacts(artifacts)
    return executable


def _gear_recipe(record: Any, config: Any) -> dict[str, Any] | None:
    """The geared inputs (program positions) and the shapes of every feasible gear."""
    setup = getattr(record, "gears", None)
    if setup is None:
        return None
    from airgraph_dynamo.gear_dispatch import OutOfGear

    combos = setup.plan.combinations
    sources = lowered_of(record.ge_graph).input_sources
    # The backend's out-of-gear policy, its positions moved to the program's inputs.
    policy = OutOfGear.from_setup(
        setup,
        config.airgraph_config.out_of_gear,
        record.name,
        positions={aten: i for i, aten in enumerate(sources)},
    )
    return {
        "inputs": [g.data_index for g in setup.inputs],
        "shapes": [[list(shape) for shape in combos[i]] for i in setup.feasible],
        "out_of_gear": config.airgraph_config.out_of_gear,
        "policy": policy.to_json(),
    }


def _input_checks(
    paths: list, inputs: Sequence[Any], graph: Any, fn: Callable[..., Any]
) -> list[list[Any]]:
    """Per argument tensor input: its dtype, shape (``-1`` where the graph is dynamic), device.
    Module state (under the method's first parameter, ``fn``'s) is not an argument."""
    params = list(inspect.signature(fn).parameters)
    self_name = params[0] if params else "self"
    checks = []
    for i, (path, value, data) in enumerate(zip(paths, inputs, graph.data_ops)):
        if not isinstance(value, torch.Tensor) or path[0] == ["local", self_name]:
            continue
        shape = data.output_descs[0].shape or ()
        dims = [int(d) if d >= 0 else -1 for d in shape]
        checks.append([i, str(value.dtype).removeprefix("torch."), dims, value.device.type])
    return checks
