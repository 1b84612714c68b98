"""The small API converters use to emit GE ops.

A :class:`GraphBuilder` appends ops to a :class:`GeGraph` in topological
order, names them uniquely (``Add``, ``Add_1``, ...), names input and output
descriptors after the op's prototype and copies each producer's output
descriptor into the consumer's input descriptor, as GE expects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from airgraph_core.ir.dtypes import DataType, from_torch, to_torch
from airgraph_core.ir.graph import Attr, AttrKind, GeGraph, GeOp, TensorDesc, TensorValue
from airgraph_core.ir.opdefs import prototype

__all__ = ["TensorRef", "Spec", "GraphBuilder"]

#: An output descriptor to create: dtype and shape (``-1`` dynamic, ``None`` unknown rank).
Spec = tuple[DataType, tuple[int, ...] | None]


@dataclasses.dataclass(frozen=True)
class TensorRef:
    """One output of an op in the graph being built."""

    op: GeOp
    index: int

    @property
    def desc(self) -> TensorDesc:
        return self.op.output_descs[self.index]

    @property
    def dtype(self) -> DataType:
        return self.desc.dtype

    @property
    def shape(self) -> tuple[int, ...] | None:
        return self.desc.shape

    @property
    def rank(self) -> int:
        if self.desc.shape is None:
            raise ValueError(f"{self.edge} has unknown rank")
        return len(self.desc.shape)

    @property
    def spec(self) -> Spec:
        return (self.dtype, self.shape)

    @property
    def edge(self) -> str:
        return f"{self.op.name}:{self.index}"


Input = TensorRef | None | Sequence[TensorRef]


class GraphBuilder:
    """Builds a :class:`GeGraph` op by op.

    Examples:
        >>> b = GraphBuilder("g")
        >>> x = b.data(0, DataType.FLOAT, (2, 3))
        >>> y = b.op("Relu", x, out=x.spec)
        >>> b.net_output([y])
        >>> [op.type for op in b.graph.ops]
        ['Data', 'Relu', 'NetOutput']
    """

    def __init__(self, name: str) -> None:
        self.graph = GeGraph(name)
        self._names: dict[str, int] = {}
        self._scopes: list[dict[str, Any]] = []

    def push_scope(self, attrs: Mapping[str, Any]) -> None:
        """Give every op added until the matching :meth:`pop_scope` the attributes ``attrs``.

        Scopes nest: an inner scope's value wins for a name both set. As in
        TorchAir, ``_super_kernel_scope=""`` clears the super-kernel attributes
        of the scopes around it.
        """
        self._scopes.append(dict(attrs))

    def pop_scope(self) -> None:
        """Close the innermost scope.

        Raises:
            RuntimeError: no scope is open.
        """
        if not self._scopes:
            raise RuntimeError(
                "scope_exit without a scope_enter before it: open a scope "
                "(e.g. `with torchair.scope.npu_stream_switch(...)`) before closing one"
            )
        self._scopes.pop()

    def _with_scope_attrs(self, own: Mapping[str, Any] | None) -> Mapping[str, Any]:
        # As TorchAir, a scope's attributes are set after the op's own (and win).
        if not self._scopes:
            return own or {}
        attrs: dict[str, Any] = dict(own or {})
        for scope in self._scopes:
            if scope.get("_super_kernel_scope") == "":
                attrs.pop("_super_kernel_scope", None)
                attrs.pop("_super_kernel_options", None)
                continue
            attrs.update(scope)
        return attrs

    def unique_name(self, base: str) -> str:
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def add_op(
        self,
        op_type: str,
        inputs: Sequence[Input] = (),
        *,
        outputs: Sequence[Spec] = (),
        attrs: Mapping[str, Any] | None = None,
        name: str | None = None,
        control: Sequence[TensorRef | GeOp] = (),
    ) -> list[TensorRef]:
        """Append one op and return references to its outputs.

        Args:
            op_type: A GE op type with a prototype.
            inputs: One entry per prototype input, in order: a ``TensorRef``;
                ``None`` for an unfed optional input; a sequence of refs for a
                dynamic input. Trailing optional inputs may be left out.
            outputs: One ``(dtype, shape)`` spec per output; a dynamic output
                takes as many specs as remain after the fixed ones.
            attrs: Attribute values; plain Python values get their kind by
                :meth:`Attr.infer`, or pass an :class:`Attr`.
            name: Base name; defaults to the op type.
            control: Ops (or refs to them) that must run before this one.

        Raises:
            ValueError: unknown op type, or inputs/outputs that do not fit.
        """
        proto = prototype(op_type)
        if len(inputs) > len(proto.inputs):
            raise ValueError(
                f"inputs: {op_type} takes {len(proto.inputs)} inputs, got {len(inputs)}"
            )
        edges: list[str] = []
        descs: list[TensorDesc] = []
        for io, value in zip(
            proto.inputs, list(inputs) + [None] * (len(proto.inputs) - len(inputs))
        ):
            if io.dynamic:
                refs = list(value or ())
                for i, ref in enumerate(refs):
                    edges.append(ref.edge)
                    descs.append(ref.desc.renamed(f"{io.name}{i}"))
            elif value is None:
                if io.kind != "optional_input":
                    raise ValueError(f"inputs: {op_type} input {io.name!r} is required")
                edges.append("")
                descs.append(TensorDesc(io.name, DataType.UNDEFINED, None))
            elif isinstance(value, TensorRef):
                edges.append(value.edge)
                descs.append(value.desc.renamed(io.name))
            else:
                raise TypeError(f"inputs: {op_type} input {io.name!r} got {type(value).__name__}")
        n_fixed = sum(1 for io in proto.outputs if not io.dynamic)
        dyn = [io for io in proto.outputs if io.dynamic]
        counts = {dyn[0].name: len(outputs) - n_fixed} if dyn else {}
        out_names = proto.output_names(counts)
        if len(out_names) != len(outputs):
            raise ValueError(
                f"outputs: {op_type} has {len(out_names)} outputs, got {len(outputs)} specs"
            )
        out_descs = [TensorDesc(n, dt, _shape(s)) for n, (dt, s) in zip(out_names, outputs)]
        for c in control:
            op = c.op if isinstance(c, TensorRef) else c
            edges.append(f"{op.name}:-1")
        op = GeOp(
            name=self.unique_name(name or op_type),
            type=op_type,
            inputs=edges,
            input_descs=descs,
            output_descs=out_descs,
            attrs={k: Attr.infer(v) for k, v in self._with_scope_attrs(attrs).items()},
        )
        self.graph.ops.append(op)
        return [TensorRef(op, i) for i in range(len(out_descs))]

    def op(
        self,
        op_type: str,
        *inputs: Input,
        out: Spec | Sequence[Spec],
        **attrs: Any,
    ) -> Any:
        """Shorthand for :meth:`add_op`: one ref for one output, else a list.

        ``out`` is a single spec or a list of specs; ``attrs`` are keywords.
        """
        specs = [out] if _is_spec(out) else list(out)
        refs = self.add_op(op_type, inputs, outputs=specs, attrs=attrs)
        return refs[0] if _is_spec(out) else refs

    def data(
        self,
        index: int,
        dtype: DataType,
        shape: Sequence[int] | None,
        *,
        placement: str = "NPU",
        name: str | None = None,
    ) -> TensorRef:
        """A graph input: a ``Data`` op with attribute ``index``."""
        (ref,) = self.add_op(
            "Data", (), outputs=[(dtype, _shape(shape))], attrs={"index": index}, name=name
        )
        ref.op.output_descs[0].placement = placement
        ref.op.input_descs.append(ref.op.output_descs[0].renamed("x"))
        ref.op.input_descs[0].placement = placement
        return ref

    def const(self, value: Any, dtype: DataType | None = None) -> TensorRef:
        """A ``Const`` op holding ``value`` (tensor, number, bool or nested list).

        ``dtype`` defaults to the tensor's dtype, or int64 / float32 / bool
        for Python values.
        """
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu()
        else:
            # A float64 Const keeps every bit of a Python float (the default dtype would round).
            t = torch.tensor(value, dtype=torch.float64 if dtype == DataType.DOUBLE else None)
            if t.dtype is torch.float64 and dtype is None:
                t = t.to(torch.float32)
        if dtype is not None:
            t = t.to(to_torch(dtype))
        tv = TensorValue.from_torch(t)
        (ref,) = self.add_op(
            "Const",
            (),
            outputs=[(from_torch(t.dtype), tuple(t.shape))],
            attrs={"value": Attr(AttrKind.T, tv)},
        )
        return ref

    def net_output(self, refs: Sequence[TensorRef], control: Sequence[GeOp] = ()) -> GeOp:
        """The graph's single ``NetOutput``, fed by ``refs`` in order.

        ``control`` lists side-effect ops (e.g. ``Assign`` into an input)
        whose results nobody reads, so GE does not prune them.

        Raises:
            RuntimeError: a scope opened with :meth:`push_scope` is still open.
        """
        if self._scopes:
            raise RuntimeError(
                f"scope_enter {self._scopes[-1]} has no paired scope_exit: close every scope "
                "(leave the `with torchair.scope...` block) before the graph's outputs"
            )
        self.add_op("NetOutput", [list(refs)], outputs=[], control=control)
        op = self.graph.ops[-1]
        # TorchAir names NetOutput's input descs input0, input1, ...
        op.input_descs = [d.renamed(f"input{i}") for i, d in enumerate(op.input_descs)]
        return op


def _shape(shape: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if shape is None else tuple(int(d) for d in shape)


def _is_spec(out: Any) -> bool:
    return isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], DataType)
