"""The converter registry: one entry per ATen overload (or Python operator).

Converters declare what they support as data (dtypes, ranks, a named
predicate) so that the lowering can reject unsupported nodes before emitting
anything, and so that the registry can print its own support table.

Examples:
    >>> from airgraph_core.converters.registry import register, NUMERIC
    >>> @register(aten.relu.default, dtypes=NUMERIC, ge_ops=("Relu",))  # doctest: +SKIP
    ... def relu(ctx, x):
    ...     return ctx.b.op("Relu", x, out=ctx.out())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.fx import Node

from airgraph_core._torch_compat import OpOverload

__all__ = [
    "Converter",
    "register",
    "lookup",
    "registered",
    "support_table",
    "FLOATS",
    "INTS",
    "NUMERIC",
    "ALL_DTYPES",
    "STORAGE_DTYPES",
]

FLOATS = frozenset({torch.float32, torch.float16, torch.bfloat16})
INTS = frozenset({torch.int32, torch.int64})
NUMERIC = FLOATS | INTS
ALL_DTYPES = NUMERIC | {torch.bool, torch.int8, torch.uint8, torch.int16, torch.float64}
#: Dtypes eager only stores, casts and moves (no arithmetic): casts, copies and views take them.
STORAGE_DTYPES = frozenset(
    {torch.float8_e4m3fn, torch.float8_e5m2, torch.uint16, torch.uint32, torch.uint64}
)

#: A predicate over the FX node: ``None`` when supported, else the reason it is not.
Predicate = Callable[[Node], "str | None"]


@dataclasses.dataclass(frozen=True)
class Converter:
    """A registered converter and what it declares to support."""

    target: Any
    fn: Callable[..., Any]
    dtypes: frozenset[torch.dtype] | None
    ranks: range | None
    ge_ops: tuple[str, ...]
    predicate: Predicate | None

    @property
    def name(self) -> str:
        return target_name(self.target)

    def why_unsupported(self, node: Node) -> str | None:
        """``None`` if this converter handles ``node``, else the reason."""
        for i, val in enumerate(_tensor_vals(node)):
            if self.dtypes is not None and val.dtype not in self.dtypes:
                return f"input {i} has dtype {val.dtype}; supported: {_dtypes(self.dtypes)}"
            if self.ranks is not None and val.dim() not in self.ranks:
                return (
                    f"input {i} has rank {val.dim()}; supported: "
                    f"{self.ranks.start}..{self.ranks.stop - 1}"
                )
        if self.predicate is not None:
            return self.predicate(node)
        return None


_REGISTRY: dict[Any, Converter] = {}


def register(
    *targets: Any,
    dtypes: Iterable[torch.dtype] | None = NUMERIC,
    ranks: range | None = None,
    ge_ops: Iterable[str] = (),
    predicate: Predicate | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the converter of ``targets``.

    Args:
        targets: ATen overloads (``aten.add.Tensor``) or Python operators
            (``operator.mul`` for symbolic sizes).
        dtypes: dtypes accepted for every tensor input, or ``None`` for any.
        ranks: ranks accepted for every tensor input, or ``None`` for any.
        ge_ops: GE op types the converter emits, for the support table.
        predicate: further check of the node; returns the reason it is
            unsupported, or ``None``.

    Raises:
        ValueError: a target is registered twice, or no target is given.
    """
    if not targets:
        raise ValueError("targets: give at least one ATen overload")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for target in targets:
            if target in _REGISTRY:
                raise ValueError(f"targets: {target_name(target)} already has a converter")
            _REGISTRY[target] = Converter(
                target,
                fn,
                frozenset(dtypes) if dtypes is not None else None,
                ranks,
                tuple(ge_ops),
                predicate,
            )
        return fn

    return deco


def lookup(target: Any) -> Converter | None:
    """The converter registered for ``target``, if any."""
    _load_converters()
    return _REGISTRY.get(target)


def registered() -> dict[Any, Converter]:
    """Every registered converter, keyed by target."""
    _load_converters()
    return dict(_REGISTRY)


def support_table() -> str:
    """A markdown table of every converter: ATen overload, GE ops, dtypes, ranks."""
    rows = ["| ATen overload | GE ops | dtypes | ranks |", "|---|---|---|---|"]
    for conv in sorted(registered().values(), key=lambda c: c.name):
        dts = "any" if conv.dtypes is None else _dtypes(conv.dtypes)
        ranks = "any" if conv.ranks is None else f"{conv.ranks.start}..{conv.ranks.stop - 1}"
        ops = ", ".join(conv.ge_ops) or "-"
        rows.append(f"| `{conv.name}` | {ops} | {dts} | {ranks} |")
    return "\n".join(rows) + "\n"


def target_name(target: Any) -> str:
    """``aten.add.Tensor`` for an ATen overload, ``operator.mul`` for an operator."""
    if isinstance(target, OpOverload):
        return f"aten.{target.__name__}" if target.namespace == "aten" else str(target)
    module = getattr(target, "__module__", None) or "operator"
    return f"{module.lstrip('_')}.{getattr(target, '__name__', repr(target))}"


def _tensor_vals(node: Node) -> list[torch.Tensor]:
    vals = []
    for arg in node.all_input_nodes:
        val = arg.meta.get("val")
        if isinstance(val, torch.Tensor):
            vals.append(val)
    return vals


def _dtypes(dtypes: Iterable[torch.dtype]) -> str:
    return ", ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))


_LOADED = False


def _load_converters() -> None:
    # Converter modules register on import; import them once, lazily, so the
    # registry module itself stays importable from them without a cycle.
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from airgraph_core.converters import load_all

        load_all()
