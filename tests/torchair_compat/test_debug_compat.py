"""TorchAir's debug cases (graph dumps, data dumps, run_eagerly, remove_noop_ops), ported.

Each test names the upstream file and test it ports; inputs and expectations
are TorchAir's, the code is ours. Values are compared with eager PyTorch;
compiles use the host target's interpret mode (the same GE graph).

TorchAir's remove_noop_ops cases look at the FX graph after its passes
through its private ``GeConcreteGraph.__call__``; the ports look at the same
graph through the public ``post_grad_custom_post_pass``, which both TorchAir
and airgraph run after ``remove_noop_ops``, just before lowering.

Upstream cases read and what became of them:

=================================================  =========================================
upstream (file: test)                              here
=================================================  =========================================
torchair_st.py: test_ge_graph_dump_with_py         ported
torchair_st.py: test_directory_generation          ported
torchair_st.py: test_fx_dumper                     ported
torchair_st.py: test_data_dump_generation          ported
torchair_st.py: test_data_dump_failpath            ported; the NotADirectoryError comes when
                                                   the path is set, not at the first call
torchair_st.py: test_dump_node_info                skipped: TorchAir's py dump embeds each
                                                   op's FX code ("## FX Code" lines); our py
                                                   dump is a GE-op listing without them
torchair_fx_pattern_st.py: test_disable_remove_    ported
noop_ops, test_enable_remove_noop_ops_{slice,      ported (11 cases)
slice_scatter, repeat, pad, convert, ceil, pow,
cat, clone, clone_skipped, clone_inplace}
torchair_fx_pattern_st.py: test_view_copy_not_     skipped: TorchAir's private view-inplace
inplace, test_view_add_inplace                     pattern pass (NPU ops, log text)
torchair_fx_pattern_st.py: test_pattern_pass_      skipped: TorchAir's NPU pattern pass
batchmatmul_transpose_for_ge
torchair_debug_log_st.py: test_torch_compile_ge_   skipped: TORCH_COMPILE_DEBUG's per-pass
debug_is_1, test_torch_cache_compile_debug_is_1    files of TorchAir's own passes, with
                                                   backward graphs (airgraph is inference-only)
torchair_eager_st.py: test_ge_eager_mode_          counted in test_config_compat.py; here
dynamic_false / _true                              also checked that the graph ran eagerly
=================================================  =========================================
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
import torch
import torch.nn.functional as F
from torchair_compat._support import interpret_backend

import airgraph as torchair
from airgraph.configs.compiler_config import CompilerConfig


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch, fresh_dynamo):
    monkeypatch.chdir(tmp_path)  # TorchAir's cases write into the working directory


class _Add(torch.nn.Module):
    def forward(self, x, y):
        return torch.add(x, y)


# -- graph dumps ----------------------------------------------------------------------------


def test_ge_graph_dump_with_py():
    """torchair_st.py: TorchairSt.test_ge_graph_dump_with_py."""

    class Model(torch.nn.Module):
        def forward(self, x):
            return x + 1

    config = CompilerConfig()
    config.debug.graph_dump.type = "py"
    model = torch.compile(Model(), backend=interpret_backend(config))
    x = torch.randn(2, 2)
    torch.testing.assert_close(model(x), x + 1)
    dumped = [f for f in os.listdir(".") if f.startswith("dynamo_") and f.endswith(".py")]
    dumped.sort(key=os.path.getmtime)
    assert len(dumped) > 0
    with open(dumped[-1]) as f:
        src = f.read()
    assert src.strip() and "Add" in src  # more than an empty module header


def test_directory_generation():
    """torchair_st.py: TorchairSt.test_directory_generation."""
    config = torchair.CompilerConfig()
    config.debug.graph_dump.type = "pbtxt"
    config.debug.graph_dump.path = "./test_directory_generation/dir"
    if os.path.exists(config.debug.graph_dump.path):
        shutil.rmtree(config.debug.graph_dump.path)
    config.ge_config.export_compile_stat = "0"
    model = torch.compile(_Add(), backend=interpret_backend(config))
    x, y = torch.randn(2, 2), torch.randn(2, 2)
    torch.testing.assert_close(model(x, y), x + y)
    path = os.path.realpath(config.debug.graph_dump.path)
    assert os.path.isdir(path)
    files = [f for f in os.listdir(path) if f.endswith(".pbtxt")]
    assert len(files) == 2, files
    info = []
    for f in files:
        match = re.match(r"dynamo_(optimized|original)_graph_(\d+)_rank_(\d+)_pid_(\d+)_.*", f)
        assert match is not None, f
        info.append(match.groups())
    (type1, gid1, rank1, pid1), (type2, gid2, rank2, pid2) = info
    assert {type1, type2} == {"optimized", "original"}
    assert (gid1, rank1, pid1) == (gid2, rank2, pid2)


# -- data dumps -----------------------------------------------------------------------------


def test_fx_dumper():
    """torchair_st.py: TorchairSt.test_fx_dumper (two shapes, values against eager)."""

    class Model(torch.nn.Module):
        def forward(self, x):
            return x + x

    config = CompilerConfig()
    config.debug.data_dump.type = "npy"
    model = torch.compile(Model(), backend=interpret_backend(config))
    for shape in ([2, 3, 4, 5], [2, 3, 4, 7]):
        x = torch.randn(shape)
        torch.testing.assert_close(model(x), x + x)
    assert os.path.isdir("worldsize1_global_rank0")


def test_data_dump_generation():
    """torchair_st.py: TorchairSt.test_data_dump_generation."""
    config = torchair.CompilerConfig()
    config.debug.data_dump.type = "npy"
    config.debug.data_dump.path = "./test_data_dump_generation/dir"
    if os.path.exists(config.debug.data_dump.path):
        shutil.rmtree(config.debug.data_dump.path)
    config.ge_config.export_compile_stat = "0"
    model = torch.compile(_Add(), backend=interpret_backend(config))
    x, y = torch.randn(2, 2), torch.randn(2, 2)
    torch.testing.assert_close(model(x, y), x + y)
    path = os.path.realpath(f"{config.debug.data_dump.path}/worldsize1_global_rank0")
    assert os.path.isdir(path)
    graph_folder = os.listdir(path)[0]
    assert graph_folder.startswith("graph_")
    path = os.path.join(path, graph_folder)
    file_path = os.path.join(path, os.listdir(path)[0])
    files = [f for f in os.listdir(file_path) if f.endswith(".npy")]
    assert len(files) == 3, files


def test_data_dump_values_are_the_op_s():
    """Not upstream: the .npy files hold the add's inputs and output."""
    import numpy as np

    config = CompilerConfig()
    config.debug.data_dump.type = "npy"
    config.debug.data_dump.path = "dumps"
    model = torch.compile(_Add(), backend=interpret_backend(config))
    x, y = torch.randn(2, 2), torch.randn(2, 2)
    model(x, y)
    (graph,) = os.listdir("dumps/worldsize1_global_rank0")
    folder = os.path.join("dumps/worldsize1_global_rank0", graph, "0")
    by_role = {re.search(r"\.(INPUT\.\d|OUTPUT\.\d)\.", f).group(1): f for f in os.listdir(folder)}
    np.testing.assert_array_equal(np.load(os.path.join(folder, by_role["INPUT.0"])), x.numpy())
    np.testing.assert_array_equal(np.load(os.path.join(folder, by_role["INPUT.1"])), y.numpy())
    np.testing.assert_array_equal(
        np.load(os.path.join(folder, by_role["OUTPUT.0"])), (x + y).numpy()
    )


