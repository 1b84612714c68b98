"""Forward 3-D convolution vs eager: Conv3D for float16, per-depth-tap Conv2D otherwise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.capture import capture_aten_graph
from airgraph_core.lowering import UnsupportedOpError, lower_graph
from airgraph_core.testing import assert_valid_ge_graph, check_lowering, run_lowered
from airgraph_core.testing import random_tensor as make

#: (input, weight, bias, stride, padding, dilation, groups)
CASES = [
    ((1, 2, 4, 5, 5), (3, 2, 3, 3, 3), True, 1, 1, 1, 1),
    ((2, 4, 6, 5, 7), (4, 2, 2, 3, 1), False, (2, 1, 2), (1, 0, 1), 1, 2),
    ((1, 3, 7, 6, 6), (6, 1, 3, 2, 2), True, (1, 2, 1), 0, (2, 1, 2), 3),
    ((3, 5, 5, 4), (2, 3, 1, 2, 2), True, 1, 0, 1, 1),  # unbatched
]


def _conv(stride, padding, dilation, groups):
    def fn(x, w, b):
        return F.conv3d(x, w, b, stride, padding, dilation, groups)

    return fn


@pytest.mark.parametrize(("xs", "ws", "bias", "s", "p", "d", "g"), CASES)
def test_conv3d_float32_runs_as_conv2d_taps(xs, ws, bias, s, p, d, g):
    b = torch.randn(ws[0]) if bias else None
    graph = check_lowering(_conv(s, p, d, g), [torch.randn(xs), torch.randn(ws), b])
    assert "Conv3D" not in graph.op_types()
    assert [op.type for op in graph.ops].count("Conv2D") == ws[2]


@pytest.mark.parametrize(("xs", "ws", "bias", "s", "p", "d", "g"), CASES[:3])
def test_conv3d_float16_emits_conv3d(xs, ws, bias, s, p, d, g):
    b = make((ws[0],), torch.float16) if bias else None
    inputs = [make(xs, torch.float16), make(ws, torch.float16), b]
    # Eager CPU float16 accumulates differently from float32-accumulated Conv3D.
    check_lowering(_conv(s, p, d, g), inputs, expect_ops=["Conv3D"], atol=1e-2, rtol=1e-2)


def test_conv3d_bfloat16_runs_in_float32():
    inputs = [make((1, 2, 4, 4, 4), torch.bfloat16), make((2, 2, 2, 2, 2), torch.bfloat16), None]
    check_lowering(_conv(1, 1, 1, 1), inputs, atol=3e-2, rtol=3e-2)


def test_conv3d_module_video_patch_embed():
    embed = torch.nn.Conv3d(3, 8, kernel_size=(2, 4, 4), stride=(2, 4, 4))
    check_lowering(embed, [torch.randn(2, 3, 4, 16, 16)])


@pytest.mark.parametrize("batch", [1, 3])
def test_conv3d_dynamic_batch(batch):
    fn = _conv(1, 1, 1, 1)
    x, w, b = torch.randn(batch, 2, 4, 5, 5), torch.randn(3, 2, 3, 3, 3), torch.randn(3)
    torch._dynamo.mark_dynamic(x, 0)  # only the batch is symbolic (test-only Dynamo API)
    gm, aten_inputs = capture_aten_graph(fn, [x, w, b])
    graph = lower_graph(gm, aten_inputs)
    assert_valid_ge_graph(graph)
    for n in (batch, batch + 1):
        xn = torch.randn(n, 2, 4, 5, 5)
        args = [xn if a is x else w if a is w else b if a is b else n for a in aten_inputs]
        (got,) = run_lowered(graph, args)
        torch.testing.assert_close(got, fn(xn, w, b), atol=1e-5, rtol=1e-4)


def test_conv3d_symbolic_spatial_sizes_are_refused():
    with pytest.raises(UnsupportedOpError, match="static channel/depth/height/width"):
        check_lowering(
            _conv(1, 0, 1, 1),
            [torch.randn(1, 2, 4, 4, 4), torch.randn(2, 2, 1, 1, 1), None],
            dynamic=True,
        )
