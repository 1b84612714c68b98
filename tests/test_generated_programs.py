"""Mixed dtypes, broadcasting, reductions, sizes as values, views and in-place updates vs eager.

Each seed of :mod:`generated_programs` is a small program over 1 to 3
inputs of mixed dtypes and broadcast shapes (size-0 and size-1 dims
included). It is compiled with airgraph (host target, interpret mode unless
said) and every call is compared with eager: dtype, shape, values, which
inputs each output aliases, and the inputs after the call. Modes:

- ``static``: ``dynamic=False``, one call;
- ``dynamic``: ``dynamic=True``; the second call changes every size symbol,
  the third takes the first shapes in other memory layouts;
- ``gears``: ``set_dim_gears`` on every symbolic dim (both values), then
  the same three calls;
- ``mark_static``: ``dynamic=True`` with ``torch._dynamo.mark_static`` on
  the first input, the same three calls;
- ``npu``: ``dynamic=True`` on the NPU target's contract fake;
- ``inductor``: ``dynamic=True`` in the Inductor host mode (slow); every
  call is made twice (the second time with other values): the first call of
  a new signature runs op by op while Inductor compiles, the repeat must run
  the compiled code (counted, see :mod:`compiled_host_runs`);
- ``cache``: ``cache_compile`` cold start, then a warm start in a fresh
  process with the three calls (``ge_cache``: each made twice, as ``inductor``).

A failure prints the program shrunk to a minimal reproducer. A compile may
refuse a program with a clear error (a missing converter; under gears,
Dynamo's data-dependent errors on unbacked sizes); refusals are counted and
each mode must check most of its programs for real (``test_coverage``).
"""

from __future__ import annotations

import collections
import json
import os
import random
import sys
import textwrap
from pathlib import Path

import compiled_host_runs
import generated_programs as gp
import pytest
import torch

import airgraph as torchair
from airgraph_core.targets.host.data_sizes import reads_sizes_from_data
from airgraph_dynamo.testing import fake_npu_backend

SEEDS = {"static": 40, "dynamic": 40, "gears": 40, "mark_static": 30, "npu": 30, "inductor": 8}
MIN_CHECKED = {"static": 0.8, "dynamic": 0.8, "gears": 0.6, "mark_static": 0.8, "npu": 0.8}
MIN_CHECKED["inductor"] = 0.6
_LAYOUTS = ["contiguous", "contiguous", "transposed", "strided"]
HERE = Path(__file__).resolve().parent

_outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


class Refused(Exception):
    """The compile refused the program with a clear error (counted, not a failure)."""


def _refusal(error: BaseException, mode: str) -> str | None:
    text = f"{type(error).__name__}: {error}"
    if "UnsupportedOpError" in text:
        return "unsupported op"
    if mode == "gears" and "data-dependent" in text:
        return "data-dependent size under gears"
    return None


def _compiled(program: gp.Program, mode: str):
    fn = program.function()
    config = torchair.CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = "inductor" if mode == "inductor" else "interpret"
    if mode == "npu":
        backend = fake_npu_backend(config)
    else:
        backend = torchair.get_npu_backend(compiler_config=config)
    dynamic = mode not in ("static", "gears")
    return fn, torch.compile(fn, backend=backend, fullgraph=True, dynamic=dynamic), backend


def calls(program: gp.Program, mode: str) -> list[tuple[int, list[str], int]]:
    """Per call: which shapes (0 or 1), the inputs' memory layouts and the seed of their values.

    In the compiling modes (``inductor``, ``cache ge_cache``) every call is
    followed by a repeat (seed + :data:`compiled_host_runs.REPEAT_SEED`): the
    first call of a new signature runs op by op, the repeat runs the compiled code.
    """
    if mode == "static":
        return [(0, ["contiguous"] * len(program.templates), 1)]
    rng = random.Random(program.seed)
    other = [rng.choice(_LAYOUTS) for _ in program.templates]
    plan = [(0, ["contiguous"] * len(program.templates)), (1, other), (0, other)]
    if mode not in ("inductor", "cache ge_cache"):
        return [(shapes, layouts, call + 1) for call, (shapes, layouts) in enumerate(plan)]
    return [
        (shapes, layouts, call + 1 + repeat)
        for call, (shapes, layouts) in enumerate(plan)
        for repeat in (0, compiled_host_runs.REPEAT_SEED)
    ]


def is_repeat(seed: int) -> bool:
    """Whether a call of :func:`calls` with this seed repeats the one before it."""
    return seed > compiled_host_runs.REPEAT_SEED


