"""Different tensors over one memory, passed to a method that writes one in place.

``WriteThenRead`` doubles ``buf`` in place and then reads ``x``: when ``x`` and
``buf`` overlap in memory (``base[1:]`` and ``base[:4]``, or a ``view`` of one
another) eager PyTorch reads the doubled values through ``x``. A program traced
with separate tensors must not run such a call, and a trace that saw the overlap
must not serve later separate tensors (torch.compile itself does both wrong with
static shapes). Each sequence alternates the situations, both orders, and
compares every call's output and the arguments afterwards with eager PyTorch on
copies that share memory as the call's arguments do; the same on a warm start
in a fresh process, where nothing is traced.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from pathlib import Path
from typing import Any

import cache_models
import pytest
import torch

from airgraph_cache import cache_compile

HERE = Path(__file__).resolve().parent


class WriteThenRead(torch.nn.Module):
    """Writes ``buf`` in place, then reads ``x`` (and ``buf``)."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.cached = cache_compile(
            self._forward,
            cache_dir=cache_dir,
            config=cache_models.interpret_config(),
            dynamic=False,
        )

    def _forward(self, x, buf):
        buf.mul_(2)
        return x * 3 + buf


#: call kind -> whether its two arguments overlap in memory
KINDS = {"separate": False, "rows": True, "view": True, "halves": False, "same": True}

#: sequence name -> the calls' kinds (``same``: one tensor passed twice)
SEQUENCES: dict[str, list[str]] = {
    "separate_first": ["separate", "rows", "view", "halves", "separate", "same", "rows"],
    "overlap_first": ["rows", "separate", "view", "rows", "halves", "separate"],
    "view_first": ["view", "halves", "view", "separate"],
}


