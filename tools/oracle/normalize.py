"""Normalize two GE ``ModelDef`` graphs and list their differences.

Both sides (airgraph and TorchAir) are parsed with airgraph's copy of GE's
``ge_ir.proto`` (the wire format is the same) and turned into a
:class:`NormalGraph`: a canonical list of ops in which nothing that is
harmless by the rules below survives. Two graphs are then compared op by op.

What counts as harmless (dropped or rewritten before comparing):

* **Op names.** Ops are put in a canonical order (a depth-first walk from
  ``NetOutput`` through the data inputs, in input order; ops the walk does not
  reach follow, walked the same way from the dead ops nothing reads, in graph
  order, and are marked dead) and renamed
  ``<Type>#<n>`` by that order. Inputs are rewritten to those names, so
  wiring is compared, not names.
* **Private attributes.** Op attributes whose name starts with ``_`` are
  bookkeeping (``_input_name_key``, ``_readable_value``, airgraph's
  ``_airgraph_*``, ...). Exception: the graph attributes GE's runtime binding
  reads and that do not depend on where the example inputs live,
  :data:`CONTRACT_GRAPH_ATTRS`, are compared.
* **Declared defaults.** An op attribute equal to the default declared in
  ``shared/ge/opdefs.json`` for that op type is the same as an absent one.
* **Descriptor bookkeeping.** Of each output descriptor only dtype, layout
  (empty means ``ND``) and shape are compared, dtype and shape only where
  both sides set them: TorchAir leaves the shapes of computed ops for GE to
  infer, and the dtypes of ops that are not an FX node's result.
  Of input descriptors only the layouts an op declares are compared (as the
  pseudo-attribute ``<input layouts>``): a layout other than ``ND`` that
  differs from its producer's output layout. GE reads them (``Conv2D``
  declares ``NHWC`` as its default); a copied layout is bookkeeping. TorchAir's
  ``input_layout_info``/``output_layout_info`` op attributes, which no GE
  prototype declares and which TorchAir turns into descriptor layouts, count
  as the layouts they name.
* **Placement.** The oracle runs on CPU tensors, so TorchAir marks every
  input as host-placed (``device_type`` ``CPU``, ``_input_placements`` 0,
  ``_executor_type`` 0), which says nothing about an NPU run. ``Data``
  placements and those two graph attributes are therefore not compared.
* **Identity casts.** A ``Cast`` to the dtype its input already has is
  dropped and its consumers read the input. TorchAir emits one after many
  ops (its ``dtype_promote`` casts to the FX node's dtype whenever the GE op
  it just built has no dtype yet); where TorchAir left the input's dtype
  unset, the input is taken to have the dtype its own inputs agree on.
* **Dead constants.** ``Const`` ops nothing reads (TorchAir leaves some
  behind, GE prunes them). Other dead ops, including unused ``Data``
  inputs, are differences.
* **Float precision.** Float attributes are compared as the float32 values GE
  stores.
* **In-place updates** (before normalizing, in ``compare.py``): airgraph's
  graph is taken in the form the NPU target loads it, each ``Assign`` into a
  ``Data`` an output reusing the input's memory
  (``airgraph_core.input_updates.updates_as_outputs``), as TorchAir does.

Everything else is a difference: op types, wiring, non-default attribute
values (including ``Const`` values with their dtype and shape), output
dtypes, shapes and layouts, dead ops, and the contract graph attributes.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import json
import os
import struct
from collections import Counter
from collections.abc import Mapping
from typing import Any

from airgraph_core.ir.dtypes import DataType, from_ge_code
from airgraph_core.ir.proto import ge_ir_pb2 as pb

__all__ = [
    "CONTRACT_GRAPH_ATTRS",
    "NormalGraph",
    "NormalOp",
    "OutputDesc",
    "compare_graphs",
    "load_opdef_defaults",
    "normalize",
]

#: Graph attributes TorchAir's runtime binding reads when it loads a graph and that
#: do not depend on the example inputs' device (see the module docstring).
CONTRACT_GRAPH_ATTRS = ("_output_dtypes",)

# Const payloads longer than this are shown as a digest, not as values.
_MAX_SHOWN_VALUES = 16

_NUMPY_LIKE = {
    DataType.FLOAT: ("f", 4),
    DataType.FLOAT16: ("e", 2),
    DataType.DOUBLE: ("d", 8),
    DataType.INT8: ("b", 1),
    DataType.UINT8: ("B", 1),
    DataType.INT16: ("h", 2),
    DataType.INT32: ("i", 4),
    DataType.INT64: ("q", 8),
    DataType.BOOL: ("?", 1),
}


@dataclasses.dataclass(frozen=True)
class OutputDesc:
    """The compared part of an output descriptor; ``dtype``/``shape`` are ``None`` where unset."""

    dtype: str | None
    shape: tuple[int, ...] | None
    layout: str

    def matches(self, other: OutputDesc) -> bool:
        """Equal dtype and layout, and equal shape unless one side left it unset."""
        if self.layout != other.layout:
            return False
        if None not in (self.dtype, other.dtype) and self.dtype != other.dtype:
            return False
        return self.shape is None or other.shape is None or self.shape == other.shape

    def __str__(self) -> str:
        shape = "?" if self.shape is None else list(self.shape)
        layout = "" if self.layout == "ND" else f" {self.layout}"
        return f"{self.dtype or '?'}{shape}{layout}"

    def brief(self) -> str:
        """Without the shape: what op listings show, so unset shapes do not clutter diffs."""
        dtype = self.dtype or "?"
        return dtype if self.layout == "ND" else f"{dtype} {self.layout}"


@dataclasses.dataclass
class NormalOp:
    """One op after normalization.

    Attributes:
        name: the canonical name ``<Type>#<n>``.
        type: the GE op type.
        inputs: canonical ``name:index`` edges (``^name`` for control edges,
            ``""`` for an unfed optional input).
        attrs: non-private attributes that differ from the declared default.
        outputs: one :class:`OutputDesc` per output.
        dead: NetOutput does not depend on this op.
    """

    name: str
    type: str
    inputs: list[str]
    attrs: dict[str, Any]
    outputs: list[OutputDesc]
    dead: bool = False

    def line(self) -> str:
        """A one-line rendering used in op listings and diffs."""
        attrs = ", ".join(f"{k}={_show(v)}" for k, v in sorted(self.attrs.items()))
        dead = " (dead)" if self.dead else ""
        attrs = f" {{{attrs}}}" if attrs else ""
        outs = "; ".join(o.brief() for o in self.outputs)
        return f"{self.name}({', '.join(self.inputs)}){attrs} -> {outs}{dead}"


@dataclasses.dataclass
class NormalGraph:
    """A graph after normalization: canonical ops and the contract graph attributes."""

    ops: list[NormalOp]
    graph_attrs: dict[str, Any]
    extra_graphs: int = 0

    def types(self) -> list[str]:
        return [op.type for op in self.ops]


# --------------------------------------------------------------------------- defaults
def load_opdef_defaults(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read the declared attribute defaults of every op type from ``opdefs.json``.

    Returns ``{op_type: {attr: value}}`` with the defaults parsed to the values
    :func:`normalize` produces (ints, bools, float32 floats, strings, lists,
    ``DT_*`` names); a default that cannot be parsed is left out, so such an
    attribute is always compared.
    """
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    defaults: dict[str, dict[str, Any]] = {}
    for op_type, spec in table.items():
        parsed = {}
        for name, attr in spec.get("attrs", {}).items():
            if attr.get("default") is None:
                continue
            value = _parse_default(attr["type"], attr["default"])
            if value is not _UNPARSED:
                parsed[name] = value
        defaults[op_type] = parsed
    return defaults


