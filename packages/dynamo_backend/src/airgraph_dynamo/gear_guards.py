"""The gear plan proves the trace's size guards: which gears one trace can serve.

Geared dims are traced as backed sizes with size-oblivious reasoning (see
``airgraph_gears.marks``). A branch the model (or a library such as
``transformers``) takes on such a size follows the first call's size and
leaves a guard, e.g. ``Ne(s1, 1)`` for ``if q_len == 1``; each size symbol
also has a value range. Dynamo checks these guards at every call and traces
again when one fails. :class:`TraceGuards` evaluates every guard and range
for each gear's concrete sizes at compile time, so that

- a gear that satisfies them all is served by the one trace, with no Dynamo
  retrace (the users' promise: never recompile inside the gear set);
- a gear that breaks one is reported (``GearSetup.infeasible``, a warning)
  and is not compiled: Dynamo's guard sends a call with it to a trace of its
  own, never to a graph built for other sizes;
- a guard that does not follow from the geared sizes alone (it reads a size
  without gears) cannot be proven and is logged; Dynamo still checks it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import sympy

from airgraph_dynamo import _dynamo_compat

__all__ = ["TraceGuards"]


@dataclasses.dataclass(frozen=True)
class TraceGuards:
    """The size guards and ranges of one trace, restricted to what the gears decide.

    Attributes:
        guards: boolean sympy expressions the trace's sizes must satisfy
            (trivially true ones dropped).
        ranges: geared size symbol -> ``(lower, upper)`` bounds (sympy or
            int; ``upper`` may be infinite).
    """

    guards: tuple[Any, ...]
    ranges: Mapping[Any, tuple[Any, Any]]

    @classmethod
    def of(cls, size: Any, symbols: Iterable[Any]) -> TraceGuards:
        """The guards so far of the trace that ``size`` (a geared ``SymInt``) belongs to."""
        guards, ranges = _dynamo_compat.shape_guards(size)
        return cls.from_shape_env(guards, ranges, symbols)

    @classmethod
    def from_shape_env(
        cls, guards: Iterable[Any], ranges: Mapping[Any, Any], symbols: Iterable[Any]
    ) -> TraceGuards:
        """Keep the non-trivial guards and the ranges of ``symbols`` (the geared sizes).

        Args:
            guards: boolean sympy expressions (see ``_dynamo_compat.shape_guards``).
            ranges: symbol -> a value range with ``lower`` and ``upper``.
            symbols: the geared size symbols.
        """
        kept = tuple(g for g in guards if g is not sympy.true and g is not True)
        bounds = {s: (ranges[s].lower, ranges[s].upper) for s in symbols if s in ranges}
        return cls(kept, bounds)

    def broken(self, values: Mapping[Any, int]) -> tuple[list[str], list[str]]:
        """The guards one gear breaks, and those it cannot decide.

        Args:
            values: the value of every geared size symbol in the gear.

        Returns:
            ``(broken, undecided)``, each a list of readable guards; a
            range reads ``lower <= s <= upper``.
        """
        broken: list[str] = []
        undecided: list[str] = []
        for symbol, (lower, upper) in self.ranges.items():
            value = values.get(symbol)
            if value is not None and not (_le(lower, value) and _le(value, upper)):
                broken.append(f"{lower} <= {symbol} <= {upper} (the range the trace assumed)")
        substitution = {s: sympy.Integer(v) for s, v in values.items()}
        for guard in self.guards:
            result = guard.xreplace(substitution) if hasattr(guard, "xreplace") else guard
            if result is sympy.true or result is True:
                continue
            if result is sympy.false or result is False:
                broken.append(str(guard))
            else:
                undecided.append(str(guard))
        return broken, undecided

    def reason(self, values: Mapping[Any, int], undecided: set[str]) -> str | None:
        """Why the trace cannot serve a gear (it breaks a guard), or None.

        Args:
            values: the value of every geared size symbol in the gear.
            undecided: collects the guards the gear cannot decide.
        """
        broken, unknown = self.broken(values)
        undecided.update(unknown)
        if not broken:
            return None
        return (
            f"the trace at the first call's sizes guards {'; '.join(broken)}, which this gear "
            "breaks (a call with it makes Dynamo trace again, for this gear alone)"
        )


def _le(a: Any, b: Any) -> bool:
    return bool(sympy.Le(sympy.sympify(a), sympy.sympify(b)))
