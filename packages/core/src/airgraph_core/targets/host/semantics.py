"""The table of GE op semantics for the host target, keyed by GE op type.

Each entry is a Python function over torch tensors that computes what the
GE op computes on the NPU. The host target runs GE graphs through this
table, so it is the one place that defines what a GE op means here.

A semantics function is called as ``fn(inputs, attrs)``: ``inputs`` is the
list of the op's data inputs in prototype order (``None`` for an unfed
optional input); ``attrs`` maps attribute names to Python values
(:class:`~airgraph_core.ir.DataType` for ``dt`` attributes, tensors for
``t``). Positions listed in ``const_inputs`` (shape, axes, begin/end...)
arrive as Python lists or numbers instead of tensors, because the host
target folds them to constants before compiling.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Iterable
from typing import Any

from airgraph_core.ir.graph import AttrKind, GeOp

__all__ = ["HostOp", "HOST_OPS", "host_op", "lookup_host_op", "py_attrs"]


@dataclasses.dataclass(frozen=True)
class HostOp:
    """The host semantics of one GE op type."""

    op_type: str
    fn: Callable[[list[Any], dict[str, Any]], Any]
    const_inputs: frozenset[int]
    side_effect: bool
    view: bool = False
    shape_from_data: bool = False

    def is_const_input(self, position: int, n_inputs: int) -> bool:
        return position in self.const_inputs or position - n_inputs in self.const_inputs


#: GE op type -> host semantics.
HOST_OPS: dict[str, HostOp] = {}


def host_op(
    *op_types: str,
    const_inputs: Iterable[int] = (),
    side_effect: bool = False,
    view: bool = False,
    shape_from_data: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the host semantics of ``op_types``.

    Args:
        op_types: GE op types.
        const_inputs: input positions (negative counts from the end) that
            are shape-like and arrive as Python values.
        side_effect: the op writes into an input (e.g. ``Assign``), so it
            is never folded or dropped.
        view: the function may return a view of (or the very) input 0
            instead of a new tensor. The host program copies such results
            where the input is later written by a side-effect op.
        shape_from_data: the output's shape depends on the input's values
            (e.g. ``NonZero``), not only on its shape; a host specialization
            that reads such a size holds for one call only.

    Raises:
        ValueError: an op type is registered twice.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op_type in op_types:
            if op_type in HOST_OPS:
                raise ValueError(f"op_types: {op_type} already has host semantics")
            HOST_OPS[op_type] = HostOp(
                op_type, fn, frozenset(const_inputs), side_effect, view, shape_from_data
            )
        return fn

    return deco


def lookup_host_op(op_type: str) -> HostOp:
    """The host semantics of ``op_type``.

    Raises:
        NotImplementedError: the host target cannot run that op type.
    """
    _load()
    try:
        return HOST_OPS[op_type]
    except KeyError:
        raise NotImplementedError(
            f"op_type: the host target has no semantics for GE op {op_type!r}"
        ) from None


_LOADED = False


def _load() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import airgraph_core.targets.host.ops  # noqa: F401  (registers the table)


def py_attrs(op: GeOp) -> dict[str, Any]:
    """``op``'s attributes as the host semantics take them (tensors, float32-rounded floats)."""
    out = {}
    for name, attr in op.attrs.items():
        if attr.kind is AttrKind.T:
            out[name] = attr.value.to_torch()
        elif attr.kind is AttrKind.F:
            out[name] = _float32(attr.value)
        elif attr.kind is AttrKind.LIST_F:
            out[name] = [_float32(v) for v in attr.value]
        else:
            out[name] = attr.value
    return out


def _float32(value: float) -> float:
    """``value`` as GE holds a float attribute: a 32-bit float.

    A graph fresh from the lowering and the same graph read back from its
    protobuf then specialize to the same code (and share Inductor's cache).
    """
    return struct.unpack("<f", struct.pack("<f", value))[0]