def test_data_dump_failpath():
    """torchair_st.py: TorchairSt.test_data_dump_failpath.

    TorchAir raises NotADirectoryError at the first call; airgraph already
    when the path is set (the same class, also a ValueError).
    """
    config = torchair.CompilerConfig()
    os.makedirs("./test_data_dump_failpath", exist_ok=True)
    with open("./test_data_dump_failpath/fail.txt", "w") as f:
        f.write("data dump test")
    config.debug.data_dump.type = "npy"
    with pytest.raises(NotADirectoryError):
        config.debug.data_dump.path = "./test_data_dump_failpath/fail.txt"
        config.ge_config.export_compile_stat = "0"
        model = torch.compile(_Add(), backend=interpret_backend(config))
        model(torch.randn(2, 2), torch.randn(2, 2))


# -- run_eagerly ----------------------------------------------------------------------------


class _Linears(torch.nn.Module):
    """torchair_eager_st.py's Model."""

    def __init__(self):
        super().__init__()
        self.linear1 = torch.nn.Linear(2, 2)
        self.linear2 = torch.nn.Linear(2, 2)

    def forward(self, x):
        ln1 = self.linear1(x)
        ln2 = self.linear2(x)
        if x.sum() < 0:
            return ln1 + ln2 + 1
        return ln1 + ln2 - 1


