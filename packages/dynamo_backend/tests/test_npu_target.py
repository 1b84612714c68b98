"""The NPU target against a fake of torch_npu's ``_torchair`` binding (exact call contract).

The fake checks argument types, call order, option names and values, and
that inputs arrive in ``Data`` index order; it runs the graph it was given
(deserialized from the protobuf bytes) on the host target, so outputs are
real and their order is checked by numerics.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_dynamo.backend import get_npu_backend
from airgraph_dynamo.targets import npu_available, select_target
from airgraph_dynamo.targets.npu import NpuTarget, engine_options, load_binding
from airgraph_dynamo.testing import make_fake_npu_binding as make_fake_binding

serialize = pytest.importorskip("airgraph_core.ir.serialize")


def _is_str_dict(d):
    return type(d) is dict and all(type(k) is str and type(v) is str for k, v in d.items())


def _compiled(fn, binding, dynamic=False, **config):
    backend = get_npu_backend(target=NpuTarget(binding=binding, device_id=3))
    return backend, torch.compile(fn, backend=backend, fullgraph=True, dynamic=dynamic)


def test_call_sequence_and_arguments():
    binding = make_fake_binding()
    backend, fn = _compiled(lambda x, y: (x - y, y * 2), binding)
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    with torch.no_grad():
        a, b = fn(x, y)
        fn(x, y)
    # Input order (x - y is not symmetric) and output order.
    torch.testing.assert_close(a, x - y)
    torch.testing.assert_close(b, y * 2)
    names = [c[0] for c in binding.calls]
    assert names == [
        "InitializeGraphEngine",
        "TorchNpuGraphBase",
        "load",
        "set_hint_shape",
        "compile",
        "run",
        "run",
    ]
    init = binding.calls[0][1]
    assert init["ge.exec.deviceId"] == "3"
    assert init["ge_run_with_torch_npu"] == "1"
    assert init["ge.deterministic"] in ("0", "1")
    assert len(init["ge.exec.allow_hf32"]) == 2
    _, name, options, placements, dtypes = binding.calls[2]
    assert name == backend.graphs[-1].name and options == {}
    assert placements == [1, 1] and dtypes == [0, 0]  # device inputs; FLOAT in ge:: numbering
    assert binding.calls[3][1] == [[2, 3], [2, 3]]
    assert backend.compiled[-1].target == "npu"


def test_engine_is_initialized_once_per_binding():
    binding = make_fake_binding()
    target = NpuTarget(binding=binding, device_id=0)
    backend = get_npu_backend(target=target)
    with torch.no_grad():
        torch.compile(lambda x: x + 1, backend=backend, fullgraph=True)(torch.ones(2))
        torch.compile(lambda x: x * 3, backend=backend, fullgraph=True)(torch.ones(2))
    names = [c[0] for c in binding.calls]
    assert names.count("InitializeGraphEngine") == 1 and names.count("compile") == 2


def test_dynamic_graph_reads_sizes_in_graph_and_sends_minus_one_hints():
    binding = make_fake_binding()
    backend, fn = _compiled(lambda x: (x + x, x.shape[0] * 2), binding, dynamic=True)
    with torch.no_grad():
        for n in (3, 5):
            out, size = fn(torch.ones(n, 4))
            torch.testing.assert_close(out, torch.full((n, 4), 2.0))
            assert size == 2 * n and type(size) is int
    load = next(c for c in binding.calls if c[0] == "load")
    hints = next(c for c in binding.calls if c[0] == "set_hint_shape")[1]
    assert load[3] == [1], "sizes a tensor carries are read in the graph, not host inputs"
    assert hints == [[-1, -1]], "the one tensor input; no host scalar inputs"


def test_ge_options_are_passed_through_and_checked():
    binding = make_fake_binding()
    backend, fn = _compiled(lambda x: x + 1, binding)
    with torch.no_grad():
        fn(torch.ones(2, 2))
    graph = backend.graphs[-1]
    target = NpuTarget(binding=binding)
    gear_options = {
        "ge.inputShape": "arg0_1:-1,2",
        "ge.dynamicDims": "2;4",
        "ge.dynamicNodeType": "1",
    }
    target.compile(graph, gear_options)
    assert binding.calls[-3][0] == "load" and binding.calls[-3][2] == gear_options
    with pytest.raises(TypeError, match="str -> str"):
        target.compile(graph, {"ge.dynamicNodeType": 1})


def test_engine_options_are_strings():
    options = engine_options(device_id=5)
    assert _is_str_dict(options) and options["ge.exec.deviceId"] == "5"


@pytest.mark.skipif(npu_available(), reason="checks the error on machines without an NPU")
def test_npu_target_without_torch_npu_is_a_clear_error(make_config):
    config = make_config()
    config.airgraph_config.target = "npu"
    with pytest.raises(RuntimeError, match="torch_npu or an Ascend NPU is not available"):
        select_target(config)
    with pytest.raises(RuntimeError, match="needs torch_npu"):
        load_binding()
    config.airgraph_config.target = "auto"
    assert select_target(config).name == "host"


@pytest.mark.npu
@pytest.mark.skipif(not npu_available(), reason="needs torch_npu and an Ascend NPU")
def test_real_npu_add(make_config):  # pragma: no cover - runs on NPU machines only
    import airgraph_dynamo

    config = airgraph_dynamo.CompilerConfig()
    config.airgraph_config.target = "npu"
    backend = airgraph_dynamo.get_npu_backend(compiler_config=config)
    fn = torch.compile(lambda x, y: x + y, backend=backend, fullgraph=True)
    x, y = torch.ones(2, 2).npu(), torch.ones(2, 2).npu()
    with torch.no_grad():
        torch.testing.assert_close(fn(x, y).cpu(), torch.full((2, 2), 2.0))
    assert backend.compiled[-1].target == "npu"


def _geared_npu(fn, binding, policy):
    from airgraph_dynamo import CompilerConfig
    from airgraph_gears import set_dim_gears

    config = CompilerConfig()
    config.inference_config.dynamic_gears_merge_policy = policy
    backend = get_npu_backend(
        compiler_config=config, target=NpuTarget(binding=binding, device_id=0)
    )
    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    x1, x2 = torch.ones(2, 2), torch.ones(2, 2)
    set_dim_gears(x1, dim_gears={0: [2, 4]})
    set_dim_gears(x2, dim_gears={0: [2, 4]})
    return backend, compiled, x1, x2


# MISSION.md example 1 (x1 + x2, both geared {0: [2, 4]}). The Data ops are
# the two tensors only: the size placeholders Dynamo adds are read by no op,
# so they get no Data and no ge.inputShape entry (as in TorchAir). Under
# "product", (2, 2) + (4, 2) cannot run (x1 + x2 needs equal sizes), so GE is
# given only the two combinations the model accepts.
_MISSION_INPUT_SHAPE = "arg1_1:-1,2;arg3_1:-1,2"


@pytest.mark.parametrize(("policy", "dynamic_dims"), [("zip", "2,2;4,4"), ("product", "2,2;4,4")])
def test_gear_options_for_the_mission_example(policy, dynamic_dims):
    binding = make_fake_binding()
    backend, compiled, x1, x2 = _geared_npu(lambda x1, x2: x1 + x2, binding, policy)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x1, x2), torch.full((2, 2), 2.0))
        torch.testing.assert_close(
            compiled(torch.ones(4, 2), torch.ones(4, 2)), torch.full((4, 2), 2.0)
        )
    loads = [c for c in binding.calls if c[0] == "load"]
    assert len(loads) == 1, "one GE graph serves every gear"
    assert loads[0][2] == {
        "ge.inputShape": _MISSION_INPUT_SHAPE,
        "ge.dynamicDims": dynamic_dims,
        "ge.dynamicNodeType": "1",
    }
    assert [c[0] for c in binding.calls].count("run") == 2
    assert len(backend.compiled[0].gears.plan) == (2 if policy == "zip" else 4)


@pytest.mark.parametrize(
    ("policy", "dynamic_dims"), [("zip", "2,2;4,4"), ("product", "2,2;2,4;4,2;4,4")]
)
def test_gear_options_when_every_product_combination_runs(policy, dynamic_dims):
    binding = make_fake_binding()
    backend, compiled, x1, x2 = _geared_npu(lambda x1, x2: torch.cat([x1, x2]) * 2, binding, policy)
    with torch.no_grad():
        compiled(x1, x2)
        if policy == "product":
            out = compiled(torch.ones(4, 2), torch.ones(2, 2))
            torch.testing.assert_close(out, torch.full((6, 2), 2.0))
    load = next(c for c in binding.calls if c[0] == "load")
    assert load[2] == {
        "ge.inputShape": _MISSION_INPUT_SHAPE,
        "ge.dynamicDims": dynamic_dims,
        "ge.dynamicNodeType": "1",
    }


def test_out_of_gear_shapes_never_reach_ge():
    from airgraph_dynamo import OutOfGearError

    binding = make_fake_binding()
    _, compiled, x1, x2 = _geared_npu(lambda x1, x2: x1 + x2, binding, "zip")
    with torch.no_grad():
        compiled(x1, x2)
        with pytest.raises(OutOfGearError, match="match no gear"):
            compiled(torch.ones(3, 2), torch.ones(3, 2))
    assert [c[0] for c in binding.calls].count("run") == 1
