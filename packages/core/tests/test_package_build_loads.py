"""A package from the build cache that does not load is dropped and compiled anew.

The build cache (:mod:`airgraph_core.targets.host.package_builds`) checks a kept
package's archive (CRCs, JSON members), not that torch's C++ loader takes it: a
package kept by another build of torch with the same version, or damaged inside
a member whose CRC was rewritten, passes the check and fails to load. Such a
package was kept for good (every later compile failed over to in-process) and,
set as the specialization's package before it was loaded, exported with the
``ge_cache`` entry. The fakes below stand in for AOTInductor and its loader.
"""

from __future__ import annotations

import io
import zipfile

import pytest
import torch

from airgraph_core import _torch_compat
from airgraph_core.targets.host import package, package_builds

OPTIONS = {"precompile_headers": package.PRECOMPILE_HEADERS}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


STALE = _zip({"data/aotinductor/model.json": b"{}", "so": b"stale"})
FRESH = _zip({"data/aotinductor/model.json": b"{}", "so": b"fresh"})


class _Double(torch.nn.Module):
    def forward(self, x):
        return (x * 2,)


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """A build cache in ``tmp_path``, AOTInductor writing FRESH, a loader refusing STALE."""
    monkeypatch.setattr(package_builds, "ENABLED", True)
    monkeypatch.setattr(_torch_compat, "inductor_cache_dir", lambda: str(tmp_path))
    compiles = []

    def save(exported, path, **options):
        compiles.append(path)
        with open(path, "wb") as f:
            f.write(FRESH)

    def loader(data):
        if data != FRESH:
            raise RuntimeError("the C++ loader refuses this package")
        return lambda tensors: [tensors[0] * 2]

    monkeypatch.setattr(_torch_compat, "save_aoti_package", save)
    monkeypatch.setattr(package, "_loaded_runner", loader)
    return compiles


def test_a_kept_package_that_does_not_load_is_compiled_anew(fakes):
    gm = torch.fx.symbolic_trace(_Double())
    x = torch.arange(4.0)
    key = package_builds.build_key(gm, [x], OPTIONS)
    assert key is not None
    package_builds.store(key, STALE)
    assert package_builds.lookup(key, package.package_problem) == STALE  # passes the check

    run = package.compile_package(gm, [x])

    torch.testing.assert_close(run(x)[0], x * 2, rtol=0, atol=0)
    assert len(fakes) == 1  # compiled once, after the kept package failed to load
    assert gm.meta[package.PACKAGE_META] == FRESH  # the exported package is one that loads
    assert package_builds.lookup(key, package.package_problem) == FRESH  # the cache is mended


def test_a_package_compiled_now_that_does_not_load_is_not_exported(fakes, monkeypatch):
    def refuse(data):
        raise RuntimeError("the C++ loader refuses this package")

    monkeypatch.setattr(package, "_loaded_runner", refuse)
    gm = torch.fx.symbolic_trace(_Double())
    with pytest.raises(RuntimeError, match="refuses"):
        package.compile_package(gm, [torch.arange(4.0)])
    assert len(fakes) == 1  # no second compile: the caller compiles in-process
    assert package.PACKAGE_META not in gm.meta


def test_the_key_waits_for_the_early_isa_check_instead_of_running_another(monkeypatch):
    """The key names the CPU's vector ISA. Asked while the early check runs in its thread
    (a cold ge_cache start), it ran a second check beside it: its compiler probes again."""
    import threading
    import time

    from airgraph_core.targets.host import warm_hints

    running, overlaps = [], []
    lock = threading.Lock()

    def probe():
        with lock:
            running.append(1)
            overlaps.append(len(running))
        time.sleep(0.3)
        with lock:
            running.pop()
        return "some-isa"

    monkeypatch.setattr(_torch_compat, "probe_cpu_vec_isa", probe)
    monkeypatch.setattr(package_builds, "ENABLED", True)
    monkeypatch.setattr(warm_hints, "_probe", None)
    warm_hints.start_isa_probe()
    time.sleep(0.05)  # the thread is in its check
    gm = torch.fx.symbolic_trace(_Double())
    assert package_builds.build_key(gm, [torch.arange(4.0)], OPTIONS) is not None
    assert overlaps == [1, 1]


class _MatMul(torch.nn.Module):
    def forward(self, a, b):
        return (torch.mm(a, b),)


def test_a_package_is_built_without_the_callers_autocast(fakes, monkeypatch):
    """The host graph's dtypes are explicit (``specialize`` turns autocast off). Exported
    under a caller's CPU autocast (``export_artifacts`` while a ge_cache entry is saved
    inside ``torch.autocast``), the package computed a float32 matmul in bfloat16 and
    returned bfloat16 (seen with a real compile: max error 0.02 on 8x8), and the build
    cache kept it under the float32 graph's key, which does not name autocast."""
    traced = []

    def save(exported, path, **options):
        # AOTInductor lowers the exported program to ATen first: autocast acts there.
        traced.append(exported.run_decompositions().graph_module.code)
        with open(path, "wb") as f:
            f.write(FRESH)

    monkeypatch.setattr(_torch_compat, "save_aoti_package", save)
    gm = torch.fx.symbolic_trace(_MatMul())
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        package.compile_package(gm, [a, b])
    (code,) = traced
    assert "bfloat16" not in code, code
