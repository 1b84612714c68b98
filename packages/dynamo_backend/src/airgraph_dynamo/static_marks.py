"""The static-marks step: check and report how ``mark_static`` shaped the GE inputs.

``torch._dynamo.mark_static(t)`` makes Dynamo keep ``t``'s dims concrete even
under ``torch.compile(dynamic=True)``; the lowering then writes those sizes
into the ``Data`` ops' descriptors, so GE sees static shapes (a fully static
graph when nothing else is dynamic, partially static subgraphs otherwise).
This step runs after lowering: it maps every ``Data`` op back to its input,
checks that each marked dim is concrete, logs a summary and returns it, so
tests and users can see what GE received.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from airgraph_core import GeGraph, lowered_of
from airgraph_dynamo.inputs import InputOrigin

__all__ = ["DataShape", "StaticMarkReport", "check_static_marks", "dynamic_descs"]

log = logging.getLogger("airgraph.dynamo")


@dataclasses.dataclass(frozen=True)
class DataShape:
    """One ``Data`` op of the GE graph and the input it reads."""

    index: int
    op_name: str
    source: str
    shape: tuple[int, ...] | None
    marked_static: frozenset[int]

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(d >= 0 for d in self.shape)


@dataclasses.dataclass(frozen=True)
class StaticMarkReport:
    """What the GE graph's inputs look like after lowering.

    Attributes:
        inputs: one :class:`DataShape` per ``Data`` op, in index order.
        violations: messages for marked dims that are still dynamic (-1).
        graph_is_static: no descriptor anywhere in the graph has a -1 dim.
    """

    inputs: tuple[DataShape, ...]
    violations: tuple[str, ...]
    graph_is_static: bool

    def input(self, source: str) -> DataShape:
        """The ``Data`` op that reads the input named ``source`` (e.g. ``L['x']``).

        Raises:
            KeyError: no ``Data`` op reads it (e.g. it was frozen or unused).
        """
        for d in self.inputs:
            if d.source == source:
                return d
        known = ", ".join(d.source for d in self.inputs)
        raise KeyError(f"source: no Data op reads {source!r}; inputs: {known}")

    def shape_of(self, source: str) -> tuple[int, ...] | None:
        """The ``Data`` shape of the input named ``source`` (see :meth:`input`)."""
        return self.input(source).shape


def dynamic_descs(graph: GeGraph) -> list[str]:
    """Every tensor descriptor with a -1 dim or unknown rank, as ``"op.desc[shape]"``.

    Unfed optional inputs (empty edge, undefined descriptor) are not tensors
    and are skipped.
    """
    found = []
    for op in graph.ops:
        fed = [d for e, d in zip(op.data_inputs, op.input_descs) if e]
        for d in (*fed, *op.output_descs):
            if not d.is_static:
                found.append(f"{op.name}.{d.name}{list(d.shape) if d.shape is not None else '[?]'}")
    return found


def check_static_marks(graph: GeGraph, origins: Sequence[InputOrigin]) -> StaticMarkReport:
    """Check that every dim marked static is concrete in the ``Data`` descriptors.

    Args:
        graph: the lowered GE graph.
        origins: one :class:`InputOrigin` per ATen placeholder.

    Returns:
        The report. Violations are logged as warnings, not raised: the graph
        is still correct, only less static than asked (e.g. ``mark_dynamic``
        wins over ``mark_static`` in Dynamo).
    """
    sources = lowered_of(graph).input_sources
    entries = []
    violations = []
    for op, pos in zip(graph.data_ops, sources):
        origin = origins[pos] if pos < len(origins) else InputOrigin("unknown", op.name)
        shape = op.output_descs[0].shape
        entry = DataShape(op.attr("index"), op.name, origin.name, shape, origin.static_dims)
        entries.append(entry)
        for dim in sorted(origin.static_dims):
            if shape is None or dim >= len(shape) or shape[dim] < 0:
                violations.append(
                    f"{origin.name} (Data {op.name!r}) dim {dim} is marked static but is "
                    f"dynamic in the GE graph (shape {shape})"
                )
    report = StaticMarkReport(tuple(entries), tuple(violations), not dynamic_descs(graph))
    for message in violations:
        log.warning("static marks: %s", message)
    n_marked = sum(1 for e in entries if e.marked_static)
    n_static = sum(1 for e in entries if e.is_static)
    log.info(
        "static marks: graph %s: %d of %d inputs marked static; %d inputs with static "
        "shapes; graph is %s",
        graph.name,
        n_marked,
        len(entries),
        n_static,
        "fully static" if report.graph_is_static else "dynamic",
    )
    return report
