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

This module is the orchestration (cold and warm starts, variants, leaving the
cache); the pieces it puts together live beside it: argument checks in
:mod:`~airgraph_cache.arguments`, the cold start's traced call in
:mod:`~airgraph_cache.recorder`, the recipe written and read back in
:mod:`~airgraph_cache.recipe`, the runtime program in
:mod:`~airgraph_cache.program`, the entry's disk access in
:mod:`~airgraph_cache.cache_access`.
"""

from __future__ import annotations

import functools
import logging
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from airgraph_cache import arguments, rank_agreement, sharing
from airgraph_cache.arguments import CACHE_DIR_ENV, DEFAULT_CACHE_DIR, checked_arguments
from airgraph_cache.binding import UncacheableError
from airgraph_cache.cache_access import EntryAccess
from airgraph_cache.keys import CacheKey, build_key, variant_key
from airgraph_cache.overlap import argument_tensors, overlapping, writes_an_input
from airgraph_cache.program import GuardMismatch, InputMismatch, Program, is_callers_error
from airgraph_cache.recipe import (
    GRAPH_FILE,
    MethodContext,
    capture_program,
    cold_compile,
    load_program,
    package_artifacts,
)
from airgraph_cache.recorder import record_trace
from airgraph_cache.store import ArtifactStore

__all__ = ["CACHE_DIR_ENV", "CachedFunction", "cache_compile", "DEFAULT_CACHE_DIR"]

log = logging.getLogger("airgraph.cache")

#: Variants of one key a process may go through (one per distinct guarded situation)
#: before the method runs uncached through torch.compile.
MAX_VARIANTS = 8


def cache_compile(
    func: Callable[..., Any],
    *,
    config: Any = None,
    backend: Any = None,
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
        config: an ``airgraph.CompilerConfig``; ``None`` for the defaults
            (or ``backend``'s config).
        backend: a backend from ``get_npu_backend`` whose config to use, as
            in TorchAir; with ``config`` too, both configs must be equal.
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
        ValueError: a rank is negative, or ``config`` differs from
            ``backend``'s config (TorchAir's message).

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
    config, cache_dir = checked_arguments(
        func,
        config=config,
        backend=backend,
        dynamic=dynamic,
        cache_dir=cache_dir,
        ranks=(global_rank, tp_rank, pp_rank),
        custom_decompositions=custom_decompositions,
        ge_cache=ge_cache,
        check_inputs=check_inputs,
    )
    return CachedFunction(
        func,
        config=config,
        dynamic=dynamic,
        store=ArtifactStore(cache_dir),
        ranks=(global_rank, tp_rank, pp_rank),
        custom_decompositions=custom_decompositions,
        ge_cache=ge_cache,
        check_inputs=check_inputs,
        compile_kwargs=kwargs,
    )


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
        self._program: Program | None = None
        self._uncached: Callable[..., Any] | None = None
        #: The method writes an input in place: calls with overlapping arguments run eagerly.
        self._eager_overlaps = False
        self._replace_entry = False
        self._access = EntryAccess(store, func.__qualname__)
        self._rebuilt = False
        #: Programs of this method loaded or compiled in this process (variants of the key).
        self._variants: list[Program] = []
        self._rank_folder: tuple[int | None, int | None, int | None] = ranks
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<cache_compile of {self.func.__qualname__}: {self.status}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # As TorchAir's cache_compile: the cached method always runs without autograd
        # (inference only), so a caller in grad mode needs no torch.no_grad() of its own.
        if not torch.is_grad_enabled():  # the usual caller: the context would cost ~1 µs
            return self._call(args, kwargs)
        with torch.no_grad():
            return self._call(args, kwargs)

    def _call(self, args: tuple, kwargs: dict) -> Any:
        program = self._program
        if program is not None:
            try:
                return program(args, kwargs)
            except InputMismatch as e:
                self._abandon(f"{e}")
                return self._run_uncached(args, kwargs)
            except GuardMismatch:
                return self._switch(args, kwargs)
        if self._uncached is not None:
            return self._run_uncached(args, kwargs)
        try:
            return self._first_call(args, kwargs)
        except GuardMismatch:
            return self._switch(args, kwargs)
        except InputMismatch as e:
            # The first call after a load, with an input the program cannot take (a dim the
            # trace specialized): as on any later call, not an error (TorchAir asserts).
            self._abandon(f"{e}")
            return self._run_uncached(args, kwargs)

    # -- first call ---------------------------------------------------------

    def _device(self) -> str:
        """The device type the configured target's inputs live on (part of the key)."""
        from airgraph_core.targets import target_class

        return target_class(self.config.airgraph_config.target).capabilities.device

    def _first_call(self, args: tuple, kwargs: dict) -> Any:
        if self._eager_overlaps and overlapping(argument_tensors(args, kwargs)):
            return self.func(*args, **kwargs)
        global_rank, tp_rank, pp_rank = self.ranks
        if global_rank is None:
            global_rank = arguments.default_rank()
        key = build_key(
            self.func,
            args,
            kwargs,
            config_fingerprint=self.config.fingerprint()
            + arguments.kwargs_text(self.compile_kwargs),
            dynamic=self.dynamic,
            ge_cache=self.ge_cache,
            decompositions=self.custom_decompositions,
            device=self._device(),
        )
        self._rank_folder = (global_rank, tp_rank, pp_rank)
        return self._enter(key, args, kwargs)

    def _enter(self, key: CacheKey, args: tuple, kwargs: dict) -> Any:
        """Run the call through the entry of ``key``: load it, or compile and publish it.

        Raises:
            GuardMismatch: the loaded entry's checks fail for this process or call
                (:meth:`_switch` then looks for the variant that fits).
        """
        global_rank, tp_rank, pp_rank = self._rank_folder
        self.key = key
        self._replace_entry = False
        self.entry_dir = self.store.entry_dir(
            key, global_rank=global_rank, tp_rank=tp_rank, pp_rank=pp_rank
        )
        hit = self._try_load()
        if hit:
            return self._run_loaded(hit[0], args, kwargs)
        return self._compile_under_lock(args, kwargs)

    def _compile_under_lock(self, args: tuple, kwargs: dict) -> Any:
        # One process compiles; the others wait (a bounded time) for its entry. A lock or
        # disk failure turns the cache off for this method (one warning): compile in memory.
        assert self.entry_dir is not None
        with self._access.lock(self.entry_dir) as held:
            if held:
                hit = self._try_load()
                if hit:
                    return self._run_loaded(hit[0], args, kwargs)
            return self._compile(args, kwargs, publish=held)

    def _run_loaded(self, program: Program, args: tuple, kwargs: dict) -> Any:
        """The first run of a loaded program; an entry that fails to run is rebuilt, once."""
        graph = getattr(program.executable, "graph", None)
        gears = sorted(program.gear_shapes) if program.gear_inputs else None
        if graph is not None and not rank_agreement.agree(
            graph, "hit", where=str(self.entry_dir), gears=gears
        ):
            # Other ranks of its collectives compile: so does this one (its entry stays).
            if program in self._variants:
                self._variants.remove(program)
            self._program = None
            self.status = "new"
            return self._compile(args, kwargs, publish=False)
        try:
            return program(args, kwargs)
        except Exception as e:
            if self._rebuilt or is_callers_error(e):
                raise
            assert self.key is not None and self.entry_dir is not None
            log.warning(
                "cache entry %s loaded but failed when run (%s: %s); discarding it and recompiling",
                self.entry_dir,
                type(e).__name__,
                e,
            )
            self._rebuilt = True
            sharing.forget(self.entry_dir, self.key.digest())
            if program in self._variants:
                self._variants.remove(program)
            self._program = None
            self.status = "new"
            self._replace_entry = True
            return self._compile_under_lock(args, kwargs)

    def _try_load(self) -> tuple[Program] | None:
        assert self.key is not None and self.entry_dir is not None
        digest = self.key.digest()
        shared = None if self._replace_entry else sharing.recall(self.entry_dir, digest)
        if shared is not None:  # another instance in this process has it: bind to it
            files, executable = shared.files, shared.executable
        else:
            if self._replace_entry:
                return None
            files = self._access.load(self.entry_dir, digest)
            if files is None:
                return None
            executable = None
        try:
            # Bind the verified (signed) entry's program to this method's ``self``.
            program = load_program(self._method, files, executable)
        except Exception as e:  # a verified entry we cannot use: recompile it
            log.warning("cache entry %s is unusable (%s); recompiling", self.entry_dir, e)
            self._replace_entry = True
            sharing.forget(self.entry_dir, digest)
            return None
        sharing.remember(self.entry_dir, digest, files, program.executable)
        self._program = program
        if program.guards is not None and not program.guards.process_ok(self.func.__self__):
            # Traced for another world (attributes, globals, torch state, hooks, env):
            # a variant of this key serves this process, never this entry.
            raise GuardMismatch("a process check failed")
        self._variants.append(program)
        self.status = "hit"
        log.info("cache hit: %s", self.entry_dir)
        return (self._program,)

    def _compile(self, args: tuple, kwargs: dict, *, publish: bool = True) -> Any:
        from airgraph_core import serialize

        with cold_compile(self.config, self.ge_cache):  # ge_cache: one compile serves both
            trace = record_trace(
                self.func,
                args,
                kwargs,
                config=self.config,
                decompositions=self.custom_decompositions,
                dynamic=self.dynamic,
                compile_kwargs=self.compile_kwargs,
                before_first_run=self._agree_compiled,
            )
        recorder, backend, result = trace.recorder, trace.backend, trace.result
        try:
            program, files = capture_program(self._method, recorder, backend, result)
        except UncacheableError as e:
            # Writes an input: overlapping arguments run eagerly, uncached too (see overlap).
            self._eager_overlaps = writes_an_input(backend)
            if self._eager_overlaps and overlapping(argument_tensors(args, kwargs)):
                # Traced over one memory seen through two arguments (AOTAutograd's synthetic
                # base): right for this call only. Such calls run eagerly; the next other
                # call compiles (status stays new). See :mod:`airgraph_cache.overlap`.
                self._eager_overlaps = True
                log.info("cache_compile(%s): not cached: %s", self.func.__qualname__, e)
                return result
            self.status = "uncached"
            self._uncached = trace.compiled
            log.warning("cache_compile(%s): not cached: %s", self.func.__qualname__, e)
            return result
        # Only now: a first call that raised (e.g. it needed gradients) leaves
        # the function new, so the next call looks the cache up again.
        self._uncached = trace.compiled
        files[GRAPH_FILE] = serialize(backend.compiled[-1].ge_graph)
        if self.ge_cache:
            # gear_compile="background": package every gear compiled (wait for the thread).
            runner = getattr(backend.compiled[-1], "gear_runner", None)
            if runner is not None:
                runner.wait_for_gears()
            package_artifacts(program, files)
        key = self.key
        assert key is not None and self.entry_dir is not None
        self._program = program
        self._variants.append(program)
        self.status = "compiled"
        # Kept for the other instances of this process whatever happens to the publish
        # (no space, read-only...): they bind to it instead of compiling again.
        sharing.remember(self.entry_dir, key.digest(), files, program.executable)
        if publish:
            fields = {"key": key.as_dict(), "key_digest": key.digest()}
            if self._replace_entry:
                # Verified but unusable (it failed to load or to run): publish would
                # keep it, so move it aside to rebuild it.
                self._access.discard(self.entry_dir)
                self._replace_entry = False
            self._access.publish(self.entry_dir, files, fields)
        return result

    def _agree_compiled(self, record: Any) -> None:
        """Before a compiled program's first run: agree with the ranks of its collectives."""
        if record.ge_graph is None:
            return
        setup = record.gears
        gears = None if setup is None else [setup.plan.combinations[i] for i in setup.feasible]
        for _ in range(2):  # a second round after peers that had loaded it compiled it too
            if rank_agreement.agree(
                record.ge_graph, "compiled", where=str(self.entry_dir), gears=gears
            ):
                return
        raise rank_agreement.RankMismatchError(
            f"the ranks could not agree on how to run {self.entry_dir}"
        )

    @property
    def _method(self) -> MethodContext:
        return MethodContext(self.func, self.config, self.check_inputs, self.key)

    # -- another variant ------------------------------------------------------

    def _switch(self, args: tuple, kwargs: dict) -> Any:
        """Serve a call whose checks failed: another program of this process, or a variant entry.

        A variant's key is the failed program's key plus the outcome of each of
        its checks, so every process derives the same variant for the same
        situation; it is loaded, or compiled and published, like any entry.
        """
        module = self.func.__self__
        for _ in range(MAX_VARIANTS):
            failed = self._program
            assert failed is not None and failed.guards is not None and failed.key is not None
            for program in self._variants:
                # Programs in _variants passed their process checks when they came in.
                if program is not failed and program.guards.call_ok(module, args, kwargs):
                    self._program = program
                    try:
                        return program(args, kwargs)
                    except GuardMismatch:
                        break
            else:
                facts = failed.guards.facts(module, args, kwargs)
                failure = failed.guards.describe_failure(module, args, kwargs)
                if not failed.inputs_distinct(args, kwargs):  # one tensor in two inputs
                    facts.append(False)
                    failure = "distinct tensor inputs (the program writes one in place)"
                log.info(
                    "cache_compile(%s): %s does not hold; using a variant of %s",
                    self.func.__qualname__,
                    failure,
                    self.entry_dir,
                )
                if len(self._variants) >= MAX_VARIANTS:
                    break
                try:
                    return self._enter(variant_key(failed.key, facts), args, kwargs)
                except GuardMismatch:
                    continue
        self._abandon(f"more than {MAX_VARIANTS} guarded variants of one key")
        return self._run_uncached(args, kwargs)

    # -- leaving the cache --------------------------------------------------

    def _abandon(self, reason: str) -> None:
        log.warning(
            "cache_compile(%s): %s; the cached program is abandoned and the method "
            "runs through torch.compile from now on",
            self.func.__qualname__,
            reason,
        )
        self._eager_overlaps |= self._program is not None and bool(self._program.distinct)
        self._program = None
        self.status = "uncached"

    def _run_uncached(self, args: tuple, kwargs: dict) -> Any:
        if self._eager_overlaps and overlapping(argument_tensors(args, kwargs)):
            return self.func(*args, **kwargs)
        if self._uncached is None:
            from airgraph_dynamo import get_npu_backend

            backend = get_npu_backend(
                compiler_config=self.config, custom_decompositions=self.custom_decompositions
            )
            self._uncached = torch.compile(
                sharing.fresh_method(self.func),
                backend=backend,
                fullgraph=True,
                dynamic=self.dynamic,
                **self.compile_kwargs,
            )
        return self._uncached(*args, **kwargs)