@pytest.mark.parametrize("dynamic", [False, True])
def test_ge_eager_mode_runs_eagerly(dynamic):
    """torchair_eager_st.py: EagerModeSt.test_ge_eager_mode_dynamic_false / _true: eager, not GE."""
    model = _Linears()
    config = CompilerConfig()
    config.debug.run_eagerly = True
    backend = interpret_backend(config)
    x = torch.randn([3, 2])
    with torch.no_grad():
        expected = model(x)
        got = torch.compile(model, backend=backend, dynamic=dynamic)(x)
    torch.testing.assert_close(got, expected)
    assert backend.compiled and all(r.target == "eager" for r in backend.compiled)
    assert all(r.fallback_reason == "debug.run_eagerly" for r in backend.compiled)


# -- remove_noop_ops ------------------------------------------------------------------------


def _ops_before_lowering(model, remove_noop_ops=None, **inputs):
    """Compile and run ``model``; the op overload packets of the graph airgraph lowers."""
    seen = []

    def look(gm, example_inputs, config):
        seen.extend(
            n.target.overloadpacket
            for n in gm.graph.nodes
            if n.op == "call_function" and hasattr(n.target, "overloadpacket")
        )

    config = torchair.CompilerConfig()
    if remove_noop_ops is not None:
        config.experimental_config.remove_noop_ops = remove_noop_ops
    config.post_grad_custom_post_pass = look
    compiled = torch.compile(model, backend=interpret_backend(config), dynamic=True)
    torch.testing.assert_close(compiled(**inputs), model(**inputs))
    return seen


class _Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, y):
        return self.fn(x, y)


def test_disable_remove_noop_ops():
    """torchair_fx_pattern_st.py: TorchairFXPatternSt.test_disable_remove_noop_ops."""
    model = _Fn(lambda x, y: x[:] + y[:])
    ops = _ops_before_lowering(model, False, x=torch.randn([2, 2]), y=torch.randn([2, 2]))
    assert torch.ops.aten.slice in ops


_NOOP_CASES = {
    # upstream test suffix: (model body, the no-op, whether it stays)
    "slice": (lambda x, y: x[:] + y[:], torch.ops.aten.slice, False),
    "slice_scatter": (lambda x, y: x.slice_scatter(y) + y, torch.ops.aten.slice_scatter, False),
    "repeat": (lambda x, y: x.repeat(1, 1) + y, torch.ops.aten.repeat, False),
    "pad": (
        lambda x, y: F.pad(x, pad=[0, 0, 0, 0], value=3.5) + y,
        torch.ops.aten.constant_pad_nd,
        False,
    ),
    "convert": (
        lambda x, y: torch.ops.prims.convert_element_type(x, torch.float32) + y,
        torch.ops.prims.convert_element_type,
        False,
    ),
    "ceil": (lambda x, y: torch.ceil(x) + y, torch.ops.aten.ceil, False),
    "pow": (lambda x, y: torch.pow(x, 1) + y, torch.ops.aten.pow, False),
    "cat": (lambda x, y: torch.cat([x], dim=0) + y, torch.ops.aten.cat, False),
    "clone": (lambda x, y: x.clone() + y, torch.ops.aten.clone, False),
    "clone_skipped": (lambda x, y: x.clone(), torch.ops.aten.clone, True),
    "clone_inplace": (lambda x, y: y + x.clone().add_(1), torch.ops.aten.clone, False),
}


@pytest.mark.parametrize("case", sorted(_NOOP_CASES))
def test_enable_remove_noop_ops(case):
    """torchair_fx_pattern_st.py: TorchairFXPatternSt.test_enable_remove_noop_ops_<case>."""
    body, op, kept = _NOOP_CASES[case]
    if case == "ceil":  # TorchAir feeds integer tensors here: ceil of an int is a no-op
        inputs = {"x": torch.tensor([2, 2]), "y": torch.tensor([2, 2])}
    else:
        inputs = {"x": torch.randn([2, 2]), "y": torch.randn([2, 2])}
    ops = _ops_before_lowering(_Fn(body), **inputs)
    assert (op in ops) is kept, ops
