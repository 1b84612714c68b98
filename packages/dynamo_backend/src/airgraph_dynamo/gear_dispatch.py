"""Serving a geared graph: dispatch by input shapes, eager or lazy gear compiles, out-of-gear calls.

:class:`GearedRunner` is what AOTAutograd calls instead of the plain runner
when the graph has gears. A call looks the shapes of its geared inputs up in
a dict (keyed by shapes only: the other inputs' shapes are fixed by Dynamo's
guards; with one geared input, by its shape alone) and runs what it finds,
handing it the call's whole argument sequence (each entry picks its inputs:
no per-call list or unpacking in between, see :meth:`GearedRunner.boxed`):

- a target that compiles per shape (``compiles_per_shape``, the host
  target): the gear's own static specialization of the GE graph
  (:meth:`~airgraph_core.targets.Executable.specialize`), built for every
  feasible gear at the first call (``gear_compile="eager"``), at each
  gear's first use (``"lazy"``), or by a background thread while every
  gear is served at once by the uncompiled graph
  (:meth:`~airgraph_core.targets.Executable.uncompiled`), each compiled gear
  swapped into the dispatch table when ready (``"background"``, see
  :mod:`airgraph_dynamo.gear_background`);
- any other target (the NPU target): the one executable, whose gear options
  made GE build a variant per gear.

Shapes outside the gears follow ``airgraph_config.out_of_gear``
(:class:`~airgraph_dynamo.out_of_gear.OutOfGear`, re-exported here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.fx import GraphModule

from airgraph_core import GeGraph, convert_outputs
from airgraph_core.targets import Executable
from airgraph_core.targets.host import written_inputs
from airgraph_dynamo import _dynamo_compat
from airgraph_dynamo.gear_background import BackgroundCompiles
from airgraph_dynamo.gears import GearSetup
from airgraph_dynamo.out_of_gear import OutOfGear, OutOfGearError, PadPlan

__all__ = ["GearedRunner", "OutOfGear", "OutOfGearError", "PadPlan"]

log = logging.getLogger("airgraph.dynamo")


class GearedRunner:
    """The callable AOTAutograd gets for a geared graph: ATen inputs -> outputs.

    Args:
        setup: the graph's :class:`~airgraph_dynamo.gears.GearSetup`.
        executable: the target's executable of the GE graph.
        sources: the ATen placeholder position of each ``Data`` input.
        kinds: the graph's output kinds (``"t"`` tensor, ``"s"`` size,
            ``"n"`` None).
        aten_graph: the ATen graph, run eagerly by ``out_of_gear="fallback"``.
        gear_compile: ``"eager"``, ``"lazy"`` or ``"background"`` (targets
            that compile per shape).
        out_of_gear: ``"error"``, ``"pad"`` or ``"fallback"``.
        graph_name: for messages.
        per_shape: the target compiles per shape (its capabilities'
            ``compiles_per_shape``): each gear is specialized; otherwise the
            executable serves every gear.
    """

    def __init__(
        self,
        setup: GearSetup,
        executable: Executable,
        sources: Sequence[int],
        kinds: Sequence[str],
        aten_graph: GraphModule,
        *,
        gear_compile: str,
        out_of_gear: str,
        graph_name: str,
        per_shape: bool,
    ) -> None:
        self.setup = setup
        self.executable = executable
        self.sources = tuple(sources)
        self.kinds = tuple(k for k in kinds if k)
        self.aten_graph = aten_graph
        self.gear_compile = gear_compile
        self.out_of_gear = out_of_gear
        self.graph_name = graph_name
        self._geared = tuple(g.position for g in setup.inputs)
        self._index = {combination: i for i, combination in enumerate(setup.plan.combinations)}
        self._plain = all(k == "t" for k in self.kinds)
        self._per_shape = per_shape
        #: Table key (:meth:`_key`) -> ``run(args)`` over the call's whole argument sequence.
        self._table: dict[Any, Callable[[Sequence[Any]], Sequence[Any]]] = {}
        if not per_shape:
            # One executable serves every gear (GE built a variant per gear).
            run = _picking(executable, self.sources)
            self._table = {self._key(setup.plan.combinations[i]): run for i in setup.feasible}
        self._started = False
        #: The out-of-gear policy (shared with ``cache_compile``'s program).
        self.policy = OutOfGear.from_setup(setup, out_of_gear, graph_name)
        self._updated = _updated_positions(executable.graph, self.sources)
        #: ``gear_compile="background"``: the thread compiling the gears, once started.
        self.background: BackgroundCompiles | None = None
        #: The call in AOTAutograd's boxed convention: see :meth:`boxed`.
        self.boxed = _dynamo_compat.boxed_call(self._boxed())

    def __call__(self, *args: Any) -> list[Any]:
        return list(self.boxed(args))

    def _key(self, combination: Sequence[Sequence[int]]) -> Any:
        """The table key of a combination: the shape of the one geared input, else all shapes."""
        return combination[0] if len(self._geared) == 1 else combination

    def _boxed(self) -> Callable[[Sequence[Any]], Sequence[Any]]:
        """The per-call path, a closure over what it reads (every call of every gear runs it).

        ``run(args)`` takes the ATen inputs as one sequence (AOTAutograd's
        boxed convention: a list it hands over) and returns the outputs as a
        sequence. One dict lookup by shape, then the gear's runner with
        ``args`` itself; out-of-gear shapes and gears not compiled yet take
        :meth:`_slow_call`. tests/ pin this structure (no layer in between).
        """
        table, slow = self._table, self._slow_call
        plain, kinds = self._plain, self.kinds
        if len(self._geared) == 1:
            (position,) = self._geared

            def run(args: Sequence[Any]) -> Sequence[Any]:
                fn = table.get(args[position].shape)
                if fn is None:
                    return slow(args)
                return fn(args) if plain else convert_outputs(fn(args), kinds)

            return run
        geared = self._geared

        def run_many(args: Sequence[Any]) -> Sequence[Any]:
            fn = table.get(tuple([args[p].shape for p in geared]))
            if fn is None:
                return slow(args)
            return fn(args) if plain else convert_outputs(fn(args), kinds)

        return run_many

    # -- the first call, lazy compiles and out-of-gear shapes ---------------

    def _slow_call(self, args: Sequence[Any]) -> list[Any]:
        args = tuple(args)
        key = tuple(tuple(args[p].shape) for p in self._geared)
        index = self._index.get(key)
        in_gear = index is not None and index not in self.setup.infeasible
        if self._per_shape and not self._started:
            self._started = True
            if self.gear_compile == "eager":
                self._compile_all(args, skip=index if in_gear else None)
            elif self.gear_compile == "background":
                self._start_background(args, index if in_gear else None)
        if not in_gear:
            return self._out_of_gear(args, key)
        fn = self._table.get(self._key(key))
        if fn is not None:
            outs = fn(args)
        else:
            outs = self._run_new_gear(index, args)
        return list(outs) if self._plain else convert_outputs(outs, self.kinds)

    def _run_new_gear(self, index: int, args: tuple[Any, ...]) -> list[Any]:
        """Run a call of a gear not compiled yet: specialize for it (running it once), register it."""
        inputs = [args[p] for p in self.sources]
        wrong = {
            p: (int(args[p]), v) for p, v in self.setup.scalars[index].items() if int(args[p]) != v
        }
        if wrong:
            raise RuntimeError(
                f"airgraph gears: internal error: the size inputs of {self.graph_name} "
                f"(position: (given, derived)) {wrong} disagree with the sizes derived from gear "
                f"{index}"
            )
        start = time.perf_counter()
        # A new specialization runs the graph once on ``inputs``: that run is this
        # call, and specializing afterwards finds it done.
        outs = self.executable(inputs)
        fn = self.executable.specialize_from_args(inputs, self.sources)
        self._register(index, fn, time.perf_counter() - start)
        return outs

    def _compile_all(self, args: tuple[Any, ...], skip: int | None) -> None:
        """``gear_compile="eager"``: compile every feasible gear but ``skip`` (the calling one)."""
        start = time.perf_counter()
        for index in self.setup.feasible:
            if index != skip and self._key(self.setup.plan.combinations[index]) not in self._table:
                self._compile_gear(index, args)
        log.info(
            "gears: compiled %d gears of %s in %.2f s (gear_compile='eager')",
            len(self.setup.feasible),
            self.graph_name,
            time.perf_counter() - start,
        )

    def _start_background(self, args: tuple[Any, ...], first: int | None) -> None:
        """``gear_compile="background"``: serve every gear uncompiled, compile them in a thread.

        A target without an uncompiled executable compiles the gears as with
        ``"eager"``.
        """
        interpreter = self.executable.uncompiled()
        if interpreter is None:
            self._compile_all(args, skip=first)
            return
        # The thread compiles from a snapshot taken now: dtypes and devices of the
        # geared inputs, copies of the inputs the graph updates in place (this
        # call is about to update them), the other inputs as they are.
        snapshot = list(args)
        for p in self._geared:
            snapshot[p] = args[p].new_empty(0)
        for p in self._updated.difference(self._geared):
            snapshot[p] = args[p].clone()
        snapshot = tuple(snapshot)
        combinations = self.setup.plan.combinations
        self.background = BackgroundCompiles(
            self.graph_name,
            self.setup.feasible,
            lambda index: self._compile_in_background(index, snapshot),
        )
        for index in self.setup.feasible:
            if self._key(combinations[index]) not in self._table:
                self._table[self._key(combinations[index])] = _interpreted(
                    interpreter, index, self.background.want, self.sources
                )
        if first is not None:
            self.background.want(first)
        # The thread's Inductor compiles set torch.fx's process-wide tracing flag
        # (torch 2.13): a compiled function called meanwhile from this thread then
        # runs eagerly for that call instead of raising.
        # wait_for_gears() from this thread puts the setting back once the gears are compiled.
        self.background.restore_in_caller = _dynamo_compat.calls_run_eagerly_during_fx_tracing()
        log.info(
            "gears: %s serves its %d gears uncompiled while a background thread compiles them "
            "(gear_compile='background')",
            self.graph_name,
            len(self.setup.feasible),
        )
        self.background.start()

    def _compile_in_background(self, index: int, snapshot: tuple[Any, ...]) -> None:
        # A new thread starts with gradients on; the compile's own run of the
        # graph on dummy inputs needs none. Dynamo's compile lock keeps a Dynamo
        # compile in another thread from tracing at the same time.
        with _dynamo_compat.dynamo_compile_lock(), torch.no_grad():
            self._compile_gear(index, snapshot)

    def wait_for_gears(self, timeout: float | None = None) -> bool:
        """Block until the background compiles of this graph are done (``"background"``).

        Returns:
            True when every feasible gear runs compiled code (at once for
            ``"eager"``, and always on a target whose one executable serves
            every gear); False when ``timeout`` seconds passed first, a gear
            failed to compile (it runs uncompiled, see ``background.failures``)
            or the graph has not been called yet.
        """
        if not self._per_shape:
            return True
        if self.background is None:
            return len(self.setup.compiled) == len(self.setup.feasible)
        return self.background.wait(timeout)

    def interpreted_gears(self) -> list[int]:
        """The gears served uncompiled right now (``"background"``: not compiled yet, or failed)."""
        return [
            index
            for index in self.setup.feasible
            if getattr(
                self._table.get(self._key(self.setup.plan.combinations[index])),
                "interpreted",
                False,
            )
        ]

    def _compile_gear(self, index: int, args: tuple[Any, ...]) -> None:
        """Specialize the executable for gear ``index`` from dummy inputs.

        ``args`` (a call of another shape) give dtypes, devices and the
        non-geared inputs; geared inputs become zeros of the gear's shapes
        and size inputs the gear's sizes. Specializing runs the graph once,
        so inputs it updates in place are copied first.
        """
        scalars = self.setup.scalars[index]
        shapes = dict(zip(self._geared, self.setup.plan.combinations[index]))
        inputs = []
        for p in self.sources:
            if p in scalars:
                inputs.append(scalars[p])
            elif p in shapes:
                inputs.append(torch.zeros(shapes[p], dtype=args[p].dtype, device=args[p].device))
            elif p in self._updated:
                inputs.append(args[p].clone())
            else:
                inputs.append(args[p])
        start = time.perf_counter()
        fn = self.executable.specialize_from_args(inputs, self.sources)
        self._register(index, fn, time.perf_counter() - start)

    def _register(self, index: int, fn: Callable[..., Any], seconds: float) -> None:
        combination = self.setup.plan.combinations[index]
        # ``fn`` is complete before the one assignment that swaps it in: a call
        # (in any thread) sees the old entry or this one, never a part of it.
        self.setup.compiled[index] = seconds
        self._table[self._key(combination)] = fn
        log.info(
            "gears: %s gear %d %s compiled in %.2f s (%d of %d)",
            self.graph_name,
            index,
            combination,
            seconds,
            len(self.setup.compiled),
            len(self.setup.feasible),
        )

    def _out_of_gear(self, args: tuple[Any, ...], key: tuple) -> list[Any]:
        pad = self.policy.resolve(key)
        if pad is None:  # fallback: nothing is compiled or cached
            return list(self.aten_graph(*args))
        return pad.slice_back(list(self.boxed(pad.pad(args, self._geared))))

    def __repr__(self) -> str:
        return (
            f"GearedRunner({self.graph_name}, gears={len(self.setup.plan)}, "
            f"compiled={len(self.setup.compiled)}, out_of_gear={self.out_of_gear!r})"
        )


def _updated_positions(graph: GeGraph, sources: Sequence[int]) -> frozenset[int]:
    """ATen positions of the ``Data`` inputs the graph updates in place (e.g. by ``Assign``)."""
    written = written_inputs(graph)
    return frozenset(p for op, p in zip(graph.data_ops, sources) if op.name in written)


def _interpreted(
    interpreter: Executable, index: int, want: Callable[[int], None], sources: Sequence[int]
) -> Callable[[Sequence[Any]], list[Any]]:
    """Gear ``index`` served by ``interpreter`` until its compiled code is swapped in;
    its first call asks the background thread to compile it next."""
    called = False

    def run(args: Sequence[Any]) -> list[Any]:
        nonlocal called
        if not called:
            called = True
            want(index)
        return interpreter([args[p] for p in sources])

    run.interpreted = True  # type: ignore[attr-defined]  # what tests look for
    return run


def _picking(executable: Executable, sources: Sequence[int]) -> Callable[[Sequence[Any]], Any]:
    """``executable`` called with the ``Data`` inputs picked from the whole argument sequence."""
    sources = tuple(sources)

    def run(args: Sequence[Any]) -> list[Any]:
        return executable([args[p] for p in sources])

    return run
