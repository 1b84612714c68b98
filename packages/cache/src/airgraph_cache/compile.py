"""``cache_compile``: compile a module method once, replay it on later starts without Dynamo.

The first call in a process looks the key up in the cache. On a miss it
compiles through the airgraph backend (Dynamo + AOTAutograd + lowering),
records how each input of the GE graph is fetched (an access path from the
method's ``self`` and arguments), how the return value is rebuilt from the
graph's outputs, and publishes the GE graph plus that recipe atomically. On
a hit it deserializes the GE graph and runs it on the target directly:
no Dynamo trace, no guards, no lowering. Every later call in the process,
cold or warm, goes straight to the compiled program after a cheap explicit
check of the inputs (dtypes, static dims, devices), which can be turned off.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from airgraph_cache.binding import InputBinding, OutputSpec, UncacheableError, source_to_path
from airgraph_cache.keys import CacheKey, build_key
from airgraph_cache.manifest import safe_json_loads
from airgraph_cache.store import ArtifactStore, CacheSecurityError
from airgraph_core import OutputViews, convert_outputs, output_views

__all__ = ["CachedFunction", "cache_compile", "DEFAULT_CACHE_DIR"]

log = logging.getLogger("airgraph.cache")

#: The documented default root, as in TorchAir.
DEFAULT_CACHE_DIR = ".torchair_cache"
#: Environment variable overriding the default root.
CACHE_DIR_ENV = "AIRGRAPH_CACHE_DIR"

GRAPH_FILE = "graph.pb"
PROGRAM_FILE = "program.json"
PROGRAM_FORMAT = 1


def _default_rank() -> int | None:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return None


def _check_optional_rank(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected an int >= 0 or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: expected an int >= 0 or None, got {value!r}")


def cache_compile(
    func: Callable[..., Any],
    *,
    config: Any = None,
    dynamic: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    global_rank: int | None = None,
    tp_rank: int | None = None,
    pp_rank: int | None = None,
    custom_decompositions: dict | None = None,
    ge_cache: bool = False,
    check_inputs: bool = True,
    **kwargs: Any,
) -> CachedFunction:
    """Cache the compilation of a module method on disk; later starts skip Dynamo.

    Args:
        func: a bound method of an ``nn.Module`` instance (``self._forward``),
            not wrapped by another decorator. It must form a full graph and
            is traced by Dynamo once.
        config: an ``airgraph.CompilerConfig``; ``None`` for the defaults.
        dynamic: trace with dynamic shapes.
        cache_dir: the cache root; default ``$AIRGRAPH_CACHE_DIR`` or
            ``.torchair_cache``.
        global_rank: the rank folder; default ``torch.distributed``'s rank
            when initialized.
        tp_rank: tensor-parallel rank, part of the rank folder's name.
        pp_rank: pipeline-parallel rank, part of the rank folder's name.
        custom_decompositions: the user's decomposition table.
        ge_cache: also cache the target's compiled artifacts (GE's compile
            cache on the NPU).
        check_inputs: check every call's inputs (dtypes, static dims,
            devices) against the cached program; turn off to save the
            microseconds once the callers are trusted.
        **kwargs: passed on to ``torch.compile`` on a cold start (and part of
            the key), e.g. ``mode``.

    Returns:
        A :class:`CachedFunction`, called like ``func``.

    Raises:
        TypeError: ``func`` is not a bound method of an ``nn.Module``, is
            wrapped by a decorator, or another argument has the wrong type.
        ValueError: a rank is negative.

    Examples:
        >>> class Model(torch.nn.Module):                      # doctest: +SKIP
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.cached_forward = cache_compile(self._forward)
        ...     def forward(self, x, y):
        ...         return self.cached_forward(x, y)
        ...     def _forward(self, x, y):
        ...         return x + y
    """
    if not isinstance(func, types.MethodType) or not isinstance(func.__self__, torch.nn.Module):
        raise TypeError(
            "func: expected a bound method of an nn.Module instance (e.g. self._forward), "
            f"got {func!r}"
        )
    if hasattr(func.__func__, "__wrapped__") or isinstance(func.__func__, functools.partial):
        raise TypeError(
            f"func: {func.__qualname__} is wrapped by another decorator; cache the undecorated "
            "method and apply the decorator to the method that calls it"
        )
    if not isinstance(dynamic, bool):
        raise TypeError(f"dynamic: expected a bool, got {type(dynamic).__name__}")
    if not isinstance(ge_cache, bool):
        raise TypeError(f"ge_cache: expected a bool, got {type(ge_cache).__name__}")
    if not isinstance(check_inputs, bool):
        raise TypeError(f"check_inputs: expected a bool, got {type(check_inputs).__name__}")
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir: expected a path or None, got {type(cache_dir).__name__}")
    for name, value in (("global_rank", global_rank), ("tp_rank", tp_rank), ("pp_rank", pp_rank)):
        _check_optional_rank(name, value)
    from airgraph_dynamo.config import CompilerConfig

    if config is None:
        config = CompilerConfig()
    if not isinstance(config, CompilerConfig):
        raise TypeError(f"config: expected an airgraph CompilerConfig or None, got {config!r}")
    if custom_decompositions is not None and not isinstance(custom_decompositions, dict):
        raise TypeError(
            "custom_decompositions: expected a dict from ATen ops to callables or None, got "
            f"{type(custom_decompositions).__name__}"
        )
    return CachedFunction(
        func,
        config=config.copy(),
        dynamic=dynamic,
        store=ArtifactStore(cache_dir),
        ranks=(global_rank, tp_rank, pp_rank),
        custom_decompositions=custom_decompositions,
        ge_cache=ge_cache,
        check_inputs=check_inputs,
        compile_kwargs=kwargs,
    )


class _Recorder:
    """A Dynamo backend wrapper that records what the cache needs from the cold compile."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.traces = 0
        self._compile_ids: set[Any] = set()
        self.sources: dict[str, Any] = {}
        self.as_tensor: set[str] = set()
        self.runner_calls: list[tuple[tuple, list]] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> Any:
        # Count compilations of the frame, not attempts: Dynamo may restart the
        # analysis of one compilation (e.g. to tensorify a float such as
        # nn.Embedding's norm_type) after calling the backend; only the last
        # attempt's graph is kept, so a restart is not a second trace.
        compile_id = torch._guards.CompileContext.current_compile_id()
        if compile_id is None:
            self._compile_ids.add(object())
        else:
            self._compile_ids.add((compile_id.frame_id, compile_id.frame_compile_id))
        self.traces = len(self._compile_ids)
        self.sources = {}
        self.as_tensor = set()
        for node in gm.graph.find_nodes(op="placeholder"):
            grapharg = node.meta.get("grapharg")
            source = getattr(node, "_dynamo_source", None)
            if source is None:
                source = getattr(grapharg, "source", None)
            if source is not None:
                self.sources[source.name] = source
                # A Python float (e.g. a module's ``self.scale``) that Dynamo's bytecode
                # turns into a tensor before calling the graph: the path must do the same.
                if getattr(grapharg, "pass_arg_as_tensor", False):
                    self.as_tensor.add(source.name)
        return self.backend(gm, example_inputs)

    def record_first_call(self, record: Any, inputs: tuple, outputs: list) -> None:
        """The backend's first-call hook: keep the first graph call's ATen inputs and outputs."""
        if not self.runner_calls:
            self.runner_calls.append((inputs, outputs))


