"""The GE graph data model: graphs, ops, tensor descriptors and attributes.

These types mirror the messages of GE's ``ge_ir.proto`` (``GraphDef``,
``OpDef``, ``TensorDescriptor``, ``AttrDef``) closely enough that
serialization is a field-by-field copy, while staying plain Python objects
that converters and targets can build and read without protobuf.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch

from airgraph_core.ir.dtypes import DataType, from_torch, to_torch

if TYPE_CHECKING:
    from airgraph_core.lowered import LoweredGraph

__all__ = [
    "AttrKind",
    "Attr",
    "TensorDesc",
    "TensorValue",
    "GeOp",
    "GeGraph",
    "UNKNOWN_RANK",
]

#: ``ShapeDef.dim`` of a tensor whose rank is unknown.
UNKNOWN_RANK = (-2,)


class AttrKind(enum.Enum):
    """Which field of GE's ``AttrDef`` oneof an attribute uses."""

    S = "s"
    I = "i"  # noqa: E741 - the proto field is named i
    F = "f"
    B = "b"
    DT = "dt"
    T = "t"
    LIST_S = "list_s"
    LIST_I = "list_i"
    LIST_F = "list_f"
    LIST_B = "list_b"
    LIST_DT = "list_dt"
    LIST_LIST_INT = "list_list_int"


@dataclasses.dataclass(frozen=True)
class Attr:
    """A typed GE attribute value.

    ``kind`` fixes the protobuf field; ``value`` is the Python value: ``str``,
    ``int``, ``float``, ``bool``, :class:`DataType`, :class:`TensorValue` or a
    tuple of those (tuple of tuples of int for ``LIST_LIST_INT``).
    """

    kind: AttrKind
    value: Any

    @staticmethod
    def infer(value: Any) -> Attr:
        """Build an attribute from a plain Python value, picking its kind.

        ``bool`` → ``b``, ``int`` → ``i``, ``float`` → ``f``, ``str`` → ``s``,
        :class:`DataType` → ``dt``, :class:`TensorValue` → ``t``, sequences
        of those → the matching list kind. An :class:`Attr` is returned as is.

        Raises:
            TypeError: the value has no GE attribute kind (e.g. an empty list,
                whose element kind cannot be inferred; pass an ``Attr``).
        """
        if isinstance(value, Attr):
            return value
        scalar = _scalar_kind(value)
        if scalar is not None:
            return Attr(scalar, value)
        if isinstance(value, (list, tuple)):
            if not value:
                raise TypeError("value: an empty list needs an explicit Attr(kind, ())")
            if all(isinstance(v, (list, tuple)) for v in value):
                return Attr(AttrKind.LIST_LIST_INT, tuple(tuple(int(x) for x in v) for v in value))
            kinds = {_scalar_kind(v) for v in value}
            if len(kinds) == 1 and None not in kinds:
                (kind,) = kinds
                if kind is not AttrKind.T:
                    return Attr(AttrKind(f"list_{kind.value}"), tuple(value))
        raise TypeError(f"value: {value!r} has no GE attribute kind")


def _scalar_kind(value: Any) -> AttrKind | None:
    if isinstance(value, bool):
        return AttrKind.B
    if isinstance(value, int):
        return AttrKind.I
    if isinstance(value, float):
        return AttrKind.F
    if isinstance(value, str):
        return AttrKind.S
    if isinstance(value, DataType):
        return AttrKind.DT
    if isinstance(value, TensorValue):
        return AttrKind.T
    return None


@dataclasses.dataclass
class TensorDesc:
    """GE ``TensorDescriptor``: name, dtype, shape (``-1`` = dynamic dim), layout.

    ``shape`` of ``None`` means unknown rank (serialized as ``[-2]``).
    ``placement`` is ``"NPU"`` for device tensors and ``"CPU"`` for host
    scalars such as symbolic sizes fed as graph inputs.
    """

    name: str
    dtype: DataType
    shape: tuple[int, ...] | None
    layout: str = "ND"
    placement: str = "NPU"
    attrs: dict[str, Attr] = dataclasses.field(default_factory=dict)

    @property
    def is_static(self) -> bool:
        """True when the rank is known and no dim is dynamic."""
        return self.shape is not None and all(d >= 0 for d in self.shape)

    def renamed(self, name: str) -> TensorDesc:
        return dataclasses.replace(self, name=name, attrs=dict(self.attrs))


@dataclasses.dataclass(frozen=True)
class TensorValue:
    """GE ``TensorDef``: a descriptor plus the raw little-endian bytes."""

    desc: TensorDesc
    data: bytes

    @staticmethod
    def from_torch(tensor: torch.Tensor) -> TensorValue:
        """Capture a CPU copy of ``tensor``'s data."""
        t = tensor.detach().to("cpu").contiguous()
        flat = t.reshape(-1)
        if t.dtype is torch.bool:
            flat = flat.to(torch.uint8)
        # Copied straight from the tensor's memory: numpy is not a dependency.
        flat = flat.contiguous()
        raw = (
            ctypes.string_at(flat.data_ptr(), flat.numel() * flat.element_size())
            if t.numel()
            else b""
        )
        desc = TensorDesc("", from_torch(t.dtype), tuple(t.shape))
        return TensorValue(desc, raw)

    def to_torch(self) -> torch.Tensor:
        """Rebuild the tensor on the CPU."""
        dtype = to_torch(self.desc.dtype)
        shape = self.desc.shape or ()
        if not self.data:
            return torch.empty(shape, dtype=dtype)
        if dtype is torch.bool:
            flat = torch.frombuffer(bytearray(self.data), dtype=torch.uint8).to(torch.bool)
        else:
            flat = torch.frombuffer(bytearray(self.data), dtype=dtype)
        return flat.reshape(shape).clone()


