"""``gear_compile="background"``: every gear served at once, compiled gears swapped in by a thread.

The host target's uncompiled executable is the same GE graph in interpret
mode; in interpret mode the "compiled" specializations are interpreted FX
modules too, which keeps these tests fast while running the real thread,
queue, swap and wait. The Inductor tests (``slow``) check the same with
compiled code. A gate (``HostExecutable.specialize`` waiting on an event)
holds the background thread where a test needs to see the gears before
they are compiled.

Tolerances: interpret vs eager rtol=atol=1e-5 (same ATen ops, float32);
Inductor vs eager rtol=atol=1e-4 (fused kernels reorder float32 sums).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from airgraph_core.targets.host.target import HostExecutable
from airgraph_dynamo import get_npu_backend, wait_for_gears
from airgraph_gears import set_dim_gears

BATCHES = [1, 2, 4, 8]


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


@pytest.fixture(autouse=True)
def _no_thread_left():
    yield
    # Whatever a test did, it leaves no compile running into the next test.
    assert wait_for_gears(timeout=120)
    assert not _gear_threads()


def _gear_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("airgraph-gears-")]


class Gate:
    """Holds every background specialization until :meth:`open`; records their order."""

    def __init__(self, monkeypatch, fail_batch: int | None = None) -> None:
        self.event = threading.Event()
        self.order: list[int] = []
        original = HostExecutable.specialize
        gate = self

        def specialize(executable, inputs):
            if threading.current_thread().name.startswith("airgraph-gears-"):
                assert gate.event.wait(60), "the test never opened the gate"
                batch = executable.program.signature(inputs)[-1][0]  # the geared dim
                gate.order.append(batch)
                if batch == fail_batch:
                    raise RuntimeError(f"injected failure for batch {fail_batch}")
            return original(executable, inputs)

        monkeypatch.setattr(HostExecutable, "specialize", specialize)

    def open(self) -> None:
        self.event.set()


def _compile(fn, make_config, mode="interpret", **options):
    config = make_config(mode, gear_compile="background", **options)
    backend = get_npu_backend(compiler_config=config)
    return backend, torch.compile(fn, backend=backend, fullgraph=True)


def _check_all(compiled, model, seed):
    torch.manual_seed(seed)
    for batch in BATCHES:
        x = torch.randn(batch, 8)
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


def test_every_gear_served_before_and_after_the_background_compiles(make_config, monkeypatch):
    gate = Gate(monkeypatch)
    torch.manual_seed(0)
    model = Mlp().eval()
    backend, compiled = _compile(model, make_config)
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: BATCHES})
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
        record = backend.compiled[0]
        runner = record.gear_runner
        # Held by the gate: every gear is served, none compiled yet.
        _check_all(compiled, model, seed=1)
        assert runner.interpreted_gears() == [0, 1, 2, 3]
        assert record.gears.compiled == {}
        assert runner.wait_for_gears(timeout=0.05) is False
        assert wait_for_gears(timeout=0.05) is False
        assert [t.is_alive() for t in _gear_threads()] == [True]
        gate.open()
        assert wait_for_gears() is True
        assert runner.wait_for_gears() is True
        assert not _gear_threads()
        # Each gear's specialization was swapped in.
        assert runner.interpreted_gears() == []
        assert sorted(record.gears.compiled) == [0, 1, 2, 3]
        assert len(record.executable.program.signatures) == 4
        _check_all(compiled, model, seed=2)
    # The first call's gear first, then the others in plan order.
    assert gate.order == [2, 1, 4, 8]


def test_the_callers_nested_fx_trace_setting_is_put_back_by_wait(make_config, monkeypatch):
    """The first caller's error_on_nested_fx_trace is off while gears compile, back after wait."""
    import torch._dynamo.config as dynamo_config

    assert dynamo_config.error_on_nested_fx_trace is True
    gate = Gate(monkeypatch)
    backend, compiled = _compile(lambda x: x.relu() * 3, make_config)
    x = torch.randn(4, 8)
    set_dim_gears(x, {0: BATCHES})
    compiled(x)
    assert dynamo_config.error_on_nested_fx_trace is False
    seen_in_other_thread = []
    worker = threading.Thread(
        target=lambda: seen_in_other_thread.append(dynamo_config.error_on_nested_fx_trace)
    )
    worker.start()
    worker.join()
    assert seen_in_other_thread == [True]  # a per-thread setting: other threads keep theirs
    gate.open()
    background = backend.compiled[0].gear_runner.background
    for _ in range(6000):  # finished before the wait: the wait still puts the setting back
        if background.done:
            break
        time.sleep(0.01)
    assert background.done
    assert dynamo_config.error_on_nested_fx_trace is False
    assert wait_for_gears() is True
    assert dynamo_config.error_on_nested_fx_trace is True


