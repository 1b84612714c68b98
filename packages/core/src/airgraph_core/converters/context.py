"""What a converter receives: the builder, the FX node and helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import Node

from airgraph_core.ir.builder import GraphBuilder, Spec, TensorRef
from airgraph_core.ir.dtypes import DataType, from_torch

__all__ = ["ConversionContext", "SymValue", "spec_of", "static_dim"]


@dataclasses.dataclass(frozen=True)
class SymValue:
    """A symbolic integer (a dynamic size) carried in the graph as an int64 scalar."""

    ref: TensorRef
    expr: str = "?"


def static_dim(d: Any) -> int:
    """A concrete dim as ``int``; a symbolic one as ``-1``."""
    if isinstance(d, int):
        return d
    # Imported here: symbolic_shapes pulls in sympy, which a warm start never needs.
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    return int(d) if is_concrete_int(d) else -1


def spec_of(val: Any) -> Spec:
    """The GE output spec of a (fake) tensor: dtype and shape with ``-1`` for symbolic dims."""
    if not isinstance(val, torch.Tensor):
        raise TypeError(f"val: expected a tensor, got {type(val).__name__}")
    return (from_torch(val.dtype), tuple(static_dim(d) for d in val.shape))


class ConversionContext:
    """Handed to every converter as its first argument.

    Attributes:
        b: the :class:`GraphBuilder` to emit ops with.
        node: the FX node being converted (``node.meta["val"]`` is its fake output).
        sizes: the symbolic sizes already in the graph, by their sympy
            expression, shared by every node of one lowering: a size is read
            (``Shape`` + ``Gather``) once and reused.
    """

    def __init__(
        self, builder: GraphBuilder, node: Node, sizes: dict[Any, SymValue] | None = None
    ) -> None:
        self.b = builder
        self.node = node
        self.sizes: dict[Any, SymValue] = {} if sizes is None else sizes

    def out(self, index: int | None = None) -> Spec:
        """The output spec of the node (or of its ``index``-th output)."""
        val = self.node.meta.get("val")
        if index is not None:
            val = val[index]
        return spec_of(val)

    def val(self, arg: Any) -> Any:
        """The fake value of an FX argument node (its ``meta["val"]``)."""
        if isinstance(arg, Node):
            return arg.meta.get("val")
        return arg

    def const(self, value: Any, dtype: DataType | None = None) -> TensorRef:
        """A ``Const`` op; see :meth:`GraphBuilder.const`."""
        return self.b.const(value, dtype)

    def scalar(self, value: Any, dtype: DataType) -> TensorRef:
        """A rank-0 tensor of ``dtype`` holding ``value`` (a number or a :class:`SymValue`)."""
        if isinstance(value, SymValue):
            return self.cast(value.ref, dtype)
        if isinstance(value, TensorRef):
            return self.cast(value, dtype)
        return self.b.const(value, dtype)

    def cast(self, ref: TensorRef, dtype: DataType) -> TensorRef:
        """``ref`` converted to ``dtype`` (a ``Cast`` op; nothing if already that type)."""
        if ref.dtype == dtype:
            return ref
        return self.b.op("Cast", ref, out=(dtype, ref.shape), dst_type=dtype.ge_code)

    def int_list(
        self, values: Sequence[int | SymValue], dtype: DataType = DataType.INT64
    ) -> TensorRef:
        """A 1-D integer tensor of ``values``: a ``Const`` when all are static,
        else a ``Pack`` of scalars (symbolic sizes stay in the graph)."""
        if all(isinstance(v, int) for v in values):
            return self.b.const(torch.tensor(list(values), dtype=torch.int64), dtype)
        scalars = [self.scalar(v, dtype) for v in values]
        return self.b.op("Pack", scalars, out=(dtype, (len(values),)), axis=0, N=len(values))

    def is_static(self, values: Sequence[Any]) -> bool:
        return all(isinstance(v, int) for v in values)
