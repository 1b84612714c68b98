"""Every ``airgraph`` command in fresh processes, on a real cache made here.

The cache comes from a real ``cache_compile`` cold start (two entries of one
method: ``dynamic=True`` and ``False``); an export of it is imported on
another path, where a warm start in a new process hits. Each launch costs
seconds of torch imports (every command imports torch), so the commands run
in five launches: the cold start; one process that runs every command's happy
path and error paths through the ``airgraph`` entry point (``main``, as the
console script does) one after another; the warm start; and two launches of
the command itself (the console script, ``python -m airgraph_cli``) for its
exit codes. The in-process tests cover the options in depth.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import fresh_python
import pytest

pytestmark = pytest.mark.slow

MODELS = str(Path(__file__).parent / "models_for_cli.py")

# Runs as __main__ in both processes, so the warm start's key matches the cold start's.
_MODEL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    import airgraph as torchair

    class Model(torch.nn.Module):
        def __init__(self, root, dynamic):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            self.cached = torchair.inference.cache_compile(
                self._forward, config=config, cache_dir=root, dynamic=dynamic
            )

        def forward(self, x):
            return self.cached(x)

        def _forward(self, x):
            return torch.relu(self.lin(x))

    report = {}
    for dynamic in (True, False):
        torch.manual_seed(0)
        model = Model(sys.argv[1], dynamic).eval()
        x = torch.randn(2, 4)
        out = model(x)
        with torch.no_grad():
            error = float((out - model._forward(x)).abs().max())
        report[str(dynamic)] = {"status": model.cached.status, "error": error}
    print(json.dumps(report))
    """
)


