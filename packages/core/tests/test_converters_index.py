"""Index converters: gathers, scatters, advanced indexing and in-place (KV-cache style) writes."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering
from airgraph_core.testing import random_tensor as make

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool]
NUMBERS = [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64]
DYNAMIC = [False, True]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32])
def test_index_select(dtype, dynamic, index_dtype):
    index = torch.tensor([0, 5, 2], dtype=index_dtype)
    check_lowering(
        lambda x, i: x.index_select(1, i),
        [make((4, 6), dtype), index],
        dynamic=dynamic,
        expect_ops=["GatherV2"],
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_gather(dtype, dynamic):
    index = torch.randint(0, 6, (4, 3))
    check_lowering(
        lambda x, i: x.gather(1, i),
        [make((4, 6), dtype), index],
        dynamic=dynamic,
        expect_ops=["GatherElements"],
    )


@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_gather_empty_uint8_index(shape):
    # Eager accepts a non-int64 index only when it is empty; the graph must stay valid.
    index = torch.zeros(shape, dtype=torch.uint8)
    x = make((5,) if len(shape) == 1 else (2, 3), torch.float32)
    check_lowering(lambda x, i: x.gather(-1, i), [x, index])


def test_gather_int32_index():
    index = torch.randint(0, 6, (4, 3), dtype=torch.int32)
    check_lowering(lambda x, i: x.gather(1, i), [make((4, 6), torch.float32), index])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_index_tensor_with_full_slices_and_broadcast(dtype, dynamic):
    x = make((4, 6, 5), dtype)
    i = torch.tensor([[0], [3]])
    j = torch.tensor([1, 2, 4])

    def fn(x, i, j):
        # None entries (x[:, j]), adjacent and separated advanced indices, broadcasting.
        return x[i], x[:, j], x[i, :, j], x[:, i, j]

    check_lowering(fn, [x, i, j], dynamic=dynamic, expect_ops=["IndexByTensor"])


@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_scatter_src_value_add(dtype, dynamic):
    index = torch.tensor([[0, 1], [2, 3], [4, 5], [1, 0]])

    def fn(x, i, s):
        return x.scatter(1, i, s), x.scatter(1, i, 2), x.scatter_add(1, i, s)

    check_lowering(
        fn,
        [make((4, 6), dtype), index, make((4, 3), dtype)],
        dynamic=dynamic,
        expect_ops=["ScatterElements"],
    )


def _index_put(x, i, v):
    x[i] = v
    return x + 0


def _index_put_middle(x, i, v):
    x[:, i] = v
    return x + 0


def _index_put_accumulate(x, i, j, v):
    x.index_put_((i, j), v, accumulate=True)
    return x + 0


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64]
)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_index_put(dtype, dynamic):
    i = torch.tensor([0, 2])
    graph = check_lowering(
        _index_put, [make((5, 3), dtype), i, make((2, 3), dtype)], dynamic=dynamic
    )
    # bf16 is copied by a Cast to float32 (TensorMove's prototype has no BF16).
    copy = "Cast" if dtype == torch.bfloat16 else "TensorMove"
    assert {copy, "IndexPutV2", "Assign"} <= set(graph.op_types())
    check_lowering(_index_put, [make((5, 3), dtype), i, make((3,), dtype)], dynamic=dynamic)
    check_lowering(
        _index_put_middle, [make((5, 3, 2), dtype), i, make((5, 2, 2), dtype)], dynamic=dynamic
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64])
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_index_put_accumulate_repeated_indices(dtype, dynamic):
    i, j = torch.tensor([0, 2, 0]), torch.tensor([1, 1, 1])
    check_lowering(
        _index_put_accumulate,
        [torch.zeros(5, 3, dtype=dtype), i, j, make((3,), dtype)],
        dynamic=dynamic,
        expect_ops=["IndexPutV2"],
    )


def _kv_index_copy(cache, pos, new):
    cache.index_copy_(2, pos, new)
    return cache * 2


@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_kv_cache_index_copy(dtype, dynamic):
    cache = torch.zeros(1, 2, 16, 4, dtype=dtype)
    check_lowering(
        _kv_index_copy,
        [cache, torch.tensor([3, 4, 5]), make((1, 2, 3, 4), dtype)],
        dynamic=dynamic,
        expect_ops=["ScatterElements", "Assign"],
    )


def _kv_select_write(cache, new):
    cache[:, 3] = new
    return cache + 1


def _kv_slice_write(cache, new):
    cache[:, 2:4] = new
    return cache + 1


def _kv_write_unread(cache, new):
    cache[:, -1] = new


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_kv_cache_slice_and_select_writes(dtype, dynamic):
    cache = make((2, 8, 3), dtype)
    check_lowering(
        _kv_select_write,
        [cache, make((2, 3), dtype)],
        dynamic=dynamic,
        expect_ops=["ConcatV2", "Assign"],
    )
    check_lowering(
        _kv_slice_write,
        [cache, make((2, 2, 3), dtype)],
        dynamic=dynamic,
        expect_ops=["ConcatV2", "Assign"],
    )


def test_unread_in_place_write_is_kept_by_a_control_edge():
    graph = check_lowering(_kv_write_unread, [torch.zeros(2, 8, 3), torch.randn(2, 3)])
    net = graph.ops_of_type("NetOutput")[0]
    assigns = {op.name for op in graph.ops_of_type("Assign")}
    assert {e[: -len(":-1")] for e in net.inputs if e.endswith(":-1")} == assigns


def _copy_broadcast_cast(x, y):
    x.copy_(y)
    return x + 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dynamic", DYNAMIC)
def test_copy_broadcasts_and_casts_source(dtype, dynamic):
    check_lowering(
        _copy_broadcast_cast,
        [make((5, 3), dtype), make((3,), torch.float16)],
        dynamic=dynamic,
        expect_ops=["Assign", "BroadcastTo"],
    )


def test_boolean_mask_index_is_reported_unsupported():
    with pytest.raises(UnsupportedOpError, match="boolean mask indices"):
        check_lowering(lambda x: x[x > 0], [torch.randn(4, 6)])


def _strided_write(cache, new):
    cache[:, ::2] = new
    return cache + 0


def test_strided_slice_write_with_static_shapes():
    # A write through a slice with a step: its positions are scattered (static shapes).
    check_lowering(
        _strided_write, [torch.zeros(2, 8), torch.randn(2, 4)], expect_ops=["ScatterElements"]
    )


def test_strided_slice_write_with_symbolic_shapes_is_reported_unsupported():
    with pytest.raises(UnsupportedOpError, match="step=2: needs static shapes"):
        check_lowering(_strided_write, [torch.zeros(2, 8), torch.randn(2, 4)], dynamic=True)


@pytest.mark.slow
def test_kv_cache_write_inductor():
    check_lowering(
        _kv_index_copy,
        [torch.zeros(1, 2, 8, 4), torch.tensor([1, 2]), torch.randn(1, 2, 2, 4)],
        modes=("interpret", "inductor"),
    )
