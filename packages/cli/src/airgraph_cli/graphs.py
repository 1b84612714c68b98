"""``airgraph dump`` and ``airgraph graph``: a GE graph as text, protobuf text, DOT or SVG."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from airgraph_cli._console import Policy, fail
from airgraph_cli.check import DynamicOpt, GearsOpt, InputOpt, PolicyOpt, run_analysis

__all__ = ["Format", "dump_command", "graph_command", "render", "text_with_constants", "to_dot"]

#: Constants with at most this many elements show their values in the text dump.
SMALL_CONSTANT = 16


class Format(enum.StrEnum):
    """The output formats of ``airgraph dump``."""

    txt = "txt"
    pbtxt = "pbtxt"
    dot = "dot"
    svg = "svg"


def text_with_constants(graph: Any) -> str:
    """``airgraph_core.dump_text`` plus the values of small constants (``= [..]`` at line end)."""
    from airgraph_core import AttrKind, dump_text

    values = {}
    for op in graph.ops:
        attr = op.attrs.get("value")
        if op.type in ("Const", "Constant") and attr is not None and attr.kind is AttrKind.T:
            tensor = attr.value.to_torch()
            if tensor.numel() <= SMALL_CONSTANT:
                values[op.name] = tensor.tolist()
    lines = []
    for line in dump_text(graph).splitlines():
        name = line.strip().partition(" = ")[0].removeprefix("%")
        if line.startswith("  %") and name in values:
            line += f" = {values[name]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Any) -> str:
    """The GE graph in Graphviz DOT: one box per op (name, type), edges labelled with shapes."""
    from airgraph_core.ir.graph import parse_edge

    lines = [
        f"digraph {_dot_id(graph.name)} {{",
        "  rankdir=TB;",
        "  node [shape=box, fontsize=10];",
    ]
    by_name = {op.name: op for op in graph.ops}
    for op in graph.ops:
        style = ', style=filled, fillcolor="#e8f0fe"' if op.type in ("Data", "NetOutput") else ""
        label = op.type if op.name == op.type else f"{op.type}\\n{op.name}"
        lines.append(f'  {_dot_id(op.name)} [label="{label}"{style}];')
    for op in graph.ops:
        for edge in op.inputs:
            if not edge:
                continue
            src, index = parse_edge(edge)
            if index < 0:
                lines.append(f"  {_dot_id(src)} -> {_dot_id(op.name)} [style=dashed];")
                continue
            producer = by_name.get(src)
            label = ""
            if producer is not None and index < len(producer.output_descs):
                desc = producer.output_descs[index]
                shape = "?" if desc.shape is None else ",".join(str(n) for n in desc.shape)
                label = f' [label="{desc.dtype.name}[{shape}]", fontsize=8]'
            lines.append(f"  {_dot_id(src)} -> {_dot_id(op.name)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Any, fmt: Format) -> str:
    """``graph`` in ``fmt``.

    Raises:
        RuntimeError: ``svg`` without the ``graphviz`` package or Graphviz's ``dot``.
    """
    if fmt is Format.txt:
        return text_with_constants(graph)
    if fmt is Format.pbtxt:
        from airgraph_core import to_pbtxt

        return to_pbtxt(graph)
    dot = to_dot(graph)
    if fmt is Format.dot:
        return dot
    try:
        import graphviz
    except ImportError:
        raise RuntimeError(
            "--format svg needs the graphviz Python package and Graphviz's `dot` program "
            "(pip install graphviz; apt install graphviz); or write --format dot and render "
            "it elsewhere"
        ) from None
    try:
        return graphviz.Source(dot).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise RuntimeError(
            "--format svg: Graphviz's `dot` program is not on PATH (apt install graphviz); "
            "or write --format dot and render it elsewhere"
        ) from None


def _read_graph(command: str, path: str) -> Any:
    from airgraph_core import deserialize

    file = Path(path)
    if file.is_dir():
        file = file / "graph.pb"
    try:
        return deserialize(file.read_bytes())
    except (OSError, ValueError) as e:
        fail(command, f"cannot read a GE graph from {str(file)!r}: {e}")


def _write(command: str, text: str, output: str | None) -> None:
    if output is None:
        print(text, end="")
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        fail(command, f"cannot write {output!r}: {e}")


def graph_command(
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH", help="a GE ModelDef protobuf file, e.g. a cache entry's graph.pb"
        ),
    ],
) -> None:
    """Print a serialized GE graph (.pb) as text."""
    from airgraph_core import dump_text

    print(dump_text(_read_graph("graph", path)), end="")


def dump_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:FACTORY|GRAPH.pb",
            help="a model to trace and lower (as for `airgraph check`), or a serialized GE "
            "graph: a .pb file or a cache rank folder holding graph.pb",
            show_default=False,
        ),
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="the output format")] = Format.txt,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="write to this file instead of stdout")
    ] = None,
    inputs: InputOpt = None,
    gears: GearsOpt = None,
    dynamic: DynamicOpt = False,
    policy: PolicyOpt = Policy.zip,
) -> None:
    """Print the GE graph of a model or of a .pb file as txt, pbtxt, dot or svg."""
    if os.path.exists(target):
        if inputs or gears or dynamic:
            fail("dump", "--input, --gears and --dynamic apply to MODULE:FACTORY, not a graph file")
        graph = _read_graph("dump", target)
    else:
        analysis = run_analysis("dump", target, inputs, gears, dynamic, policy)
        graph = analysis.ge_graph
        if graph is None:
            reasons = [str(op) for op in analysis.unsupported]
            reasons += [f"graph break at {b.where}: {b.reason}" for b in analysis.graph_breaks]
            reasons += [analysis.error] if analysis.error else []
            fail("dump", "no GE graph: " + "; ".join(reasons) + " (see `airgraph check`)")
    try:
        text = render(graph, fmt)
    except RuntimeError as e:
        fail("dump", str(e))
    _write("dump", text, output)
