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

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy
import torch
from torch.fx import GraphModule

from airgraph_core import GeGraph, convert_outputs
from airgraph_core.targets import Executable
from airgraph_core.targets.host import written_inputs
from airgraph_dynamo.gears import GearSetup, evaluate_size
from airgraph_gears import GearPlan

__all__ = ["GearedRunner", "OutOfGear", "OutOfGearError", "PadPlan"]

log = logging.getLogger("airgraph.dynamo")


class OutOfGearError(RuntimeError):
    """A call's input shapes match no gear (``airgraph_config.out_of_gear="error"``)."""


class OutOfGear:
    """What a call whose shapes match no gear does: one policy for the backend and the cache.

    The backend's :class:`GearedRunner` and ``cache_compile``'s program (cold
    and warm) both ask :meth:`resolve` about a call's geared shapes, so
    ``"error"``, ``"pad"`` and ``"fallback"`` raise the same errors and pick
    the same gears everywhere. The state is plain data: :meth:`to_json` and
    :meth:`from_json` carry it through a cache entry.

    Args:
        policy: ``"error"``, ``"pad"`` or ``"fallback"``.
        plan: the :class:`~airgraph_gears.GearPlan` over the geared inputs.
        graph_name: for messages.
        names: per geared input, its name in messages (e.g. ``L['x']``).
        gears_text: the gear table messages show.
        infeasible: combination index -> why the model rules it out.
        symbols: per geared input, geared dim -> its size symbol.
        scalars: per feasible combination index, input position -> the size
            input's value in that gear.
        output_sizes: per output, a tensor output's size expressions, a size
            output's expression, or None (sympy expressions or ints).
        pad_blocker: why ``"pad"`` cannot serve this graph, or None.
    """

    def __init__(
        self,
        policy: str,
        plan: GearPlan,
        *,
        graph_name: str,
        names: Sequence[str],
        gears_text: str,
        infeasible: Mapping[int, str],
        symbols: Sequence[Mapping[int, Any]],
        scalars: Mapping[int, Mapping[int, int]],
        output_sizes: Sequence[Any],
        pad_blocker: str | None,
    ) -> None:
        if policy not in ("error", "pad", "fallback"):
            raise ValueError(f"out_of_gear must be 'error', 'pad' or 'fallback', got {policy!r}")
        self.policy = policy
        self.plan = plan
        self.graph_name = graph_name
        self.names = tuple(names)
        self.gears_text = gears_text
        self.infeasible = {int(i): str(r) for i, r in infeasible.items()}
        self.symbols = tuple({int(d): s for d, s in m.items()} for m in symbols)
        self.scalars = {int(i): {int(p): int(v) for p, v in m.items()} for i, m in scalars.items()}
        self.output_sizes = tuple(output_sizes)
        self.pad_blocker = pad_blocker
        self._warned: set[tuple] = set()

    @classmethod
    def from_setup(
        cls,
        setup: GearSetup,
        policy: str,
        graph_name: str,
        positions: Mapping[int, int] | None = None,
    ) -> OutOfGear:
        """The policy of a graph's :class:`~airgraph_dynamo.gears.GearSetup`.

        ``positions`` maps the setup's ATen input positions to the caller's
        input positions (the cache's program inputs); None keeps them.
        """

        def where(p: int) -> int | None:
            return p if positions is None else positions.get(p)

        scalars = {}
        for index, values in setup.scalars.items():
            scalars[index] = {where(p): v for p, v in values.items() if where(p) is not None}
        return cls(
            policy,
            setup.plan,
            graph_name=graph_name,
            names=[g.source for g in setup.inputs],
            gears_text=setup.describe(),
            infeasible=setup.infeasible,
            symbols=[g.symbols for g in setup.inputs],
            scalars=scalars,
            output_sizes=setup.output_sizes,
            pad_blocker=setup.pad_blocker,
        )

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON-able data (see :meth:`from_json`)."""
        plan = self.plan
        return {
            "policy": self.policy,
            "plan": {
                "shapes": [[-1 if n is None else n for n in s] for s in plan.shapes],
                "gears": [
                    None if g is None else {str(d): list(v) for d, v in g.items()}
                    for g in plan.gears
                ],
                "combinations": [[c[i][d] for i, d in plan.dims] for c in plan.combinations],
            },
            "graph_name": self.graph_name,
            "names": list(self.names),
            "gears_text": self.gears_text,
            "infeasible": {str(i): r for i, r in self.infeasible.items()},
            "symbols": [{str(d): str(s) for d, s in m.items()} for m in self.symbols],
            "scalars": {str(i): {str(p): v for p, v in m.items()} for i, m in self.scalars.items()},
            "output_sizes": [_size_text(s) for s in self.output_sizes],
            "pad_blocker": self.pad_blocker,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutOfGear:
        """The policy :meth:`to_json` wrote.

        Raises:
            KeyError, TypeError, ValueError: ``data`` is not what :meth:`to_json` writes.
        """
        p = data["plan"]
        gears = [None if g is None else {int(d): v for d, v in g.items()} for g in p["gears"]]
        return cls(
            data["policy"],
            GearPlan(p["shapes"], gears, p["combinations"]),
            graph_name=data["graph_name"],
            names=data["names"],
            gears_text=data["gears_text"],
            infeasible=data["infeasible"],
            symbols=[{d: sympy.Symbol(s) for d, s in m.items()} for m in data["symbols"]],
            scalars=data["scalars"],
            output_sizes=[_parse_sizes(s) for s in data["output_sizes"]],
            pad_blocker=data["pad_blocker"],
        )

    def resolve(self, key: Sequence[Sequence[int]]) -> PadPlan | None:
        """What to do with a call whose geared shapes ``key`` match no served gear.

        Returns:
            A :class:`PadPlan` (``"pad"``), or None: run the call eagerly in
            PyTorch (``"fallback"``; the first time per shape logs a warning).

        Raises:
            OutOfGearError: ``"error"``, a gear the model cannot run, or shapes
                ``"pad"`` cannot serve.
        """
        key = tuple(tuple(s) for s in key)
        shapes = ", ".join(f"{n}: {s}" for n, s in zip(self.names, key))
        index = self.plan.lookup(key)
        if index is not None:
            raise OutOfGearError(
                f"airgraph gears: input shapes {shapes} are gear {index} of {self.graph_name}, "
                f"which this model cannot run: {self.infeasible.get(index)}"
            )
        if self.policy == "pad":
            return self._pad_plan(key, shapes)
        if self.policy == "fallback":
            if key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "airgraph gears: input shapes %s match no gear of %s; running the graph "
                    "eagerly in PyTorch, uncompiled (airgraph_config.out_of_gear='fallback')",
                    shapes,
                    self.graph_name,
                )
            return None
        raise OutOfGearError(
            f"airgraph gears: input shapes {shapes} match no gear of {self.graph_name} "
            "(airgraph_config.out_of_gear='error'). The gears are:\n"
            f"{self.gears_text}\n"
            "Call with one of these shapes, declare the shapes with set_dim_gears before the "
            "first call, or set airgraph_config.out_of_gear to 'pad' or 'fallback'."
        )

    def _pad_plan(self, key: tuple, shapes: str) -> PadPlan:
        if self.pad_blocker is not None:
            raise OutOfGearError(
                f"airgraph gears: input shapes {shapes} match no gear of {self.graph_name}, and "
                f"out_of_gear='pad' cannot serve this model: {self.pad_blocker}. Call with a "
                f"gear's shapes or use out_of_gear='fallback'. The gears are:\n{self.gears_text}"
            )
        actual: dict[Any, int] = {}
        for symbols, shape in zip(self.symbols, key):
            for dim, symbol in symbols.items():
                if actual.setdefault(symbol, shape[dim]) != shape[dim]:
                    raise OutOfGearError(
                        f"airgraph gears: input shapes {shapes} break the model's constraint "
                        f"that the dims traced as {symbol} are equal"
                    )
        target = self.plan.next_larger(key)
        if target is None or target in self.infeasible:
            raise OutOfGearError(
                f"airgraph gears: input shapes {shapes} match no gear of {self.graph_name} and "
                "no gear is large enough to pad them to (airgraph_config.out_of_gear='pad'). "
                f"The gears are:\n{self.gears_text}"
            )
        log.debug("gears: %s padded %s to gear %d", self.graph_name, shapes, target)
        return PadPlan(self.plan.combinations[target], self.scalars.get(target, {}), self, actual)


@dataclasses.dataclass(frozen=True)
class PadPlan:
    """How ``out_of_gear="pad"`` serves one call (see :meth:`OutOfGear.resolve`).

    Attributes:
        shapes: the gear's shape of each geared input, in gear order.
        scalars: input position -> the value of a size input in that gear.
    """

    shapes: tuple[tuple[int, ...], ...]
    scalars: Mapping[int, int]
    policy: OutOfGear
    values: Mapping[Any, int]

    def pad(self, args: Sequence[Any], positions: Sequence[int]) -> list[Any]:
        """``args`` with the geared inputs (at ``positions``) zero-padded and the size inputs set."""
        padded = list(args)
        for p, shape in zip(positions, self.shapes):
            padded[p] = _pad_zeros(args[p], shape)
        for p, value in self.scalars.items():
            padded[p] = value
        return padded

    def slice_back(self, outs: Sequence[Any]) -> list[Any]:
        """The padded call's outputs (the graph's outputs, in order) cut to the call's sizes."""
        sizes = self.policy.output_sizes
        return [_slice_back(out, s, self.values) for out, s in zip(outs, sizes)]


def _size_text(sizes: Any) -> Any:
    if sizes is None:
        return None
    if isinstance(sizes, tuple):
        return [str(s) for s in sizes]
    return str(sizes)


def _parse_sizes(sizes: Any) -> Any:
    if sizes is None:
        return None
    if isinstance(sizes, list):
        return tuple(_parse_size(s) for s in sizes)
    return _parse_size(sizes)


def _parse_size(text: str) -> Any:
    value = sympy.sympify(text)
    return int(value) if value.is_Integer else value


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
        #: The out-of-gear policy (shared with ``cache_compile``'s program).
        self.policy = OutOfGear.from_setup(setup, out_of_gear, graph_name)
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
            return self._out_of_gear(args, key)
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

    def _out_of_gear(self, args: tuple[Any, ...], key: tuple) -> list[Any]:
        pad = self.policy.resolve(key)
        if pad is None:  # fallback: nothing is compiled or cached
            return list(self.aten_graph(*args))
        return pad.slice_back(self(*pad.pad(args, self._geared)))

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