def test_gears_called_first_compile_first(make_config, monkeypatch):
    gate = Gate(monkeypatch)
    backend, compiled = _compile(lambda x: x.relu() * 3, make_config)
    x = torch.randn(4, 8)
    set_dim_gears(x, {0: BATCHES})
    compiled(x)
    for batch in (8, 1, 8):
        y = torch.randn(batch, 8)
        torch.testing.assert_close(compiled(y), y.relu() * 3)
    gate.open()
    assert backend.compiled[0].gear_runner.wait_for_gears()
    assert gate.order == [4, 8, 1, 2]


def test_in_place_updated_input_is_updated_once_per_call(make_config, monkeypatch):
    """The background compiles run the graph on copies: the caller's state moves once per call."""
    gate = Gate(monkeypatch)

    def fn(x, state):
        state.add_(x.sum(0))
        return x * 2 + state

    backend, compiled = _compile(fn, make_config)
    x, state = torch.ones(2, 3), torch.zeros(3)
    set_dim_gears(x, {0: BATCHES})
    expected = torch.zeros(3)
    with torch.no_grad():
        for step, batch in enumerate([2, 4, 8, 1, 4, 2, 8, 1]):
            if step == 4:  # half the calls interpreted, half compiled
                gate.open()
                assert backend.compiled[0].gear_runner.wait_for_gears()
                torch.testing.assert_close(state, expected)  # the compiles left it alone
            x = x if step == 0 else torch.full((batch, 3), float(step))
            expected += x.sum(0)
            torch.testing.assert_close(compiled(x, state), x * 2 + expected)
            torch.testing.assert_close(state, expected)
    assert sorted(backend.compiled[0].gears.compiled) == [0, 1, 2, 3]


@pytest.mark.parametrize("policy", ["pad", "fallback"])
def test_out_of_gear_policies_before_and_after(policy, make_config, monkeypatch):
    gate = Gate(monkeypatch)
    torch.manual_seed(0)
    model = Mlp().eval()
    backend, compiled = _compile(model, make_config, out_of_gear=policy)
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: [2, 4, 8]})
    with torch.no_grad():
        compiled(x)
        for opened in (False, True):
            for batch in (3, 5, 1):
                y = torch.randn(batch, 8)
                out = compiled(y)
                assert out.shape == (batch, 4)
                torch.testing.assert_close(out, model(y), rtol=1e-5, atol=1e-5)
            if not opened:
                assert backend.compiled[0].gears.compiled == {}
                gate.open()
                assert backend.compiled[0].gear_runner.wait_for_gears()
    assert sorted(backend.compiled[0].gears.compiled) == [0, 1, 2]


def test_a_failed_background_compile_keeps_the_gear_uncompiled(make_config, monkeypatch, caplog):
    gate = Gate(monkeypatch, fail_batch=4)
    torch.manual_seed(0)
    model = Mlp().eval()
    backend, compiled = _compile(model, make_config)
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: BATCHES})
    with torch.no_grad(), caplog.at_level(logging.INFO, logger="airgraph.dynamo"):
        compiled(x)
        gate.open()
        runner = backend.compiled[0].gear_runner
        assert runner.wait_for_gears() is False  # one gear failed
        assert wait_for_gears() is True  # nothing is running any more
        _check_all(compiled, model, seed=3)
    assert list(runner.background.failures) == [2]
    assert "injected failure for batch 4" in runner.background.failures[2]
    assert runner.interpreted_gears() == [2]
    assert sorted(backend.compiled[0].gears.compiled) == [0, 1, 3]
    ours = [r for r in caplog.records if r.name.startswith("airgraph")]
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "gear 2 of graph_" in warnings[0].getMessage()
    assert "keeps running uncompiled" in warnings[0].getMessage()
    # Progress: an info line per gear compiled and one when the thread is done.
    infos = [r.getMessage() for r in ours if r.levelno == logging.INFO]
    assert sum(" compiled in " in m and "(3 of 4)" in m for m in infos) == 1
    assert sum("3 of 4 gears compiled" in m for m in infos) == 1


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_runner_wait_without_background(mode, make_config):
    config = make_config("interpret", gear_compile=mode)
    backend = get_npu_backend(compiler_config=config)
    compiled = torch.compile(lambda x: x + 1, backend=backend, fullgraph=True)
    x = torch.ones(2, 3)
    set_dim_gears(x, {0: [2, 4]})
    compiled(x)
    runner = backend.compiled[0].gear_runner
    assert runner.background is None and runner.interpreted_gears() == []
    assert runner.wait_for_gears() is (mode == "eager")  # lazy: gear 4 not compiled yet
    compiled(torch.ones(4, 3))
    assert runner.wait_for_gears() is True and not _gear_threads()


