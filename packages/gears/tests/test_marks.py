"""set_dim_gears / get_dim_gears: every rule's error, and one Dynamo trace for all gears."""

import doctest
import re

import numpy as np
import pytest
import torch
import torch._dynamo
from torch._dynamo.testing import CompileCounter

from airgraph_gears import GEARS_ATTR, GearPlan, get_dim_gears, set_dim_gears
from airgraph_gears import marks as marks_module


def test_sets_and_gets_gears():
    x = torch.ones(2, 3)
    set_dim_gears(x, dim_gears={0: [1, 2, 4, 8]})
    assert get_dim_gears(x) == {0: (1, 2, 4, 8)}
    assert getattr(x, GEARS_ATTR) == {0: (1, 2, 4, 8)}


def test_get_dim_gears_is_none_without_gears_and_returns_a_copy():
    x = torch.ones(2, 3)
    assert get_dim_gears(x) is None
    assert get_dim_gears("not a tensor") is None
    set_dim_gears(x, {0: (2, 4)})
    get_dim_gears(x)[1] = (1, 2)
    assert get_dim_gears(x) == {0: (2, 4)}


def test_marks_dims_unbacked_for_dynamo():
    x = torch.ones(2, 3, 4)
    set_dim_gears(x, {0: [2, 4], -1: [4, 8]})
    assert x._dynamo_unbacked_indices == {0, 2}


def test_negative_dims_are_normalized():
    x = torch.ones(3, 2)
    set_dim_gears(x, {-1: [2, 4], -2: (3, 5)})
    assert get_dim_gears(x) == {0: (3, 5), 1: (2, 4)}


def test_gear_one_is_allowed():
    x = torch.ones(1, 16)
    set_dim_gears(x, {0: [1, 2, 4, 8]})
    assert get_dim_gears(x) == {0: (1, 2, 4, 8)}


def test_duplicates_and_order_are_kept_for_zip_pairing():
    x = torch.ones(2, 8)
    set_dim_gears(x, {0: [2, 2, 4], 1: [8, 16, 16]})
    assert get_dim_gears(x) == {0: (2, 2, 4), 1: (8, 16, 16)}


def test_numpy_ints_are_ints():
    x = torch.ones(2)
    set_dim_gears(x, {np.int64(0): [np.int64(2), 4]})
    assert get_dim_gears(x) == {0: (2, 4)}
    assert type(get_dim_gears(x)[0][0]) is int


def test_same_gears_again_is_a_noop_and_new_dims_are_refused():
    x = torch.ones(2, 3)
    set_dim_gears(x, {0: [2, 4]})
    set_dim_gears(x, {0: (2, 4)})
    set_dim_gears(x, {-2: [2, 4]})
    with pytest.raises(AssertionError, match="already has set dim gears"):
        set_dim_gears(x, {-2: [2, 4], 1: [3, 6]})  # TorchAir: a tensor's gears are set once
    assert get_dim_gears(x) == {0: (2, 4)}


def _error(tensor, dim_gears):
    with pytest.raises((TypeError, ValueError)) as info:
        set_dim_gears(tensor, dim_gears)
    return info


@pytest.mark.parametrize(
    ("tensor", "dim_gears", "error", "message"),
    [
        ([2, 3], {0: [2, 4]}, TypeError, "t must be a torch.Tensor, got [2, 3] (list)"),
        (
            torch.ones(2),
            [2, 4],
            TypeError,
            "dim_gears must be a dict mapping a dim to a list of gears",
        ),
        (torch.ones(2), {}, ValueError, "dim_gears must name at least one dim"),
        (
            torch.ones(2),
            {"0": [2, 4]},
            TypeError,
            "Dim index in dim_gears must be an integer, but got <class 'str'>.",
        ),
        (
            torch.ones(2),
            {True: [2, 4]},
            TypeError,
            "Dim index in dim_gears must be an integer, but got <class 'bool'>.",
        ),
        (
            torch.ones(2, 2),
            {2: [2, 4]},
            ValueError,
            "Dim index in dim_gears must be in range [0, 1], but got 2.",
        ),
        (
            torch.ones(2, 2),
            {-3: [2, 4]},
            ValueError,
            "Dim index in dim_gears must be in range [-2, 1], but got -3.",
        ),
        (
            torch.ones(2, 2),
            {0: [2, 4], -2: [2, 4]},
            ValueError,
            "dim_gears names dim 0 twice (as 0 and -2)",
        ),
        (
            torch.ones(2),
            {0: 2},
            TypeError,
            "Gears for dim index 0 in dim_gears must be a list or tuple, but got <class 'int'>.",
        ),
        (
            torch.ones(2),
            {0: {2, 4}},
            TypeError,
            "Gears for dim index 0 in dim_gears must be a list or tuple, but got <class 'set'>.",
        ),
        (
            torch.ones(2),
            {0: [2, 4.0]},
            TypeError,
            "Element at index 1 of value for dim index 0 in dim_gears must be an integer, but got <class 'float'>.",
        ),
        (
            torch.ones(2),
            {0: [2, True]},
            TypeError,
            "Element at index 1 of value for dim index 0 in dim_gears must be an integer, but got <class 'bool'>.",
        ),
        (
            torch.ones(2),
            {0: [2, 0]},
            ValueError,
            "Gear value at index 1 for dim index 0 must not be 0, but got 0.",
        ),
        (
            torch.ones(2),
            {0: [-2, 2]},
            ValueError,
            "Gear value at index 0 for dim index 0 must be a positive int, but got -2",
        ),
        (
            torch.ones(2),
            {0: [2]},
            ValueError,
            "Length of gears for dim index 0 in dim_gears must be in range [2, 100], but got 1.",
        ),
        (
            torch.ones(2),
            {0: list(range(1, 102))},
            ValueError,
            "Length of gears for dim index 0 in dim_gears must be in range [2, 100], but got 101.",
        ),
        (
            torch.ones(3),
            {0: [2, 4]},
            ValueError,
            "dim_gears[0] = [2, 4] does not contain the tensor's current size 3 in dim 0",
        ),
    ],
)
def test_each_rule_has_a_clear_error(tensor, dim_gears, error, message):
    with pytest.raises(error, match=re.escape(message)):
        set_dim_gears(tensor, dim_gears)
    if isinstance(tensor, torch.Tensor):
        assert get_dim_gears(tensor) is None
        assert not getattr(tensor, "_dynamo_unbacked_indices", None)


