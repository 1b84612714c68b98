"""rebuild_outputs: a target's NetOutput values -> the ATen graph's outputs (sizes, None, views)."""

from __future__ import annotations

import torch

from airgraph_core import OutputViews, rebuild_outputs


def test_sizes_none_and_tensors_in_aten_order():
    t, n = torch.randn(2, 3), torch.tensor(7)
    outs = rebuild_outputs([t, n, 5], [], ["t", "s", "n", "s"])
    assert outs[0] is t and outs[2] is None
    assert outs[1] == 7 and type(outs[1]) is int
    assert outs[3] == 5 and type(outs[3]) is int


def test_views_replayed_on_inputs_and_outputs_and_hidden_bases_dropped():
    # output 0: x[1:] of input 0; output 1: a tensor; output 2: the hidden base's
    # transpose; the base itself (kind "b") is not returned.
    steps = [
        ["aten.slice.Tensor", [{"in": 0}, 0, 1, 3], {}],
        ["aten.transpose.int", [{"out": 3}, 0, 1], {}],
    ]
    views = OutputViews(steps, [[0, 0], [2, 1]], bases=["base"])
    x, y, base = torch.randn(3, 2), torch.randn(2), torch.randn(2, 4)
    outs = rebuild_outputs([y, base], [x], ["v", "t", "v", "b"], views)
    assert len(outs) == 3
    assert torch.equal(outs[0], x[1:3]) and outs[0].data_ptr() == x[1:].data_ptr()
    assert outs[1] is y
    assert torch.equal(outs[2], base.t()) and outs[2].data_ptr() == base.data_ptr()
