"""Shape converters: lower tiny graphs, validate against GE prototypes, compare with eager."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering
from airgraph_core.testing import random_tensor as make

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool]
DYNAMIC = [False, True]


def _cloned(views):
    # A plain view output is rebuilt outside the GE graph (OutputViews); the
    # clone makes the graph compute it, so the view op's converter runs.
    return tuple(v.clone() for v in views)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
@pytest.mark.parametrize("shape", [(4, 6, 2), (3, 5, 4)])
def test_view_with_symbolic_and_inferred_sizes(dtype, dynamic, shape):
    x = make(shape, dtype)
    check_lowering(
        lambda x: x.view(x.shape[0], -1).clone(), [x], dynamic=dynamic, expect_ops=["Reshape"]
    )


@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_reshape_static_sizes(dynamic):
    check_lowering(lambda x: x.reshape(2, -1, 2).contiguous(), [make((4, 6), torch.float32)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_permute_transpose_t(dtype, dynamic):
    def fn(x, y):
        return x.permute(2, 0, 1).contiguous(), x.transpose(0, -1).contiguous(), y.t().contiguous()

    check_lowering(
        fn, [make((2, 3, 4), dtype), make((3, 5), dtype)], dynamic=dynamic, expect_ops=["Transpose"]
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_expand_keeps_minus_one_dims(dtype, dynamic):
    x = make((4, 1, 3), dtype)
    check_lowering(
        lambda x: x.expand(2, -1, 5, -1).contiguous(),
        [x],
        dynamic=dynamic,
        expect_ops=["BroadcastTo"],
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_unsqueeze_squeeze(dtype, dynamic):
    def fn(x):
        y = x[:, None, :, None]
        return y.squeeze(1).squeeze(-1) + 0, y.squeeze() + 0, y.squeeze((1, 3)).unsqueeze(-1) + 0

    if dtype is torch.bool:
        fn_bool = lambda x: x.unsqueeze(1).unsqueeze(-1).squeeze(1)  # noqa: E731
        check_lowering(fn_bool, [make((2, 3), dtype)], dynamic=dynamic)
        return
    check_lowering(fn, [make((2, 3), dtype)], dynamic=dynamic, expect_ops=["Unsqueeze", "Squeeze"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_cat_skips_legacy_empty_inputs(dtype, dynamic):
    def fn(x, y):
        return torch.cat([x, torch.empty(0, dtype=x.dtype), y], dim=-1)

    check_lowering(
        fn, [make((2, 3), dtype), make((2, 4), dtype)], dynamic=dynamic, expect_ops=["ConcatV2"]
    )


def test_cat_promotes_dtypes():
    x, y = make((2, 3), torch.float16), make((2, 3), torch.float32)
    check_lowering(lambda x, y: torch.cat([x, y]), [x, y], expect_ops=["ConcatV2", "Cast"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_stack(dtype, dynamic, dim):
    x, y = make((2, 3), dtype), make((2, 3), dtype)
    check_lowering(
        lambda x, y: torch.stack([x, y], dim), [x, y], dynamic=dynamic, expect_ops=["Pack"]
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1])
def test_unbind(dtype, dim):
    check_lowering(lambda x: _cloned(x.unbind(dim)), [make((2, 3), dtype)], expect_ops=["Unpack"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_split_and_split_with_sizes(dtype, dynamic):
    def fn(x):
        return _cloned(x.split(4, dim=1)), _cloned(x.split([1, 5, 1], dim=-1))

    check_lowering(fn, [make((3, 7), dtype)], dynamic=dynamic, expect_ops=["SplitV"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_slice(dtype, dynamic):
    def fn(x):
        return _cloned((x[1:, 2:-1], x[:, ::2], x[:, : x.shape[1] // 2], x[-2:, 1:100]))

    check_lowering(fn, [make((4, 6), dtype)], dynamic=dynamic, expect_ops=["StridedSliceV2"])


def test_full_slice_emits_no_op():
    graph = check_lowering(lambda x: x[:, 0:] + 1, [make((4, 6), torch.float32)])
    assert "StridedSliceV2" not in graph.op_types()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_select(dtype, dynamic):
    def fn(x):
        return _cloned((x[:, -1], x[1], x[:, 2, 0]))

    check_lowering(fn, [make((4, 6, 3), dtype)], dynamic=dynamic, expect_ops=["GatherV2"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_repeat(dtype, dynamic):
    def fn(x):
        return x.repeat(2, 1, 3), x.repeat(1, 2)

    check_lowering(fn, [make((2, 3), dtype)], dynamic=dynamic, expect_ops=["Tile"])


@pytest.mark.parametrize("shape", [(0, 2), (3, 0)])
def test_repeat_zero_size(shape):
    def fn(x):
        return x.repeat(2, 3), x.repeat(2, 1, 3), x.repeat(0, 1)

    check_lowering(fn, [torch.zeros(shape)])


def test_repeat_zero_repeats():
    check_lowering(lambda x: x.repeat(2, 0) + 1, [make((2, 3), torch.float32)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32])
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_constant_pad_nd(dtype, dynamic):
    def fn(x):
        return F.pad(x, (1, 2, 0, 1), value=3), F.pad(x, (2, 0))

    check_lowering(fn, [make((2, 3, 4), dtype)], dynamic=dynamic, expect_ops=["PadV3"])


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.int32, torch.int64, torch.bool]
)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_flip(dtype, dynamic):
    check_lowering(
        lambda x: x.flip(0, -1), [make((2, 3, 4), dtype)], dynamic=dynamic, expect_ops=["ReverseV2"]
    )


def test_flip_bf16_is_reported_unsupported():
    with pytest.raises(UnsupportedOpError, match=r"aten\.flip\.default: input 0 has dtype"):
        check_lowering(lambda x: x.flip(0), [make((2, 3), torch.bfloat16)])


@pytest.mark.slow
def test_shape_ops_inductor():
    def fn(x):
        y = x.view(x.shape[0], -1).transpose(0, 1)
        return torch.cat([y, y[:1]], 0).split(2, 0)

    check_lowering(fn, [make((4, 2, 3), torch.float32)], modes=("interpret", "inductor"))
