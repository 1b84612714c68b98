"""Cold and warm starts of ``transformers_cache_script.py``, and what they must show.

Shared by the transformers cache tests (a covering array of the options,
in the default run) and the full matrix runner (``tools/cache_matrix/run.py``,
``nox -s cache-matrix``). A case is ``(model, dynamic, ge_cache, host_mode,
gears)``; :func:`check_case` runs a cold and a warm process on one fresh
cache dir and returns what went wrong (empty when all is right).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "transformers_cache_script.py"

#: float32 outputs of 2-layer models vs eager: the host target's kernels differ from
#: eager's only in summation order.
ATOL = 1e-4

MODELS = ("gpt2", "llama", "qwen2", "bert", "whisper")
HOST_MODES = ("interpret", "inductor")

#: Warnings a start may print (regular expressions, matched from the start), each with why.
EXPECTED_WARNINGS: tuple[str, ...] = (
    # torch 2.13's own: AOTInductor (ge_cache cold start) deep-copies an FX graph whose
    # pytree spec is a LeafSpec, a class torch deprecated (torch/_dynamo/repro/after_aot.py).
    r"FutureWarning: `isinstance\(treespec, LeafSpec\)` is deprecated",
    # torch 2.13's own: torch.utils.mkldnn (imported with torch.fx.experimental.optimization
    # by an Inductor compile) decorates with it at import. Python hides a DeprecationWarning
    # raised outside __main__; the script records every warning.
    r"DeprecationWarning: `torch.jit.script_method` is deprecated",
)


@dataclasses.dataclass
class Start:
    """What one process reported: the script's RESULT, or why there is none."""

    result: dict | None
    seconds: float
    log: str


@dataclasses.dataclass
class Outcome:
    """A case's cold and warm starts and the problems found (none: it passed)."""

    case: tuple
    cold: Start
    warm: Start | None
    problems: list[str]

    def max_error(self) -> float | None:
        errors = [e for s in (self.cold, self.warm) if s and s.result for e in s.result["errors"]]
        return max(errors) if errors else None


def case_id(case: tuple) -> str:
    """``model-dynamic-ge_cache-host_mode-gears``, as pytest ids print it."""
    return "-".join(map(str, case))


def full_matrix(models: tuple[str, ...] = MODELS) -> list[tuple]:
    """Every ``(model, dynamic, ge_cache, host_mode, gears)`` of the supported product."""
    flags = (False, True)
    return list(itertools.product(models, flags, flags, HOST_MODES, flags))


#: What a forked start's server imports first (see ``run_start``): the script imports
#: transformers and compiles (cold) or may compile (a warm start's dynamic shapes), and
#: reports no import of its own.
FORK_PRELOAD = ("torch._dynamo", "torch._inductor.compile_fx", "transformers")


def run_start(case: tuple, cache_dir: Path, timeout: float = 1200, forked: bool = False) -> Start:
    """Run the script once (a fresh process) for ``case`` on ``cache_dir``.

    ``forked``: the process is forked from ``tests/support/fresh_python.py``'s server
    with :data:`FORK_PRELOAD` imported (the tests; ~5 CPU-s less per start); otherwise a
    new interpreter (the matrix tool: a user's process exactly).
    """
    model, dynamic, ge_cache, host_mode, gears = case
    argv = [model, *(str(int(v)) for v in (dynamic, ge_cache)), host_mode, str(int(gears))]
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    began = time.monotonic()
    command = [sys.executable, str(SCRIPT), *argv, str(cache_dir)]
    options = {"capture_output": True, "text": True, "env": env, "timeout": timeout}
    try:
        if forked:
            import fresh_python  # tests/support, on the path in the test session

            proc = fresh_python.run(command, preload=FORK_PRELOAD, **options)
        else:
            proc = subprocess.run(command, **options)
    except subprocess.TimeoutExpired as error:
        return Start(None, time.monotonic() - began, f"timed out after {error.timeout} s")
    seconds = time.monotonic() - began
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    log = f"exit code {proc.returncode}\n{proc.stderr[-4000:]}"
    return Start(json.loads(line[len("RESULT") :]) if line else None, seconds, log)


def _unexpected(warnings: list[str]) -> list[str]:
    return [w for w in warnings if not any(re.match(p, w) for p in EXPECTED_WARNINGS)]


