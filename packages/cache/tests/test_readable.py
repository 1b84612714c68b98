"""readable_cache: what an entry holds, for people; it never changes the cache."""

from __future__ import annotations

import io
import json
import re
import tempfile
from pathlib import Path

import pytest

from airgraph_cache import ArtifactStore, rank_folder, readable_cache
from airgraph_core import DataType, GraphBuilder, dump_text, serialize


def _add_graph(name="add"):
    b = GraphBuilder(name)
    x = b.data(0, DataType.FLOAT, (-1, 2))
    y = b.data(1, DataType.FLOAT, (-1, 2))
    b.net_output([b.op("Add", x, y, out=x.spec)])
    return b.graph


@pytest.fixture
def cache(tmp_path):
    store = ArtifactStore(tmp_path / "cache")
    entry = store.root / "Model__forward_0123456789abcdef" / rank_folder(0)
    files = {
        "graph.pb": serialize(_add_graph()),
        "graph_1.pb": serialize(_add_graph("add_gear1")),
        "gears.json": json.dumps({"0": {"0": [2, 4]}}).encode(),
        "weights.bin": b"\x00" * 16,
    }
    key = {
        "model_class": "pkg.Model",
        "method": "_forward",
        "inputs": [{"kind": "tensor", "dtype": "float32", "shape": [{"gears": [2, 4]}, 2]}],
        "versions": {"torch": "2.13.0", "cann": None},
        "module_state": {"parameters": {"w": {"shape": [2], "dtype": "float32"}}, "buffers": {}},
    }
    store.publish(entry, files, {"key": key, "key_digest": "ab" * 32})
    return store, entry


def test_rank_folder_view_shows_key_files_gears_and_graphs(cache):
    _store, entry = cache
    out = io.StringIO()
    text = readable_cache(entry, file=out)
    assert out.getvalue() == text
    assert "status: ok (4 files verified)" in text
    assert "model_class: pkg.Model" in text
    assert "torch: 2.13.0" in text
    assert "param w:" in text
    assert '"gears":[2,4]' in text
    assert "weights.bin  16 bytes  sha256 " in text
    assert "gears (gears.json):" in text
    for name in ("add", "add_gear1"):
        for line in dump_text(_add_graph(name)).splitlines():
            assert line in text


def test_entry_folder_and_root_views(cache):
    store, entry = cache
    other = store.root / "Other_decode_fedcba9876543210" / rank_folder(1, tp_rank=0)
    store.publish(other, {"a.bin": b"abc"})
    entry_view = readable_cache(entry.parent, file=io.StringIO())
    assert f"entry: {entry}" in entry_view
    root_view = readable_cache(store.root, file=io.StringIO())
    assert "(2 entries)" in root_view
    assert "Model__forward_0123456789abcdef/rank_0  ok" in root_view
    assert "Other_decode_fedcba9876543210/rank_1_tp0  ok  created " in root_view


def test_prints_to_stdout_by_default(cache, capsys):
    _store, entry = cache
    text = readable_cache(entry)
    assert capsys.readouterr().out == text


def test_damaged_entry_is_shown_and_left_in_place(cache):
    _store, entry = cache
    (entry / "graph.pb").write_bytes(b"garbage")
    text = readable_cache(entry, file=io.StringIO())
    assert "status: damaged" in text and "graph.pb: truncated" in text
    assert (entry / "graph.pb").read_bytes() == b"garbage"


def test_a_graph_file_that_is_not_a_graph_is_reported(tmp_path):
    store = ArtifactStore(tmp_path / "cache")
    entry = store.root / "M_f_0123456789abcdef" / "rank_0"
    store.publish(entry, {"graph.pb": b"\xff\xff\xff"})
    assert "<not a GE graph:" in readable_cache(entry, file=io.StringIO())


def test_rejects_what_is_not_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        readable_cache(tmp_path / "absent", file=io.StringIO())
    with pytest.raises(TypeError, match="path"):
        readable_cache(3)


def test_the_storage_example_in_the_docs_runs(tmp_path, monkeypatch, capsys):
    page = Path(__file__).resolve().parents[3] / "docs" / "concepts" / "cache.md"
    if not page.exists():
        pytest.skip(f"{page} is not in this checkout (installed package?)")
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    (example,) = [b for b in blocks if "ArtifactStore(" in b]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its mkdtemp() lands here
    namespace = {"__name__": "airgraph_cache_docs_example"}
    exec(compile(example, str(page), "exec"), namespace)
    assert "(1 entries)" in namespace["text"]
    assert capsys.readouterr().out == namespace["text"]
