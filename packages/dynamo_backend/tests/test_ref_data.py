"""``experimental_config.enable_ref_data``: written inputs as GE ``RefData``, as TorchAir emits them.

Through torch.compile on the NPU target's contract fake (which, like GE,
applies updates only through outputs reusing the inputs' memory) and on the
host target, against eager, two steps each so a lost update shows.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core.input_updates import (
    REUSE_OPTION,
    as_plain_data,
    as_ref_data,
    written_inputs,
)
from airgraph_dynamo.backend import get_npu_backend
from airgraph_dynamo.config import CompilerConfig
from airgraph_dynamo.pipeline import passes
from airgraph_dynamo.testing import fake_npu_backend, make_fake_npu_binding


def _add_(x, y):
    x.add_(y)
    return y * 2


def _kv_step(k_cache, v_cache, q, k, v, pos):
    k_cache[:, pos] = k
    v_cache.index_copy_(1, pos, v)
    return (k_cache * q).sum(-1) + v_cache.sum(-1)


CASES = {
    # name: (fn, inputs, how many inputs the graph writes)
    "add_": (_add_, lambda: [torch.randn(4, 8), torch.randn(4, 8)], 1),
    "kv_cache": (
        _kv_step,
        lambda: [
            torch.randn(2, 6, 4),
            torch.randn(2, 6, 4),
            torch.randn(2, 6, 4),
            torch.randn(2, 1, 4),
            torch.randn(2, 1, 4),
            torch.tensor([3]),
        ],
        2,
    ),
}


def _config(ref_data: bool, **airgraph_options) -> CompilerConfig:
    config = CompilerConfig()
    config.experimental_config.enable_ref_data = ref_data
    for name, value in airgraph_options.items():
        setattr(config.airgraph_config, name, value)
    return config


def _run_twice(fn, make, backend):
    torch.manual_seed(0)
    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    eager_inputs = make()
    got_inputs = [t.clone() for t in eager_inputs]
    with torch.no_grad():
        for _ in range(2):
            torch.testing.assert_close(compiled(*got_inputs), fn(*eager_inputs))
            for after, want in zip(got_inputs, eager_inputs):
                torch.testing.assert_close(after, want)


def _inputs_by_type(graph) -> dict[str, set[int]]:
    kinds: dict[str, set[int]] = {"Data": set(), "RefData": set()}
    for op in graph.data_ops:
        kinds[op.type].add(int(op.attr("index")))
    return kinds


@pytest.mark.parametrize("ref_data", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_npu_target_loads_written_inputs_as_ref_data_when_enabled(name, ref_data):
    fn, make, n_written = CASES[name]
    binding = make_fake_npu_binding()
    _run_twice(fn, make, fake_npu_backend(_config(ref_data), binding=binding))
    (graph,) = [g.graph for g in binding.graphs]  # as GE got it (deserialized)
    # Either way each update is an output reusing its input's memory, as in TorchAir.
    (load,) = [c for c in binding.calls if c[0] == "load"]
    written = {int(p.split(",")[0]) for p in load[2][REUSE_OPTION].split("|")}
    assert len(written) == n_written
    assert "Assign" not in graph.op_types()
    kinds = _inputs_by_type(graph)
    everything = kinds["Data"] | kinds["RefData"]
    assert everything == set(range(len(make())))
    if ref_data:
        assert kinds["RefData"] == written and kinds["Data"] == everything - written
        for op in graph.ops_of_type("RefData"):
            assert op.attr("_origin_data_name") == op.name
    else:
        assert kinds["RefData"] == set()


def test_host_target_runs_ref_data_as_data():
    fn, make, n_written = CASES["kv_cache"]
    backend = get_npu_backend(compiler_config=_config(True, target="host", host_mode="interpret"))
    _run_twice(fn, make, backend)
    (graph,) = backend.compiler.graphs
    refs = _inputs_by_type(graph)["RefData"]
    assert len(refs) == n_written and set(written_inputs(graph)) == refs
    assert "Assign" in graph.op_types()  # the host target applies the updates itself


def test_ref_data_step_runs_only_when_enabled():
    assert "ref_data" not in passes(_config(False))
    steps = passes()
    assert steps.index("plan_gears") < steps.index("ref_data") < steps.index("dump_graph")
    assert "ref_data" in passes(_config(True))


def test_rewrites_round_trip_and_leave_graphs_without_writes_alone():
    from torch.fx.experimental.proxy_tensor import make_fx

    from airgraph_core import lower_graph

    inputs = [torch.randn(2), torch.randn(2)]
    plain = lower_graph(make_fx(torch.add)(*inputs), inputs)
    assert written_inputs(plain) == []
    assert as_ref_data(plain) is plain and as_plain_data(plain) is plain

    def add_(x, y):
        return x.copy_(x + y)

    graph = lower_graph(make_fx(add_)(*inputs), inputs)
    ref = as_ref_data(graph)
    assert ref is not graph and written_inputs(ref) == written_inputs(graph) == [0]
    assert [op.type for op in ref.data_ops] == ["RefData", "Data"]
    assert [op.type for op in graph.data_ops] == ["Data", "Data"]  # left unchanged
    back = as_plain_data(ref)
    assert [op.type for op in back.data_ops] == ["Data", "Data"]
    assert "_origin_data_name" not in back.data_ops[0].attrs


def test_py_dump_names_ref_data_inputs_as_parameters():
    from torch.fx.experimental.proxy_tensor import make_fx

    from airgraph_core import lower_graph
    from airgraph_dynamo.dumps import dump_py

    def add_(x, y):
        return x.copy_(x + y)

    inputs = [torch.randn(2), torch.randn(2)]
    ref = as_ref_data(lower_graph(make_fx(add_)(*inputs), inputs))
    name = ref.data_ops[0].name
    text = dump_py(ref)
    assert text.splitlines()[0].startswith(f"def {ref.name}({name}: FLOAT[2]")
    assert f"    # {name} is a RefData" in text
    assert "ge.RefData" not in text and "ge.Data" not in text
