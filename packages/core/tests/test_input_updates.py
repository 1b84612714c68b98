"""updates_as_outputs: in-place input updates as outputs reusing the input's memory (TorchAir's form).

Each case lowers a function that updates inputs, rewrites the graph, runs
it on the host target as GE would (on copies of the inputs, then writing
each reused output into its input) and compares outputs and inputs with
eager.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core import HostProgram, lower_graph
from airgraph_core.capture import capture_aten_graph
from airgraph_core.input_updates import REUSE_OPTION, reuse_option, updates_as_outputs
from airgraph_core.lowering import INPUT_SOURCES_ATTR, OUTPUT_KINDS_ATTR, convert_outputs


def _copy_returned(cache, new):
    cache.copy_(new)
    return cache


def _add_not_returned(x, y):
    x.add_(y)
    return y * 2


def _value_also_returned(x):
    y = x + 1
    x.copy_(y)
    return y


def _two_inputs(k_cache, v_cache, k, v, pos):
    k_cache[:, pos] = k
    v_cache.index_copy_(1, pos, v)
    return k_cache.sum() + v_cache.sum()


def _slice_setitem(cache, src):
    cache[:, 2:4] = src
    return cache


CASES = {
    "copy_returned": (_copy_returned, lambda: [torch.randn(4, 8), torch.randn(4, 8)]),
    "add_not_returned": (_add_not_returned, lambda: [torch.randn(4, 8), torch.randn(4, 8)]),
    "value_also_returned": (_value_also_returned, lambda: [torch.randn(3, 5)]),
    "kv_cache": (
        _two_inputs,
        lambda: [
            torch.zeros(2, 6, 4),
            torch.zeros(2, 6, 4),
            torch.randn(2, 2, 4),
            torch.randn(2, 2, 4),
            torch.tensor([1, 3]),
        ],
    ),
    "slice_setitem": (_slice_setitem, lambda: [torch.randn(4, 8), torch.randn(4, 2)]),
}


def _lowered(fn, inputs, dynamic):
    """The lowered graph, and a function giving its ATen inputs for fresh user inputs."""
    captured = [x.clone() for x in inputs]
    gm, aten_inputs = capture_aten_graph(fn, captured, dynamic=dynamic)
    user_pos = {id(x): j for j, x in enumerate(captured)}

    def aten_args(user_inputs):
        return [user_inputs[user_pos[id(a)]] if id(a) in user_pos else a for a in aten_inputs]

    return lower_graph(gm, aten_inputs), aten_args


def _run_as_ge(graph, reuse, aten_inputs):
    """Run on copies of the inputs (GE may copy a Data), then write reused outputs back."""
    sources = graph.attrs[INPUT_SOURCES_ATTR].value
    inputs = [aten_inputs[p] for p in sources]
    outs = HostProgram(graph, "interpret")(*[x.clone() for x in inputs])
    for output, data in reuse.items():
        inputs[data].copy_(outs[output])
        outs[output] = inputs[data]
    return outs


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_rewritten_graph_updates_inputs_as_eager(name, dynamic):
    fn, make = CASES[name]
    torch.manual_seed(0)
    inputs = make()
    eager_inputs = [x.clone() for x in inputs]
    expected = fn(*eager_inputs)
    graph, aten_args = _lowered(fn, inputs, dynamic)
    before = [(op.name, op.type, list(op.inputs)) for op in graph.ops]

    rewritten, reuse = updates_as_outputs(graph)

    assert [(op.name, op.type, list(op.inputs)) for op in graph.ops] == before  # a copy
    assert not rewritten.ops_of_type("Assign")
    assert reuse and all(0 <= d < len(rewritten.data_ops) for d in reuse.values())
    net = rewritten.net_output
    assert len(rewritten.attrs["_output_dtypes"].value) == len(net.data_inputs)
    assert len(net.input_descs) == len(net.data_inputs)
    assert not any(e.endswith(":-1") for e in net.inputs)  # the Assign control edges are gone
    run_inputs = [x.clone() for x in inputs]
    outs = _run_as_ge(rewritten, reuse, aten_args(run_inputs))
    returned = len(graph.net_output.data_inputs)
    got = convert_outputs(outs[:returned], graph.attrs[OUTPUT_KINDS_ATTR].value)
    torch.testing.assert_close(got[0], expected)
    for after, want in zip(run_inputs, eager_inputs):
        torch.testing.assert_close(after, want)


def test_returned_update_takes_the_assign_position():
    graph, _ = _lowered(_copy_returned, CASES["copy_returned"][1](), False)
    rewritten, reuse = updates_as_outputs(graph)
    # TorchAir's graph: NetOutput returns the new value itself, output 0 is input 0's memory.
    assert reuse == {0: 0}
    data1 = next(op.name for op in rewritten.data_ops if op.attr("index") == 1)
    assert rewritten.net_output.data_inputs == [f"{data1}:0"]
    assert reuse_option(reuse) == {REUSE_OPTION: "0,0"}


def test_value_returned_as_new_tensor_gets_its_own_output():
    graph, _ = _lowered(_value_also_returned, [torch.randn(3, 5)], False)
    rewritten, reuse = updates_as_outputs(graph)
    # Eager returns y, a new tensor: it must not become the input's memory.
    assert reuse == {1: 0}
    net = rewritten.net_output
    assert net.data_inputs[0] == net.data_inputs[1]
    assert reuse_option(reuse) == {REUSE_OPTION: "0,1"}


def test_graph_without_updates_is_returned_as_is():
    graph, _ = _lowered(lambda x: x * 2, [torch.randn(3)], False)
    rewritten, reuse = updates_as_outputs(graph)
    assert rewritten is graph and reuse == {} and reuse_option(reuse) == {}


@pytest.mark.parametrize("name", ["copy_returned", "add_not_returned", "kv_cache"])
def test_npu_target_passes_inputs_as_reused_outputs(name):
    from airgraph_core.targets import NpuTarget
    from airgraph_core.targets.fake_npu import make_fake_npu_binding

    fn, make = CASES[name]
    torch.manual_seed(0)
    inputs = make()
    eager_inputs = [x.clone() for x in inputs]
    expected = fn(*eager_inputs)
    graph, aten_args = _lowered(fn, inputs, False)
    binding = make_fake_npu_binding()  # like GE, it does not apply an Assign into a Data
    executable = NpuTarget(binding=binding, device_id=0).compile(graph)
    load = next(c for c in binding.calls if c[0] == "load")
    _, reuse = updates_as_outputs(graph)
    assert load[2] == reuse_option(reuse)
    run_inputs = [x.clone() for x in inputs]
    args = aten_args(run_inputs)
    outs = executable([args[p] for p in graph.attrs[INPUT_SOURCES_ATTR].value])
    assert len(outs) == len(graph.net_output.data_inputs)  # the added outputs are not returned
    got = convert_outputs(outs, graph.attrs[OUTPUT_KINDS_ATTR].value)
    torch.testing.assert_close(got[0], expected)
    for after, want in zip(run_inputs, eager_inputs):
        torch.testing.assert_close(after, want)