def _arguments(kind: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "separate":
        return torch.randn(4, 4, generator=gen), torch.randn(4, 4, generator=gen)
    if kind == "same":
        t = torch.randn(4, 4, generator=gen)
        return t, t
    if kind == "view":
        buf = torch.randn(4, 4, generator=gen)
        return buf.view(4, 4), buf
    base = torch.randn(5 if kind == "rows" else 8, 4, generator=gen)
    if kind == "rows":  # overlapping rows 1..3
        return base[1:], base[:4]
    return base[4:], base[:4]  # one storage, no common element


def run_sequence(name: str, cache_dir: str) -> list[float]:
    """Each call's largest error vs eager: the output and both arguments after the call."""
    model = WriteThenRead(cache_dir)
    gen = torch.Generator().manual_seed(3)
    errors = []
    with torch.no_grad():
        for kind in SEQUENCES[name]:
            args = _arguments(kind, gen)
            eager_args = copy.deepcopy(args)  # deepcopy keeps the shared memory
            want = model._forward(*eager_args)
            got = model.cached(*args)
            error = cache_models.max_error(got, want)
            for a, e in zip(args, eager_args):
                error = max(error, cache_models.max_error(a, e))
            errors.append(error)
    return errors


def test_eager_copies_share_memory_as_the_arguments() -> None:
    """The reference is only right if the copies overlap as the call's arguments do."""
    gen = torch.Generator().manual_seed(0)
    for kind, overlaps in KINDS.items():
        x, buf = copy.deepcopy(_arguments(kind, gen))
        before = x.clone()
        buf.mul_(2)
        assert (not torch.equal(x, before)) is overlaps, kind


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_overlapping_arguments_in_process(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="airgraph.cache"):
        errors = run_sequence(name, str(tmp_path))
    assert max(errors) <= cache_models.ATOL, (name, SEQUENCES[name], errors)
    # Overlapping views ran eagerly (logged once), not through a program traced for others.
    assert "overlap in memory" in caplog.text


def test_views_of_one_storage_without_overlap_run_the_program(tmp_path: Path) -> None:
    """Slices of one tensor with no common element (a KV cache's layers) stay compiled."""
    model = WriteThenRead(str(tmp_path))
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        model.cached(*_arguments("separate", gen))
        program = model.cached._program
        calls = []
        original = program.executable
        program.executable = lambda inputs: calls.append(1) or original(inputs)
        x, buf = _arguments("halves", gen)
        want = model._forward(*copy.deepcopy((x, buf)))
        got = model.cached(x, buf)
    assert calls == [1]
    assert cache_models.max_error(got, want) <= cache_models.ATOL


def main(argv: list[str]) -> None:
    """``<cache_dir>``: run every sequence, print their errors and Dynamo's report as JSON."""
    errors = {name: run_sequence(name, argv[0]) for name in sorted(SEQUENCES)}
    print(json.dumps({"errors": errors, "dynamo": cache_models.dynamo_report()}))


@pytest.mark.slow
def test_overlapping_arguments_warm_start(tmp_path: Path) -> None:
    """A cold process writes the entries, a fresh one loads them and traces nothing."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import test_cache_compile_overlap as t; t.main(sys.argv[2:])"
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
        results.append(cache_models.parse(proc.stdout, proc.stderr, proc.returncode, "sequences"))
    for start, result in zip(("cold", "warm"), results):
        for name in SEQUENCES:
            errors = result["errors"][name]
            assert max(errors) <= cache_models.ATOL, (start, name, errors)
    assert results[1]["dynamo"]["calls_captured"] == 0, results[1]["dynamo"]


class UncacheableWriteThenRead(WriteThenRead):
    """As :class:`WriteThenRead`, plus a complex leaf that cannot be cached: runs uncached."""

    def _forward(self, x, buf):
        buf.mul_(2)
        return x * 3 + buf, 1j


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_overlapping_arguments_uncached(name: str, tmp_path: Path) -> None:
    """Once uncached (torch.compile), overlapping views still see the in-place write."""
    model = UncacheableWriteThenRead(str(tmp_path))
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for kind in SEQUENCES[name]:
            args = _arguments(kind, gen)
            eager_args = copy.deepcopy(args)
            want = model._forward(*eager_args)
            got = model.cached(*args)
            assert got[1] == want[1]
            error = cache_models.max_error(got[0], want[0])
            for a, e in zip(args, eager_args):
                error = max(error, cache_models.max_error(a, e))
            assert error <= cache_models.ATOL, (kind, error)
    assert model.cached.status == "uncached"


class UncacheableReadOnly(WriteThenRead):
    """Writes nothing, returns a complex leaf: overlapping calls keep torch.compile."""

    def _forward(self, x, buf):
        return x * 3 + buf, 1j


def test_overlap_without_writes_stays_compiled(tmp_path: Path) -> None:
    model = UncacheableReadOnly(str(tmp_path))
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for kind in SEQUENCES["overlap_first"]:
            args = _arguments(kind, gen)
            got = model.cached(*args)
            assert cache_models.max_error(got[0], model._forward(*args)[0]) <= cache_models.ATOL
            # The first call (overlapping) already left the cache for torch.compile.
            assert model.cached.status == "uncached", kind
    assert model.cached._uncached is not None


def test_abandoned_program_runs_overlapping_arguments_eagerly(tmp_path: Path) -> None:
    """A cached program that writes an input, then abandoned: torch.compile must not run them."""
    model = WriteThenRead(str(tmp_path))
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model.cached(*_arguments("separate", gen))
        model.cached._abandon("abandoned by the test")
        for kind in ["rows", "separate", "view", "rows"]:
            args = _arguments(kind, gen)
            eager_args = copy.deepcopy(args)
            want = model._forward(*eager_args)
            error = cache_models.max_error(model.cached(*args), want)
            for a, e in zip(args, eager_args):
                error = max(error, cache_models.max_error(a, e))
            assert error <= cache_models.ATOL, (kind, error)
    assert model.cached.status == "uncached"
