"""random_ops: graphs that draw random numbers are refused with TorchAir's error."""

from __future__ import annotations

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from airgraph_cache.random_ops import RandomOpRefusal, random_op_nodes, refuse_random_ops


def _aten(fn, *args):
    return make_fx(fn)(*args)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x + torch.randn(x.shape),
        lambda x: torch.bernoulli(x),
        lambda x: torch.nn.functional.dropout(x, 0.5, training=True),
        lambda x: x.uniform_(),
    ],
    ids=["randn", "bernoulli", "dropout_train", "uniform_"],
)
def test_random_ops_are_refused(fn):
    gm = _aten(fn, torch.full((2, 2), 0.5))
    assert random_op_nodes(gm.graph)
    with pytest.raises(AssertionError) as info:
        refuse_random_ops(gm)
    # TorchAir's words; the index is after the graph's one tensor input.
    assert str(info.value).startswith(
        "Cache compile does not support operator that depend on RNG, input index: 1."
    )


def test_deterministic_graphs_pass():
    gm = _aten(lambda x: torch.nn.functional.dropout(x * 2, 0.5, training=False), torch.ones(2))
    assert random_op_nodes(gm.graph) == []
    refuse_random_ops(gm)  # no error


class _Record:
    def __init__(self, gm):
        self.aten_graph = gm


class _Backend:
    """Records each graph like NpuBackend, then fails or returns, as told."""

    def __init__(self, fail):
        self.compiled = []
        self.fail = fail

    def __call__(self, gm, inputs):
        self.compiled.append(_Record(gm))
        if self.fail:
            raise NotImplementedError("no converter for aten.randn")
        return gm


def test_the_wrapper_refuses_before_and_after_lowering():
    gm = _aten(lambda x: x + torch.rand(x.shape), torch.ones(2))
    for fail in (False, True):
        wrapped = RandomOpRefusal(_Backend(fail))
        with pytest.raises(AssertionError, match="depend on RNG") as info:
            wrapped(gm, [torch.ones(2)])
        if fail:  # the lowering error stays visible as the cause
            assert isinstance(info.value.__cause__, NotImplementedError)
    plain = _aten(lambda x: x + 1, torch.ones(2))
    backend = _Backend(False)
    assert RandomOpRefusal(backend)(plain, [torch.ones(2)]) is plain
    assert RandomOpRefusal(backend).compiled is backend.compiled