# Runs each [label, argv] of a JSON file through airgraph's entry point in this one process
# (imports paid once) and prints {label: {code, out, err}}.
_DRIVER_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from airgraph_cli.main import main

    results = {}
    for label, argv in json.load(open(sys.argv[1])):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
        results[label] = {"code": code, "out": out.getvalue(), "err": err.getvalue()}
    print(json.dumps(results))
    """
)


def _run(folder: Path, *argv: object, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0", "COLUMNS": "200"}
    # Scripts run forked from a preloaded server; console scripts and -m run for real.
    result = fresh_python.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=600,
        preload=fresh_python.COMPILER,
    )
    shown = f"{argv} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == expect, shown
    assert "Traceback" not in result.stderr, shown  # a message, never a crash
    assert "Warning" not in result.stderr, shown  # quiet first contact (issue 16 item 3)
    return result


def _last_json(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def _traversing_archive(root: Path, entry: str, path: Path) -> Path:
    """A real entry's files plus a member that climbs out of the target with '..'."""
    with tarfile.open(path, "w") as tar:
        for file in sorted((root / entry / "rank_0").iterdir()):
            tar.add(file, arcname=f"{entry}/rank_0/{file.name}")
        info = tarfile.TarInfo(f"{entry}/rank_0/../../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    return path


def _commands(f: Path, a: str, b: str) -> list[tuple[str, list[str]]]:
    """[label, argv] of every command's happy path and error paths, in the order they run."""
    built, graph_pb = f / "built", f / "built" / a / "rank_0" / "graph.pb"
    return [
        ("ls", ["cache", "ls", built, "--json"]),
        ("ls --verify", ["cache", "ls", built, "--verify"]),
        ("show", ["cache", "show", built / a]),
        ("diff", ["cache", "diff", built / a, built / b]),
        ("diff --json", ["cache", "diff", built / a, built / b, "--json"]),
        ("verify", ["cache", "verify", built, "--json"]),
        ("export", ["cache", "export", built, "-o", f / "cache.tar.gz"]),
        ("import", ["cache", "import", f / "cache.tar.gz", f / "deployed", "--json"]),
        ("prune --dry-run", ["cache", "prune", f / "pruned", "--max-size", "1", "--dry-run"]),
        ("prune", ["cache", "prune", f / "pruned", "--max-size", "1", "--json"]),
        ("clear", ["cache", "clear", f / "cleared", "--entry", a, "--yes"]),
        ("graph", ["graph", graph_pb]),
        ("dump", ["dump", graph_pb, "--format", "dot"]),
        ("gears", ["gears", "--input", "2,8", "0=1,2,4", "--names", "x"]),
        ("check", ["check", f"{MODELS}:mlp_with_inputs"]),
        ("ops", ["ops", "--op", "aten.relu", "--json"]),
        ("doctor", ["doctor", "--json"]),
        ("version", ["--version"]),
        # error paths
        ("ls missing", ["cache", "ls", f / "missing"]),
        ("show missing", ["cache", "show", f / "missing"]),
        ("verify missing", ["cache", "verify", f / "missing"]),
        ("verify corrupted", ["cache", "verify", f / "corrupted", "--json"]),
        ("show corrupted", ["cache", "show", f / "corrupted" / a]),
        ("gears bad spec", ["gears", "--input", "2,8", "0=x"]),
        ("check bad spec", ["check", f"{MODELS}:mlp_with_inputs", "--gears", "0=1,2"]),
        ("import '..'", ["cache", "import", f / "traversing.tar", f / "not_installed"]),
        ("usage", ["cache", "frobnicate"]),
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Every launch's results; the cache folder ``f`` and its entries ``a`` and ``b``."""
    f = tmp_path_factory.mktemp("cli_processes")
    (f / "model.py").write_text(_MODEL_SCRIPT)
    (f / "driver.py").write_text(_DRIVER_SCRIPT)
    python = sys.executable
    cold = _last_json(_run(f, python, "model.py", f / "built"))
    a, b = sorted(p.name for p in (f / "built").iterdir() if p.is_dir())
    for name in ("pruned", "cleared", "corrupted"):
        shutil.copytree(f / "built", f / name)
    (f / "corrupted" / a / "rank_0" / "graph.pb").write_bytes(b"not a graph")
    _traversing_archive(f / "built", a, f / "traversing.tar")
    commands = _commands(f, a, b)
    (f / "commands.json").write_text(json.dumps([[n, [str(x) for x in v]] for n, v in commands]))
    driven = _last_json(_run(f, python, "driver.py", f / "commands.json"))
    warm = _last_json(_run(f, python, "model.py", f / "deployed"))
    console = Path(python).with_name("airgraph")  # the installed console script
    command = [console] if console.exists() else [python, "-m", "airgraph_cli"]
    listing = _run(f, *command, "cache", "ls", f / "deployed", "--json")
    failing = _run(f, python, "-m", "airgraph_cli", "cache", "show", f / "missing", expect=1)
    return {
        "f": f,
        "a": a,
        "b": b,
        "cold": cold,
        "warm": warm,
        "driven": driven,
        "deployed": json.loads(listing.stdout),
        "failing": failing,
    }


def _ok(runs: dict, label: str) -> str:
    result = runs["driven"][label]
    assert result["code"] == 0, (label, result)
    assert "Warning" not in result["err"], (label, result["err"])
    return result["out"]


def _fails(runs: dict, label: str, *says: object, code: int = 1) -> str:
    result = runs["driven"][label]
    assert result["code"] == code, (label, result)
    assert "Traceback" not in result["err"], (label, result["err"])
    for text in says:
        assert str(text) in result["err"], (label, text, result["err"])
    return result["err"]


def test_the_cache_is_real(runs):
    assert {r["status"] for r in runs["cold"].values()} == {"compiled"}, runs["cold"]
    assert max(r["error"] for r in runs["cold"].values()) <= 1e-5, runs["cold"]


def test_cache_inspection(runs):
    a, b = runs["a"], runs["b"]
    rows = json.loads(_ok(runs, "ls"))
    assert sorted(row["entry"] for row in rows) == [a, b]
    assert {(row["method"], row["model_class"]) for row in rows} == {("_forward", "__main__.Model")}
    assert a in _ok(runs, "ls --verify") and "ok" in _ok(runs, "ls --verify")
    shown = _ok(runs, "show")
    assert "status: ok" in shown and "key digest:" in shown and "_forward" in shown
    # The two cold starts differ in dynamic= only (and what follows from it).
    assert "dynamic" in {row["field"] for row in json.loads(_ok(runs, "diff --json"))}
    assert "dynamic" in _ok(runs, "diff")
    assert [row["status"] for row in json.loads(_ok(runs, "verify"))] == ["ok", "ok"]


def test_export_on_one_path_import_on_another_hits_warm(runs):
    a, b = runs["a"], runs["b"]
    assert "exported" in _ok(runs, "export")
    assert sorted(json.loads(_ok(runs, "import"))["installed"]) == [f"{a}/rank_0", f"{b}/rank_0"]
    assert {r["status"] for r in runs["warm"].values()} == {"hit"}, runs["warm"]
    assert max(r["error"] for r in runs["warm"].values()) <= 1e-5, runs["warm"]
    assert [row["hits"] for row in runs["deployed"]] == [1, 1]  # through the console script


def test_prune_and_clear(runs):
    f, a, b = runs["f"], runs["a"], runs["b"]
    assert a in _ok(runs, "prune --dry-run") and b in _ok(runs, "prune --dry-run")
    assert json.loads(_ok(runs, "prune"))
    assert not any(p.is_dir() for p in (f / "pruned").iterdir())
    _ok(runs, "clear")
    assert sorted(p.name for p in (f / "cleared").iterdir() if p.is_dir()) == [b]


def test_graph_model_and_environment_commands(runs):
    assert "MatMulV2" in _ok(runs, "graph") and "Relu" in _ok(runs, "graph")
    assert _ok(runs, "dump").startswith("digraph") and '"Relu"' in _ok(runs, "dump")
    assert "ge.dynamicDims = 1;2;4" in _ok(runs, "gears")
    assert "ok: lowers to one GE graph" in _ok(runs, "check")
    ops = json.loads(_ok(runs, "ops"))
    assert ops and all("Relu" in row["ge_ops"] for row in ops)
    doctor = {row["topic"]: row for row in json.loads(_ok(runs, "doctor"))}
    assert doctor["torch"]["status"] == "ok"
    assert "airgraph-cli" in _ok(runs, "version")


def test_error_paths_name_what_is_wrong_and_exit_1(runs):
    f, a = runs["f"], runs["a"]
    for label in ("ls missing", "show missing", "verify missing"):
        _fails(runs, label, f / "missing", "is not a directory")
    assert runs["failing"].returncode == 1  # the real process's exit code
    assert f"'{f / 'missing'}' is not a directory" in runs["failing"].stderr
    result = runs["driven"]["verify corrupted"]
    assert result["code"] == 1
    problems = {row["entry"]: row for row in json.loads(result["out"])}
    assert problems[f"{a}/rank_0"]["status"] != "ok"
    assert "graph.pb" in problems[f"{a}/rank_0"]["problem"]
    # show displays a damaged entry (exit 0) and says what is wrong with it; verify fails.
    assert "graph.pb: truncated" in _ok(runs, "show corrupted")
    _fails(runs, "gears bad spec", "0=x", "expected DIM=GEAR")
    _fails(runs, "check bad spec", "INPUT:DIM=GEAR")
    _fails(runs, "import '..'", f / "traversing.tar", "'..' are refused")
    assert not (f / "not_installed").exists() and not (f.parent / "escaped").exists()
    _fails(runs, "usage", code=2)