class _Program:
    """A compiled program bound to a method: fetch inputs, check, run, rebuild outputs."""

    def __init__(
        self,
        module: torch.nn.Module,
        binding: InputBinding,
        executable: Callable[[list[Any]], list[Any]],
        kinds: Sequence[str],
        outputs: OutputSpec,
        checks: list[list[Any]] | None,
        gears: dict[str, Any] | None = None,
        views: OutputViews | None = None,
    ) -> None:
        self.module = module
        self.views = views
        self.binding = binding
        self.executable = executable
        self.kinds = tuple(k for k in kinds if k)
        self.build = outputs.builder()
        # (input, dtype, rank, fixed (dim, size) pairs, device or None for the CPU)
        self.checks = [
            (
                i,
                getattr(torch, dt),
                len(shape),
                tuple((d, n) for d, n in enumerate(shape) if n != -1),
                None if dev == "cpu" else dev,
                tuple(shape),
            )
            for i, dt, shape, dev in checks or ()
        ]
        self._plain = all(k == "t" for k in self.kinds)
        self.gear_inputs: tuple[int, ...] = ()
        self.gear_shapes: frozenset[tuple] = frozenset()
        self.out_of_gear = "error"
        if gears:
            self.gear_inputs = tuple(gears["inputs"])
            self.gear_shapes = frozenset(
                tuple(tuple(shape) for shape in combo) for combo in gears["shapes"]
            )
            self.out_of_gear = gears["out_of_gear"]

    def __call__(self, args: tuple, kwargs: dict) -> Any:
        inputs = self.binding.inputs(self.module, args, kwargs)
        if torch.is_grad_enabled():
            _refuse_gradients(self.binding, inputs)
        if self.checks:
            self._check(inputs)
        if self.gear_inputs:
            self._check_gears(inputs)
        outs = self.executable(inputs)
        if not self._plain:
            outs = convert_outputs(outs, self.kinds)
            if self.views is not None:
                self.views.apply(inputs, outs)
        return self.build(outs, inputs)

    def _check_gears(self, inputs: list[Any]) -> None:
        shapes = tuple(tuple(inputs[i].shape) for i in self.gear_inputs)
        if shapes in self.gear_shapes:
            return
        where = ", ".join(_path_text(self.binding.paths[i]) for i in self.gear_inputs)
        table = "; ".join(str(list(c)) for c in sorted(self.gear_shapes))
        message = f"shapes {list(shapes)} of ({where}) match no gear; the gears are: {table}"
        if self.out_of_gear == "error":
            from airgraph_dynamo.gear_dispatch import OutOfGearError

            raise OutOfGearError(message)
        # "pad" and "fallback": the cached graph is dynamic, so it serves the shape directly.
        log.warning("%s; running it uncached in shape (out_of_gear=%r)", message, self.out_of_gear)

    def _check(self, inputs: list[Any]) -> None:
        for i, dtype, rank, fixed, device, shape in self.checks:
            t = inputs[i]
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"input {_path_text(self.binding.paths[i])}: expected a tensor, "
                    f"got {type(t).__name__}"
                )
            if (
                t.dtype is not dtype
                or (not t.is_cpu if device is None else t.device.type != device)
                or t.dim() != rank
            ):
                raise InputMismatch(i, self.binding.paths[i], t, dtype, shape, device or "cpu")
            size = t.shape
            for d, n in fixed:
                if size[d] != n:
                    raise InputMismatch(i, self.binding.paths[i], t, dtype, shape, device or "cpu")