def test_wait_for_gears_checks_its_timeout():
    with pytest.raises(ValueError, match="timeout: expected None or seconds >= 0, got -1"):
        wait_for_gears(timeout=-1)
    assert wait_for_gears(timeout=0) is True  # nothing compiles


@pytest.mark.slow
def test_inductor_gears_swapped_in(make_config):
    torch.manual_seed(0)
    model = Mlp().eval()
    backend, compiled = _compile(model, make_config, mode="inductor")
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: BATCHES})
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
        record = backend.compiled[0]
        for batch in BATCHES:  # interpreted or compiled, whichever is ready
            y = torch.randn(batch, 8)
            torch.testing.assert_close(compiled(y), model(y), rtol=1e-4, atol=1e-4)
        assert record.gear_runner.wait_for_gears(timeout=300)
        assert record.gear_runner.interpreted_gears() == []
        assert sorted(record.gears.compiled) == [0, 1, 2, 3]
        program = record.executable.program
        assert program.mode == "inductor" and len(program.signatures) == 4
        # The interpreter compiled nothing: its program is in interpret mode.
        assert record.executable.uncompiled().program.mode == "interpret"
        for batch in BATCHES:
            y = torch.randn(batch, 8)
            torch.testing.assert_close(compiled(y), model(y), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_calls_while_inductor_traces_in_the_thread(make_config):
    """Inductor's make_fx sets torch.fx's process-wide tracing flag: calls meanwhile still work."""
    torch.manual_seed(0)
    model = Mlp().eval()
    backend, compiled = _compile(model, make_config, mode="inductor")
    x = torch.randn(2, 8)
    set_dim_gears(x, {0: BATCHES})
    calls = 0
    with torch.no_grad():
        compiled(x)
        runner = backend.compiled[0].gear_runner
        while not runner.background.done:
            y = torch.randn(BATCHES[calls % 4], 8)
            torch.testing.assert_close(compiled(y), model(y), rtol=1e-4, atol=1e-4)
            calls += 1
    assert runner.wait_for_gears() and calls > 0


@pytest.mark.slow
def test_process_exits_while_gears_compile(tmp_path):
    """Exit with Inductor compiles pending: no hang, no crash, no failure logged."""
    script = tmp_path / "exit_early.py"
    script.write_text(
        textwrap.dedent(
            """
            import torch
            from airgraph_dynamo import CompilerConfig, get_npu_backend
            from airgraph_gears import set_dim_gears

            config = CompilerConfig()
            config.airgraph_config.target = "host"
            config.airgraph_config.gear_compile = "background"
            backend = get_npu_backend(compiler_config=config)
            f = torch.compile(lambda x: x.sin() * 2, backend=backend, fullgraph=True)
            x = torch.randn(2, 3)
            set_dim_gears(x, {0: [1, 2, 3, 4, 5, 6, 7, 8]})
            torch.testing.assert_close(f(x), x.sin() * 2)
            assert backend.compiled[0].gear_runner.background is not None
            print("exiting", flush=True)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "exiting" in done.stdout
    assert "Traceback" not in done.stderr and "uncompiled" not in done.stderr


@pytest.mark.slow
def test_docs_example_runs():
    """The example of docs/concepts/gears.md, section "Compiling in the background"."""
    page = (Path(__file__).resolve().parents[3] / "docs/concepts/gears.md").read_text()
    section = page[page.index("### Compiling in the background") :]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)[:1]
    namespace: dict = {}
    exec(compile(code, "gears.md", "exec"), namespace)
    assert wait_for_gears(timeout=0)  # the example waited for its gears
    assert not _gear_threads()
