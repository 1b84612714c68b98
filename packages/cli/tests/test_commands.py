"""The commands that trace models (check, dump), list converters (ops) and report the machine (doctor)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airgraph_cli.main import main

MODELS = str(Path(__file__).parent / "models_for_cli.py")


def test_check_reports_ge_op_counts(capsys):
    assert main(["check", f"{MODELS}:Mlp", "--input", "2,8:float32"]) == 0
    out = capsys.readouterr().out
    assert "GE graph Mlp_check:" in out and "MatMulV2" in out and "Relu" in out
    assert "GE op prototypes: every op accepted" in out


def test_check_json_with_gears(capsys):
    argv = ["check", f"{MODELS}:mlp_with_inputs", "--gears", "0:0=1,2,4", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["ge_ops"]["MatMulV2"] == 2
    assert report["gears"]["combinations"] == [[[1, 8]], [[2, 8]], [[4, 8]]]
    assert report["ge_graph"]["static"] is False  # the geared dim stays -1


def test_check_names_unsupported_ops_with_their_source_line(capsys):
    assert main(["check", f"{MODELS}:Unsupported", "--input", "3", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (op,) = report["unsupported"]
    assert op["aten"] == "aten.special_bessel_j0.default"
    assert "models_for_cli.py:" in op["source"] and "bessel_j0" in op["source"]


def test_check_lists_graph_breaks(capsys):
    assert main(["check", f"{MODELS}:Breaks", "--input", "3"]) == 1
    out = capsys.readouterr().out
    assert "1 graph break(s)" in out and "models_for_cli.py:" in out and "print" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "no_such_module_xyz:f", "--input", "2"], "cannot import module"),
        (["check", f"{MODELS}:Nope", "--input", "2"], "has no 'Nope'"),
        (["check", f"{MODELS}:Mlp"], "give the example inputs with --input"),
        (["check", f"{MODELS}:Mlp", "--input", "2,8:float99"], "unknown dtype"),
        (["check", f"{MODELS}:Mlp", "--input", "2,8", "--gears", "0=1,2"], "INPUT:DIM=GEAR"),
        (["check", f"{MODELS}:Mlp", "--input", "2,8", "--gears", "0:0=0,2"], "--gears for input 0"),
        (["check", "Mlp"], "expected MODULE:FACTORY"),
    ],
)
def test_check_user_errors_exit_1_with_a_message(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("airgraph check: ") and message in err


def test_dump_txt_shows_small_constant_values(capsys):
    assert main(["dump", f"{MODELS}:mlp_with_inputs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph mlp_with_inputs_check")
    assert "= Const() {value=tensor<INT64[2], 16 bytes>} -> INT64[2] = [1, 0]" in out


def test_dump_dot_pbtxt_and_a_graph_file(tmp_path, capsys):
    dot = tmp_path / "g.dot"
    assert main(["dump", f"{MODELS}:mlp_with_inputs", "-f", "dot", "-o", str(dot)]) == 0
    text = dot.read_text()
    assert text.startswith('digraph "mlp_with_inputs_check"') and "-> " in text
    assert main(["dump", f"{MODELS}:mlp_with_inputs", "-f", "pbtxt"]) == 0
    assert 'type: "MatMulV2"' in capsys.readouterr().out

    from airgraph_cli._analysis import analyze
    from airgraph_cli._model import build_workload
    from airgraph_core import serialize

    pb = tmp_path / "graph.pb"
    pb.write_bytes(serialize(analyze(build_workload(f"{MODELS}:Mlp", ["2,8"], [])).ge_graph))
    assert main(["dump", str(pb)]) == 0
    assert "%NetOutput = NetOutput(" in capsys.readouterr().out
    assert main(["dump", str(tmp_path)]) == 0  # a folder holding graph.pb
    capsys.readouterr()
    assert main(["dump", str(pb), "--input", "2"]) == 1
    assert "apply to MODULE:FACTORY" in capsys.readouterr().err


def test_dump_svg_without_graphviz_says_what_to_install(capsys):
    pytest.importorskip("torch")
    try:
        import graphviz  # noqa: F401
    except ImportError:
        assert main(["dump", f"{MODELS}:mlp_with_inputs", "-f", "svg"]) == 1
        assert "pip install graphviz" in capsys.readouterr().err
    else:
        pytest.skip("graphviz is installed")


def test_dump_of_an_unsupported_model_fails_with_the_reason(capsys):
    assert main(["dump", f"{MODELS}:Unsupported", "--input", "3"]) == 1
    err = capsys.readouterr().err
    assert "no GE graph" in err and "aten.special_bessel_j0.default" in err


def test_ops_filters_and_json(capsys):
    assert main(["ops", "--ge-op", "matmulv2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all("MatMulV2" in row["ge_ops"] for row in rows)
    assert main(["ops", "--op", "aten.relu"]) == 0
    out = capsys.readouterr().out
    assert "aten.relu.default" in out and "Relu" in out and "converter" in out
    assert main(["ops", "--op", "no_such_op"]) == 1
    assert "no converter matches --op 'no_such_op'" in capsys.readouterr().err


def test_doctor_json_names_the_target_auto_picks(capsys):
    assert main(["doctor", "--json"]) == 0
    found = {f["topic"]: f for f in json.loads(capsys.readouterr().out)}
    assert found["torch"]["status"] == "ok"
    assert found["target auto"]["detail"].startswith(("host", "npu"))
    assert {"Inductor cache", "C++ compiler", "compile cache", "CANN"} <= set(found)


def test_every_command_has_a_one_line_help():
    result = subprocess.run(
        [sys.executable, "-m", "airgraph_cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"},
    )
    for command in ("doctor", "check", "dump", "ops", "gears", "graph", "cache"):
        line = next(line for line in result.stdout.splitlines() if f" {command} " in line)
        assert len(line.split(command, 1)[1].strip(" │")) > 10, line


@pytest.mark.slow
def test_check_runs_as_a_process_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "airgraph_cli", "check", f"{MODELS}:mlp_with_inputs"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TORCH_DEVICE_BACKEND_AUTOLOAD": "0", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "ok: lowers to one GE graph" in result.stdout
    assert "Warning" not in result.stderr, result.stderr