class InputMismatch(ValueError):
    """A call's input does not match what the cached program was compiled for."""

    def __init__(self, index: int, path: Any, t: torch.Tensor, dtype, shape, device) -> None:
        where = _path_text(path)
        super().__init__(
            f"input {where}: got {t.dtype} {tuple(t.shape)} on {t.device.type}, the cached "
            f"program expects {dtype} {tuple(shape)} (-1 = any) on {device}"
        )


def _refuse_gradients(binding: InputBinding, inputs: Sequence[Any]) -> None:
    """Raise as the cold compile does when a call would need autograd (inference only)."""
    needing = [
        _path_text(binding.paths[i])
        for i, t in enumerate(inputs)
        if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    if needing:
        from airgraph_dynamo.backend import InferenceOnlyError

        raise InferenceOnlyError(
            "cache_compile runs inference graphs only, but grad mode is on and "
            f"{len(needing)} input(s) require grad ({', '.join(needing)}). Call it under "
            "torch.no_grad() or torch.inference_mode(), or set requires_grad=False on them."
        )


def _path_text(path: Sequence[Sequence[Any]]) -> str:
    text = ""
    for step in path:
        if step[0] == "local":
            text = step[1]
        elif step[0] == "attr":
            text += f".{step[1]}"
        elif step[0] == "item":
            text += f"[{step[1]!r}]"
        else:
            text += f".{step[0]}({step[1] if len(step) > 1 else ''})"
    return text


class CachedFunction:
    """The callable :func:`cache_compile` returns.

    Attributes:
        entry_dir: the cache entry's rank folder, once the first call has
            computed the key.
        status: ``"new"`` before the first call, then ``"hit"`` (loaded from
            disk), ``"compiled"`` (compiled and published), or
            ``"uncached"`` (running through ``torch.compile`` because the
            program could not be cached; see the logged warning).
    """

    def __init__(
        self,
        func: types.MethodType,
        *,
        config: Any,
        dynamic: bool,
        store: ArtifactStore,
        ranks: tuple[int | None, int | None, int | None],
        custom_decompositions: dict | None,
        ge_cache: bool,
        check_inputs: bool,
        compile_kwargs: dict[str, Any],
    ) -> None:
        self.func = func
        self.config = config
        self.dynamic = dynamic
        self.store = store
        self.ranks = ranks
        self.custom_decompositions = custom_decompositions
        self.ge_cache = ge_cache
        self.check_inputs = check_inputs
        self.compile_kwargs = compile_kwargs
        self.entry_dir: Path | None = None
        self.status = "new"
        self.key: CacheKey | None = None
        self._program: _Program | None = None
        self._uncached: Callable[..., Any] | None = None
        self._replace_entry = False
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<cache_compile of {self.func.__qualname__}: {self.status}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        program = self._program
        if program is not None:
            try:
                return program(args, kwargs)
            except InputMismatch as e:
                self._abandon(f"{e}")
                return self._run_uncached(args, kwargs)
        if self._uncached is not None:
            return self._uncached(*args, **kwargs)
        return self._first_call(args, kwargs)

    # -- first call ---------------------------------------------------------

    def _device(self) -> str:
        target = self.config.airgraph_config.target
        if target == "auto":
            from airgraph_dynamo.targets.select import npu_available

            return "npu" if npu_available() else "cpu"
        return "npu" if target == "npu" else "cpu"

    def _first_call(self, args: tuple, kwargs: dict) -> Any:
        global_rank, tp_rank, pp_rank = self.ranks
        if global_rank is None:
            global_rank = _default_rank()
        key = build_key(
            self.func,
            args,
            kwargs,
            config_fingerprint=self.config.fingerprint() + _kwargs_text(self.compile_kwargs),
            dynamic=self.dynamic,
            ge_cache=self.ge_cache,
            decompositions=self.custom_decompositions,
            device=self._device(),
        )
        self.key = key
        self.entry_dir = self.store.entry_dir(
            key, global_rank=global_rank, tp_rank=tp_rank, pp_rank=pp_rank
        )
        hit = self._try_load()
        if hit:
            return hit[0](args, kwargs)
        # One process compiles; the others wait for its entry instead of compiling too.
        try:
            with self.store.lock(self.entry_dir):
                hit = self._try_load()
                if hit:
                    return hit[0](args, kwargs)
                return self._compile(args, kwargs)
        except CacheSecurityError as e:
            log.warning("cache_compile(%s): cache not used: %s", self.func.__qualname__, e)
            return self._compile(args, kwargs, publish=False)

    def _try_load(self) -> tuple[_Program] | None:
        assert self.key is not None and self.entry_dir is not None
        files = self.store.load(self.entry_dir, key_digest=self.key.digest())
        if files is None:
            return None
        try:
            self._program = self._load(files)
        except Exception as e:  # a verified entry we cannot use: recompile it
            log.warning("cache entry %s is unusable (%s); recompiling", self.entry_dir, e)
            self._replace_entry = True
            return None
        self.status = "hit"
        log.info("cache hit: %s", self.entry_dir)
        return (self._program,)

    def _compile(self, args: tuple, kwargs: dict, *, publish: bool = True) -> Any:
        from airgraph_core import serialize
        from airgraph_dynamo import get_npu_backend

        backend = get_npu_backend(
            compiler_config=self.config, custom_decompositions=self.custom_decompositions
        )
        recorder = _Recorder(backend)
        # With gears, exactly the geared dims are dynamic (Dynamo's default
        # marks-only mode); dynamic=True would leave other dims without gears.
        dynamic = None if _has_gears(args, kwargs) else self.dynamic
        compiled = torch.compile(
            self.func, backend=recorder, fullgraph=True, dynamic=dynamic, **self.compile_kwargs
        )
        hook = backend.compiler.add_first_call_hook(recorder.record_first_call)
        try:
            result = compiled(*args, **kwargs)
        finally:
            hook.remove()
        # Only now: a first call that raised (e.g. it needed gradients) leaves
        # the function new, so the next call looks the cache up again.
        self._uncached = compiled
        try:
            program, files = self._capture(recorder, backend, result)
        except UncacheableError as e:
            self.status = "uncached"
            log.warning("cache_compile(%s): not cached: %s", self.func.__qualname__, e)
            return result
        files[GRAPH_FILE] = serialize(backend.compiled[-1].ge_graph)
        if self.ge_cache:
            self._package_host(program, files)
        key = self.key
        assert key is not None and self.entry_dir is not None
        self._program = program
        self.status = "compiled"
        if publish:
            fields = {"key": key.as_dict(), "key_digest": key.digest()}
            if self._replace_entry:
                # Verified but unusable (e.g. crafted bytes with a matching manifest):
                # publish would keep it, so move it aside to rebuild it.
                self.store._discard(self.entry_dir, None)
            try:
                published = self.store.publish(self.entry_dir, files, fields)
            except CacheSecurityError as e:
                log.warning("cache_compile(%s): not saved: %s", self.func.__qualname__, e)
            else:
                state = "published" if published else "kept the existing entry"
                log.info("cache %s: %s", state, self.entry_dir)
        return result

    def _capture(self, recorder: _Recorder, backend: Any, result: Any) -> tuple[_Program, dict]:
        if recorder.traces != 1:
            raise UncacheableError(f"Dynamo traced the method {recorder.traces} times, expected 1")
        record = backend.compiled[-1]
        if record.ge_graph is None or record.executable is None:
            raise UncacheableError(f"the graph fell back to eager: {record.fallback_reason}")
        if not recorder.runner_calls:
            raise UncacheableError("the compiled graph did not run")
        graph = record.ge_graph
        aten_positions = graph.attrs["_airgraph_input_sources"].value
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
        kinds = list(graph.attrs["_airgraph_output_kinds"].value)
        if "s" in kinds and any(
            leaf[0] == "const" and isinstance(leaf[1], int) for leaf in spec.leaves
        ):
            raise UncacheableError("the method returns sizes that may be symbolic")
        all_checks = _input_checks(paths, inputs, graph)
        checks = all_checks if self.check_inputs else None
        gears = _gear_recipe(record, self.config)
        recipe = {
            "format": PROGRAM_FORMAT,
            "method": self.func.__qualname__,
            "inputs": paths,
            "outputs": {"treespec": spec.treespec, "leaves": spec.leaves},
            "output_kinds": kinds,
            "checks": all_checks,
            "gears": gears,
            "target": record.target,
        }
        binding = InputBinding(self.func.__func__, paths)
        executable = record.executable
        program = _Program(
            self.func.__self__,
            binding,
            executable,
            kinds,
            spec,
            checks,
            gears,
            output_views(graph),
        )
        files = {PROGRAM_FILE: json.dumps(recipe, indent=1, sort_keys=True).encode()}
        return program, files

    def _package_host(self, program: _Program, files: dict[str, bytes]) -> None:
        """Add an AOTInductor package per host specialization, so a warm start compiles nothing."""
        host = getattr(program.executable, "program", None)
        if host is None:  # the NPU target: GE's own compile cache serves ge_cache
            return
        from airgraph_core.targets.host.package import export_package, signature_to_json

        recipe = safe_json_loads(files[PROGRAM_FILE])
        packages = []
        for i, signature in enumerate(host.signatures):
            name = f"host_{i}.pt2"
            try:
                files[name] = export_package(host, signature)
            except Exception as e:  # export limits: the warm start compiles this one
                log.warning("ge_cache: specialization %d not packaged: %s", i, e)
                continue
            packages.append({"file": name, "signature": signature_to_json(signature)})
        recipe["host_packages"] = packages
        files[PROGRAM_FILE] = json.dumps(recipe, indent=1, sort_keys=True).encode()

    def _load(self, files: dict[str, bytes]) -> _Program:
        from airgraph_core import deserialize

        recipe = safe_json_loads(files[PROGRAM_FILE])
        if recipe.get("format") != PROGRAM_FORMAT:
            raise ValueError(f"program format {recipe.get('format')!r} is not {PROGRAM_FORMAT}")
        graph = deserialize(files[GRAPH_FILE])
        from airgraph_dynamo.targets.select import select_target

        executable = select_target(self.config).compile(graph, {})
        packages = recipe.get("host_packages") or []
        host = getattr(executable, "program", None)
        if packages and host is not None:
            from airgraph_core.targets.host.package import load_package, signature_from_json

            for entry in packages:
                load_package(host, signature_from_json(entry["signature"]), files[entry["file"]])
        spec = OutputSpec(recipe["outputs"]["treespec"], recipe["outputs"]["leaves"])
        binding = InputBinding(self.func.__func__, recipe["inputs"])
        checks = recipe["checks"] if self.check_inputs else None
        return _Program(
            self.func.__self__,
            binding,
            executable,
            recipe["output_kinds"],
            spec,
            checks,
            recipe.get("gears"),
            output_views(graph),
        )

    # -- leaving the cache --------------------------------------------------

    def _abandon(self, reason: str) -> None:
        log.warning(
            "cache_compile(%s): %s; the cached program is abandoned and the method "
            "runs through torch.compile from now on",
            self.func.__qualname__,
            reason,
        )
        self._program = None
        self.status = "uncached"

    def _run_uncached(self, args: tuple, kwargs: dict) -> Any:
        if self._uncached is None:
            from airgraph_dynamo import get_npu_backend

            backend = get_npu_backend(
                compiler_config=self.config, custom_decompositions=self.custom_decompositions
            )
            self._uncached = torch.compile(
                self.func,
                backend=backend,
                fullgraph=True,
                dynamic=self.dynamic,
                **self.compile_kwargs,
            )
        return self._uncached(*args, **kwargs)


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return "" if not kwargs else json.dumps(kwargs, sort_keys=True, default=repr)


def _has_gears(args: tuple, kwargs: dict) -> bool:
    from airgraph_gears import get_dim_gears

    leaves = torch.utils._pytree.tree_leaves((args, kwargs))
    return any(isinstance(t, torch.Tensor) and get_dim_gears(t) for t in leaves)


def _gear_recipe(record: Any, config: Any) -> dict[str, Any] | None:
    """The geared inputs (program positions) and the shapes of every feasible gear."""
    setup = getattr(record, "gears", None)
    if setup is None:
        return None
    combos = setup.plan.combinations
    return {
        "inputs": [g.data_index for g in setup.inputs],
        "shapes": [[list(shape) for shape in combos[i]] for i in setup.feasible],
        "out_of_gear": config.airgraph_config.out_of_gear,
    }


def _input_checks(paths: list, inputs: Sequence[Any], graph: Any) -> list[list[Any]]:
    """Per argument tensor input: its dtype, shape (``-1`` where the graph is dynamic), device."""
    checks = []
    for i, (path, value, data) in enumerate(zip(paths, inputs, graph.data_ops)):
        if not isinstance(value, torch.Tensor) or path[0] == ["local", "self"]:
            continue
        shape = data.output_descs[0].shape or ()
        dims = [int(d) if d >= 0 else -1 for d in shape]
        checks.append([i, str(value.dtype).removeprefix("torch."), dims, value.device.type])
    return checks


del inspect