def test_hundred_gears_is_the_limit():
    x = torch.ones(1)
    set_dim_gears(x, {0: list(range(1, 101))})
    assert len(get_dim_gears(x)[0]) == 100


def test_zero_size_dim_is_rejected_as_not_a_gear():
    with pytest.raises(ValueError, match=re.escape("current size 0")):
        set_dim_gears(torch.ones(0, 2), {0: [1, 2]})


def test_resetting_a_dim_to_different_gears_raises_and_changes_nothing():
    x = torch.ones(2, 3)
    set_dim_gears(x, {0: [2, 4]})
    message = f"Tensor {x} already has set dim gears, and it is not supported to set it again."
    with pytest.raises(ValueError) as info:
        set_dim_gears(x, {-2: [4, 2]})
    assert str(info.value) == message
    assert get_dim_gears(x) == {0: (2, 4)}
    assert x._dynamo_unbacked_indices == {0}


def test_every_rule_error_is_an_assertion_error_too():
    """TorchAir raises AssertionError for every rule; airgraph's classes are both."""
    from airgraph_gears import GearSpecError, GearSpecTypeError

    for dim_gears, cls in (({0: [2, 0]}, GearSpecError), ({0.5: [2, 4]}, GearSpecTypeError)):
        with pytest.raises(AssertionError) as info:
            set_dim_gears(torch.ones(2), dim_gears)
        assert type(info.value) is cls
        assert isinstance(info.value, ValueError if cls is GearSpecError else TypeError)


# --- One Dynamo trace serves every gear, 1 included --------------------------------


class Add(torch.nn.Module):
    def forward(self, x1, x2):
        return x1 + x2


class MatmulSoftmax(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(4, 5))

    def forward(self, x):
        return torch.softmax(x @ self.weight, dim=-1)


def _make_add(batch):
    return (torch.randn(batch, 3), torch.randn(batch, 3))


def _make_matmul(batch):
    return (torch.randn(batch, 4),)


@pytest.mark.parametrize(
    ("model", "make_inputs"), [(Add, _make_add), (MatmulSoftmax, _make_matmul)]
)
@pytest.mark.parametrize("order", [(1, 2, 4, 8), (2, 1, 4, 8), (8, 4, 2, 1)])
def test_one_trace_covers_gears_one_to_eight(model, make_inputs, order):
    torch._dynamo.reset()
    module = model().eval()
    counter = CompileCounter()
    compiled = torch.compile(module, backend=counter, fullgraph=True)
    with torch.no_grad():
        for call, batch in enumerate(order):
            inputs = make_inputs(batch)
            if call == 0:
                for tensor in inputs:
                    set_dim_gears(tensor, {0: [1, 2, 4, 8]})
            torch.testing.assert_close(compiled(*inputs), module(*inputs))
    assert counter.frame_count == 1


def test_mark_dynamic_would_retrace_for_gear_one():
    # Why set_dim_gears uses mark_unbacked: this is TorchAir's mark and it retraces at 1.
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(Add(), backend=counter, fullgraph=True)
    for call, batch in enumerate((2, 1)):
        inputs = _make_add(batch)
        if call == 0:
            for tensor in inputs:
                torch._dynamo.mark_dynamic(tensor, 0)
        compiled(*inputs)
    assert counter.frame_count == 2


def test_gears_reach_the_backend_through_example_inputs():
    torch._dynamo.reset()
    plans = []

    def backend(graph_module, example_inputs):
        plans.append(GearPlan.from_tensors(example_inputs, "zip"))
        return graph_module.forward

    compiled = torch.compile(Add(), backend=backend, fullgraph=True)
    x1, x2 = torch.ones(2, 2), torch.ones(2, 2)
    set_dim_gears(x1, {0: [2, 4]})
    set_dim_gears(x2, {0: [2, 4]})
    compiled(x1, x2)
    compiled(torch.ones(4, 2), torch.ones(4, 2))
    assert len(plans) == 1
    tensor_shapes = [c for c in plans[0].combinations[0] if c != ()]
    assert tensor_shapes == [(2, 2), (2, 2)]
    assert {tuple(s for s in c if s != ()) for c in plans[0].combinations} == {
        ((2, 2), (2, 2)),
        ((4, 2), (4, 2)),
    }


def test_docstring_examples_run():
    assert doctest.testmod(marks_module).failed == 0