_UNPARSED = object()


def _parse_default(kind: str, text: str) -> Any:
    text = text.strip()
    try:
        if kind in ("Int", "int"):
            return int(text)
        if kind == "Bool":
            return text.lower() in ("true", "1")
        if kind == "Float":
            return _f32(float(text.rstrip("fF")))
        if kind == "String":
            return text.strip('"')
        if kind == "Type":
            return text
        if kind.startswith("List"):
            if not text.startswith(("{", "[")):
                return _UNPARSED  # e.g. ge::UNKNOWN_RANK
            body = text.replace("{", "[").replace("}", "]").replace("f", "")
            value = ast.literal_eval(body)
            if kind == "ListFloat":
                return [_f32(float(v)) for v in value]
            return value
    except (ValueError, SyntaxError):
        return _UNPARSED
    return _UNPARSED


# --------------------------------------------------------------------------- normalize
def normalize(
    model_bytes: bytes,
    defaults: Mapping[str, Mapping[str, Any]],
    *,
    dtypes_reliable: bool = False,
) -> NormalGraph:
    """Parse a serialized ``ModelDef`` and normalize its main graph (``graph[0]``).

    Args:
        model_bytes: the protobuf bytes (either side's).
        defaults: what :func:`load_opdef_defaults` returns.
        dtypes_reliable: every output descriptor carries its real dtype (true
            of airgraph's graphs; TorchAir's leave it unset for ops that are
            not the result of an FX node).

    Raises:
        ValueError: the model holds no graph, or an op input names no op.
    """
    model = pb.ModelDef.FromString(model_bytes)
    if not model.graph:
        raise ValueError("model_bytes: the ModelDef holds no graph")
    graph = model.graph[0]
    _drop_identity_casts(graph, dtypes_reliable)
    by_name = {op.name: op for op in graph.op}
    outputs = [op.name for op in graph.op if op.type == "NetOutput"]
    order = _canonical_order(outputs, by_name, set())
    reached = set(order)
    dead = [op for op in graph.op if op.name not in reached and op.type != "Const"]
    # Dead ops are walked the same way from the dead ops nothing reads (in graph
    # order), so their numbering does not depend on the order they were built in.
    read_by_dead = {e.split(":")[0] for op in dead for e in op.input if e}
    sinks = [op.name for op in dead if op.name not in read_by_dead]
    order += _canonical_order(sinks, by_name, set(reached))
    listed = set(order)
    order += [op.name for op in dead if op.name not in listed]  # dead cycles, if any

    counts: Counter[str] = Counter()
    canon: dict[str, str] = {}
    for name in order:
        op_type = by_name[name].type
        canon[name] = f"{op_type}#{counts[op_type]}"
        counts[op_type] += 1

    ops = []
    for name in order:
        op = by_name[name]
        ops.append(
            NormalOp(
                name=canon[name],
                type=op.type,
                inputs=[_canonical_edge(e, canon, name) for e in op.input],
                attrs=_op_attrs(op, defaults.get(op.type, {}), by_name),
                outputs=[_desc(d, dtypes_reliable) for d in op.output_desc],
                dead=name not in reached,
            )
        )
    graph_attrs = {k: _attr_value(graph.attr[k]) for k in CONTRACT_GRAPH_ATTRS if k in graph.attr}
    return NormalGraph(ops, graph_attrs, extra_graphs=len(model.graph) - 1)


