"""Graph dumps per ``debug.graph_dump``: txt, pbtxt and py files in the configured folder, TorchAir's names."""

from __future__ import annotations

import os
import re

import pytest
import torch

from airgraph_dynamo import get_npu_backend
from airgraph_dynamo.dumps import dump_file_name, dump_py, render

_NAME = re.compile(
    r"dynamo_(?P<stage>original|optimized)_(?P<name>graph_\d+)_rank_(?P<rank>\d+)"
    r"_pid_(?P<pid>\d+)_ts_(?P<ts>\d{20})\.(?P<kind>txt|pbtxt|py)"
)


def _compile_and_run(config):
    backend = get_npu_backend(compiler_config=config)
    fn = torch.compile(lambda x, y: (x + y) * y, backend=backend, fullgraph=True)
    with torch.no_grad():
        fn(torch.ones(2, 3), torch.ones(2, 3))
    return backend


@pytest.mark.parametrize("kind", ["txt", "pbtxt", "py"])
def test_dump_written_to_configured_folder(kind, tmp_path, make_config):
    if kind == "pbtxt":
        pytest.importorskip("airgraph_core.ir.serialize")
    config = make_config("interpret")
    config.debug.graph_dump.type = kind
    config.debug.graph_dump.path = tmp_path / "dumps"  # created on demand
    backend = _compile_and_run(config)
    record = backend.compiled[-1]
    assert record.dump_path.parent == tmp_path / "dumps"
    assert _NAME.fullmatch(record.dump_path.name).group("stage", "name", "kind") == (
        "optimized",
        record.name,
        kind,
    )
    original = sorted((tmp_path / "dumps").glob("dynamo_original_*"))
    assert len(original) == 1 and original[0].read_text() == record.dump_path.read_text()
    text = record.dump_path.read_text()
    assert "Add" in text and "Mul" in text
    assert text == render(record.ge_graph, kind)
    if kind == "pbtxt":
        assert 'type: "Data"' in text and 'type: "NetOutput"' in text


def test_no_dump_by_default(tmp_path, make_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = _compile_and_run(make_config("interpret"))
    assert backend.compiled[-1].dump_path is None
    assert list(tmp_path.iterdir()) == []


def test_dump_defaults_to_the_working_directory(tmp_path, make_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = make_config("interpret")
    config.debug.graph_dump.type = "txt"
    backend = _compile_and_run(config)
    record = backend.compiled[-1]
    assert record.dump_path.parent == tmp_path
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [_NAME.fullmatch(n).group("stage") for n in names] == ["optimized", "original"]
    rank_pid = {_NAME.fullmatch(n).group("name", "rank", "pid") for n in names}
    assert rank_pid == {(record.name, "0", str(os.getpid()))}


def test_dump_file_name_is_torchair_s():
    """TorchAir: ``dynamo_<stage>_graph_<id>_rank_<r>_pid_<p>_ts_<UTC %Y%m%d%H%M%S%f>.<type>``."""
    name = dump_file_name("graph_7", "original", "pbtxt")
    match = _NAME.fullmatch(name)
    assert match is not None and match.group("name") == "graph_7"
    assert len(match.group("ts")) == 20
    with pytest.raises(ValueError, match="stage"):
        dump_file_name("graph_7", "final", "txt")


def test_py_dump_reads_like_a_function(make_config):
    backend = _compile_and_run(make_config("interpret"))
    graph = backend.graphs[-1]
    text = dump_py(graph)
    lines = text.splitlines()
    assert lines[0] == f"def {graph.name}(arg0_1: FLOAT[2, 3], arg1_1: FLOAT[2, 3]):"
    assert "    Add = ge.Add(arg0_1, arg1_1)  # -> FLOAT[2, 3]" in lines
    assert "    Mul = ge.Mul(Add, arg1_1)  # -> FLOAT[2, 3]" in lines
    assert lines[-1] == "    return (Mul,)"


def test_render_rejects_unknown_kind(make_config):
    backend = _compile_and_run(make_config("interpret"))
    with pytest.raises(ValueError, match="'svg' is not one of"):
        render(backend.graphs[-1], "svg")
