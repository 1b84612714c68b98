"""The lowering→runtime contract: what :func:`~airgraph_core.lowering.lower_graph` hands on.

:func:`~airgraph_core.lowering.lower_graph` returns the :class:`GeGraph`; its
``lowered`` field is the :class:`LoweredGraph` record: which ATen placeholder
each ``Data`` op reads, what each ATen output is, the outputs rebuilt as
views, and where each symbolic size is read from. Everything downstream (the
Dynamo backend's runner, gears, static-mark check, the compile cache) reads
these fields.

The record is also written into the GE ``GraphDef`` as graph attributes
(:data:`INPUT_SOURCES_ATTR`, :data:`OUTPUT_KINDS_ATTR`,
:data:`OUTPUT_VIEWS_ATTR`), so a serialized graph keeps it;
:func:`lowered_of` reads it back from a graph loaded from protobuf. These
names are defined here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from airgraph_core.ir.graph import Attr, AttrKind, GeGraph
from airgraph_core.output_views import OutputViews

__all__ = [
    "INPUT_SOURCES_ATTR",
    "OUTPUT_KINDS_ATTR",
    "OUTPUT_VIEWS_ATTR",
    "LoweredGraph",
    "SizeBinding",
    "lowered_of",
]

#: Graph attribute: for each Data index, the FX placeholder position it reads.
INPUT_SOURCES_ATTR = "_airgraph_input_sources"
#: Graph attribute: per FX output, "t" (tensor), "s" (symbolic int), "n" (None),
#: "v" (a view of an input or of another output, rebuilt by :class:`OutputViews`),
#: "b" (a hidden base that views are rebuilt from, after the FX outputs).
OUTPUT_KINDS_ATTR = "_airgraph_output_kinds"
#: Graph attribute: the :class:`OutputViews` record as JSON (absent when no output is a view).
OUTPUT_VIEWS_ATTR = "_airgraph_output_views"


@dataclasses.dataclass(frozen=True)
class SizeBinding:
    """Where the graph reads one symbolic size from.

    Attributes:
        symbol: the size's sympy expression, printed (e.g. ``"s0"``).
        placeholder: the FX placeholder position it is read from.
        dim: the dim of that (tensor) placeholder that carries it, read inside
            the graph (``Shape`` + ``Gather``); ``None`` when the placeholder is
            the size itself, a host scalar ``Data`` input.
    """

    symbol: str
    placeholder: int
    dim: int | None = None


@dataclasses.dataclass(frozen=True)
class LoweredGraph:
    """What a lowered GE graph's runtime needs besides the graph itself.

    Attributes:
        input_sources: per ``Data`` index, the FX placeholder position it reads
            (frozen placeholders and sizes read inside the graph have no ``Data``).
        output_kinds: per FX output ``"t"`` (tensor), ``"s"`` (size, returned
            as ``int``), ``"n"`` (``None``), ``"v"`` (a view, rebuilt by
            :attr:`output_views`), then ``"b"`` per hidden view base the GE
            graph returns after the FX outputs.
        output_views: the outputs rebuilt as views, or ``None`` when none is.
        size_bindings: where each symbolic size an input uses is read from.
        static_marks: the static-mark check's report, set by the Dynamo
            backend after lowering (``airgraph_dynamo.static_marks.StaticMarkReport``);
            ``None`` until then.
    """

    input_sources: tuple[int, ...]
    output_kinds: tuple[str, ...]
    output_views: OutputViews | None = None
    size_bindings: tuple[SizeBinding, ...] = ()
    static_marks: Any = None

    def write_attrs(self, graph: GeGraph) -> None:
        """Write the record's serialized part into ``graph``'s attributes (the GE ``GraphDef``)."""
        graph.attrs[INPUT_SOURCES_ATTR] = Attr(AttrKind.LIST_I, tuple(self.input_sources))
        graph.attrs[OUTPUT_KINDS_ATTR] = Attr(AttrKind.LIST_S, tuple(self.output_kinds) or ("",))
        if self.output_views is not None:
            graph.attrs[OUTPUT_VIEWS_ATTR] = Attr(AttrKind.S, self.output_views.to_json())


def lowered_of(graph: GeGraph) -> LoweredGraph:
    """``graph.lowered``, or the record read back from its attributes (a deserialized graph).

    Raises:
        ValueError: ``graph`` is not a lowered graph (neither field nor attributes),
            or it carries a malformed output-view record.
    """
    if graph.lowered is not None:
        return graph.lowered
    sources, kinds = graph.attrs.get(INPUT_SOURCES_ATTR), graph.attrs.get(OUTPUT_KINDS_ATTR)
    if sources is None or kinds is None:
        raise ValueError(f"graph: {graph.name!r} was not made by lower_graph (no lowering record)")
    views = graph.attrs.get(OUTPUT_VIEWS_ATTR)
    return LoweredGraph(
        tuple(sources.value),
        tuple(k for k in kinds.value if k),
        None if views is None else OutputViews.from_json(views.value),
    )
