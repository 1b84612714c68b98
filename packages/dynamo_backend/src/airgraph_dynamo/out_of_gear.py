"""What a call whose shapes match no gear does: :class:`OutOfGear`, one policy for the backend and the cache.

``airgraph_config.out_of_gear``: ``"error"`` lists the gears; ``"pad"`` pads
the geared dims with zeros up to the next larger gear and slices the outputs
back (:class:`PadPlan`); ``"fallback"`` runs the call eagerly in PyTorch
(nothing is compiled or cached), with a warning.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sympy
import torch

from airgraph_dynamo.gears import GearSetup, evaluate_size
from airgraph_gears import GearPlan

__all__ = ["OutOfGear", "OutOfGearError", "PadPlan"]

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
