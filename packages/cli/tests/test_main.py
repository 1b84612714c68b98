"""The ``airgraph`` command: argument handling and output."""

import json
import subprocess
import sys

import pytest

from airgraph_cli.main import DISTRIBUTIONS, main


def test_version_lists_every_distribution(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    for dist in DISTRIBUTIONS:
        assert dist in out
    assert "airgraph-cli" in out and "0.1.0" in out


def test_version_runs_as_a_process():
    result = subprocess.run(
        [sys.executable, "-m", "airgraph_cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "airgraph-core" in result.stdout


def test_no_command_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert "usage: airgraph" in capsys.readouterr().err.lower()


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as excinfo:
        main(["frobnicate"])
    assert excinfo.value.code == 2


def test_ops_prints_the_support_table(capsys):
    assert main(["ops", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| `aten.add.Tensor` |" in out  # a markdown table


def _published_entry(tmp_path, fingerprint="cfg"):
    import torch

    from airgraph_cache import ArtifactStore, build_key
    from airgraph_core import GraphBuilder, serialize
    from airgraph_core.ir import DataType

    class M(torch.nn.Module):
        def f(self, x):
            return x + x

    b = GraphBuilder("cli_graph")
    x = b.data(0, DataType.FLOAT, (2,))
    b.net_output([b.op("Add", x, x, out=x.spec)])
    key = build_key(M().f, (torch.zeros(2),), config_fingerprint=fingerprint)
    store = ArtifactStore(tmp_path)
    entry = store.entry_dir(key)
    store.publish(entry, {"graph.pb": serialize(b.graph)}, {"key": key.as_dict()})
    return entry


def test_cache_ls_and_show(tmp_path, capsys, monkeypatch):
    # Piped output is wide unless COLUMNS says otherwise (pytest-xdist workers set it).
    monkeypatch.delenv("COLUMNS", raising=False)
    entry = _published_entry(tmp_path)
    assert main(["cache", "ls", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert entry.parent.name in out and " f " in out and ".M " in out  # method, model class
    assert "1 entry (1 rank folder) under" in out
    assert main(["cache", "ls", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["method"] == "f" and row["model_class"].endswith(".M") and row["ranks"] == ["rank_0"]
    assert main(["cache", "show", str(entry)]) == 0
    assert "%Add = Add(" in capsys.readouterr().out


def test_graph_prints_a_serialized_graph(tmp_path, capsys):
    entry = _published_entry(tmp_path)
    assert main(["graph", str(entry / "graph.pb")]) == 0
    assert capsys.readouterr().out.startswith("graph cli_graph")


def test_errors_name_the_path(tmp_path, capsys):
    assert main(["cache", "ls", str(tmp_path / "nope")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert main(["cache", "show", str(tmp_path / "nope")]) == 1
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff\xfe garbage")
    assert main(["graph", str(bad)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_gears_prints_the_combinations_and_ge_options(capsys):
    argv = ["gears", "--policy", "product", "--input", "2,2", "0=2,4", "--input", "2,2", "0=2,4"]
    assert main([*argv, "--names", "x,y"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["0", "1", "2", "3"]
    assert "(4, 2)   (2, 2)" in out  # product: every pairing
    assert "ge.inputShape = x:-1,2;y:-1,2" in out
    assert "ge.dynamicDims = 2,2;2,4;4,2;4,4" in out
    assert "ge.dynamicNodeType = 1" in out


def test_gears_zip_with_two_geared_dims_and_a_gear_of_1(capsys):
    assert main(["gears", "--input", "1,16", "0=1,2,4,8", "1=16,32,64,128"]) == 0
    out = capsys.readouterr().out
    assert "(1, 16)" in out and "(8, 128)" in out
    assert "ge.dynamicDims = 1,16;2,32;4,64;8,128" in out


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (["--input", "2,x", "0=2,4"], "the shape must be sizes separated by commas"),
        (["--input", "2,2", "0:2,4"], "expected DIM=GEAR,GEAR"),
        (["--input", "2,2", "0=2,4", "--input", "2,2", "0=2,4,8"], "zip"),
        (["--input", "2,2", "5=2,4"], "Dim index in gears[0] must be in range [0, 1], but got 5."),
    ],
)
def test_gears_errors_name_the_input_and_fail(inputs, message, capsys):
    assert main(["gears", *inputs]) == 1
    err = capsys.readouterr().err
    assert err.startswith("airgraph gears: ") and message in err


def test_gears_needs_an_input():
    with pytest.raises(SystemExit) as exit_info:
        main(["gears"])
    assert exit_info.value.code == 2


def test_cache_diff_names_the_key_fields_that_differ(tmp_path, capsys):
    a = _published_entry(tmp_path, "cfg-a")
    b = _published_entry(tmp_path, "cfg-b")
    assert main(["cache", "diff", str(a), str(b.parent), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["field"] for row in rows] == ["config"]
    assert rows[0]["a"] == "cfg-a" and rows[0]["b"] == "cfg-b"
    assert main(["cache", "diff", str(a), str(a)]) == 0
    assert "the keys are equal" in capsys.readouterr().out
    assert main(["cache", "diff", str(a), str(tmp_path / "nope")]) == 1
    assert "is not a directory" in capsys.readouterr().err
