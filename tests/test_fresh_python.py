"""tests/support/fresh_python.py: a forked child behaves as ``subprocess.run``'s fresh process.

Each case runs the same command both ways and compares what a test can see:
exit status, stdout, stderr. The cases that must differ between two fresh
processes (string hashes, torch's and numpy's random streams) are compared
between consecutive forked children.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import fresh_python
import pytest

# Slow: fresh processes (two servers and the real processes compared with them).
pytestmark = pytest.mark.slow

PY = sys.executable

SAME_AS_REAL = {
    "output": (
        "import sys; print(sys.argv[1:], repr(sys.path[0]), __name__); print('e', file=sys.stderr)",
        "a",
        "b",
    ),
    "exit_code": ("import sys; sys.exit(3)",),
    "exit_message": ("import sys; sys.exit('boom')",),
    "traceback": ("import sys\nraise ValueError('bad')",),
    "killed": ("import os; os.kill(os.getpid(), 9)",),
    "stdin": ("import sys; print(sys.stdin.read().upper())",),
    "atexit": ("import atexit; atexit.register(lambda: print('bye')); print('hi', end='')",),
    "thread_joined": (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread'))).start()",
    ),
    "environment": ("import os; print(os.environ['FRESH_PYTHON_TEST'], os.getcwd())",),
}


def _forked_and_real(argv: list[str], **kwargs) -> tuple:
    # An environment gets its servers from its second request on: warm them up first.
    for _ in range(fresh_python.SERVERS_PER_ENV + 1):
        fresh_python.run([PY, "-c", "pass"], env=kwargs.get("env"))
    before = fresh_python.CHILD_CPU_SECONDS[0]
    forked = fresh_python.run(argv, capture_output=True, text=True, **kwargs)
    assert fresh_python.CHILD_CPU_SECONDS[0] > before, "the command did not run forked"
    real = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    return forked, real


@pytest.mark.parametrize("case", sorted(SAME_AS_REAL))
def test_a_forked_child_looks_like_a_fresh_process(case, tmp_path):
    code, *args = SAME_AS_REAL[case]
    env = {**os.environ, "FRESH_PYTHON_TEST": "set"}
    input = "hello\n" if case == "stdin" else None
    forked, real = _forked_and_real([PY, "-c", code, *args], env=env, cwd=tmp_path, input=input)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )


def test_a_script_gets_its_folder_and_file(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys; print(sys.argv, sys.path[0], __file__ == sys.argv[0])\n")
    forked, real = _forked_and_real([PY, str(script), "x"], cwd=tmp_path)
    assert forked.returncode == 0 and forked.stdout == real.stdout


def test_consecutive_children_differ_where_fresh_processes_do():
    code = (
        "import json, numpy, torch\n"
        "print(json.dumps([hash('airgraph'), torch.rand(1).item(), numpy.random.rand()]))"
    )
    fresh_python.run([PY, "-c", "pass"])
    runs = [fresh_python.run([PY, "-c", code], capture_output=True, text=True) for _ in range(3)]
    values = [json.loads(r.stdout) for r in runs]
    hashes, torch_values, numpy_values = zip(*values)
    assert hashes[0] != hashes[1] and hashes[1] != hashes[2], "one string hash seed for all"
    assert len(set(torch_values)) == 3, "torch's generator was not reseeded"
    assert len(set(numpy_values)) == 3, "numpy's generator was not reseeded"


def test_the_preload_does_not_import_dynamo_or_airgraph():
    code = (
        "import sys; print(sorted(m for m in ('torch._dynamo', 'torch._inductor.config',"
        " 'airgraph_cache') if m in sys.modules))"
    )
    forked, _ = _forked_and_real([PY, "-c", code])
    assert forked.stdout.strip() == "[]", forked.stdout


def test_the_compiler_preload_is_imported_and_changes_nothing_else():
    # Dynamo is already imported in the child (that is the point), and the child compiles
    # as a real process does.
    code = (
        "import sys, torch; had = 'torch._dynamo' in sys.modules\n"
        "f = torch.compile(lambda x: x.sin() * 2, backend='aot_eager')\n"
        "print(had, f(torch.ones(2)).tolist(), torch._dynamo.utils.counters['stats']['unique_graphs'])"
    )
    for _ in range(fresh_python.SERVERS_PER_ENV + 1):
        fresh_python.run([PY, "-c", "pass"], preload=fresh_python.COMPILER)
    before = fresh_python.CHILD_CPU_SECONDS[0]
    forked = fresh_python.run(
        [PY, "-c", code], capture_output=True, text=True, preload=fresh_python.COMPILER
    )
    assert fresh_python.CHILD_CPU_SECONDS[0] > before, "the command did not run forked"
    real = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert forked.returncode == real.returncode == 0, forked.stderr + real.stderr
    had, rest = forked.stdout.split(" ", 1)
    assert had == "True" and real.stdout.split(" ", 1) == ["False", rest], (forked, real)


def test_warnings_of_the_preload_show_in_every_child_as_in_a_real_process(tmp_path):
    """A real process prints a warning raised while importing a module; a forked child had
    that import done by its server, so the server's recorded warnings are printed for it."""
    (tmp_path / "warns_at_import.py").write_text(
        "import warnings\nwarnings.warn('the preload warns', UserWarning)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = "import warns_at_import; print('ok')"
    for _ in range(fresh_python.SERVERS_PER_ENV + 1):
        fresh_python.run([PY, "-c", "pass"], env=env, preload=("warns_at_import",))
    before = fresh_python.CHILD_CPU_SECONDS[0]
    forked = fresh_python.run(
        [PY, "-c", code], env=env, capture_output=True, text=True, preload=("warns_at_import",)
    )
    assert fresh_python.CHILD_CPU_SECONDS[0] > before, "the command did not run forked"
    real = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True)
    assert "UserWarning: the preload warns" in real.stderr, real.stderr
    assert (forked.stdout, forked.stderr) == (real.stdout, real.stderr)


def test_a_timeout_kills_the_child():
    fresh_python.run([PY, "-c", "pass"])
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        fresh_python.run(
            [PY, "-c", "import time; print('started', flush=True); time.sleep(60)"],
            capture_output=True,
            text=True,
            timeout=2,
        )
    assert time.monotonic() - start < 30
    assert caught.value.output == "started\n"


def test_check_raises_with_the_exit_status():
    fresh_python.run([PY, "-c", "pass"])
    with pytest.raises(subprocess.CalledProcessError) as caught:
        fresh_python.run([PY, "-c", "raise SystemExit(4)"], check=True)
    assert caught.value.returncode == 4


def test_other_commands_run_for_real():
    before = fresh_python.CHILD_CPU_SECONDS[0]
    proc = fresh_python.run([PY, "-m", "json.tool"], input="[1]", capture_output=True, text=True)
    assert proc.stdout == "[\n    1\n]\n"
    assert fresh_python.CHILD_CPU_SECONDS[0] == before