def _mark(program: gp.Program, inputs: list[torch.Tensor], mode: str) -> None:
    if mode == "mark_static":
        torch._dynamo.mark_static(inputs[0])
    if mode != "gears":
        return
    for t, template in zip(inputs, program.templates):
        gears = {d: list(gp.SIZES[s]) for d, s in enumerate(template) if isinstance(s, str)}
        if gears:
            torchair.inference.set_dim_gears(t, dim_gears=gears)


def run_program(program: gp.Program, mode: str) -> None:
    """Compile ``program`` in ``mode`` and check every call against eager.

    Raises:
        Refused: the compile refused the program with a clear error.
        AssertionError: a call differs from eager.
    """
    torch._dynamo.reset()
    fn, compiled, backend = _compiled(program, mode)
    with compiled_host_runs.counting() as runs:
        for call, (shapes, layouts, values) in enumerate(calls(program, mode)):
            eager_inputs = program.inputs(shapes, values, layouts)
            inputs = program.inputs(shapes, values, layouts)
            if call == 0:
                _mark(program, inputs, mode)
            expected = fn(*eager_inputs)
            before = runs.count
            try:
                with torch.no_grad():
                    got = compiled(*inputs)
            except Exception as e:
                reason = _refusal(e, mode)
                if reason is None or call > 0:
                    raise
                raise Refused(reason) from e
            what = f"{mode} call {call}{' (repeat)' if is_repeat(values) else ''} {layouts}"
            gp.check_outputs(got, expected, inputs, eager_inputs, what)
            if mode == "inductor" and is_repeat(values) and _compiles(backend):
                assert runs.count > before, f"{what}: ran no compiled host code"


def _compiles(backend) -> bool:
    """Whether the host program of ``backend``'s graph compiles: it has one, and folds no
    size read off a tensor's values (such a graph is specialized again on every call)."""
    return bool(backend.graphs) and not reads_sizes_from_data(backend.graphs[-1])


def _fails(program: gp.Program, mode: str) -> bool:
    try:
        run_program(program, mode)
    except Refused:
        return False
    except Exception:
        return True
    return False


def _check(seed: int, mode: str) -> None:
    program = gp.generate(seed)
    try:
        run_program(program, mode)
    except Refused as e:
        _outcomes[mode][f"refused: {e}"] += 1
        pytest.skip(f"refused at compile: {e}")
    except Exception as e:
        _outcomes[mode]["failed"] += 1
        small = gp.shrink(program, lambda p: _fails(p, mode))
        raise AssertionError(
            f"{type(e).__name__}: {e}\n\nminimal reproducer:\n{small.reproducer(mode)}"
        ) from e
    finally:
        torch._dynamo.reset()
    _outcomes[mode]["checked"] += 1


#: Seeds per mode in the development lane (``-m "not slow"``); the others are marked slow.
FAST_SEEDS = 10


def _cases() -> list:
    slow = pytest.mark.slow
    return [
        pytest.param(mode, seed, marks=slow if seed >= FAST_SEEDS else ())
        for mode in SEEDS
        if mode != "inductor"
        for seed in range(SEEDS[mode])
    ]


@pytest.mark.parametrize(("mode", "seed"), _cases())
def test_generated(mode, seed):
    _check(seed, mode)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(SEEDS["inductor"]))
def test_generated_inductor(seed):
    _check(seed, "inductor")


@pytest.mark.parametrize("mode", sorted(MIN_CHECKED))
def test_coverage(mode):
    """Runs after the generated tests of ``mode``: most programs must be checked, not refused."""
    counts = _outcomes.get(mode)
    if not counts:
        pytest.skip(f"the {mode} programs did not run in this session")
    total = sum(counts.values())
    assert counts["checked"] >= MIN_CHECKED[mode] * total, dict(counts)


# -- cache_compile: cold start, then a warm start in a fresh process -----------------

#: Programs per cache run (each one cached method; a process compiles or loads all).
CACHE_PROGRAMS = 16

