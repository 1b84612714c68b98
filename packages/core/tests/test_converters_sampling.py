"""im2col / col2im (F.unfold / F.fold) and grid_sampler_2d (F.grid_sample) vs eager."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.capture import capture_aten_graph
from airgraph_core.lowering import UnsupportedOpError, lower_graph
from airgraph_core.testing import assert_valid_ge_graph, check_lowering, run_lowered
from airgraph_core.testing import random_tensor as make

FLOATS = [torch.float32, torch.float16, torch.bfloat16]

#: (input shape, kernel, dilation, padding, stride)
UNFOLD = [
    ((2, 3, 6, 6), 2, 1, 0, 1),
    ((1, 2, 7, 5), (3, 2), (1, 2), (1, 0), (2, 1)),
    ((3, 5, 5), 3, 1, 1, 2),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("shape", "k", "d", "p", "s"), UNFOLD)
def test_unfold(shape, k, d, p, s, dtype):
    def fn(x):
        return F.unfold(x, k, dilation=d, padding=p, stride=s)

    check_lowering(fn, [make(shape, dtype)], expect_ops=["Im2col"])


#: (columns shape, output size, kernel, dilation, padding, stride)
FOLD = [
    ((2, 12, 16), (5, 5), 2, 1, 0, 1),
    ((1, 2 * 6, 9), (6, 7), (3, 2), 1, (1, 0), (2, 2)),
    ((8, 9), (4, 4), 2, 1, 1, 2),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("shape", "size", "k", "d", "p", "s"), FOLD)
def test_fold(shape, size, k, d, p, s, dtype):
    def fn(x):
        return F.fold(x, size, k, dilation=d, padding=p, stride=s)

    check_lowering(fn, [make(shape, dtype)], expect_ops=["Col2im"])


@pytest.mark.parametrize("batch", [2, 3])
def test_unfold_fold_dynamic_batch(batch):
    def fn(x):
        return F.fold(F.unfold(x, 2, stride=2), (6, 6), 2, stride=2) * 2

    x = torch.randn(batch, 3, 6, 6)
    torch._dynamo.mark_dynamic(x, 0)  # only the batch is symbolic (test-only Dynamo API)
    gm, aten_inputs = capture_aten_graph(fn, [x])
    graph = lower_graph(gm, aten_inputs)
    assert_valid_ge_graph(graph)
    assert -1 in graph.ops[0].output_descs[0].shape
    for n in (batch, batch + 2):
        y = torch.randn(n, 3, 6, 6)
        (got,) = run_lowered(graph, [y if isinstance(a, torch.Tensor) else n for a in aten_inputs])
        torch.testing.assert_close(got, fn(y))


def test_unfold_symbolic_spatial_size_is_refused():
    def fn(x):
        return F.unfold(x, 2)

    with pytest.raises(UnsupportedOpError, match="symbolic channel or spatial"):
        check_lowering(fn, [torch.randn(3, 5, 5)], dynamic=True)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_modes(mode, padding_mode, align_corners):
    def fn(x, g):
        return F.grid_sample(x, g, mode, padding_mode, align_corners)

    # The grid reaches a little outside [-1, 1] so the padding mode matters.
    grid = torch.rand(2, 4, 5, 2) * 2.4 - 1.2
    check_lowering(fn, [torch.randn(2, 3, 5, 6), grid], expect_ops=["GridSampler2D"])


@pytest.mark.parametrize("dtype", FLOATS)
def test_grid_sample_dtypes(dtype):
    def fn(x, g):
        return F.grid_sample(x, g, align_corners=False)

    grid = (torch.rand(1, 3, 3, 2) * 2 - 1).to(dtype)
    # Half inputs are computed in float32 (as TorchAir does), eager in the half type.
    tol = {torch.float32: None, torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
    check_lowering(fn, [make((1, 2, 4, 4), dtype), grid], atol=tol, rtol=tol)


@pytest.mark.parametrize("shape", [(2, 3, 5, 6), (3, 2, 4, 7)])
def test_grid_sample_dynamic(shape):
    def fn(x, g):
        return F.grid_sample(x, g, align_corners=True)

    grid = torch.rand(shape[0], 3, 4, 2) * 2 - 1
    check_lowering(fn, [torch.randn(shape), grid], dynamic=True)