@dataclasses.dataclass
class GeOp:
    """GE ``OpDef``: one node of a GE graph.

    ``inputs`` holds GE edge strings: ``"producer:index"`` for data,
    ``"producer:-1"`` for a control edge and ``""`` for an unfed optional
    input. ``input_descs`` has one entry per data input (control edges have
    none), named after the prototype's input names.
    """

    name: str
    type: str
    inputs: list[str] = dataclasses.field(default_factory=list)
    input_descs: list[TensorDesc] = dataclasses.field(default_factory=list)
    output_descs: list[TensorDesc] = dataclasses.field(default_factory=list)
    attrs: dict[str, Attr] = dataclasses.field(default_factory=dict)

    def attr(self, name: str, default: Any = None) -> Any:
        """The Python value of attribute ``name``, or ``default``."""
        a = self.attrs.get(name)
        return default if a is None else a.value

    @property
    def data_inputs(self) -> list[str]:
        """Inputs that are data edges or unfed optionals (no control edges)."""
        return [i for i in self.inputs if not i.endswith(":-1")]


@dataclasses.dataclass
class GeGraph:
    """GE ``GraphDef``: an ordered list of ops, topologically sorted, plus graph attrs.

    ``lowered`` is the lowering's record for the runtime
    (:class:`~airgraph_core.lowered.LoweredGraph`), set by
    :func:`~airgraph_core.lowering.lower_graph`; not compared, not serialized
    as such (its attributes are, see :func:`~airgraph_core.lowered.lowered_of`).
    """

    name: str
    ops: list[GeOp] = dataclasses.field(default_factory=list)
    attrs: dict[str, Attr] = dataclasses.field(default_factory=dict)
    inputs: list[str] = dataclasses.field(default_factory=list)
    outputs: list[str] = dataclasses.field(default_factory=list)
    lowered: LoweredGraph | None = dataclasses.field(default=None, compare=False, repr=False)

    def __iter__(self) -> Iterator[GeOp]:
        return iter(self.ops)

    def op(self, name: str) -> GeOp:
        """The op called ``name``.

        Raises:
            KeyError: no op has that name.
        """
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(f"name: graph {self.name!r} has no op {name!r}")

    def ops_of_type(self, op_type: str) -> list[GeOp]:
        return [op for op in self.ops if op.type == op_type]

    @property
    def data_ops(self) -> list[GeOp]:
        """The graph's inputs (``Data`` and ``RefData`` ops) sorted by their ``index`` attribute."""
        inputs = [op for op in self.ops if op.type in ("Data", "RefData")]
        return sorted(inputs, key=lambda op: op.attr("index"))

    @property
    def net_output(self) -> GeOp:
        outs = self.ops_of_type("NetOutput")
        if len(outs) != 1:
            raise ValueError(f"graph {self.name!r} has {len(outs)} NetOutput ops, expected 1")
        return outs[0]

    def op_types(self) -> list[str]:
        return sorted({op.type for op in self.ops})

    def is_static(self) -> bool:
        """True when every tensor descriptor in the graph has a static shape."""
        for op in self.ops:
            # Unfed optional inputs have no shape; they say nothing about dynamism.
            fed = [d for e, d in zip(op.inputs, op.input_descs) if e or op.type == "Data"]
            if not all(d.is_static for d in (*fed, *op.output_descs)):
                return False
        return True


def parse_edge(edge: str) -> tuple[str, int]:
    """Split ``"producer:index"`` into its parts."""
    name, _, index = edge.rpartition(":")
    return name, int(index)


def topological_order(ops: Sequence[GeOp]) -> list[GeOp]:
    """``ops`` reordered so every producer comes before its consumers.

    Raises:
        ValueError: an input names an op that is not in ``ops``, or a cycle.
    """
    by_name = {op.name: op for op in ops}
    done: set[str] = set()
    order: list[GeOp] = []
    visiting: set[str] = set()

    def visit(op: GeOp) -> None:
        stack = [(op, iter(op.inputs))]
        visiting.add(op.name)
        while stack:
            cur, it = stack[-1]
            for edge in it:
                if not edge:
                    continue
                src = parse_edge(edge)[0]
                if src not in by_name:
                    raise ValueError(f"op {cur.name!r} reads {edge!r}: no op {src!r} in graph")
                if src in done:
                    continue
                if src in visiting:
                    raise ValueError(f"cycle through op {src!r}")
                visiting.add(src)
                stack.append((by_name[src], iter(by_name[src].inputs)))
                break
            else:
                stack.pop()
                visiting.discard(cur.name)
                done.add(cur.name)
                order.append(cur)

    for op in ops:
        if op.name not in done:
            visit(op)
    return order
