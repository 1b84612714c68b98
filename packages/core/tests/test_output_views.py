"""OutputViews: the record of outputs rebuilt as views; what it loads and what it refuses."""

from __future__ import annotations

import pytest
import torch

from airgraph_core import OutputViews


def _split_of_transposed_slice() -> OutputViews:
    # outputs 0 and 1: split(x[1:4, 1:4].t(), n) of input 0, n = input 1
    steps = [
        ["aten.slice.Tensor", [{"in": 0}, 0, 1, 4], {}],
        ["aten.slice.Tensor", [{"step": 0}, 1, 1, 4], {}],
        ["aten.transpose.int", [{"step": 1}, 0, 1], {}],
        ["aten.split.Tensor", [{"step": 2}, {"in": 1}], {}],
        ["getitem", [{"step": 3}, 0], {}],
        ["getitem", [{"step": 3}, 1], {}],
    ]
    return OutputViews(steps, [[0, 4], [1, 5]])


def test_apply_rebuilds_eager_views():
    views = _split_of_transposed_slice()
    x = torch.randn(6, 6)
    outs = views.apply([x, 2], [None, None])
    expected = torch.split(x[1:4, 1:4].transpose(0, 1), 2)
    for got, want in zip(outs, expected):
        assert torch._C._is_alias_of(got, x)
        assert (got.shape, got.stride(), got.storage_offset()) == (
            want.shape,
            want.stride(),
            want.storage_offset(),
        )


def test_json_round_trip():
    views = _split_of_transposed_slice()
    assert OutputViews.from_json(views.to_json()) == views
    assert views.view_outputs == {0, 1}


@pytest.mark.parametrize(
    "target",
    ["aten.add.Tensor", "aten.copy_.default", "builtins.eval", "operator.pow", "os.system"],
)
def test_only_view_ops_size_queries_and_arithmetic_load(target):
    with pytest.raises(ValueError, match="steps"):
        OutputViews([[target, [{"in": 0}, 1], {}]], [[0, 0]])


@pytest.mark.parametrize(
    "ref", [{"in": -1}, {"out": -2}, {"step": 0}, {"step": 5}, {"in": "0"}, {"x": 1}, {"in": 1.5}]
)
def test_malformed_references_are_refused(ref):
    with pytest.raises(ValueError, match="steps"):
        OutputViews([["aten.alias.default", [ref], {}]], [[0, 0]])


def test_damaged_text_is_a_value_error():
    with pytest.raises(ValueError, match="text"):
        OutputViews.from_json('{"steps": 3}')


def test_a_base_gets_eagers_layout_before_the_views_are_replayed():
    # output 0 = base.permute(0, 2, 1).view(4, -1): eager's base has dim order (0, 2, 1)
    steps = [
        ["aten.permute.default", [{"out": 1}, [0, 2, 1]], {}],
        ["aten.view.default", [{"step": 0}, [4, -1]], {}],
    ]
    views = OutputViews(steps, [[0, 1]], ["base"], [[1, [0, 2, 1]]])
    assert OutputViews.from_json(views.to_json()) == views
    eager_base = torch.randn(4, 5, 3).permute(0, 2, 1)  # (4, 3, 5), dims ordered (0, 2, 1)
    target_base = eager_base.contiguous()  # what a target returns
    (out,) = views.apply([], [None, target_base])
    assert torch.equal(out, eager_base.permute(0, 2, 1).view(4, -1))
    assert out.stride() == eager_base.permute(0, 2, 1).view(4, -1).stride()


@pytest.mark.parametrize("seed", range(20))
def test_dense_order_round_trips_through_empty_permuted(seed):
    from airgraph_core.dense_layouts import dense_order

    g = torch.Generator().manual_seed(seed)
    rank = int(torch.randint(1, 5, (1,), generator=g))
    sizes = [int(s) for s in torch.randint(1, 4, (rank,), generator=g)]
    order = [int(d) for d in torch.randperm(rank, generator=g)]
    t = torch.empty_permuted(sizes, order)
    found = dense_order(list(t.shape), list(t.stride()))
    assert found is not None
    again = torch.empty_permuted(sizes, found)
    assert again.stride() == t.stride() or any(s == 1 for s in sizes)
    assert dense_order(list(again.shape), list(again.stride())) == found
    assert dense_order([4, 4], [8, 1]) is None  # not dense (a slice of a wider tensor)


@pytest.mark.parametrize("layouts", [[[1, [0, 0, 1]]], [[1, "ab"]], [[1, [0, 1.0]]]])
def test_malformed_layouts_are_refused(layouts):
    with pytest.raises(ValueError, match="layouts"):
        OutputViews([["aten.alias.default", [{"out": 1}], {}]], [[0, 0]], ["b"], layouts)
