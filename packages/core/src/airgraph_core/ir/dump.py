"""A readable text dump of a GE graph, one op per line."""

from __future__ import annotations

from airgraph_core.ir.graph import Attr, AttrKind, GeGraph, TensorDesc

__all__ = ["dump_text"]


def dump_text(graph: GeGraph) -> str:
    """Render ``graph`` as text: ``%name = Type(inputs) {attrs} -> outputs``.

    Example output::

        graph add
          %Data = Data() {index=0} -> FLOAT[2,-1]
          %Add = Add(%Data:0, %Data_1:0) -> FLOAT[2,-1]
    """
    lines = [f"graph {graph.name}"]
    for name, attr in sorted(graph.attrs.items()):
        lines.append(f"  attr {name} = {_attr(attr)}")
    for op in graph.ops:
        ins = ", ".join(f"%{e}" if e else "<none>" for e in op.inputs)
        attrs = ", ".join(f"{k}={_attr(v)}" for k, v in sorted(op.attrs.items()))
        outs = ", ".join(_desc(d) for d in op.output_descs)
        text = f"  %{op.name} = {op.type}({ins})"
        if attrs:
            text += f" {{{attrs}}}"
        if outs:
            text += f" -> {outs}"
        lines.append(text)
    return "\n".join(lines) + "\n"


def _desc(d: TensorDesc) -> str:
    shape = "[?]" if d.shape is None else "[" + ",".join(str(x) for x in d.shape) + "]"
    where = "@host" if d.placement == "CPU" else ""
    return f"{d.dtype.name}{shape}{where}"


def _attr(a: Attr) -> str:
    if a.kind is AttrKind.T:
        v = a.value
        return f"tensor<{_desc(v.desc)}, {len(v.data)} bytes>"
    if a.kind in (AttrKind.DT,):
        return a.value.name
    if a.kind is AttrKind.LIST_DT:
        return "[" + ", ".join(v.name for v in a.value) + "]"
    if isinstance(a.value, tuple):
        return "[" + ", ".join(repr(v) for v in a.value) + "]"
    return repr(a.value)
