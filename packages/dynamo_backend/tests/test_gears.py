"""Gears end to end: one Dynamo trace serves every gear; dispatch, compile timing, out-of-gear policies."""

from __future__ import annotations

import logging
import types

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

from airgraph_dynamo import CompilerConfig, OutOfGearError, get_npu_backend
from airgraph_dynamo.gears import GearSetupError
from airgraph_gears import set_dim_gears

# MISSION.md's example uses ``import airgraph as torchair``; the meta-package
# sits above this one, so the same names are gathered here.
torchair = types.SimpleNamespace(
    CompilerConfig=CompilerConfig,
    get_npu_backend=get_npu_backend,
    inference=types.SimpleNamespace(set_dim_gears=set_dim_gears),
)


@pytest.fixture(autouse=True)
def _fresh_counters():
    counters.clear()  # torch._dynamo.reset() keeps Dynamo's counters
    yield


def _traces() -> int:
    return counters["stats"]["unique_graphs"]


def _compile(fn, make_config, **airgraph_options):
    policy = airgraph_options.pop("policy", "zip")
    config = make_config("interpret", **airgraph_options)
    config.inference_config.dynamic_gears_merge_policy = policy
    backend = get_npu_backend(compiler_config=config)
    return backend, torch.compile(fn, backend=backend, fullgraph=True)


@pytest.mark.parametrize("policy", ["zip", "product"])
def test_mission_example_one_trace_no_recompile(policy, caplog):
    class Model(torch.nn.Module):
        def forward(self, x1, x2):
            return x1 + x2

    input1 = torch.ones(2, 2)
    input2 = torch.ones(2, 2)
    config = torchair.CompilerConfig()
    config.airgraph_config.host_mode = "interpret"  # unit tests: the fast reference mode
    config.inference_config.dynamic_gears_merge_policy = policy
    npu_backend = torchair.get_npu_backend(compiler_config=config)
    model = torch.compile(Model(), fullgraph=True, backend=npu_backend)
    torchair.inference.set_dim_gears(input1, dim_gears={0: [2, 4]})
    torchair.inference.set_dim_gears(input2, dim_gears={0: [2, 4]})
    with caplog.at_level(logging.WARNING, logger="airgraph.dynamo"):
        torch.testing.assert_close(model(input1, input2), torch.full((2, 2), 2.0))
    assert _traces() == 1
    input1 = torch.ones(4, 2)
    input2 = torch.ones(4, 2)
    torch.testing.assert_close(model(input1, input2), torch.full((4, 2), 2.0))
    assert _traces() == 1 and len(npu_backend.compiled) == 1, "a gear shape recompiled"

    gears = npu_backend.compiled[0].gears
    assert gears.plan.policy == policy
    assert sorted(gears.compiled) == [0, len(gears.plan) - 1]  # both served gears, eagerly
    if policy == "zip":
        assert gears.plan.combinations == (((2, 2), (2, 2)), ((4, 2), (4, 2)))
        assert gears.infeasible == {}
    else:
        # x1 + x2 needs equal sizes: Dynamo traced both dims as one symbol,
        # so (2, 2) + (4, 2) is not compiled, and the warning says why.
        assert len(gears.plan) == 4 and sorted(gears.infeasible) == [1, 2]
        assert "L['x1'] dim 0 == L['x2'] dim 0" in gears.infeasible[1]
        assert "cannot run this model" in caplog.text


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def test_gear_one_shares_the_trace(make_config):
    torch.manual_seed(0)
    model = Mlp().eval()
    backend, compiled = _compile(model, make_config)
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: [1, 2, 4, 8]})
    with torch.no_grad():
        for batch in (2, 1, 4, 8, 1):
            x = x if batch == 2 and _traces() == 0 else torch.randn(batch, 8)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    assert _traces() == 1 and len(backend.compiled) == 1
    assert sorted(backend.compiled[0].gears.compiled) == [0, 1, 2, 3]


