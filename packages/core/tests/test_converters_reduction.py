"""Reduction converters: sum/mean/prod/amax/amin/max/min/arg*/any/all, cumsum, topk, sort."""

from __future__ import annotations

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering

FLOATS = [torch.float32, torch.float16, torch.bfloat16]
INTS = [torch.int32, torch.int64]
SHAPE = (3, 4, 5)


def make(shape, dtype):
    if dtype is torch.bool:
        return torch.rand(shape) > 0.5
    if dtype.is_floating_point:
        # Distinct values: arg-reductions, topk and sort then have no ties.
        return (torch.randperm(torch.Size(shape).numel()).reshape(shape) / 8 - 3).to(dtype)
    return torch.randint(-5, 6, shape, dtype=dtype)


def ops_of(g):
    return [t for t in g.op_types() if t not in ("Data", "Const", "NetOutput")]


# --- sum / mean / prod / amax / amin ------------------------------------------------

DIMS = [([1], False), ([-1], True), ([0, 2], False), (None, True)]


@pytest.mark.parametrize("dim,keepdim", DIMS)
@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.bool])
def test_sum(dtype, dim, keepdim):
    g = check_lowering(lambda x: torch.sum(x, dim, keepdim), [make(SHAPE, dtype)])
    assert "ReduceSum" in ops_of(g)


@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_sum_all_and_dtype(dtype):
    x = make(SHAPE, dtype)
    g = check_lowering(lambda x: x.sum(), [x], expect_ops=["ReduceSum"])
    axes = g.op(g.ops_of_type("ReduceSum")[0].inputs[1].partition(":")[0])
    assert axes.attr("value").to_torch().tolist() == [0, 1, 2]
    check_lowering(lambda x: torch.sum(x, 1, dtype=torch.float32), [x], expect_ops=["ReduceSum"])


@pytest.mark.parametrize("dim,keepdim", DIMS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_mean(dtype, dim, keepdim):
    check_lowering(
        lambda x: torch.mean(x, dim, keepdim), [make(SHAPE, dtype)], expect_ops=["ReduceMean"]
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_mean_with_dtype_uses_reduce_mean_with_cast(dtype):
    g = check_lowering(
        lambda x: torch.mean(x, [-1], keepdim=True, dtype=torch.float32), [make(SHAPE, dtype)]
    )
    assert ops_of(g) == ["ReduceMeanWithCast"]


@pytest.mark.parametrize("dtype", FLOATS)
def test_sum_mean_dynamic(dtype):
    # The RMSNorm pattern: mean over the hidden dim of a symbolic [batch, seq, hidden].
    x = make((2, 6, 8), dtype)
    check_lowering(
        lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6),
        [x],
        dynamic=True,
        expect_ops=["ReduceMean"],
    )
    g = check_lowering(lambda x: x.sum(1), [x], dynamic=True, expect_ops=["ReduceSum"])
    assert g.ops_of_type("ReduceSum")[0].output_descs[0].shape == (-1, -1)


@pytest.mark.parametrize("dim,keepdim", [(1, False), (-1, True), (None, False)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64])
def test_prod(dtype, dim, keepdim):
    x = make((2, 3, 2), dtype)
    fn = (lambda x: torch.prod(x)) if dim is None else (lambda x: torch.prod(x, dim, keepdim))
    check_lowering(fn, [x], expect_ops=["ReduceProd"])


@pytest.mark.parametrize("dim,keepdim", [([1], False), ([0, 2], True), ([], False)])
@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("name,op", [("amax", "ReduceMax"), ("amin", "ReduceMin")])
def test_amax_amin(name, op, dtype, dim, keepdim):
    fn = getattr(torch, name)
    check_lowering(lambda x: fn(x, dim, keepdim), [make(SHAPE, dtype)], expect_ops=[op])


@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_max_min_all(dtype):
    x = make(SHAPE, dtype)
    check_lowering(lambda x: (x.max(), x.min()), [x], expect_ops=["ReduceMax", "ReduceMin"])


# --- max.dim / min.dim / argmax / argmin ----------------------------------------------


@pytest.mark.parametrize("dim,keepdim", [(1, False), (-1, True), (0, False)])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,op", [("max", "ArgMaxWithValue"), ("min", "ArgMinWithValue")])
def test_max_min_dim(name, op, dtype, dim, keepdim):
    fn = getattr(torch, name)
    g = check_lowering(lambda x: tuple(fn(x, dim, keepdim)), [make(SHAPE, dtype)])
    assert op in ops_of(g)


@pytest.mark.parametrize("dim,keepdim", [(1, False), (-1, True), (None, False), (None, True)])
@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("name,op", [("argmax", "ArgMaxV2"), ("argmin", "ArgMin")])
def test_argmax_argmin(name, op, dtype, dim, keepdim):
    fn = getattr(torch, name)
    x = make(SHAPE, dtype) if dtype.is_floating_point else torch.randperm(60).reshape(SHAPE)
    check_lowering(lambda x: fn(x, dim, keepdim), [x.to(dtype)], expect_ops=[op])


# --- any / all --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.any(),
        lambda x: x.all(-1, keepdim=True),
        lambda x: torch.any(x, 1),
        lambda x: torch.all(x, (0, 2)),
    ],
    ids=["any", "all_dim_keep", "any_dim", "all_dims"],
)
@pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.int64])
def test_any_all(dtype, fn):
    x = make(SHAPE, dtype)
    if dtype is not torch.bool:
        x = torch.where(torch.rand(SHAPE) > 0.7, torch.zeros_like(x), x)
    g = check_lowering(fn, [x])
    assert {"ReduceAny", "ReduceAll"} & set(ops_of(g))