def _drop_identity_casts(graph: Any, dtypes_reliable: bool) -> None:
    """Remove ``Cast`` ops to the dtype their input already has (see the module docstring)."""
    alias: dict[str, str] = {}  # "cast:0" -> the edge it forwards
    known: dict[str, str | None] = {}  # "op:idx" -> DT_* name or None
    dropped = set()
    for op in graph.op:  # graph order is topological on both sides
        for i, edge in enumerate(op.input):
            if edge in alias:
                op.input[i] = alias[edge]
        data_in = [e if ":" in e else f"{e}:0" for e in op.input if e and not e.endswith(":-1")]
        for idx, desc in enumerate(op.output_desc):
            key = f"{op.name}:{idx}"
            # TorchAir sets a descriptor's dtype only for the outputs of FX nodes
            # (marked by their "_meta" attribute) and for inputs and constants.
            if dtypes_reliable or desc.HasField("shape") or "_meta" in desc.attr:
                known[key] = _proto_dt_name(desc.dtype)
            elif op.type == "Cast" and "dst_type" in op.attr:
                known[key] = _dt_name(op.attr["dst_type"].i)
            else:
                dtypes = {known.get(e) for e in data_in}
                known[key] = dtypes.pop() if len(dtypes) == 1 else None
        if op.type == "Cast" and len(data_in) == 1 and "dst_type" in op.attr:
            source = data_in[0]
            if known.get(source) == _dt_name(op.attr["dst_type"].i):
                alias[f"{op.name}:0"] = source
                dropped.add(op.name)
    if not dropped:
        return
    kept = [op for op in graph.op if op.name not in dropped]
    del graph.op[:]
    graph.op.extend(kept)


def _canonical_order(roots: list[str], by_name: dict[str, Any], seen: set[str]) -> list[str]:
    """Ops ``roots`` depend on (``roots`` included), depth-first in input order, minus ``seen``."""
    order: list[str] = []
    for root in roots:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            srcs = [e.split(":")[0] for e in by_name[name].input if e]
            for src in reversed(srcs):
                if src not in by_name:
                    raise ValueError(f"op {name!r} reads {src!r}, which is not an op of the graph")
                if src not in seen:
                    stack.append((src, False))
    return order


def _canonical_edge(edge: str, canon: dict[str, str], where: str) -> str:
    if not edge:
        return ""
    src, _, index = edge.rpartition(":")
    if not src:
        src, index = edge, "0"
    if src not in canon:
        raise ValueError(f"op {where!r} reads {src!r}, which is not an op of the graph")
    return f"^{canon[src]}" if index == "-1" else f"{canon[src]}:{index}"


