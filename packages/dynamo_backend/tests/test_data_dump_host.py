"""dump_config on the host target: each GE op's tensors written per call, as GE dumps them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from airgraph_dynamo import CompilerConfig, get_npu_backend
from airgraph_dynamo.data_dump import parse_dump_steps


def _config(tmp_path, mode="interpret", **dump):
    config = CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = mode
    config.dump_config.enable_dump = True
    config.dump_config.dump_path = str(tmp_path)
    for name, value in dump.items():
        setattr(config.dump_config, name, value)
    return config


def _fn(x, y):
    return torch.relu(x + y) * 3


def _run(tmp_path, fn=_fn, calls=1, mode="interpret", **dump):
    compiled = torch.compile(
        fn, backend=get_npu_backend(compiler_config=_config(tmp_path, mode, **dump))
    )
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(2, 3, generator=gen), torch.randn(2, 3, generator=gen)]
    for _ in range(calls):
        compiled(*inputs)
    return inputs


def _graph_folder(tmp_path):
    (graph,) = (tmp_path / "worldsize1_global_rank0").iterdir()
    return graph


def _index(step_folder):
    with open(step_folder / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


def _tensor(step_folder, row):
    return torch.from_numpy(np.load(step_folder / row["file"]))


def _one(rows, op_type, io, index="0"):
    (row,) = [r for r in rows if r["op_type"] == op_type and r["io"] == io and r["index"] == index]
    return row


def test_each_ge_op_output_equals_the_eager_intermediate(tmp_path):
    x, y = _run(tmp_path)
    step = _graph_folder(tmp_path) / "0"
    rows = _index(step)
    added = x + y
    expected = {"Add": added, "Relu": torch.relu(added)}
    for op_type, value in expected.items():
        row = _one(rows, op_type, "output")
        assert row["dtype"] == "float32" and row["shape"] == "2x3"
        torch.testing.assert_close(_tensor(step, row), value)
    # The scale is the last op's second input; its output is the result.
    (last,) = [
        r for r in rows if r["io"] == "output" and r["op_type"] not in ("Data", "Add", "Relu")
    ]
    torch.testing.assert_close(_tensor(step, last), torch.relu(added) * 3)
    inputs = sorted((r for r in rows if r["op_type"] == "Data"), key=lambda r: r["op_name"])
    assert len(inputs) == 2 and {r["io"] for r in inputs} == {"output"}
    got = sorted((_tensor(step, r) for r in inputs), key=lambda t: t.sum().item())
    want = sorted((x, y), key=lambda t: t.sum().item())
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(_tensor(step, _one(rows, "Relu", "input")), added)


@pytest.mark.parametrize("dump_mode", ["input", "output"])
def test_dump_mode(tmp_path, dump_mode):
    _run(tmp_path, dump_mode=dump_mode)
    rows = _index(_graph_folder(tmp_path) / "0")
    assert rows and {r["io"] for r in rows} == {dump_mode}


def test_dump_step_picks_the_calls(tmp_path):
    _run(tmp_path, calls=4, dump_step="1|3")
    assert sorted(p.name for p in _graph_folder(tmp_path).iterdir()) == ["1", "3"]


def test_dump_layer_keeps_the_named_op_and_its_data_inputs(tmp_path):
    (tmp_path / "all").mkdir()
    _run(tmp_path / "all")
    rows = _index(_graph_folder(tmp_path / "all") / "0")
    add = _one(rows, "Add", "output")["op_name"]
    (tmp_path / "layer").mkdir()
    _run(tmp_path / "layer", dump_layer=f" {add} ")
    layer_rows = _index(_graph_folder(tmp_path / "layer") / "0")
    assert {r["op_type"] for r in layer_rows} == {"Add", "Data"}
    assert {r["op_name"] for r in layer_rows if r["op_type"] == "Add"} == {add}


def test_stats_write_no_tensors(tmp_path):
    x, y = _run(tmp_path, dump_data="stats")
    step = _graph_folder(tmp_path) / "0"
    assert sorted(p.name for p in step.iterdir()) == ["index.csv"]
    row = _one(_index(step), "Add", "output")
    added = (x + y).double()
    for name, value in (("min", added.min()), ("max", added.max()), ("mean", added.mean())):
        assert float(row[name]) == pytest.approx(value.item(), rel=1e-6)


def test_in_place_update_is_dumped_as_before_the_write(tmp_path):
    def fn(cache, x):
        cache.add_(x)
        return cache * 2

    compiled = torch.compile(fn, backend=get_npu_backend(compiler_config=_config(tmp_path)))
    cache, x = torch.ones(2, 2), torch.full((2, 2), 5.0)
    torch.testing.assert_close(compiled(cache, x), torch.full((2, 2), 12.0))
    torch.testing.assert_close(cache, torch.full((2, 2), 6.0))
    step = _graph_folder(tmp_path) / "0"
    row = _one(_index(step), "Assign", "input")
    torch.testing.assert_close(_tensor(step, row), torch.ones(2, 2))


def test_off_by_default_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = "interpret"
    torch.compile(_fn, backend=get_npu_backend(compiler_config=config))(
        torch.ones(2), torch.ones(2)
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_inductor_mode_dumps_through_the_interpret_pass(tmp_path):
    x, y = _run(tmp_path, calls=2, mode="inductor", dump_step="1")
    step = _graph_folder(tmp_path) / "1"
    torch.testing.assert_close(
        _tensor(step, _one(_index(step), "Relu", "output")), torch.relu(x + y)
    )
    assert not (_graph_folder(tmp_path) / "0").exists()


def test_parse_dump_steps():
    assert parse_dump_steps("") is None
    steps = parse_dump_steps("0|3-5|10")
    assert [s for s in range(12) if steps(s)] == [0, 3, 4, 5, 10]
    with pytest.raises(ValueError, match="dump_step: 'x'"):
        parse_dump_steps("1|x")


def test_debugging_guide_example(tmp_path, monkeypatch, capsys):
    page = Path(__file__).resolve().parents[3] / "docs" / "guides" / "debugging.md"
    section = page.read_text().split("## Per-op tensor dumps (`dump_config`)", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, str(page), "exec"), {})  # noqa: S102
    header, *rows = capsys.readouterr().out.strip().splitlines()
    assert header == "op_name,op_type,io,index,dtype,shape,file"
    assert any(",Relu,output,0,float32,4," in row for row in rows), rows
