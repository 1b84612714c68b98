"""Serving a geared graph: dispatch by input shapes, eager or lazy gear compiles, out-of-gear calls.

:class:`GearedRunner` is what AOTAutograd calls instead of the plain runner
when the graph has gears. A call looks the shapes of its geared inputs up in
a dict (keyed by shapes only: the other inputs' shapes are fixed by Dynamo's
guards) and runs what it finds:

- a target that compiles per shape (``compiles_per_shape``, the host
  target): the gear's own static specialization of the GE graph
  (:meth:`~airgraph_core.targets.Executable.specialize`), built for every
  feasible gear at the first call (``gear_compile="eager"``) or at each
  gear's first use (``"lazy"``);
- any other target (the NPU target): the one executable, whose gear options
  made GE build a variant per gear.

Shapes outside the gears follow ``airgraph_config.out_of_gear``: ``"error"``
lists the gears; ``"pad"`` pads the geared dims with zeros up to the next
larger gear and slices the outputs back; ``"fallback"`` runs the ATen graph
eagerly in PyTorch (nothing is compiled or cached), with a warning.
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
from airgraph_dynamo.gears import GearSetup, evaluate_size

__all__ = ["GearedRunner", "OutOfGearError"]

log = logging.getLogger("airgraph.dynamo")


class OutOfGearError(RuntimeError):
    """A call's input shapes match no gear (``airgraph_config.out_of_gear="error"``)."""