_RUNNER = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import compiled_host_runs
    import generated_programs as gp
    import generated_cache_models as models
    import test_generated_programs as t

    phase, seeds, results = sys.argv[3], json.loads(sys.argv[4]), {}
    ge_cache = sys.argv[5] == "1"
    mode = "cache ge_cache" if ge_cache else "cache"
    for seed in seeds:
        program = gp.generate(seed)
        model = getattr(models, f"P{seed}")()
        plan = t.calls(program, mode)
        if phase == "cold":  # the first shapes only (and, compiling, their repeat)
            plan = plan[: 2 if ge_cache else 1]
        statuses = []
        try:
            with compiled_host_runs.counting() as runs:
                for call, (shapes, layouts, values) in enumerate(plan):
                    eager_in = program.inputs(shapes, values, layouts)
                    got_in = program.inputs(shapes, values, layouts)
                    expected = program.function()(*eager_in)
                    before = runs.count
                    got = model(*got_in)
                    statuses.append(model.cached.status)
                    what = f"{phase} call {call}{' (repeat)' if t.is_repeat(values) else ''}"
                    gp.check_outputs(got, expected, got_in, eager_in, f"{what} {layouts}")
                    if ge_cache and t.is_repeat(values):
                        assert runs.count > before, f"{what}: ran no compiled host code"
            # The first call's status: later shapes or layouts may compile more entries.
            results[seed] = ["ok", statuses[0]]
        except AssertionError as e:
            results[seed] = ["failed", str(e)]
        except Exception as e:
            results[seed] = ["error", f"{type(e).__name__}: {e}"[:300]]
    print("RESULTS" + json.dumps(results))
    """
)


def _module_source(seeds: list[int], cache_dir: str, ge_cache: bool) -> str:
    lines = ["import torch", "import airgraph as torchair", "", f"CACHE_DIR = {cache_dir!r}", ""]
    for seed in seeds:
        program = gp.generate(seed)
        params = program.params()
        lines += [
            f"class P{seed}(torch.nn.Module):",
            "    def __init__(self):",
            "        super().__init__()",
            "        config = torchair.CompilerConfig()",
            f"        config.airgraph_config.host_mode = {'inductor' if ge_cache else 'interpret'!r}",
            "        self.cached = torchair.inference.cache_compile(",
            f"            self._forward, config=config, cache_dir=CACHE_DIR, ge_cache={ge_cache}",
            "        )",
            "",
            f"    def forward(self, {params}):",
            f"        return self.cached({params})",
            "",
            textwrap.indent(program.source("_forward", self_arg=True), "    "),
        ]
    return "\n".join(lines)


def _run(tmp_path: Path, phase: str, seeds: list[int], ge_cache: bool) -> dict[int, list[str]]:
    import fresh_python  # not at the top: the fresh processes import this module

    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    argv = [str(tmp_path), str(HERE), phase, json.dumps(seeds), "1" if ge_cache else "0"]
    proc = fresh_python.run(
        [sys.executable, "-c", _RUNNER, *argv],
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


@pytest.mark.slow  # fresh processes
@pytest.mark.parametrize(
    "ge_cache",
    [False, True],  # True: AOTInductor host packages (Inductor compiles: fewer programs)
    ids=["plain", "ge_cache"],
)
def test_cache_cold_and_warm(tmp_path, ge_cache):
    n_programs = CACHE_PROGRAMS // 4 if ge_cache else CACHE_PROGRAMS
    seeds = list(range(500, 500 + n_programs))
    (tmp_path / "generated_cache_models.py").write_text(
        _module_source(seeds, str(tmp_path / "cache"), ge_cache)
    )
    cold = _run(tmp_path, "cold", seeds, ge_cache)
    warm = _run(tmp_path, "warm", seeds, ge_cache)
    failed = [
        f"{phase}: {result[1]}\n{gp.generate(seed).reproducer('cache ' + phase)}"
        for phase, results in (("cold", cold), ("warm", warm))
        for seed, result in results.items()
        if result[0] == "failed"
    ]
    assert not failed, "\n\n".join(failed)
    # Other errors are the backend's refusals (unsupported ops): the same
    # seeds cold and warm, and few.
    errors = {seed for seed, r in cold.items() if r[0] == "error"}
    assert errors == {seed for seed, r in warm.items() if r[0] == "error"}, (cold, warm)
    assert len(errors) <= n_programs // 4, {s: cold[s][1] for s in errors}
    cached = {seed for seed, r in cold.items() if r == ["ok", "compiled"]}
    hits = {seed for seed, r in warm.items() if r == ["ok", "hit"]}
    assert cached <= hits, {s: warm[s] for s in sorted(cached - hits)}
    assert len(hits) >= n_programs // 2, warm


@pytest.mark.parametrize("rows", [17, 20])
def test_regression_chunk_into_many_pieces_under_dynamic_shapes(rows):
    """``chunk`` into more than 16 pieces crashed (AttributeError) under ``dynamic=True``: its
    computed split sizes (a value too large to fold) feed a constant input of ``SplitV``."""
    torch._dynamo.reset()
    config = torchair.CompilerConfig()
    config.airgraph_config.host_mode = "interpret"
    fn = lambda x: [t * 2 for t in x.chunk(rows)]  # noqa: E731
    backend = torchair.get_npu_backend(compiler_config=config)
    compiled = torch.compile(fn, backend=backend, dynamic=True)
    for n in (rows, 2 * rows):
        x = torch.randn(n, 3)
        got, expected = compiled(x), fn(x)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e, rtol=0, atol=0)
