"""Debug switches: debug.run_eagerly, debug.fx_summary, debug.data_dump, remove_noop_ops."""

from __future__ import annotations

import csv
import os

import pytest
import torch

from airgraph_dynamo import get_npu_backend
from airgraph_dynamo.fx_summary import HEADER
from airgraph_dynamo.pipeline import passes


def _run(config, fn=lambda x, y: (x + y).view(-1) * 2):
    backend = get_npu_backend(compiler_config=config)
    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    x, y = torch.randn(2, 2), torch.randn(2, 2)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, y), fn(x, y))
    return backend.compiled[-1]


def test_run_eagerly_lowers_and_dumps_but_runs_the_aten_graph(make_config, tmp_path, caplog):
    config = make_config()
    config.debug.run_eagerly = True
    config.debug.graph_dump.type = "txt"
    config.debug.graph_dump.path = tmp_path
    record = _run(config)
    assert record.target == "eager" and record.fallback_reason == "debug.run_eagerly"
    assert record.ge_graph is not None and record.executable is None
    assert "compile_target" not in record.timings and "run_eagerly" in record.timings
    assert len(list(tmp_path.glob("dynamo_*_graph_*.txt"))) == 2
    assert "runs eagerly in PyTorch" in caplog.text


def test_fx_summary_writes_torchair_s_csv_then_runs_eagerly(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = make_config()
    config.debug.fx_summary.type = "csv"
    record = _run(config)
    assert record.target == "eager" and record.ge_graph is None  # skip_compile (TorchAir's default)
    (path,) = tmp_path.glob("summary_rank_0_pid_*_ts_*.csv")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == HEADER
    by_op = {row[0]: row for row in rows[1:]}
    assert set(by_op) == {"aten.add.Tensor", "aten.view.default", "aten.mul.Tensor"}
    assert by_op["aten.add.Tensor"][1:4] == ["aten", "supported", "1"]
    assert by_op["aten.add.Tensor"][4] == "1x: (float32(2, 2), float32(2, 2))"
    assert by_op["aten.view.default"][5] == "1x: float32(4,)"


def test_fx_summary_without_skip_compile_compiles(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = make_config()
    config.debug.fx_summary.type = "csv"
    config.debug.fx_summary.skip_compile = False
    record = _run(config)
    assert record.target == "host" and len(list(tmp_path.glob("summary_*.csv"))) == 1


def test_fx_summary_names_ops_without_converter(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = make_config()
    config.debug.fx_summary.type = "csv"
    _run(config, lambda x, y: torch.special.zeta(x.abs() + 2, y.abs() + 1))
    (path,) = tmp_path.glob("summary_*.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert "aten.special_zeta.default,aten,no converter,1" in text


def test_data_dump_counts_calls_and_honours_the_filter(make_config, tmp_path):
    pytest.importorskip("numpy")
    config = make_config()
    config.debug.data_dump.type = "npy"
    config.debug.data_dump.path = tmp_path
    config.debug.data_dump.filter = lambda node: node if node.name.startswith("mul") else None
    backend = get_npu_backend(compiler_config=config)
    compiled = torch.compile(lambda x: (x + 1) * 2, backend=backend, fullgraph=True)
    for _ in range(2):
        compiled(torch.ones(3))
    root = tmp_path / "worldsize1_global_rank0" / backend.compiled[-1].name
    assert sorted(os.listdir(root)) == ["0", "1"]
    names = sorted(os.listdir(root / "1"))
    assert [n.split(".")[0:4] for n in names] == [
        ["mul-aten", "mul", "Tensor", "INPUT"],
        ["mul-aten", "mul", "Tensor", "INPUT"],
        ["mul-aten", "mul", "Tensor", "OUTPUT"],
    ]


def test_remove_noop_ops_is_on_by_default_and_can_be_switched_off(make_config):
    config = make_config()
    assert "remove_noop_ops" in passes(config)
    record = _run(config, lambda x, y: x[:] + y.repeat(1, 1))
    ops = {str(n.target) for n in record.aten_graph.graph.nodes if n.op == "call_function"}
    assert ops == {"aten.add.Tensor"}
    config.experimental_config.remove_noop_ops = False
    assert "remove_noop_ops" not in passes(config)
    torch._dynamo.reset()
    record = _run(config, lambda x, y: x[:] + y.repeat(1, 1))
    ops = {str(n.target) for n in record.aten_graph.graph.nodes if n.op == "call_function"}
    assert "aten.repeat.default" in ops
