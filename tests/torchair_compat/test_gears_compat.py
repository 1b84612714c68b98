"""TorchAir's gear cases (``tests/st/torchair_gear_st.py``, Ascend/torchair), ported.

Each test names the upstream test it ports; inputs and expectations are
TorchAir's, the code is ours. Compiled models are compared with eager
PyTorch on the host target's interpret mode (the same GE graph).

Upstream cases read (torchair_gear_st.py, 19) and what became of them:

=============================================  ===============================================
upstream test                                  here
=============================================  ===============================================
test_set_dim_gears_twice                       ported
test_set_dim_gears_dim_index_not_it            ported
test_set_dim_gears_value_not_list_or_tuple     ported
test_set_dim_gears_dim_index_out_of_range      ported
test_set_dim_gears_value_not_int               ported
test_set_dim_gears_value_lens_out_of_range     ported
test_set_dim_gears_value                       ported
test_not_parse_stack_over                      ported (dynamic=True, 98 gears)
test_guard_gears                               ported (no recompile: Dynamo traces once)
test_config_product                            ported through ``GearPlan.ge_options`` (TorchAir
test_config_zip                                calls its private ``generate_dynamic_dims_option``
test_config_zip_list_lens_same                 with private ``_GeInputInfo``; ours is public)
test_config_repeat
test_gears_num_not_over_100
test_gears_deduplicated                        ported; TorchAir's order is a set's (arbitrary),
                                               ours ascending: compared as sets
test_muti_gear_npu_executor_pre_assigned_...   skipped: drives TorchAir's private
test_muti_gear_npu_executor_muti_output        ``TorchNpuGraph`` executor on its NPU stub
=============================================  ===============================================
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters
from torchair_compat._support import interpret_backend

import airgraph as torchair
from airgraph.configs.compiler_config import CompilerConfig
from airgraph.inference import set_dim_gears
from airgraph_gears import GearPlan


@pytest.fixture(autouse=True)
def _no_counters(fresh_dynamo):
    counters.clear()


def _raises(fn, *args):
    with pytest.raises(AssertionError) as info:
        fn(*args)
    return str(info.value)


# -- set_dim_gears rules ---------------------------------------------------------------------


def test_set_dim_gears_twice():
    """torchair_gear_st.py: TorchairSt.test_set_dim_gears_twice."""
    x = torch.ones([2, 2])
    set_dim_gears(x, {1: [1, 2]})
    set_dim_gears(x, {1: [1, 2]})  # the same gears again: no error
    message = _raises(set_dim_gears, x, {0: [1, 2], 1: [1, 2]})
    assert (
        message == f"Tensor {x} already has set dim gears, and it is not supported to set it again."
    )


def test_set_dim_gears_dim_index_not_it():
    """torchair_gear_st.py: TorchairSt.test_set_dim_gears_dim_index_not_it."""
    message = _raises(set_dim_gears, torch.ones([2, 2]), {0.3: [1, 2]})
    assert message == "Dim index in dim_gears must be an integer, but got <class 'float'>."


def test_set_dim_gears_value_not_list_or_tuple():
    """torchair_gear_st.py: TorchairSt.test_set_dim_gears_value_not_list_or_tuple."""
    message = _raises(set_dim_gears, torch.ones([2, 2]), {0: 1})
    assert message == (
        "Gears for dim index 0 in dim_gears must be a list or tuple, but got <class 'int'>."
    )


def test_set_dim_gears_dim_index_out_of_range():
    """torchair_gear_st.py: TorchairSt.test_set_dim_gears_dim_index_out_of_range."""
    message = _raises(set_dim_gears, torch.ones([2, 2]), {0: [1, 2], 2: [1, 2]})
    assert message == "Dim index in dim_gears must be in range [0, 1], but got 2."


def test_set_dim_gears_value_not_int():
    """torchair_gear_st.py: TorchairSt.test_set_dim_gears_value_not_int."""
    message = _raises(set_dim_gears, torch.ones([2, 2]), {0: [1, 1.5]})
    assert message == (
        "Element at index 1 of value for dim index 0 in dim_gears must be an integer, "
        "but got <class 'float'>."
    )


def test_set_dim_gears_value_lens_out_of_range():
    """torchair_gear_st.py: TorchairSt.test_set_dim_gears_value_lens_out_of_range."""
    message = _raises(set_dim_gears, torch.ones([2, 2]), {0: list(range(1, 102))})
    assert message == (
        "Length of gears for dim index 0 in dim_gears must be in range [2, 100], but got 101."
    )


def test_set_dim_gears_value():
    """torchair_gear_st.py: TorchairSt.test_set_dim_gears_value."""
    message = _raises(set_dim_gears, torch.ones([2, 2]), {0: [0, 2]})
    assert message == "Gear value at index 0 for dim index 0 must not be 0, but got 0."


def test_errors_are_also_airgraph_classes():
    """Not upstream: the same errors are ValueError / TypeError (airgraph's convention)."""
    with pytest.raises(ValueError):
        set_dim_gears(torch.ones([2, 2]), {0: [0, 2]})
    with pytest.raises(TypeError):
        set_dim_gears(torch.ones([2, 2]), {0.3: [1, 2]})


def test_set_dim_gears_keyword_is_torchair_s():
    """TorchAir's signature: ``set_dim_gears(t, dim_gears)``."""
    x = torch.ones([2, 2])
    set_dim_gears(t=x, dim_gears={0: [2, 4]})
    assert torchair.inference.set_dim_gears is set_dim_gears


# -- compiled models -------------------------------------------------------------------------


class _Double(torch.nn.Module):
    def forward(self, x):
        return x * 2


def test_not_parse_stack_over():
    """torchair_gear_st.py: TorchairSt.test_not_parse_stack_over (dynamic=True, 98 gears)."""
    config = CompilerConfig()
    config.airgraph_config.gear_compile = "lazy"  # only the gear called is compiled
    model = torch.compile(_Double(), backend=interpret_backend(config), dynamic=True)
    y = torch.ones([8, 8, 8])
    set_dim_gears(y, {0: list(range(1, 99))})
    torch.testing.assert_close(model(y), y * 2)


def test_guard_gears():
    """torchair_gear_st.py: TorchairSt.test_guard_gears: the second gear hits the compiled graph."""
    backend = interpret_backend()
    model = torch.compile(_Double(), backend=backend, dynamic=True)
    x = torch.ones([8, 8])
    set_dim_gears(x, {0: [8, 4]})
    torch.testing.assert_close(model(x), x * 2)
    y = torch.arange(32.0).reshape(4, 8)
    torch.testing.assert_close(model(y), y * 2)  # TorchAir: no new GE graph for it
    assert counters["stats"]["unique_graphs"] == 1
    assert len(backend.compiled) == 1


# -- GE gear options (TorchAir's generate_dynamic_dims_option, ours GearPlan.ge_options) -------


def _options(inputs, policy):
    """``inputs``: name -> (Data shape with -1 at geared dims, dim_gears)."""
    names = list(inputs)
    shapes = [tuple(shape) for shape, _ in inputs.values()]
    plan = GearPlan(shapes, [gears for _, gears in inputs.values()], policy)
    return plan.ge_options(names, shapes)


def _dims(option):
    return set(option.split(";"))


def test_config_product():
    """torchair_gear_st.py: TorchairSt.test_config_product."""
    result = _options({"arg2_1": ([-1, -1], {0: [8, 4], 1: [8, 12]})}, "product")
    assert result["ge.inputShape"] == "arg2_1:-1,-1"
    assert {"8,8", "8,12", "4,8", "4,12"} <= _dims(result["ge.dynamicDims"])


def test_config_zip():
    """torchair_gear_st.py: TorchairSt.test_config_zip."""
    result = _options({"arg2_1": ([-1, 8], {0: [8, 4]})}, "zip")
    assert result["ge.inputShape"] == "arg2_1:-1,8"
    assert {"8", "4"} <= _dims(result["ge.dynamicDims"])


def test_config_zip_list_lens_same():
    """torchair_gear_st.py: TorchairSt.test_config_zip_list_lens_same.

    TorchAir's message is the whole error; ours starts with it and adds the lists.
    """
    with pytest.raises(AssertionError) as info:
        _options({"arg1": ([-1, 8], {0: [8, 4]}), "arg2": ([-1, 8], {0: [8, 4, 3]})}, "zip")
    assert str(info.value).startswith(
        "when dynamic_gears_merge_policy is zip, input gears len must same."
    )


def test_config_repeat():
    """torchair_gear_st.py: TorchairSt.test_config_repeat (repeated gears are allowed)."""
    gears = {0: [1, 2, 4, 1, 2, 4], 1: [10, 10, 10, 20, 20, 20]}
    result = _options({"arg2_1": ([-1, -1], gears)}, "zip")
    assert result["ge.inputShape"] == "arg2_1:-1,-1"
    assert {"1,10", "2,10", "4,10", "1,20", "2,20", "4,20"} <= _dims(result["ge.dynamicDims"])


def test_gears_num_not_over_100():
    """torchair_gear_st.py: TorchairSt.test_gears_num_not_over_100."""
    inputs = {
        "arg1": ([-1, 8], {0: list(range(1, 10))}),
        "arg2": ([-1, 8], {0: list(range(10, 20))}),
        "arg3": ([-1, 8], {0: list(range(20, 30))}),
    }
    with pytest.raises(AssertionError) as info:
        _options(inputs, "product")
    assert str(info.value) == (
        "The total number of gears set cannot exceed 100, and the current number of gears is: 900"
    )


def test_gears_deduplicated():
    """torchair_gear_st.py: TorchairSt.test_gears_deduplicated (as a set: TorchAir's order is arbitrary)."""
    inputs = {"arg1": ([-1, 8], {0: [1, 2]}), "arg2": ([-1, 8], {0: [10, 11, 10, 11]})}
    result = _options(inputs, "product")
    dims = result["ge.dynamicDims"].split(";")
    assert len(dims) == 4
    assert set(dims) == {"1,11", "2,10", "2,11", "1,10"}  # TorchAir: "1,11;2,10;2,11;1,10"
