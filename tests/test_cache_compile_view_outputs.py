"""Outputs that are views, from cache_compile's cold and warm starts (fresh processes).

The generated programs of :mod:`view_programs` become methods of module
classes in a generated file; a first process compiles and publishes each
(calls with the first shapes), a second loads each without Dynamo and calls
it with the first shapes and then the second (``dynamic=True``) shapes. Both
compare every call with eager: values, aliasing, strides and offsets of
views of inputs, and the inputs after the call.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import fresh_python
import pytest
import view_programs as vp

# Slow: cold and warm starts in fresh processes.
pytestmark = pytest.mark.slow

#: Programs per run (each is one cached method; a process compiles or loads all).
N_PROGRAMS = 40
HERE = Path(__file__).resolve().parent

_RUNNER = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import torch
    import view_programs as vp
    import view_cache_models as models

    phase, seeds, results = sys.argv[3], json.loads(sys.argv[4]), {}
    for seed in seeds:
        program = vp.generate(seed)
        model = getattr(models, f"P{seed}")()
        calls = [program.shapes] if phase == "cold" else [program.shapes, program.dynamic_shapes]
        statuses = []
        try:
            for call, shapes in enumerate(calls):
                expected_in = vp.make_inputs(program, shapes, call + 1)
                got_in = vp.make_inputs(program, shapes, call + 1)
                expected = program.function()(*expected_in)
                got = model(*got_in)
                statuses.append(model.cached.status)
                vp.check_outputs(got, expected, got_in, expected_in, f"{phase} call {call}")
            # The first call's status: a later call with other shapes may rightly
            # compile another entry (e.g. two dims equal at the cold start).
            results[seed] = ["ok", statuses[0]]
        except AssertionError as e:
            results[seed] = ["failed", str(e)]
        except Exception as e:
            results[seed] = ["error", f"{type(e).__name__}: {e}"[:500]]
    print("RESULTS" + json.dumps(results))
    """
)


def _module_source(seeds: list[int], cache_dir: str) -> str:
    lines = [
        "import torch",
        "import airgraph as torchair",
        "",
        f"CACHE_DIR = {cache_dir!r}",
        "",
    ]
    for seed in seeds:
        program = vp.generate(seed)
        method = textwrap.indent(program.source("_forward", self_arg=True), "    ")
        lines += [
            f"class P{seed}(torch.nn.Module):",
            "    def __init__(self):",
            "        super().__init__()",
            "        config = torchair.CompilerConfig()",
            '        config.airgraph_config.host_mode = "interpret"',
            "        self.cached = torchair.inference.cache_compile(",
            "            self._forward, config=config, cache_dir=CACHE_DIR",
            "        )",
            "",
            "    def forward(self, x0, x1):",
            "        return self.cached(x0, x1)",
            "",
            method,
            "",
        ]
    return "\n".join(lines)


def _run(tmp_path: Path, phase: str, seeds: list[int]) -> dict[int, list[str]]:
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    proc = fresh_python.run(
        [sys.executable, "-c", _RUNNER, str(tmp_path), str(HERE), phase, json.dumps(seeds)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        preload=fresh_python.COMPILER,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS")), None)
    assert line is not None, (
        f"{phase} process failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return {int(k): v for k, v in json.loads(line[len("RESULTS") :]).items()}


def test_view_outputs_cold_and_warm(tmp_path):
    seeds = list(range(1000, 1000 + N_PROGRAMS))
    (tmp_path / "view_cache_models.py").write_text(_module_source(seeds, str(tmp_path / "cache")))
    cold = _run(tmp_path, "cold", seeds)
    warm = _run(tmp_path, "warm", seeds)
    failed = {
        seed: (phase, result[1])
        for phase, results in (("cold", cold), ("warm", warm))
        for seed, result in results.items()
        if result[0] == "failed"
    }
    assert not failed, "\n\n".join(
        f"{phase}: {message}\nminimal program:\n{vp.generate(seed).reproducer('cache ' + phase)}"
        for seed, (phase, message) in failed.items()
    )
    # Errors other than wrong values are refusals the backend also makes
    # (unsupported ops): the same seeds fail cold and warm, and they are few.
    errors = {seed for seed, r in cold.items() if r[0] == "error"}
    assert errors == {seed for seed, r in warm.items() if r[0] == "error"}, (cold, warm)
    assert len(errors) <= N_PROGRAMS // 5, {s: cold[s][1] for s in errors}
    hits = [seed for seed, r in warm.items() if r == ["ok", "hit"]]
    cached = [seed for seed, r in cold.items() if r == ["ok", "compiled"]]
    # Every program the cold start cached is a hit on the warm start.
    assert set(cached) <= set(hits), {s: warm[s] for s in sorted(set(cached) - set(hits))[:5]}
    assert len(hits) >= N_PROGRAMS // 2, (cold, warm)