#: TorchAir's own op attributes (index and layout pairs), which no GE prototype
#: declares: TorchAir copies them into the descriptors' layouts before GE sees
#: the graph. Compared as the layouts they stand for (see :func:`_input_layouts`).
LAYOUT_INFO_ATTRS = ("input_layout_info", "output_layout_info")

#: The pseudo-attribute under which non-``ND`` input descriptor layouts are compared.
INPUT_LAYOUTS = "<input layouts>"


def _op_attrs(op: Any, defaults: Mapping[str, Any], by_name: Mapping[str, Any]) -> dict[str, Any]:
    attrs = {}
    for key in op.attr:
        if key.startswith("_") or key in LAYOUT_INFO_ATTRS:
            continue
        value = _attr_value(op.attr[key])
        if key in defaults and _same(value, defaults[key]):
            continue
        attrs[key] = value
    layouts = _input_layouts(op, by_name)
    if layouts is not None:
        attrs[INPUT_LAYOUTS] = layouts
    return attrs


def _input_layouts(op: Any, by_name: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The layouts ``op`` declares for its inputs, or ``None`` when it declares none.

    An input descriptor's layout is what GE reads (e.g. ``NCHW`` for
    ``Conv2D``, whose declared ``data_format`` default is ``NHWC``). TorchAir
    states it in ``input_layout_info`` (applied to the descriptors after the
    point where the oracle captures the graph) and resets every other input
    layout to ``ND``; airgraph sets the descriptor and copies the producer's
    layout elsewhere. So a layout counts as declared when it is not ``ND``
    and differs from the producer's output layout; other inputs show as ``-``.
    """
    layouts = []
    for i, desc in enumerate(op.input_desc):
        edge = op.input[i] if i < len(op.input) else ""
        layout = desc.layout or "ND"
        if "input_layout_info" in op.attr:
            info = op.attr["input_layout_info"].list
            layout = next((lay.decode() for k, lay in zip(info.i, info.s) if k == i), "ND")
        src, _, index = edge.rpartition(":")
        producer = by_name.get(src)
        produced = "ND"
        if producer is not None and index.isdigit() and int(index) < len(producer.output_desc):
            produced = producer.output_desc[int(index)].layout or "ND"
        declared = edge != "" and layout != "ND" and layout != produced
        layouts.append(layout if declared else "-")
    if all(layout == "-" for layout in layouts):
        return None
    return tuple(layouts)


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return bool(value) == bool(default) and type(value) is type(default)
    return value == default


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _dt_name(code: int) -> str:
    """``DT_*`` name of a ge::-numbered dtype (attributes use that numbering)."""
    try:
        return from_ge_code(code).opdef_name
    except (KeyError, ValueError):
        return f"ge::{code}"


def _proto_dt_name(code: int) -> str:
    """``DT_*`` name of a proto-numbered dtype (descriptors use that numbering)."""
    try:
        return DataType(code).opdef_name
    except ValueError:
        return f"proto:{code}"


def _attr_value(attr: Any) -> Any:
    kind = attr.WhichOneof("value")
    if kind is None:
        return None
    if kind == "s":
        return attr.s.decode("utf-8", "replace")
    if kind in ("i", "b"):
        return getattr(attr, kind)
    if kind == "f":
        return _f32(attr.f)
    if kind == "dt":
        return _dt_name(attr.dt)
    if kind == "t":
        return _tensor(attr.t)
    if kind == "list":
        lv = attr.list
        for field in ("s", "i", "f", "b", "dt"):
            values = list(getattr(lv, field))
            if values:
                if field == "s":
                    return [v.decode("utf-8", "replace") for v in values]
                if field == "f":
                    return [_f32(v) for v in values]
                if field == "dt":
                    return [_dt_name(v) for v in values]
                return values
        if len(lv.t):
            return [_tensor(t) for t in lv.t]
        return []
    if kind == "list_list_int":
        return [list(x.list_i) for x in attr.list_list_int.list_list_i]
    return f"<{kind}>"


def _tensor(t: Any) -> str:
    dtype = DataType(t.desc.dtype) if t.desc.dtype in DataType._value2member_map_ else None
    shape = list(t.desc.shape.dim)
    head = f"{_proto_dt_name(t.desc.dtype)}{shape}"
    fmt = _NUMPY_LIKE.get(dtype) if dtype is not None else None
    if fmt is None or len(t.data) % fmt[1]:
        return f"{head} <{len(t.data)} bytes sha1 {hashlib.sha1(t.data).hexdigest()[:10]}>"
    n = len(t.data) // fmt[1]
    values = list(struct.unpack(f"<{n}{fmt[0]}", t.data))
    if n > _MAX_SHOWN_VALUES:
        digest = hashlib.sha1(t.data).hexdigest()[:10]
        return f"{head} <{n} values sha1 {digest}>"
    return f"{head} {values}"


def _desc(desc: Any, dtypes_reliable: bool) -> OutputDesc:
    has_shape = desc.HasField("shape")
    shape = tuple(desc.shape.dim) if has_shape else None
    dtype_set = dtypes_reliable or has_shape or "_meta" in desc.attr
    dtype = _proto_dt_name(desc.dtype) if dtype_set else None
    return OutputDesc(dtype, shape, desc.layout or "ND")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.7g}"
    if isinstance(value, list) and value and isinstance(value[0], float):
        return "[" + ", ".join(f"{v:.7g}" for v in value) + "]"
    return repr(value) if isinstance(value, str) and not value.startswith("DT_") else str(value)


# --------------------------------------------------------------------------- compare
IDENTICAL = "identical"
SAME_OPS = "same ops, different attributes"
DIFFERENT_OPS = "different ops"
ONE_FAILS = "one side fails"
BOTH_FAIL = "both fail"

#: Categories in report order.
CATEGORIES = (IDENTICAL, SAME_OPS, DIFFERENT_OPS, ONE_FAILS, BOTH_FAIL)


def compare_graphs(ours: NormalGraph, theirs: NormalGraph) -> tuple[str, list[str]]:
    """Compare airgraph's graph (``ours``) with TorchAir's (``theirs``).

    Returns:
        ``(category, differences)``: one of :data:`IDENTICAL`,
        :data:`SAME_OPS`, :data:`DIFFERENT_OPS`, and readable difference
        lines (``-`` is airgraph, ``+`` is TorchAir).
    """
    notes = _graph_attr_diffs(ours, theirs)
    if ours.types() != theirs.types():
        return DIFFERENT_OPS, _op_count_diff(ours, theirs) + _listing_diff(ours, theirs) + notes
    diffs = []
    for a, b in zip(ours.ops, theirs.ops):
        if a.inputs != b.inputs:
            diffs.append(f"{a.name} inputs: {a.inputs} vs TorchAir {b.inputs}")
        for key in sorted(set(a.attrs) | set(b.attrs)):
            va, vb = a.attrs.get(key, "<default>"), b.attrs.get(key, "<default>")
            if va != vb:
                diffs.append(f"{a.name}.{key}: {_show(va)} vs TorchAir {_show(vb)}")
        if len(a.outputs) != len(b.outputs) or not all(
            x.matches(y) for x, y in zip(a.outputs, b.outputs)
        ):
            ours_out = "; ".join(map(str, a.outputs))
            theirs_out = "; ".join(map(str, b.outputs))
            diffs.append(f"{a.name} outputs: {ours_out} vs TorchAir {theirs_out}")
        if a.dead != b.dead:
            diffs.append(f"{a.name}: dead in {'airgraph' if a.dead else 'TorchAir'} only")
    diffs += notes
    return (SAME_OPS if diffs else IDENTICAL), diffs


def _graph_attr_diffs(ours: NormalGraph, theirs: NormalGraph) -> list[str]:
    diffs = []
    for key in CONTRACT_GRAPH_ATTRS:
        va, vb = ours.graph_attrs.get(key, "<absent>"), theirs.graph_attrs.get(key, "<absent>")
        if va != vb:
            diffs.append(f"graph.{key}: {_show(va)} vs TorchAir {_show(vb)}")
    if ours.extra_graphs or theirs.extra_graphs:
        diffs.append(
            f"subgraphs: airgraph {ours.extra_graphs}, TorchAir {theirs.extra_graphs} (not compared)"
        )
    return diffs


def _op_count_diff(ours: NormalGraph, theirs: NormalGraph) -> list[str]:
    a, b = Counter(ours.types()), Counter(theirs.types())
    only_ours = ", ".join(f"{t}x{n}" if n > 1 else t for t, n in sorted((a - b).items()))
    only_theirs = ", ".join(f"{t}x{n}" if n > 1 else t for t, n in sorted((b - a).items()))
    lines = []
    if only_ours:
        lines.append(f"airgraph only: {only_ours}")
    if only_theirs:
        lines.append(f"TorchAir only: {only_theirs}")
    if not lines:
        lines.append("same op types, different structure or order")
    return lines


def _listing_diff(ours: NormalGraph, theirs: NormalGraph) -> list[str]:
    diff = difflib.unified_diff(
        [op.line() for op in ours.ops],
        [op.line() for op in theirs.ops],
        "airgraph",
        "TorchAir",
        n=0,
        lineterm="",
    )
    return [line for line in diff if not line.startswith(("---", "+++", "@@"))]