class GearedRunner:
    """The callable AOTAutograd gets for a geared graph: ATen inputs -> outputs.

    Args:
        setup: the graph's :class:`~airgraph_dynamo.gears.GearSetup`.
        executable: the target's executable of the GE graph.
        sources: the ATen placeholder position of each ``Data`` input.
        kinds: the graph's output kinds (``"t"`` tensor, ``"s"`` size,
            ``"n"`` None).
        aten_graph: the ATen graph, run eagerly by ``out_of_gear="fallback"``.
        gear_compile: ``"eager"`` or ``"lazy"`` (targets that compile per shape).
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
        self._table: dict[tuple, Callable[..., Any]] = {}
        if not per_shape:
            # One executable serves every gear (GE built a variant per gear).
            run = _as_positional(executable)
            self._table = {setup.plan.combinations[i]: run for i in setup.feasible}
        self._started = False
        self._warned: set[tuple] = set()
        self._updated = _updated_positions(executable.graph, self.sources)

    def __call__(self, *args: Any) -> list[Any]:
        fn = self._table.get(tuple([args[p].shape for p in self._geared]))
        if fn is None:
            return self._slow_call(args)
        outs = fn(*[args[p] for p in self.sources])
        return list(outs) if self._plain else convert_outputs(outs, self.kinds)

    # -- the first call, lazy compiles and out-of-gear shapes ---------------

    def _slow_call(self, args: tuple[Any, ...]) -> list[Any]:
        key = tuple(tuple(args[p].shape) for p in self._geared)
        index = self._index.get(key)
        in_gear = index is not None and index not in self.setup.infeasible
        if self._per_shape and not self._started:
            self._started = True
            if self.gear_compile == "eager":
                self._compile_all(args, skip=index if in_gear else None)
        if not in_gear:
            return self._out_of_gear(args, key, index)
        fn = self._table.get(key)
        if fn is not None:
            outs = fn(*[args[p] for p in self.sources])
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
        fn = self.executable.specialize(inputs)
        self._register(index, fn, time.perf_counter() - start)
        return outs

    def _compile_all(self, args: tuple[Any, ...], skip: int | None) -> None:
        """``gear_compile="eager"``: compile every feasible gear but ``skip`` (the calling one)."""
        start = time.perf_counter()
        for index in self.setup.feasible:
            if index != skip and self.setup.plan.combinations[index] not in self._table:
                self._compile_gear(index, args)
        log.info(
            "gears: compiled %d gears of %s in %.2f s (gear_compile='eager')",
            len(self.setup.feasible),
            self.graph_name,
            time.perf_counter() - start,
        )

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
        fn = self.executable.specialize(inputs)
        self._register(index, fn, time.perf_counter() - start)

    def _register(self, index: int, fn: Callable[..., Any], seconds: float) -> None:
        combination = self.setup.plan.combinations[index]
        self.setup.compiled[index] = seconds
        self._table[combination] = fn
        log.debug(
            "gears: %s gear %d %s compiled in %.2f s", self.graph_name, index, combination, seconds
        )

    def _out_of_gear(self, args: tuple[Any, ...], key: tuple, index: int | None) -> list[Any]:
        shapes = ", ".join(f"{g.source}: {s}" for g, s in zip(self.setup.inputs, key))
        if index is not None:
            raise OutOfGearError(
                f"airgraph gears: input shapes {shapes} are gear {index} of {self.graph_name}, "
                f"which this model cannot run: {self.setup.infeasible[index]}"
            )
        if self.out_of_gear == "pad":
            return self._pad_call(args, key, shapes)
        if self.out_of_gear == "fallback":
            if key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "airgraph gears: input shapes %s match no gear of %s; running the graph "
                    "eagerly in PyTorch, uncompiled (airgraph_config.out_of_gear='fallback')",
                    shapes,
                    self.graph_name,
                )
            return list(self.aten_graph(*args))
        raise OutOfGearError(
            f"airgraph gears: input shapes {shapes} match no gear of {self.graph_name} "
            "(airgraph_config.out_of_gear='error'). The gears are:\n"
            f"{self.setup.describe()}\n"
            "Call with one of these shapes, declare the shapes with set_dim_gears before the "
            "first call, or set airgraph_config.out_of_gear to 'pad' or 'fallback'."
        )

    def _pad_call(self, args: tuple[Any, ...], key: tuple, shapes: str) -> list[Any]:
        setup = self.setup
        if setup.pad_blocker is not None:
            raise OutOfGearError(
                f"airgraph gears: input shapes {shapes} match no gear of {self.graph_name}, and "
                f"out_of_gear='pad' cannot serve this model: {setup.pad_blocker}. Call with a "
                f"gear's shapes or use out_of_gear='fallback'. The gears are:\n{setup.describe()}"
            )
        actual: dict[Any, int] = {}
        for g, shape in zip(setup.inputs, key):
            for dim, symbol in g.symbols.items():
                if actual.setdefault(symbol, shape[dim]) != shape[dim]:
                    raise OutOfGearError(
                        f"airgraph gears: input shapes {shapes} break the model's constraint "
                        f"that the dims traced as {symbol} are equal"
                    )
        target = setup.plan.next_larger(key)
        if target is None or target in setup.infeasible:
            raise OutOfGearError(
                f"airgraph gears: input shapes {shapes} match no gear of {self.graph_name} and "
                "no gear is large enough to pad them to (airgraph_config.out_of_gear='pad'). "
                f"The gears are:\n{setup.describe()}"
            )
        combination = setup.plan.combinations[target]
        padded = list(args)
        for p, shape in zip(self._geared, combination):
            padded[p] = _pad_zeros(args[p], shape)
        for p, value in setup.scalars[target].items():
            padded[p] = value
        log.debug("gears: %s padded %s to gear %d %s", self.graph_name, shapes, target, combination)
        outs = self(*padded)
        return [_slice_back(out, sizes, actual) for out, sizes in zip(outs, setup.output_sizes)]

    def __repr__(self) -> str:
        return (
            f"GearedRunner({self.graph_name}, gears={len(self.setup.plan)}, "
            f"compiled={len(self.setup.compiled)}, out_of_gear={self.out_of_gear!r})"
        )


def _updated_positions(graph: GeGraph, sources: Sequence[int]) -> frozenset[int]:
    """ATen positions of the ``Data`` inputs the graph updates in place (e.g. by ``Assign``)."""
    written = written_inputs(graph)
    return frozenset(p for op, p in zip(graph.data_ops, sources) if op.name in written)


def _as_positional(executable: Executable) -> Callable[..., Any]:
    def run(*inputs: Any) -> list[Any]:
        return executable(inputs)

    return run


def _pad_zeros(tensor: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    if tuple(tensor.shape) == tuple(shape):
        return tensor
    padded = tensor.new_zeros(shape)
    padded[tuple(slice(0, n) for n in tensor.shape)] = tensor
    return padded


def _slice_back(out: Any, sizes: Any, actual: dict[Any, int]) -> Any:
    if sizes is None or out is None:  # None: a view output, rebuilt from the real inputs later
        return out
    if not isinstance(sizes, tuple):
        value = evaluate_size(sizes, actual)
        return out if value is None else value
    index = tuple(slice(0, n) for n in (evaluate_size(s, actual) for s in sizes))
    return out[index].contiguous()
