"""The steps of an :class:`~airgraph_core.output_views.OutputViews` record.

What a step may call (ATen view ops, size queries, ``getitem``, the base
itself and integer arithmetic), named both ways: from the FX node's target
when a chain is recorded, back to the callable when a record is loaded. And
how a step's JSON arguments (``{"in": i}``, ``{"out": k}``, ``{"step": j}``,
``{"dtype": name}``, literals) bind to one call's values; anything else is
refused, so a damaged record cannot call other code or misindex.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch

from airgraph_core._torch_compat import OpOverload

# Size arithmetic a view's arguments may need (``s0 - 1``, ``s0 // 2``).
ARITHMETIC: dict[str, Callable[..., Any]] = {
    f"operator.{fn.__name__}": fn
    for fn in (
        operator.add,
        operator.sub,
        operator.mul,
        operator.floordiv,
        operator.mod,
        operator.neg,
    )
}
ARITHMETIC["torch.sym_max"] = torch.sym_max
ARITHMETIC["torch.sym_min"] = torch.sym_min
GETITEM = "getitem"
# An output that is its base itself (``return x``, or ``x.add_(1); return x``).
IDENTITY = "identity"
# Size queries on tensors; they return ints on real tensors.
QUERIES = frozenset(
    {
        "aten.sym_size.int",
        "aten.sym_stride.int",
        "aten.sym_numel.default",
        "aten.sym_storage_offset.default",
    }
)


def _identity(value: Any) -> Any:
    return value


def resolve_target(name: str) -> Callable[..., Any]:
    """The callable a step's target name stands for.

    Raises:
        ValueError: ``name`` is not an ATen view op, a size query, ``getitem``,
            ``identity`` or size arithmetic.
    """
    if name == IDENTITY:
        return _identity
    if name == GETITEM:
        return operator.getitem
    if name in ARITHMETIC:
        return ARITHMETIC[name]
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "aten":
        packet = getattr(torch.ops.aten, parts[1], None)
        op = getattr(packet, parts[2], None) if packet is not None else None
        if isinstance(op, OpOverload) and (op.is_view or name in QUERIES):
            return op
    raise ValueError(f"steps: {name!r} is not an ATen view op, a size query or size arithmetic")


def _index(template: dict[str, Any], key: str, limit: int | None = None) -> int:
    """A reference's index: a non-negative int (below ``limit``: earlier steps only)."""
    value = template[key]
    if type(value) is not int or value < 0 or (limit is not None and value >= limit):
        raise ValueError(f"steps: malformed reference {template!r}")
    return value


def bind_argument(
    template: Any, step: int
) -> Callable[[Sequence[Any], Sequence[Any], Sequence[Any]], Any]:
    """A function ``(inputs, outputs, results) -> value`` for one JSON argument of step ``step``."""
    if isinstance(template, dict):
        if set(template) == {"in"}:
            i = _index(template, "in")
            return lambda ins, outs, res: ins[i]
        if set(template) == {"out"}:
            k = _index(template, "out")
            return lambda ins, outs, res: outs[k]
        if set(template) == {"step"}:
            j = _index(template, "step", limit=step)
            return lambda ins, outs, res: res[j]
        if set(template) == {"dtype"}:
            dtype = getattr(torch, str(template["dtype"]), None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"steps: {template['dtype']!r} is not a torch dtype")
            return lambda ins, outs, res: dtype
        raise ValueError(f"steps: malformed reference {template!r}")
    if isinstance(template, list):
        parts = [bind_argument(v, step) for v in template]
        if all(_is_literal(v) for v in template):
            return lambda ins, outs, res: template
        return lambda ins, outs, res: [get(ins, outs, res) for get in parts]
    if template is None or isinstance(template, (bool, int, float, str)):
        return lambda ins, outs, res: template
    raise ValueError(f"steps: unsupported argument {template!r}")


def bind_kwargs(template: dict[str, Any], step: int) -> Callable[..., dict[str, Any]]:
    """As :func:`bind_argument`, for the JSON keyword arguments of step ``step``."""
    items = [(str(key), bind_argument(v, step)) for key, v in template.items()]
    if not items:
        empty: dict[str, Any] = {}
        return lambda ins, outs, res: empty
    return lambda ins, outs, res: {key: get(ins, outs, res) for key, get in items}


def _is_literal(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_literal(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def target_name(target: Any) -> str | None:
    """The name a step records for an FX node's ``target``; None if a step may not call it."""
    if target is operator.getitem:
        return GETITEM
    for name, fn in ARITHMETIC.items():
        if target is fn:
            return name
    if isinstance(target, OpOverload) and target.namespace == "aten":
        name = f"aten.{target.__name__}"
        if target.is_view or name in QUERIES:
            return name
    return None