# --- cumsum / topk / sort -----------------------------------------------------------


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("dtype", FLOATS + INTS + [torch.bool])
def test_cumsum(dtype, dim):
    check_lowering(lambda x: torch.cumsum(x, dim), [make((4, 6), dtype)], expect_ops=["Cumsum"])


def test_cumsum_bool_mask_dynamic():
    # GPT-2 / LLaMA position ids: attention_mask.cumsum(-1) of a symbolic [batch, seq] mask.
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0, :2] = False
    check_lowering(lambda m: m.cumsum(-1) - 1, [mask], dynamic=True, expect_ops=["Cumsum"])


@pytest.mark.parametrize(
    "k,dim,largest,sorted_",
    [(3, -1, True, True), (2, 0, False, True), (1, 1, True, False)],
)
@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_topk(dtype, k, dim, largest, sorted_):
    x = make(SHAPE, dtype) if dtype.is_floating_point else torch.randperm(60).reshape(SHAPE)
    g = check_lowering(lambda x: tuple(torch.topk(x, k, dim, largest, sorted_)), [x.to(dtype)])
    assert "TopKV2" in ops_of(g)


@pytest.mark.parametrize("dim,descending", [(-1, False), (0, True)])
@pytest.mark.parametrize("dtype", FLOATS + INTS)
def test_sort(dtype, dim, descending):
    x = make(SHAPE, dtype) if dtype.is_floating_point else torch.randperm(60).reshape(SHAPE)
    check_lowering(
        lambda x: tuple(torch.sort(x, dim=dim, descending=descending)),
        [x.to(dtype)],
        expect_ops=["Sort"],
    )
    check_lowering(
        lambda x: tuple(torch.sort(x, stable=True, dim=dim, descending=descending)),
        [x.to(dtype)],
        expect_ops=["Sort"],
    )


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn,x,target",
    [
        (lambda x: x.max(1), torch.ones(2, 3, dtype=torch.int32), "max.dim"),
        (lambda x: x.mean(1), torch.ones(2, 3, dtype=torch.complex64), "mean.dim"),
        (lambda x: x.amax(1), torch.ones(2, 3, dtype=torch.bool), "amax"),
    ],
    ids=["max_dim_int", "mean_complex", "amax_bool"],
)
def test_unsupported_dtype_is_reported(fn, x, target):
    with pytest.raises(UnsupportedOpError, match=rf"{target}.*has dtype torch"):
        check_lowering(fn, [x])


@pytest.mark.slow
def test_reductions_inductor():
    x = make((4, 6), torch.float32)
    check_lowering(
        lambda x: (x.mean(-1), x.amax(0), torch.topk(x, 2)[1], torch.sort(x)[0], x.cumsum(1)),
        [x],
        modes=("interpret", "inductor"),
    )


@pytest.mark.parametrize("dim", [-1, 1, -2])
def test_topk_dim_is_passed_as_given(dim):
    # TorchAir writes TopKV2's dim as ATen gives it (GE's default is -1, so
    # negative dims are accepted); k stays INT32, the prototype's only dtype.
    x = make(SHAPE, torch.float32)
    g = check_lowering(lambda x: tuple(torch.topk(x, 2, dim)), [x])
    (op,) = g.ops_of_type("TopKV2")
    assert op.attr("dim") == dim
    k = g.op(op.inputs[1].rpartition(":")[0])
    assert k.attr("value").desc.dtype.name == "INT32"


@pytest.mark.parametrize("dim", [0, -1])
def test_rank0_input_along_dim(dim):
    # Eager treats a scalar as one element along dim 0 / -1.
    def fn(x):
        idx = torch.zeros((), dtype=torch.int64)
        return (
            torch.cumsum(x, dim),
            *torch.max(x, dim),
            *torch.min(x, dim, keepdim=True),
            torch.argmax(x, dim),
            torch.argmin(x, dim, keepdim=True),
            torch.argmax(x),
            torch.index_select(x, dim, idx.reshape(1)),
            torch.index_select(x, dim, idx),
        )

    check_lowering(fn, [torch.tensor(2.5)])
