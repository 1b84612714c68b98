"""The typed lowering→runtime record: ``graph.lowered`` and ``lowered_of``."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from airgraph_core import GeGraph, LoweredGraph, deserialize, lower_graph, lowered_of, serialize
from airgraph_core.capture import capture_aten_graph
from airgraph_core.lowered import INPUT_SOURCES_ATTR, OUTPUT_KINDS_ATTR


def _placeholders(gm):
    return [n for n in gm.graph.nodes if n.op == "placeholder"]


def test_record_maps_data_inputs_outputs_and_carried_sizes():
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    gm, ins = capture_aten_graph(lambda x, y: x + y, [x, y], dynamic=True)
    g = lower_graph(gm, ins)
    rec = g.lowered
    assert isinstance(rec, LoweredGraph) and lowered_of(g) is rec
    tensors = [p for p, v in enumerate(ins) if isinstance(v, torch.Tensor)]
    assert rec.input_sources == tuple(tensors)
    assert rec.output_kinds == ("t",)
    assert rec.output_views is None and rec.static_marks is None
    # Every size symbol a tensor dim carries is read from that tensor's dim.
    placeholders = _placeholders(gm)
    for binding in rec.size_bindings:
        assert binding.dim is not None and binding.placeholder in tensors
        size = placeholders[binding.placeholder].meta["val"].shape[binding.dim]
        assert str(size.node.expr) == binding.symbol
    shapes = [placeholders[p].meta["val"].shape for p in tensors]
    symbols = {str(d.node.expr) for shape in shapes for d in shape if isinstance(d, torch.SymInt)}
    assert {b.symbol for b in rec.size_bindings} == symbols and symbols


def test_static_graph_has_no_size_bindings():
    gm, ins = capture_aten_graph(lambda x: x * 2, [torch.randn(2, 3)])
    assert lower_graph(gm, ins).lowered.size_bindings == ()


def test_record_survives_serialization_through_the_graph_attributes():
    x = torch.randn(4, 3)
    gm, ins = capture_aten_graph(lambda x: (x.view(12), x + 1), [x])
    g = lower_graph(gm, ins)
    back = deserialize(serialize(g))
    assert back.lowered is None
    rec = lowered_of(back)
    assert (rec.input_sources, rec.output_kinds) == (
        g.lowered.input_sources,
        g.lowered.output_kinds,
    )
    assert (rec.output_views is None) == (g.lowered.output_views is None)
    assert back.attrs[INPUT_SOURCES_ATTR].value == g.lowered.input_sources


def test_record_is_copied_with_the_graph_and_ignored_by_equality():
    gm, ins = capture_aten_graph(lambda x: x * 2, [torch.randn(2, 3)])
    g = lower_graph(gm, ins)
    plain = dataclasses.replace(g, lowered=None)
    assert plain == g and dataclasses.replace(g).lowered is g.lowered


def test_a_graph_not_made_by_lower_graph_has_no_record():
    with pytest.raises(ValueError, match="'g' was not made by lower_graph"):
        lowered_of(GeGraph("g"))
    g = GeGraph("h")
    g.attrs[OUTPUT_KINDS_ATTR] = lower_graph(
        *capture_aten_graph(lambda x: x * 2, [torch.randn(2)])
    ).attrs[OUTPUT_KINDS_ATTR]
    with pytest.raises(ValueError, match="graph: 'h'"):
        lowered_of(g)