def start_problems(start: Start, phase: str, status: str) -> list[str]:
    """What is wrong with one start whose calls must all have ``status``."""
    result = start.result
    if result is None:
        return [f"{phase}: no result ({start.log.strip().splitlines()[-1:]})"]
    problems = []
    if set(result["statuses"]) != {status}:
        problems.append(f"{phase}: statuses {result['statuses']}, expected all {status!r}")
    if max(result["errors"]) >= ATOL:
        problems.append(f"{phase}: max |diff| vs eager {max(result['errors']):.3g} >= {ATOL}")
    problems += [f"{phase}: unexpected warning {w!r}" for w in _unexpected(result["warnings"])]
    return problems


def compiled_run_problems(case: tuple, start: Start, phase: str) -> list[str]:
    """What is wrong with which calls of one start ran compiled host code.

    In ``inductor`` host mode every call is followed by a repeat (same shapes,
    other values) that must run compiled code: a first call of a new shape
    may run op by op while Inductor compiles, so only the repeats show that
    the compiled code was run (and, its errors being checked, matches eager).
    A warm ``ge_cache`` start's first call runs the AOTInductor package the
    cold start compiled for it, in either host mode. Otherwise ``interpret``
    mode (the reference) runs no compiled code.
    """
    result = start.result
    if result is None:
        return []
    _, _, ge_cache, host_mode, _ = case
    repeats, runs = result.get("repeats"), result.get("compiled_runs")
    if repeats is None or runs is None:
        return [f"{phase}: no compiled-run counts (a result of an older script)"]
    problems = []
    if host_mode == "inductor":
        if not repeats or repeats != [False, True] * (len(repeats) // 2):
            problems.append(f"{phase}: repeats {repeats}, expected each call then its repeat")
        missed = [i for i, (repeat, n) in enumerate(zip(repeats, runs)) if repeat and n < 1]
        if missed:
            problems.append(f"{phase}: repeat calls {missed} ran no compiled host code ({runs})")
    elif any(repeats):
        problems.append(f"{phase}: repeats {repeats} in interpret mode")
    loads = ge_cache and phase == "warm"
    if loads and (not runs or runs[0] < 1):
        problems.append(f"{phase}: the first call ran no loaded host package ({runs})")
    if host_mode == "interpret" and not loads and any(runs):
        problems.append(f"{phase}: interpret mode ran compiled host code ({runs})")
    return problems


def check_case(case: tuple, cache_dir: Path, forked: bool = False) -> Outcome:
    """Cold start then warm start of ``case`` on the fresh ``cache_dir``, judged by :func:`judge`
    (``forked`` as for :func:`run_start`)."""
    cold = run_start(case, cache_dir, forked=forked)
    warm = run_start(case, cache_dir, forked=forked) if cold.result is not None else None
    return judge(case, cold, warm)


def judge(case: tuple, cold: Start, warm: Start | None) -> Outcome:
    """What is wrong with a case's cold and warm starts.

    The cold start must compile and publish (status ``compiled`` at every
    call, an entry on disk, no hit); the warm one must load every call's
    program (status ``hit``, a recorded hit, no new entry: nothing
    recompiled); both match eager within :data:`ATOL` at every call (in
    ``inductor`` mode, repeats included), run compiled host code where
    :func:`compiled_run_problems` expects it, and warn of nothing outside
    :data:`EXPECTED_WARNINGS`.
    """
    problems = start_problems(cold, "cold", "compiled")
    problems += compiled_run_problems(case, cold, "cold")
    if cold.result is None:
        return Outcome(case, cold, None, problems)
    if cold.result["published"] < 1 or cold.result["hits"]:
        problems.append(f"cold: {cold.result['published']} entries, {cold.result['hits']} hits")
    if warm is None:
        return Outcome(case, cold, None, problems + ["warm: not run"])
    problems += start_problems(warm, "warm", "hit")
    problems += compiled_run_problems(case, warm, "warm")
    if warm.result is not None:
        published, hits = warm.result["published"], warm.result["hits"]
        if published != cold.result["published"] or hits < 1:
            problems.append(
                f"warm: {published} entries, {hits} hits (cold left {cold.result['published']})"
            )
    return Outcome(case, cold, warm, problems)
