"""Graph dumps per ``debug.graph_dump``: txt, pbtxt and a Python-like listing.

Files are named as TorchAir names them, so tools and habits built on
TorchAir's dumps find them: ``dynamo_original_graph_<id>_rank_<r>_pid_<p>_ts_<t>.<type>``
for the GE graph as lowered, and ``dynamo_optimized_graph_<id>_...`` for the
graph handed to the target (``<t>`` is a UTC time stamp, ``%Y%m%d%H%M%S%f``;
``<r>`` the ``torch.distributed`` rank, 0 without a process group).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from airgraph_core import GeGraph, dump_text
from airgraph_core.ir import AttrKind, TensorDesc

__all__ = ["STAGES", "dump_file_name", "dump_graph", "dump_py", "render"]

#: The dump stages, as TorchAir names them.
STAGES = ("original", "optimized")

log = logging.getLogger("airgraph.dynamo")


def dump_py(graph: GeGraph) -> str:
    """Render ``graph`` as a Python-like function, one GE op per line.

    Inputs become parameters annotated with dtype and shape, each op an
    assignment ``name = ge.Type(inputs, attr=value)  # -> outputs`` and the
    ``NetOutput`` a ``return``. It is meant for reading, not for running.

    Example output::

        def add(arg0_1: FLOAT[2, 2], arg1_1: FLOAT[2, 2]):
            Add = ge.Add(arg0_1, arg1_1)  # -> FLOAT[2, 2]
            return (Add,)
    """
    names: dict[str, str] = {}
    params = []
    for op in graph.data_ops:
        names[op.name] = op.name
        params.append(f"{op.name}: {_desc(op.output_descs[0])}")
    lines = [f"def {_ident(graph.name)}({', '.join(params)}):"]
    for key, attr in sorted(graph.attrs.items()):
        lines.append(f"    # graph attr {key} = {_value(attr)}")
    lines += [f"    # {op.name} is a RefData" for op in graph.data_ops if op.type != "Data"]
    for op in graph.ops:
        if op.type in ("Data", "RefData"):
            continue
        args = []
        controls = []
        for edge in op.inputs:
            if not edge:
                args.append("None")
                continue
            src, _, idx = edge.rpartition(":")
            if idx == "-1":
                controls.append(src)
                continue
            producer = graph.op(src)
            args.append(src if len(producer.output_descs) <= 1 else f"{src}[{idx}]")
        if op.type == "NetOutput":
            after = f"  # after {', '.join(controls)}" if controls else ""
            tail = "," if len(args) == 1 else ""
            lines.append(f"    return ({', '.join(args)}{tail}){after}")
            continue
        kw = [f"{k}={_value(v)}" for k, v in sorted(op.attrs.items())]
        call = f"ge.{op.type}({', '.join(args + kw)})"
        comment = ", ".join(_desc(d) for d in op.output_descs)
        if controls:
            comment += f"; after {', '.join(controls)}"
        lines.append(f"    {op.name} = {call}  # -> {comment}")
    return "\n".join(lines) + "\n"


def render(graph: GeGraph, kind: str) -> str:
    """The dump of ``graph`` in format ``kind`` (``"txt"``, ``"pbtxt"`` or ``"py"``).

    Raises:
        ValueError: unknown ``kind``.
        RuntimeError: ``"pbtxt"`` while airgraph-core has no GE serializer.
    """
    if kind == "txt":
        return dump_text(graph)
    if kind == "py":
        return dump_py(graph)
    if kind == "pbtxt":
        try:
            from airgraph_core.ir.serialize import to_pbtxt
        except ImportError as e:
            raise RuntimeError(
                "debug.graph_dump.type='pbtxt' needs airgraph_core.ir.serialize, "
                "which this airgraph-core lacks; use 'txt' or 'py'"
            ) from e
        return to_pbtxt(graph)
    raise ValueError(f"kind: {kind!r} is not one of 'txt', 'pbtxt', 'py'")


def dump_file_name(graph_name: str, stage: str, kind: str) -> str:
    """TorchAir's dump file name for a graph at a stage.

    Args:
        graph_name: the GE graph's name (``graph_<id>``).
        stage: ``"original"`` or ``"optimized"``.
        kind: the file type (``txt``, ``pbtxt``, ``py``).

    Raises:
        ValueError: ``stage`` is not one of :data:`STAGES`.

    Examples:
        >>> dump_file_name("graph_3", "original", "txt")  # doctest: +ELLIPSIS
        'dynamo_original_graph_3_rank_0_pid_..._ts_....txt'
    """
    if stage not in STAGES:
        raise ValueError(f"stage: {stage!r} is not one of {STAGES}")
    stamp = datetime.now(tz=UTC).strftime("%Y%m%d%H%M%S%f")
    return f"dynamo_{stage}_{graph_name}_rank_{_rank()}_pid_{os.getpid()}_ts_{stamp}.{kind}"


def dump_graph(
    graph: GeGraph,
    kind: str,
    folder: str | os.PathLike | None,
    *,
    stage: str = "optimized",
) -> Path:
    """Write ``graph`` to ``<folder>/<TorchAir's name>`` and return the path.

    Args:
        graph: the GE graph.
        kind: ``"txt"``, ``"pbtxt"`` or ``"py"``.
        folder: target folder (created if missing); ``None`` for the
            current working directory.
        stage: ``"original"`` (as lowered) or ``"optimized"`` (as compiled).
    """
    out_dir = Path(folder) if folder is not None else Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / dump_file_name(graph.name, stage, kind)
    path.write_text(render(graph, kind))
    log.info("dumped the %s GE graph %s to %s", stage, graph.name, path)
    return path


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _desc(d: TensorDesc) -> str:
    shape = "?" if d.shape is None else ", ".join(str(x) for x in d.shape)
    where = " @host" if d.placement == "CPU" else ""
    return f"{d.dtype.name}[{shape}]{where}"


def _value(attr) -> str:
    if attr.kind is AttrKind.T:
        desc = _desc(attr.value.desc)
        t = attr.value.to_torch()
        if t.numel() <= 8:  # small constants (scalars, shapes) are worth reading
            return f"tensor({desc}, {t.tolist()!r})"
        return f"tensor({desc})"
    if attr.kind is AttrKind.DT:
        return attr.value.name
    if attr.kind is AttrKind.LIST_DT:
        return "[" + ", ".join(v.name for v in attr.value) + "]"
    if isinstance(attr.value, tuple):
        return "[" + ", ".join(repr(v) for v in attr.value) + "]"
    return repr(attr.value)


def _ident(name: str) -> str:
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return text if text and not text[0].isdigit() else f"g_{text}"