def test_two_geared_dims_product_with_size_inputs(make_config):
    """Sizes used as values (``arange(t)``) become host scalar inputs derived from the gear."""

    def fn(x):
        return x * 2 + torch.arange(x.shape[1]), x.shape[0] * x.shape[1]

    backend, compiled = _compile(fn, make_config, policy="product")
    x = torch.randn(1, 16)
    set_dim_gears(x, {0: [1, 2, 4], 1: [16, 32]})
    for shape in [(1, 16), (4, 32), (2, 16), (1, 32)]:
        x = x if shape == (1, 16) else torch.randn(shape)
        out, numel = compiled(x)
        torch.testing.assert_close(out, x * 2 + torch.arange(shape[1]))
        assert numel == shape[0] * shape[1] and type(numel) is int
    gears = backend.compiled[0].gears
    assert _traces() == 1 and len(gears.plan) == 6 and len(gears.compiled) == 6
    assert gears.scalars[gears.plan.lookup([(4, 32)])]  # the size inputs of gear (4, 32)
    assert sorted(gears.scalars[gears.plan.lookup([(4, 32)])].values()) == [4, 32]


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_eager_and_lazy_compile_counts(mode, make_config):
    backend, compiled = _compile(lambda x: x.relu() * 3, make_config, gear_compile=mode)
    x = torch.randn(2, 3)
    set_dim_gears(x, {0: [1, 2, 4, 8]})
    compiled(x)
    gears = backend.compiled[0].gears
    assert len(gears.compiled) == (4 if mode == "eager" else 1)
    compiled(torch.randn(8, 3))
    assert len(gears.compiled) == (4 if mode == "eager" else 2)
    program = backend.compiled[0].executable.program
    assert len(program._compiled) == len(gears.compiled)  # one host specialization per gear
    for batch in (1, 2, 4, 8):
        x = torch.randn(batch, 3)
        torch.testing.assert_close(compiled(x), x.relu() * 3)
    assert len(gears.compiled) == 4 and _traces() == 1


def test_out_of_gear_error_lists_the_gears(make_config):
    backend, compiled = _compile(lambda x1, x2: x1 + x2, make_config)
    x1, x2 = torch.ones(2, 2), torch.ones(2, 2)
    set_dim_gears(x1, {0: [2, 4]})
    set_dim_gears(x2, {0: [2, 4]})
    compiled(x1, x2)
    with pytest.raises(OutOfGearError) as info:
        compiled(torch.ones(3, 2), torch.ones(3, 2))
    message = str(info.value)
    assert "L['x1']: (3, 2), L['x2']: (3, 2) match no gear" in message
    assert "out_of_gear='error'" in message and "'pad' or 'fallback'" in message
    assert "0  (2, 2)   (2, 2)" in message and "1  (4, 2)   (4, 2)" in message
    assert "input 0 = L['x1']" in message and "input 1 = L['x2']" in message
    assert _traces() == 1


def test_pad_to_the_next_larger_gear(make_config):
    torch.manual_seed(0)
    model = Mlp().eval()
    backend, compiled = _compile(model, make_config, out_of_gear="pad", gear_compile="lazy")
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: [2, 4, 8]})
    with torch.no_grad():
        compiled(x)
        for batch in (3, 1, 5, 3):
            x = torch.randn(batch, 8)
            out = compiled(x)
            assert out.shape == (batch, 4)
            torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)
        with pytest.raises(OutOfGearError, match="no gear is large enough"):
            compiled(torch.randn(9, 8))
    gears = backend.compiled[0].gears
    # 3 -> 4, 1 -> 2, 5 -> 8: only gears were compiled, nothing for 3, 1 or 5.
    assert sorted(gears.compiled) == [0, 1, 2] and _traces() == 1


def test_pad_refuses_outputs_it_cannot_slice_back(make_config):
    backend, compiled = _compile(lambda x: x.reshape(-1) * 2, make_config, out_of_gear="pad")
    x = torch.ones(2, 3)
    set_dim_gears(x, {0: [2, 4]})
    torch.testing.assert_close(compiled(x), torch.full((6,), 2.0))
    assert "not one geared size" in backend.compiled[0].gears.pad_blocker
    with pytest.raises(OutOfGearError, match=r"cannot serve this model: output 0 dim 0 has size"):
        compiled(torch.ones(3, 3))


