"""Pairwise distance converters: cdist (``_cdist_forward``, ``_euclidean_dist``) and pdist.

Cases are generated from a seed over the norm order p, batch broadcasting,
row counts (above 25 rows eager's p=2 cdist becomes ``_euclidean_dist``)
and dtypes.
"""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from torch.fx.experimental.proxy_tensor import make_fx

from airgraph_core.decompositions import merge_decompositions
from airgraph_core.lowering import UnsupportedOpError, lower_graph
from airgraph_core.testing import assert_valid_ge_graph, check_lowering, run_lowered

PS = (0.0, 1.0, 2.0, 3.0, 0.5, float("inf"))
TOL = {torch.float32: (1e-4, 1e-4), torch.float16: (1e-2, 1e-2), torch.bfloat16: (5e-2, 5e-2)}


def _cdist_cases(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    batches = [(), (2,), (2, 1)]
    cases = []
    for i in range(n):
        b1 = rng.choice(batches)
        b2 = rng.choice([b1, ()]) if b1 != (2, 1) else (3,)
        m = rng.randint(1, 5)
        shapes = ((*b1, rng.randint(1, 6), m), (*b2, rng.randint(1, 6), m))
        dtype = (torch.float32, torch.float16, torch.bfloat16)[i % 3]
        cases.append((shapes, PS[i % len(PS)], dtype))
    return cases


def _data(shape, dtype):
    # Integer-valued data: differences are exact, and p=0 sees real zeros.
    return torch.randint(-3, 4, shape).to(dtype)


@pytest.mark.parametrize(("shapes", "p", "dtype"), _cdist_cases(12, 3))
def test_cdist(shapes, p, dtype):
    inputs = [_data(s, dtype) for s in shapes]
    if dtype is torch.float32:
        check_lowering(lambda a, b: torch.cdist(a, b, p=p), inputs, atol=1e-4)
        return
    # Eager's CPU cdist has no half kernels: the reference is float32, rounded once.
    fn = lambda a, b: torch.cdist(a, b, p=p)  # noqa: E731
    gm = make_fx(fn, decomposition_table=merge_decompositions(None), tracing_mode="fake")(*inputs)
    graph = lower_graph(gm, inputs)
    assert_valid_ge_graph(graph)
    (got,) = run_lowered(graph, inputs)
    expected = torch.cdist(*(t.float() for t in inputs), p=p).to(dtype)
    atol, rtol = TOL[dtype]
    torch.testing.assert_close(got, expected, atol=atol, rtol=rtol)


@pytest.mark.slow
@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize(
    "shapes", [((2, 30, 4), (2, 27, 4)), ((30, 3), (26, 3)), ((2, 30, 4), (27, 4))]
)
def test_cdist_many_rows_is_euclidean(shapes, dynamic):
    """Above 25 rows eager's p=2 cdist is ``_euclidean_dist``: a matrix product, lowered so."""
    a, b = (torch.randn(s) for s in shapes)
    g = check_lowering(lambda a, b: torch.cdist(a, b), [a, b], dynamic=dynamic, atol=1e-4)
    assert "BatchMatMulV2" in g.op_types() and "Unsqueeze" not in g.op_types()


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3), (1, 3), (4, 0)])
def test_pdist(shape, p):
    g = check_lowering(lambda x: F.pdist(x, p=p), [_data(shape, torch.float32)], atol=1e-4)
    if shape[0] > 1 and shape[1]:
        assert len(g.ops_of_type("GatherV2")) == 2


def test_pdist_random_data():
    check_lowering(lambda x: F.pdist(x), [torch.randn(7, 5)], atol=1e-4)


def test_pdist_dynamic_is_refused():
    with pytest.raises(UnsupportedOpError, match="row pairs are constant"):
        check_lowering(lambda x: F.pdist(x), [torch.randn(5, 4)], dynamic=True)
