"""In-place input updates through torch.compile on the NPU target (its contract fake) vs eager.

The fake, like GE, does not apply an ``Assign`` into a ``Data`` to the
caller's tensor; the updates arrive only through outputs that reuse the
inputs' memory (``ge.exec.outputReuseInputMemIndexes``). Each pattern runs
two steps, so a lost update would also change the second step's result.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_dynamo.testing import fake_npu_backend, make_fake_npu_binding


def _add_(x, y):
    x.add_(y)
    return y * 2


def _kv_step(k_cache, v_cache, k, v, pos):
    k_cache[:, pos] = k
    v_cache.index_copy_(1, pos, v)
    return (k_cache * v_cache).sum(-1)


def _index_put_bf16(cache, idx, src):
    cache[idx] = src
    return cache.float().sum()


def _copy_returned(cache, new):
    cache.copy_(new)
    return cache


PATTERNS = {
    "add_": (_add_, lambda: [torch.randn(4, 8), torch.randn(4, 8)]),
    "kv_cache": (
        _kv_step,
        lambda: [
            torch.randn(2, 6, 4),
            torch.randn(2, 6, 4),
            torch.randn(2, 1, 4),
            torch.randn(2, 1, 4),
            torch.tensor([3]),
        ],
    ),
    "index_put_bf16": (
        _index_put_bf16,
        lambda: [
            torch.randn(8, 4).bfloat16(),
            torch.tensor([1, 6]),
            torch.randn(2, 4).bfloat16(),
        ],
    ),
    "copy_returned": (_copy_returned, lambda: [torch.randn(3, 5), torch.randn(3, 5)]),
}


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_updates_reach_the_inputs_on_the_npu_target(name, dynamic):
    fn, make = PATTERNS[name]
    torch.manual_seed(0)
    binding = make_fake_npu_binding()
    backend = fake_npu_backend(binding=binding)
    compiled = torch.compile(fn, backend=backend, fullgraph=True, dynamic=dynamic)
    eager_inputs = make()
    got_inputs = [t.clone() for t in eager_inputs]
    with torch.no_grad():
        for _ in range(2):
            expected, got = fn(*eager_inputs), compiled(*got_inputs)
            torch.testing.assert_close(got, expected)
            for after, want in zip(got_inputs, eager_inputs):
                torch.testing.assert_close(after, want)
    if name == "copy_returned":
        assert got is got_inputs[0]  # eager returns the input itself
    loads = [c for c in binding.calls if c[0] == "load"]
    assert loads and all("ge.exec.outputReuseInputMemIndexes" in c[2] for c in loads)
