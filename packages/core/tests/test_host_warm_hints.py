"""Warm hints: a host specialization loaded from Inductor's FX graph cache by its key.

In-process checks of the host target's side (a later program of the same graph
loads by the hint, never traces, and falls back whenever the hint does not
hold). Warm starts in fresh processes through ``cache_compile`` are in
``packages/cache/tests/test_cache_compile_warm_hints.py``.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from airgraph_core import _torch_compat
from airgraph_core.ir import DataType, GraphBuilder
from airgraph_core.targets.host import warm_hints
from airgraph_core.targets.host.inductor import DirectCall
from airgraph_core.targets.host.target import HostExecutable
from airgraph_core.targets.host.warm_hints import WarmHint

TOL = {"rtol": 1e-5, "atol": 1e-6}


def _graph(rows: int = 2):
    """``((x @ w) * 0.5 + arange(4)).t()`` with constants that become lifted buffers."""
    b = GraphBuilder("hinted")
    x = b.data(0, DataType.FLOAT, (rows, 3))
    w = b.data(1, DataType.FLOAT, (3, 4))
    y = b.op("MatMulV2", x, w, out=(DataType.FLOAT, (rows, 4)))
    scaled = b.op("Mul", y, b.const(0.5), out=y.spec)
    shifted = b.op("Add", scaled, b.const(torch.arange(4.0)), out=y.spec)
    b.net_output([b.op("Transpose", shifted, b.const([1, 0]), out=(DataType.FLOAT, (4, rows)))])
    return b.graph


def _eager(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return ((x @ w) * 0.5 + torch.arange(4.0)).t()


@pytest.fixture
def traced(monkeypatch):
    """Counts AOTAutograd traces (the host target's only way into ``compile_fx``)."""
    calls = []
    compile_fx_static = _torch_compat.compile_fx_static

    def counting(*args, **kwargs):
        calls.append(1)
        return compile_fx_static(*args, **kwargs)

    monkeypatch.setattr(_torch_compat, "compile_fx_static", counting)
    return calls


def test_hint_json_round_trip_and_malformed_hints():
    hint = WarmHint("fxkey", "graph", "settings")
    assert WarmHint.from_json(hint.to_json()) == hint
    for bad in (None, [], {"fx_key": "k", "graph": "g"}, {**hint.to_json(), "settings": 3}):
        with pytest.raises(ValueError, match="data"):
            WarmHint.from_json(bad)


def test_malformed_hints_are_dropped_when_loaded():
    executable = HostExecutable(_graph(), "inductor")
    executable.load_hints(
        [{"signature": "x"}, {"hint": {}}, 7, {"signature": [], "hint": {"fx_key": 1}}]
    )
    assert executable.program.hints == {}
    assert executable.export_hints() == []


def test_graph_digest_follows_code_and_input_metadata():
    from airgraph_core.targets.host.program import specialize

    inputs = [torch.randn(2, 3), torch.randn(3, 4)]
    gm, tensors, _ = specialize(_graph(), inputs)
    again, tensors_again, _ = specialize(_graph(), [torch.randn(2, 3), torch.randn(3, 4)])
    digest = warm_hints.graph_digest(gm, tensors)
    assert warm_hints.graph_digest(again, tensors_again) == digest
    other, other_tensors, _ = specialize(_graph(5), [torch.randn(5, 3), torch.randn(3, 4)])
    assert warm_hints.graph_digest(other, other_tensors) != digest
    assert warm_hints.graph_digest(gm, [tensors[0].t().contiguous().t(), tensors[1]]) != digest


def test_settings_digest_follows_inductor_config_and_threads():
    from torch._inductor import config

    before = warm_hints.settings_digest()
    assert warm_hints.settings_digest() == before
    with config.patch(max_fusion_size=config.max_fusion_size + 1):
        assert warm_hints.settings_digest() != before
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        assert warm_hints.settings_digest() != before
    finally:
        torch.set_num_threads(threads)
    assert warm_hints.settings_digest() == before


def _cold_hints() -> list:
    executable = HostExecutable(_graph(), "inductor")
    x, w = torch.randn(2, 3), torch.randn(3, 4)
    torch.testing.assert_close(executable([x, w])[0], _eager(x, w), **TOL)
    hints = executable.export_hints()
    assert len(hints) == 1 and hints[0]["signature"] == []
    return hints


def _warm(hints: list) -> tuple[HostExecutable, list]:
    executable = HostExecutable(_graph(), "inductor")
    executable.load_hints(hints)
    results = []
    for seed in (1, 2):
        gen = torch.Generator().manual_seed(seed)
        x, w = torch.randn(2, 3, generator=gen), torch.randn(3, 4, generator=gen)
        results.append((executable([x, w])[0], _eager(x, w)))
    return executable, results


@pytest.mark.slow
def test_a_hinted_specialization_loads_without_tracing(traced):
    hints = _cold_hints()
    assert len(traced) == 1
    counts = dict(warm_hints.COUNTS)
    executable, results = _warm(hints)
    assert len(traced) == 1, "the warm program traced with AOTAutograd"
    assert warm_hints.COUNTS["loaded"] == counts["loaded"] + 1
    for got, want in results:
        torch.testing.assert_close(got, want, **TOL)
    (fn,) = executable.program._compiled.values()
    assert isinstance(fn.fn, DirectCall)
    # The loaded graph's hint is exported again, the same one.
    assert executable.export_hints() == hints


@pytest.mark.slow
@pytest.mark.parametrize("change", ["config", "entry", "graph", "load_error"])
def test_a_hint_that_does_not_hold_falls_back_to_the_full_compile(change, traced, monkeypatch):
    hints = _cold_hints()
    counts = dict(warm_hints.COUNTS)
    stack = contextlib.ExitStack()
    if change == "config":
        from torch._inductor import config

        # config.patch, not monkeypatch: monkeypatch's undo deletes the option from
        # Inductor's config module, and later compiles in this process fail on it.
        stack.enter_context(config.patch(max_fusion_size=config.max_fusion_size + 1))
    elif change == "entry":  # Inductor's entry is gone (another cache folder, a cleared cache)
        hints[0]["hint"]["fx_key"] = "f" + "0" * 51
    elif change == "graph":
        hints[0]["hint"]["graph"] = "0" * 64
    else:

        def failing(*args, **kwargs):
            raise OSError("torn entry")

        monkeypatch.setattr(_torch_compat, "load_fx_graph", failing)
    with stack:
        _executable, results = _warm(hints)
    assert len(traced) == 2, "the fallback did not compile"
    assert warm_hints.COUNTS["loaded"] == counts["loaded"]
    for got, want in results:
        torch.testing.assert_close(got, want, **TOL)


def test_interpret_mode_makes_no_hints():
    executable = HostExecutable(_graph(), "interpret")
    executable([torch.randn(2, 3), torch.randn(3, 4)])
    assert executable.export_hints() == []
