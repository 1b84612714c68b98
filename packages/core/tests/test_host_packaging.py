"""``compile_as_packages``: a specialization compiled once, as the package that serves it.

A cold ``cache_compile(ge_cache=True)`` used to compile each host specialization
twice: Inductor in-process for the calls, then AOTInductor for the cache's
package. Inside ``compile_as_packages`` the package is the compile: it serves
the calls (any input layout, in-place updates written back) and
``export_artifacts`` returns its bytes without compiling again.
"""

from __future__ import annotations

import logging

import pytest
import torch

from airgraph_core import _torch_compat
from airgraph_core.ir import DataType, GraphBuilder
from airgraph_core.targets.host import package, package_builds
from airgraph_core.targets.host.target import HostExecutable


def _accumulate_graph():
    """``cache += x`` (an input written in place), returning ``2 * (cache + x) * x``."""
    b = GraphBuilder("accumulate")
    cache = b.data(0, DataType.FLOAT, (3, 3))
    x = b.data(1, DataType.FLOAT, (3, 3))
    total = b.op("Add", cache, x, out=cache.spec)
    assign = b.op("Assign", cache, total, out=cache.spec)
    doubled = b.op("Add", total, total, out=cache.spec)
    b.net_output([b.op("Mul", doubled, x, out=cache.spec)], control=[assign.op])
    return b.graph


def _eager(cache: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    cache.add_(x)
    return (2 * cache) * x


@pytest.fixture
def counted(monkeypatch):
    """Counts AOTInductor package compiles; in-process Inductor compiles raise."""
    calls = {"aoti": 0}
    save = _torch_compat.save_aoti_package

    def counting_save(exported, path, **options):
        calls["aoti"] += 1
        save(exported, path, **options)

    def no_inductor(*args, **kwargs):
        raise AssertionError("compiled in-process by Inductor")

    monkeypatch.setattr(_torch_compat, "save_aoti_package", counting_save)
    monkeypatch.setattr(_torch_compat, "compile_fx_static", no_inductor)
    monkeypatch.setattr(package_builds, "ENABLED", False)  # count real compiles
    return calls


def _check_calls(executable: HostExecutable, transposed: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    cache = torch.randn(3, 3, generator=gen)
    x = torch.randn(3, 3, generator=gen)
    if transposed:  # another layout: the package gets contiguous copies, writes come back
        cache, x = cache.t(), x.t()
    want_cache = cache.clone()
    want = _eager(want_cache, x)
    (got,) = executable([cache, x])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cache, want_cache, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_inside_compile_as_packages_one_compile_serves_calls_and_artifacts(counted):
    executable = HostExecutable(_accumulate_graph(), "inductor")
    assert not package.packaging_active()
    with package.compile_as_packages():
        assert package.packaging_active()
        _check_calls(executable, transposed=False)  # specializes and compiles the package
    assert not package.packaging_active()
    assert counted["aoti"] == 1
    _check_calls(executable, transposed=False)  # served by the loaded package
    _check_calls(executable, transposed=True)
    (artifact,) = executable.export_artifacts()
    assert counted["aoti"] == 1  # the same bytes, not a second compile
    assert package.package_problem(artifact.data) == ""

    fresh = HostExecutable(_accumulate_graph(), "inductor")
    fresh.load_artifacts([artifact])
    _check_calls(fresh, transposed=True)
    assert counted["aoti"] == 1


@pytest.mark.slow
def test_a_specialization_that_cannot_be_packaged_compiles_in_process(monkeypatch, caplog):
    def refuse(gm, tensors, reuse):
        raise RuntimeError("export refused")

    monkeypatch.setattr(package, "_package", refuse)
    executable = HostExecutable(_accumulate_graph(), "inductor")
    with caplog.at_level(logging.WARNING, logger="airgraph.core"), package.compile_as_packages():
        _check_calls(executable, transposed=False)
    assert "not compiled as a package: export refused" in caplog.text
    _check_calls(executable, transposed=True)  # the in-process compile serves


def test_outside_the_context_nothing_is_packaged(monkeypatch):
    def refuse(gm, tensors):
        raise AssertionError("packaged outside compile_as_packages")

    monkeypatch.setattr(package, "compile_package", refuse)
    assert not package.packaging_active()
    executable = HostExecutable(_accumulate_graph(), "interpret")
    with package.compile_as_packages():  # interpret mode compiles nothing, packages nothing
        _check_calls(executable, transposed=True)


_COLD_START = """
import pathlib, sys
import torch
from airgraph_core.ir import DataType, GraphBuilder
from airgraph_core.targets.host import package, package_builds
from airgraph_core.targets.host.target import HostExecutable

b = GraphBuilder("cold")
x = b.data(0, DataType.FLOAT, (4, 8))
y = b.data(1, DataType.FLOAT, (4, 8))
b.net_output([b.op("Relu", b.op("Add", x, y, out=x.spec), out=x.spec)])
executable = HostExecutable(b.graph, "inductor")
gen = torch.Generator().manual_seed(0)
a, c = torch.randn(4, 8, generator=gen), torch.randn(4, 8, generator=gen)
with package.compile_as_packages():
    (got,) = executable([a, c])
torch.testing.assert_close(got, torch.relu(a + c), rtol=1e-6, atol=1e-6)
(artifact,) = executable.export_artifacts()
assert package.package_problem(artifact.data) == ""
print(sorted(str(p) for p in pathlib.Path(sys.argv[1]).rglob("*.gch")))
"""


@pytest.mark.slow
def test_a_cold_package_compile_builds_no_precompiled_headers(tmp_path):
    """AOTInductor keeps its precompiled headers under the temporary folder; a cold
    start there (first compile on a machine, a container, a fresh ``TMPDIR``) built
    two of them before the package (~17 CPU-s of ~80 on a transformers GPT-2)."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "ind")}
    done = subprocess.run(
        [sys.executable, "-c", _COLD_START, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    headers = json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))
    assert headers == []
