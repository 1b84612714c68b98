"""One tensor passed in two places: the cache runs the program traced for that aliasing.

Dynamo merges two sources of one tensor (``f(x, x)``, or an argument that is the
module's own parameter) into one graph input. A later call with two different
tensors must not run that program (it would read the first tensor twice), and a
program traced with distinct tensors that updates one in place must not run when
one tensor is passed twice (eager sees the update through both arguments). Each
case alternates both situations and compares every call's outputs, and the
arguments' values after the call, with eager PyTorch; the same on a warm start in
a fresh process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cache_models
import pytest
import torch

from airgraph_cache import cache_compile

HERE = Path(__file__).resolve().parent


class Attention(torch.nn.Module):
    """Self-attention when ``q is kv``, cross-attention otherwise (no state)."""

    def __init__(self, cache_dir: str, dynamic: bool) -> None:
        super().__init__()
        self.cached = cache_compile(
            self._forward,
            cache_dir=cache_dir,
            config=cache_models.interpret_config(),
            dynamic=dynamic,
        )

    def _forward(self, q, kv):
        w = torch.softmax(q @ kv.transpose(-1, -2), -1)
        return w @ kv


class Accumulate(torch.nn.Module):
    """Updates ``buf`` in place, then reads ``x``: with ``x is buf`` eager sees the update."""

    def __init__(self, cache_dir: str, dynamic: bool) -> None:
        super().__init__()
        self.cached = cache_compile(
            self._forward,
            cache_dir=cache_dir,
            config=cache_models.interpret_config(),
            dynamic=dynamic,
        )

    def _forward(self, x, buf):
        buf.add_(x)
        return x * 2 + buf


class Project(torch.nn.Module):
    """``x @ self.w``: the first call passes ``self.w`` itself as ``x``."""

    def __init__(self, cache_dir: str, dynamic: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(4, 4), requires_grad=False)
        self.cached = cache_compile(
            self._forward,
            cache_dir=cache_dir,
            config=cache_models.interpret_config(),
            dynamic=dynamic,
        )

    def _forward(self, x):
        return x @ self.w


#: case -> (model, dynamic, the calls: each letter an argument, "w" the model's parameter)
CASES: dict[str, tuple[type, bool, list[str]]] = {
    "pure_same_first": (Attention, False, ["xx", "xy", "yx", "xx"]),
    "pure_same_first_dynamic": (Attention, True, ["xx", "xy", "yx", "xx"]),
    "inplace_distinct_first": (Accumulate, False, ["xy", "xx", "xx", "xy"]),
    "inplace_same_first": (Accumulate, False, ["xx", "xy", "xx", "xy"]),
    "parameter_first": (Project, False, ["w", "x", "w", "x"]),
}


def _arguments(model: torch.nn.Module, pattern: str, gen: torch.Generator) -> tuple:
    fresh = {"x": torch.randn(4, 4, generator=gen), "y": torch.randn(4, 4, generator=gen)}
    return tuple(getattr(model, "w", None) if c == "w" else fresh[c] for c in pattern)


def _eager_copies(args: tuple) -> tuple:
    """Clones of ``args`` that alias each other as ``args`` do (parameters as they are)."""
    clones: dict[int, torch.Tensor] = {}
    for a in args:
        if id(a) not in clones:
            clones[id(a)] = a if isinstance(a, torch.nn.Parameter) else a.clone()
    return tuple(clones[id(a)] for a in args)


def run_case(case: str, cache_dir: str) -> list[float]:
    """Each call's largest error vs eager: outputs and the arguments after the call."""
    cls, dynamic, calls = CASES[case]
    model = cls(cache_dir, dynamic)
    gen = torch.Generator().manual_seed(1)
    errors = []
    with torch.no_grad():
        for pattern in calls:
            args = _arguments(model, pattern, gen)
            eager_args = _eager_copies(args)
            want = model._forward(*eager_args)
            got = model.cached(*args)
            error = (got - want).abs().max().item()
            for a, e in zip(args, eager_args):
                error = max(error, (a - e).abs().max().item())
            errors.append(error)
    return errors


@pytest.mark.parametrize("case", sorted(CASES))
def test_aliased_arguments_in_process(case: str, tmp_path: Path) -> None:
    errors = run_case(case, str(tmp_path))
    assert max(errors) <= cache_models.ATOL, (case, CASES[case][2], errors)


def main(argv: list[str]) -> None:
    """``<cache_dir>``: run every case, print their errors and Dynamo's report as JSON."""
    errors = {case: run_case(case, argv[0]) for case in sorted(CASES)}
    print(json.dumps({"errors": errors, "dynamo": cache_models.dynamo_report()}))


@pytest.mark.slow
def test_aliased_arguments_warm_start(tmp_path: Path) -> None:
    """A cold process writes the entries (and variants), a fresh one loads them."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import test_cache_compile_aliased_args as t; t.main(sys.argv[2:])"
    )
    import fresh_python  # not at the top: the fresh processes import this module

    results: list[dict[str, Any]] = []
    for _ in ("cold", "warm"):
        proc = fresh_python.run(
            [sys.executable, "-c", code, str(HERE), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
            env=cache_models.child_env(),
            preload=fresh_python.COMPILER,
        )
        results.append(cache_models.parse(proc.stdout, proc.stderr, proc.returncode, "cases"))
    for start, result in zip(("cold", "warm"), results):
        for case in CASES:
            errors = result["errors"][case]
            assert max(errors) <= cache_models.ATOL, (start, case, errors)
    # The warm start ran every call, variants included, from the entries: nothing traced.
    assert results[1]["dynamo"]["calls_captured"] == 0, results[1]["dynamo"]