def test_fallback_runs_uncompiled_with_one_warning_per_shape(make_config, caplog):
    backend, compiled = _compile(lambda x: x * 2 + 1, make_config, out_of_gear="fallback")
    x = torch.ones(2, 2)
    set_dim_gears(x, {0: [2, 4]})
    compiled(x)
    gears = backend.compiled[0].gears
    with caplog.at_level(logging.WARNING, logger="airgraph.dynamo"):
        for _ in range(2):
            torch.testing.assert_close(compiled(torch.ones(3, 2)), torch.full((3, 2), 3.0))
    assert caplog.text.count("match no gear") == 1 and "uncompiled" in caplog.text
    assert sorted(gears.compiled) == [0, 1] and _traces() == 1  # nothing new was compiled


def test_a_specialized_geared_dim_is_a_clear_error(make_config):
    def fn(x):
        torch._check(x.shape[0] == 2)
        return x + 1

    _, compiled = _compile(fn, make_config)
    x = torch.ones(2, 2)
    set_dim_gears(x, {0: [2, 4]})
    with pytest.raises(Exception, match="the model specialized it to the constant 2") as info:
        compiled(x)
    assert isinstance(info.value, GearSetupError) or "GearSetupError" in str(info.value)


def test_dims_without_gears_are_static_under_dynamic_true(make_config):
    """TorchAir: with gears, ``dynamic=True`` leaves only the geared dims dynamic."""
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    compiled = torch.compile(
        lambda x, y: x * 2 + y.sum(), backend=backend, dynamic=True, fullgraph=True
    )
    x, y = torch.ones(2, 3), torch.ones(3, 5)
    set_dim_gears(x, {0: [2, 4]})
    torch.testing.assert_close(compiled(x, y), x * 2 + 15)
    x4 = torch.full((4, 3), 3.0)
    torch.testing.assert_close(compiled(x4, y), x4 * 2 + 15)
    assert _traces() == 1
    record = backend.compiled[0]
    assert [op.output_descs[0].shape for op in record.ge_graph.data_ops] == [(-1, 3), (3, 5)]
    assert len(record.gears.plan) == 2
    y6 = torch.ones(3, 6)  # an ungeared dim changed: Dynamo's guard recompiles, as in TorchAir
    torch.testing.assert_close(compiled(x, y6), x * 2 + 18)
    assert _traces() == 2


def test_a_broken_merge_rule_is_reported_at_compile(make_config):
    _, compiled = _compile(lambda x, y: x.sum() + y.sum(), make_config)  # zip
    x, y = torch.ones(2, 2), torch.ones(2, 2)
    set_dim_gears(x, {0: [2, 4]})
    set_dim_gears(y, {0: [2, 4, 8]})
    with pytest.raises(Exception, match="input gears len must same"):
        compiled(x, y)


def test_in_place_update_of_a_non_geared_input_is_not_repeated(make_config):
    """Specializing a gear runs the graph once; the cache update must happen once per call."""

    def fn(x, cache):
        cache.add_(1)
        return x * cache.sum()

    backend, compiled = _compile(fn, make_config)
    x, cache = torch.ones(2, 3), torch.zeros(4)
    set_dim_gears(x, {0: [2, 4, 8]})
    with torch.no_grad():
        out = compiled(x, cache)  # eager compile of gears 4 and 8 must not touch ``cache``
        torch.testing.assert_close(cache, torch.ones(4))
        torch.testing.assert_close(out, torch.full((2, 3), 4.0))
        out = compiled(torch.ones(8, 3), cache)
    torch.testing.assert_close(cache, torch.full((4,), 2.0))
    torch.testing.assert_close(out, torch.full((8, 3), 8.0))


def test_geared_plan_is_recorded(make_config):
    backend, compiled = _compile(lambda x: x + 1, make_config)
    x = torch.ones(2, 5)
    set_dim_gears(x, {0: [2, 4]})
    compiled(x)
    gears = backend.compiled[0].gears
    assert gears.inputs[0].source == "L['x']"
    assert "input 0 = L['x']" in gears.describe()
    assert gears.plan.combinations == (((2, 5),), ((4, 5),))


@pytest.mark.slow
def test_mission_example_with_inductor(make_config):
    torch.manual_seed(0)
    model = Mlp().eval()
    config = make_config("inductor")
    config.inference_config.dynamic_gears_merge_policy = "product"
    backend = get_npu_backend(compiler_config=config)
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: [1, 2, 4]})
    with torch.no_grad():
        for batch in (2, 1, 4):
            x = x if batch == 2 else torch.randn(batch, 8)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    assert _traces() == 1 and len(backend.compiled[0].gears.compiled) == 3
