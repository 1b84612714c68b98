"""set_gear_tracing("backed"): one Dynamo trace with branches on geared sizes, scoped to geared frames."""

import pytest
import torch
import torch._dynamo
import torch.fx.experimental._config as fx_config
from torch._dynamo.testing import CompileCounter

from airgraph_gears import get_gear_tracing, set_dim_gears, set_gear_tracing


@pytest.fixture(autouse=True)
def _backed():
    torch._dynamo.reset()
    set_gear_tracing("backed")
    yield
    set_gear_tracing("unbacked")
    torch._dynamo.reset()


def _branchy(x):
    if x.shape[0] == 1:  # a library-style branch on the geared size
        return x.sum(0, keepdim=True) * 3
    return x.softmax(0) * x.shape[0]


@pytest.mark.parametrize("order", [(1, 2, 4, 8), (4, 1, 8, 2)])
def test_backed_gears_mark_dims_and_trace_a_branch(order):
    x = torch.randn(order[0], 3)
    set_dim_gears(x, {0: [1, 2, 4, 8]})
    assert get_gear_tracing() == "backed"
    assert x._dynamo_weak_dynamic_indices == {0}
    assert not hasattr(x, "_dynamo_unbacked_indices")
    counter = CompileCounter()
    compiled = torch.compile(_branchy, backend=counter, fullgraph=True)
    for batch in order:
        y = x if batch == order[0] else torch.randn(batch, 3)
        torch.testing.assert_close(compiled(y), _branchy(y))
    # Size-oblivious, batch 1 is not specialized; backed, the branch is a guard
    # on the first call's side, so the other side retraces exactly once.
    assert counter.frame_count == 2


def test_size_oblivious_reasoning_only_in_frames_with_geared_tensors():
    geared = torch.randn(2, 3)
    set_dim_gears(geared, {0: [1, 2]})
    seen = []

    def backend(gm, example_inputs):
        seen.append(fx_config.backed_size_oblivious)
        return gm.forward

    plain = torch.randn(2, 3)
    torch._dynamo.mark_dynamic(plain, 0)
    torch.compile(lambda t: t + 1, backend=backend, fullgraph=True)(plain)
    torch.compile(lambda t: t * 2, backend=backend, fullgraph=True)(geared)
    assert seen == [False, True]
    assert fx_config.backed_size_oblivious is False  # restored after the compile


def test_set_dim_gears_registers_its_callback_again_after_reset():
    torch._dynamo.reset()  # drops Dynamo's compile callbacks
    x = torch.randn(2, 3)
    set_dim_gears(x, {0: [1, 2]})
    counter = CompileCounter()
    compiled = torch.compile(lambda t: t.relu(), backend=counter, fullgraph=True)
    compiled(x)
    compiled(torch.randn(1, 3))
    assert counter.frame_count == 1
