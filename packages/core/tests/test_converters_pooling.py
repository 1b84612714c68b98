"""Pooling converters: average, max (with indices) and adaptive average pooling, 2-D and 3-D."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.targets.host.semantics import lookup_host_op
from airgraph_core.testing import check_lowering

FLOATS = [torch.float32, torch.float16, torch.bfloat16]


def make(shape, dtype=torch.float32):
    return torch.randn(shape).to(dtype)


# (kernel, stride, padding, ceil_mode)
WINDOWS_2D = [(2, None, 0, False), ((3, 2), (2, 1), (1, 0), False), (3, 2, 1, True)]


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("window", WINDOWS_2D)
@pytest.mark.parametrize("shape", [(2, 3, 8, 7), (3, 9, 9)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_avg_pool2d(dtype, shape, window, count_include_pad):
    k, s, p, ceil = window
    check_lowering(
        lambda x: F.avg_pool2d(x, k, s, p, ceil, count_include_pad),
        [make(shape, dtype)],
        expect_ops=["AvgPoolV2"],
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_avg_pool2d_divisor_override_and_1d(dtype):
    x = make((2, 3, 6, 6), dtype)
    g = check_lowering(lambda x: F.avg_pool2d(x, 3, 1, 1, divisor_override=4), [x])
    assert g.ops_of_type("AvgPoolV2")[0].attr("divisor_override") == 4
    check_lowering(lambda x: F.avg_pool1d(x, 3, 2, 1), [make((2, 3, 9), dtype)])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("window", [(2, None, 0, False), ((3, 2, 2), (2, 1, 2), (1, 0, 1), True)])
@pytest.mark.parametrize("shape", [(1, 2, 5, 6, 6), (2, 4, 7, 6)])
def test_avg_pool3d(shape, window, count_include_pad):
    # float32 only: torch's CPU avg_pool3d has no float16/bfloat16 kernel, so
    # eager (and the capture, which runs the graph) cannot run them.
    k, s, p, ceil = window
    check_lowering(
        lambda x: F.avg_pool3d(x, k, s, p, ceil, count_include_pad),
        [make(shape)],
        expect_ops=["AvgPool3D"],
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_avg_pool3d_half_semantics(dtype):
    x = make((1, 2, 4, 5, 6))
    attrs = {"ksize": [1, 1, 2, 3, 2], "strides": [1, 1, 2, 1, 2], "pads": [1, 1, 1, 1, 0, 0]}
    attrs |= {"data_format": "NCDHW", "count_include_pad": False}
    y = lookup_host_op("AvgPool3D").fn([x.to(dtype)], attrs)
    expected = F.avg_pool3d(x.to(dtype).float(), (2, 3, 2), (2, 1, 2), (1, 1, 0), False, False)
    assert y.dtype == dtype
    torch.testing.assert_close(y, expected.to(dtype))


# (kernel, stride, padding, dilation, ceil_mode)
MAX_WINDOWS_2D = [
    (2, None, 0, 1, False),
    (3, 2, 1, 1, True),
    ((3, 2), (1, 2), (1, 1), (2, 1), False),
]


@pytest.mark.parametrize("window", MAX_WINDOWS_2D)
@pytest.mark.parametrize("shape", [(2, 3, 8, 7), (3, 9, 9)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_pool2d(dtype, shape, window):
    k, s, p, d, ceil = window
    g = check_lowering(
        lambda x: F.max_pool2d(x, k, s, p, d, ceil), [make(shape, dtype)],
        expect_ops=["MaxPoolWithArgmaxV1"],
    )  # fmt: skip
    assert "MaxPool3DWithArgmaxV2" not in g.op_types()


@pytest.mark.parametrize("window", MAX_WINDOWS_2D)
@pytest.mark.parametrize("shape", [(2, 3, 8, 7), (3, 9, 9)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_pool2d_with_indices(dtype, shape, window):
    k, s, p, d, ceil = window
    check_lowering(
        lambda x: F.max_pool2d(x, k, s, p, d, ceil, return_indices=True), [make(shape, dtype)],
        expect_ops=["MaxPool3DWithArgmaxV2", "Cast"],
    )  # fmt: skip


@pytest.mark.parametrize("dtype", FLOATS)
def test_max_pool1d(dtype):
    check_lowering(lambda x: F.max_pool1d(x, 3, 2, 1), [make((2, 3, 10), dtype)])


@pytest.mark.parametrize(
    "window", [(2, None, 0, 1, False), ((3, 2, 2), 2, (1, 0, 1), (1, 2, 1), True)]
)
@pytest.mark.parametrize("shape", [(1, 2, 5, 7, 6), (2, 5, 6, 6)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_pool3d_with_indices(dtype, shape, window):
    k, s, p, d, ceil = window
    check_lowering(
        lambda x: F.max_pool3d(x, k, s, p, d, ceil, return_indices=True), [make(shape, dtype)],
        expect_ops=["MaxPool3DWithArgmaxV2"],
    )  # fmt: skip


@pytest.mark.parametrize("out", [(3, 3), (2, 5), (4, 1)])
@pytest.mark.parametrize("shape", [(2, 3, 8, 7), (3, 9, 10)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_adaptive_avg_pool2d(dtype, shape, out):
    check_lowering(
        lambda x: F.adaptive_avg_pool2d(x, out), [make(shape, dtype)],
        expect_ops=["AdaptiveAvgPool2d"],
    )  # fmt: skip


@pytest.mark.parametrize("out", [(2, 2, 3), (1, 3, 1)])
@pytest.mark.parametrize("shape", [(2, 3, 4, 6, 3), (3, 4, 6, 3)])
def test_adaptive_avg_pool3d(shape, out):
    check_lowering(
        lambda x: F.adaptive_avg_pool3d(x, out), [make(shape)],
        expect_ops=["AvgPool3D"],
    )  # fmt: skip


def test_adaptive_avg_pool3d_not_divisible_is_unsupported():
    with pytest.raises(UnsupportedOpError, match="multiples of output_size"):
        check_lowering(lambda x: F.adaptive_avg_pool3d(x, (3, 2, 2)), [make((1, 2, 4, 4, 4))])


@pytest.mark.parametrize("dtype", FLOATS)
def test_pooling_dynamic(dtype):
    def fn(x):
        return F.max_pool2d(F.avg_pool2d(x, 2), 2) + F.adaptive_avg_pool2d(x, 2)

    g = check_lowering(fn, [make((2, 3, 8, 8), dtype)], dynamic=True)
    assert -1 in g.ops_of_type("AvgPoolV2")[0].output_descs[0].shape


def test_int_input_is_unsupported():
    with pytest.raises(UnsupportedOpError, match="dtype"):
        check_lowering(lambda x: F.max_pool2d(x, 2), [torch.randint(0, 9, (1, 2, 4, 4))])


@pytest.mark.slow
def test_inductor():
    def fn(x):
        y, i = F.max_pool2d(x, 3, 2, 1, return_indices=True)
        return F.avg_pool2d(y, 2) + F.adaptive_avg_pool2d(x, 2), i

    check_lowering(fn, [make((2, 3, 8, 8))], modes=("interpret", "inductor"))
