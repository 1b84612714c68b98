"""Module globals the cached method reads: checked at every call, as torch.compile's guards are.

A global Dynamo guarded (an int or a string that chose a branch, a tuple's
length, ``None`` or a tensor, a helper function, an enum member, a dict value)
can be rebound between calls (``module.SCALE = 5``). Each case alternates two
values of one global of ``cache_global_models`` and compares every call with
eager PyTorch: a changed value runs another program (a variant entry of the
key), the first value back runs the first program again, never the old
program for the new value. The same holds on a warm start in a fresh process,
started with either value.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import cache_global_models
import cache_models
import fresh_python
import pytest
import torch

from airgraph_cache import cache_compile

#: Cases whose global is a graph input under ``dynamic=True`` (a float), not a guarded
#: constant: one program serves both values.
_INPUTS = {"float"}


@pytest.fixture(autouse=True)
def _defaults():
    cache_global_models.reset()
    yield
    cache_global_models.reset()


def _assert_right(result: dict, case: str) -> None:
    assert max(result["errors"]) <= cache_models.ATOL, (case, result)


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
@pytest.mark.parametrize("case", [c[0] for c in cache_global_models.CHANGES])
def test_a_rebound_global_is_checked_at_every_call(tmp_path, case, dynamic):
    first = cache_global_models.run_case(case, str(tmp_path), "default", dynamic)
    _assert_right(first, case)
    assert first["status"] == "compiled", first
    # A changed value has a program of its own (a variant), not the old one and not
    # the uncached fallback; the first value back runs the first program again.
    assert first["programs"] == (1 if dynamic and case in _INPUTS else 2), first
    # A second instance of the process binds the entries' recipes (no compile).
    again = cache_global_models.run_case(case, str(tmp_path), "default", dynamic)
    _assert_right(again, case)
    assert again["programs"] == first["programs"], again


def test_the_global_checks_are_call_checks(tmp_path):
    # The globals are read by the generated per-call check, not once per load.
    model = cache_global_models.Globals(str(tmp_path))
    cache_global_models.run_calls(model, [("N", 3)])
    guards = model.cached._program.guards
    heads = {s["path"][0][1] for s in guards.call_specs if s["path"]}
    assert {"N", "FLAG", "NAME", "MODE", "EXTRA", "SIZES", "HELPER", "TABLE"} <= heads
    # The class attribute (read through ``self``) is reached through ``type(self)``.
    paths = [[list(step) for step in s["path"]] for s in guards.call_specs]
    class_reads = [p for p in paths if any("FACTOR" in step for step in p)]
    assert class_reads and all(["type"] in p for p in class_reads), paths
    assert not [s for s in guards.process_specs if s["path"] and s["path"][0][0] == "global"]


def _children(cache_dir: str, *firsts: str) -> list[dict]:
    """Run :func:`cache_global_models.main` in one fresh process per ``first``, at once."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); import cache_global_models as m; m.main(sys.argv[2:])"

    def one(first: str) -> dict:
        proc = fresh_python.run(
            [sys.executable, "-c", code, str(cache_models.HERE), cache_dir, first],
            capture_output=True,
            text=True,
            timeout=300,
            env=cache_models.child_env(),
            preload=fresh_python.COMPILER,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(max_workers=len(firsts)) as pool:
        results = list(pool.map(one, firsts))
    return results


@pytest.mark.slow  # fresh processes
def test_rebound_globals_on_a_warm_start(tmp_path):
    cache_dir = str(tmp_path / "cache")
    # The cold process compiles the program of the defaults (its first case; the
    # later cases hit it) and one variant per case.
    (cold,) = _children(cache_dir, "default")
    # Fresh processes: one loads both programs of each case and switches between
    # them, one starts with the changed values (another key: globals' values are in it).
    warm, other_first = _children(cache_dir, "default", "other")
    for case, _, _ in cache_global_models.CHANGES:
        for run in (cold, warm, other_first):
            _assert_right(run[case], case)
            assert run[case]["status"] in ("hit", "compiled"), (case, run[case])
        assert warm[case]["status"] == "hit", (case, warm[case])
        assert warm[case]["programs"] == cold[case]["programs"], (case, warm[case])


def test_a_function_whose_code_is_replaced_in_place_fails_its_check():
    # The per-call check remembers the function that passed (and its code): the same
    # object with other code must be checked again, not pass by identity.
    from airgraph_cache.checks import GuardChecks
    from airgraph_cache.guards import function_digest

    helper = cache_global_models.HELPER
    spec = {"path": [["global", "HELPER"]], "op": "function", "value": function_digest(helper)}
    checks = GuardChecks([spec], cache_global_models.Globals._forward)
    x = torch.ones(2)
    assert checks.call_ok(None, (x,), {})
    assert checks.call_ok(None, (x,), {})  # the remembered function
    code = helper.__code__
    try:
        helper.__code__ = cache_global_models._negate.__code__
        assert not checks.call_ok(None, (x,), {})
    finally:
        helper.__code__ = code
    assert checks.call_ok(None, (x,), {})


def _add_one(module, inputs, output):
    return output + 1


class _WithSubmodule(torch.nn.Module):
    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        config = cache_models.interpret_config()
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=config)

    def _forward(self, x):
        return self.linear(x) * 2


def test_a_global_module_hook_registered_after_the_first_call_is_seen(tmp_path):
    # torch's global module hooks live in module globals of torch.nn.modules.module:
    # Dynamo guards them at every call, and so does the cached function.
    model = _WithSubmodule(str(tmp_path))
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        plain = model.cached(x)
        handle = torch.nn.modules.module.register_module_forward_hook(_add_one)
        try:
            hooked = model.cached(x)
            want = model._forward(x)
        finally:
            handle.remove()
        again = model.cached(x)
    assert torch.allclose(hooked, want, atol=cache_models.ATOL), (hooked, want)
    assert not torch.allclose(hooked, plain)  # the hook changed the result
    assert torch.allclose(again, model._forward(x), atol=cache_models.ATOL)
    assert model.cached.status in ("compiled", "uncached")


class _TorchState(torch.nn.Module):
    """Depends on torch's default dtype (a new tensor's dtype) and the deterministic flag."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        config = cache_models.interpret_config()
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=config)

    def _forward(self, x):
        h = x + torch.ones(4)  # float64 under torch.set_default_dtype(torch.float64)
        if torch.are_deterministic_algorithms_enabled():
            h = h * 3
        return h


_STATES = {
    "default_dtype": (torch.get_default_dtype, torch.set_default_dtype, torch.float64),
    "deterministic": (
        torch.are_deterministic_algorithms_enabled,
        torch.use_deterministic_algorithms,
        True,
    ),
}


@pytest.mark.parametrize("state", list(_STATES))
def test_torch_state_changed_between_calls_is_checked(tmp_path, state):
    get, set_, other = _STATES[state]
    first = get()
    model = _TorchState(str(tmp_path))
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(5))
    try:
        for value in (first, other, first, other):
            set_(value)
            with torch.inference_mode():
                got, want = model.cached(x), model._forward(x)
            assert got.dtype == want.dtype and torch.allclose(got, want), (state, value)
    finally:
        set_(first)
    assert model.cached.status == "compiled"
    assert len(model.cached._variants) == 2  # one program per value, the first reused
