"""Sizes that depend on tensor values (``nonzero``'s count), over calls with one input shape.

The host target specializes a GE graph per input signature and folds the
sizes it reads. A ``nonzero`` count is a size that changes with the data
while the input shapes stay: a specialization that folded it must not
serve the next call (it returned the first call's count and shapes). Each
generated case compiles one program that reads the count and calls it
several times with inputs of one shape and different numbers of non-zero
elements, comparing every call with eager.
"""

from __future__ import annotations

import os
import random
import sys

import compiled_host_runs
import fresh_python
import pytest
import torch

import airgraph as torchair
from airgraph_core.targets.host.data_sizes import reads_sizes_from_data


def _count_arithmetic(x):
    idx = torch.nonzero(x > 0)
    return idx, idx.shape[0] * 2 + 1


def _count_in_new_sizes(x):
    idx = torch.nonzero(x > 0)
    return idx.float().sum(0) + idx.shape[0], x.new_zeros(idx.shape[0] + 1)


def _count_as_divisor(x):
    idx = torch.nonzero(x)
    return (idx.float().sum(0) / (idx.shape[0] + 1),)


def _indices_only(x):
    # Reads no size of the indices: the specialization may be reused.
    return (torch.nonzero(x > 0) * 2,)


PROGRAMS = [_count_arithmetic, _count_in_new_sizes, _count_as_divisor, _indices_only]


def _backend(host_mode: str):
    config = torchair.CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = host_mode
    return torchair.get_npu_backend(compiler_config=config)


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, seeds: list[int]) -> list[torch.Tensor]:
    out = []
    for seed in seeds:
        values = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        out.append(values.to(dtype) if dtype != torch.bool else values > 0)
    return out


def _check(fn, inputs: list[torch.Tensor], dynamic: bool, host_mode: str) -> None:
    """Every call vs eager; inputs of one shape (in inductor mode, calls after the first run
    the compiled code, unless the graph reads a count: it is then specialized at every call)."""
    torch._dynamo.reset()
    backend = _backend(host_mode)
    compiled = torch.compile(fn, backend=backend, dynamic=dynamic, fullgraph=True)
    dynamic_outputs = torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True)
    with dynamic_outputs, compiled_host_runs.counting() as runs:
        for call, x in enumerate(inputs):
            expected = fn(x.clone())
            got = compiled(x.clone())
            what = f"{fn.__name__} call {call} (dynamic={dynamic}, {host_mode})"
            assert len(got) == len(expected), what
            for i, (g, e) in enumerate(zip(got, expected)):
                if isinstance(e, torch.Tensor):
                    assert g.shape == e.shape, f"{what} output {i}: {g.shape} != {e.shape}"
                    torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
                else:
                    assert g == e, f"{what} output {i}: {g} != {e}"
    if host_mode == "inductor":
        per_call = reads_sizes_from_data(backend.graphs[-1])
        assert runs.count == (0 if per_call else len(inputs) - 1), (fn.__name__, runs.count)


@pytest.mark.parametrize("seed", range(12))
def test_count_follows_the_data_of_each_call(seed):
    rng = random.Random(seed)
    fn = PROGRAMS[seed % len(PROGRAMS)]
    shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 3)))
    dtype = rng.choice([torch.float32, torch.int32, torch.bool])
    seeds = rng.sample(range(1000), 3)
    _check(fn, _inputs(shape, dtype, seeds), rng.random() < 0.5, "interpret")


def test_regression_count_from_an_earlier_call_is_not_reused():
    """The case that returned the first call's count (25 for 21) before the fix."""
    grid = torch.arange(20.0).reshape(4, 5)
    inputs = [(grid < n).float() * 2 - 1 for n in (12, 5, 0, 20)]
    for dynamic in (False, True):
        _check(_count_arithmetic, inputs, dynamic, "interpret")


@pytest.mark.slow
@pytest.mark.parametrize("fn", PROGRAMS, ids=lambda f: f.__name__)
def test_count_follows_the_data_inductor(fn):
    _check(fn, _inputs((4, 5), torch.float32, [0, 1, 2]), True, "inductor")


def test_only_graphs_that_read_a_count_are_specialized_per_call():
    """A graph that never reads the count keeps one reusable specialization per shape."""
    for fn, per_call in ((_count_arithmetic, True), (_indices_only, False)):
        torch._dynamo.reset()
        backend = _backend("interpret")
        with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
            torch.compile(fn, backend=backend, fullgraph=True)(torch.randn(3, 4))
        assert reads_sizes_from_data(backend.graphs[-1]) is per_call, fn.__name__


_CACHED_MODEL = """
import sys
import torch
import airgraph as torchair

torch._dynamo.config.capture_dynamic_output_shape_ops = True


class Model(torch.nn.Module):
    def __init__(self, cache_dir, ge_cache):
        super().__init__()
        config = torchair.CompilerConfig()
        config.airgraph_config.host_mode = "inductor" if ge_cache else "interpret"
        self.cached = torchair.inference.cache_compile(
            self._forward, config=config, cache_dir=cache_dir, ge_cache=ge_cache
        )

    def forward(self, x):
        return self.cached(x)

    def _forward(self, x):
        idx = torch.nonzero(x > 0)
        return idx, x.new_zeros(idx.shape[0] + 1), idx.float().sum(0) / (idx.shape[0] + 1)


model = Model(sys.argv[1], sys.argv[2] == "1")
grid = torch.arange(20.0).reshape(4, 5)
for n in (12, 5, 0, 20):
    x = (grid < n).float() * 2 - 1
    got, expected = model(x), model._forward(x)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape, (n, g.shape, e.shape)
        torch.testing.assert_close(g, e)
    print(n, model.cached.status)
"""


def _cached_runs(tmp_path, ge_cache: bool) -> list[str]:
    script = tmp_path / "cached_nonzero.py"
    script.write_text(_CACHED_MODEL)
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    argv = [sys.executable, str(script), str(tmp_path / "cache"), "1" if ge_cache else "0"]
    outputs = []
    for phase in ("cold", "warm"):
        proc = fresh_python.run(
            argv,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            preload=fresh_python.COMPILER,
        )
        assert proc.returncode == 0, f"{phase}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    return outputs


@pytest.mark.slow
def test_count_follows_the_data_after_a_warm_start(tmp_path):
    """cache_compile: the cold start and a warm start in a fresh process, four counts each."""
    cold, warm = _cached_runs(tmp_path, ge_cache=False)
    assert warm.split() == ["12", "hit", "5", "hit", "0", "hit", "20", "hit"], warm


@pytest.mark.slow
def test_count_follows_the_data_after_a_warm_start_ge_cache(tmp_path):
    cold, warm = _cached_runs(tmp_path, ge_cache=True)
    assert warm.split() == ["12", "hit", "5", "hit", "0", "hit", "20", "hit"], warm
