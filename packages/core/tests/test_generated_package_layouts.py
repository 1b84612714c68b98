"""A loaded AOTInductor host package vs the interpreted graph, over input memory layouts.

A package is compiled for contiguous inputs of one signature; a later call
(a ``cache_compile(ge_cache=True)`` warm start, where no Dynamo guard checks
strides) may pass inputs of the same shapes in any layout. Before the fix a
transposed or strided input gave wrong values silently. Each case calls the
loaded package with seeded random inputs in a mix of layouts and compares
outputs and in-place updated inputs with the interpret mode.
"""

from __future__ import annotations

import random

import pytest
import torch

from airgraph_core.ir.builder import GraphBuilder
from airgraph_core.ir.dtypes import DataType
from airgraph_core.targets.host import HostProgram
from airgraph_core.targets.host.package import export_package, load_package

SHAPE = (4, 6)
LAYOUTS = ("contiguous", "transposed", "strided", "offset")


def _plain_graph():
    b = GraphBuilder("plain")
    x = b.data(0, DataType.FLOAT, SHAPE)
    y = b.data(1, DataType.FLOAT, SHAPE)
    b.net_output([b.op("Add", x, b.op("Mul", y, y, out=y.spec), out=x.spec)])
    return b.graph


def _updating_graph():
    """``cache += x; return cache + cache``: the first input is updated in place."""
    b = GraphBuilder("updating")
    cache = b.data(0, DataType.FLOAT, SHAPE)
    x = b.data(1, DataType.FLOAT, SHAPE)
    total = b.op("Add", cache, x, out=cache.spec)
    assign = b.op("Assign", cache, total, out=cache.spec)
    b.net_output([b.op("Add", total, total, out=cache.spec)], control=[assign.op])
    return b.graph


@pytest.fixture(scope="module")
def loaded():
    """Per graph: (the reference interpret program, a program running the loaded package)."""
    programs = {}
    for graph in (_plain_graph(), _updating_graph()):
        source = HostProgram(graph, "interpret")
        source(torch.zeros(SHAPE), torch.zeros(SHAPE))
        data = export_package(source, source.signatures[0])
        fresh = HostProgram(graph, "interpret")
        load_package(fresh, source.signatures[0], data)
        programs[graph.name] = (HostProgram(graph, "interpret"), fresh)
    return programs


def _in_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "transposed":
        return t.t().contiguous().t()
    if layout == "strided":
        buf = torch.zeros(t.shape[0] * 2, *t.shape[1:])
        buf[::2] = t
        return buf[::2]
    if layout == "offset":  # contiguous, storage offset 1
        return torch.cat([torch.zeros(1), t.reshape(-1)])[1:].view(t.shape)
    return t


@pytest.mark.slow
@pytest.mark.parametrize("name", ["plain", "updating"])
@pytest.mark.parametrize("seed", range(6))
def test_loaded_package_matches_interpret_in_every_layout(loaded, name, seed):
    rng = random.Random(seed)
    reference, package = loaded[name]
    gen = torch.Generator().manual_seed(seed)
    values = [torch.randn(SHAPE, generator=gen) for _ in range(2)]
    layouts = [rng.choice(LAYOUTS) for _ in values]
    expected_in = [v.clone() for v in values]
    got_in = [_in_layout(v.clone(), layout) for v, layout in zip(values, layouts)]
    expected = reference(*expected_in)
    got = package(*got_in)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, msg=lambda m: f"layouts {layouts}: {m}")
    for g, e in zip(got_in, expected_in):
        torch.testing.assert_close(g, e, msg=lambda m: f"layouts {layouts}, inputs after: {m}")
