"""A cold ``ge_cache`` start compiles each host specialization once (issue 12 item 2).

The first call's Inductor compile *is* the AOTInductor package the entry keeps:
one package compile per specialization, and the published ``host_0.pt2``
holds the bytes of the package that served the calls (that no in-process
Inductor compile runs besides is checked in core's ``test_host_packaging.py``). Warm starts from such entries (fresh process, fresh Inductor
folder, nothing compiled) are tested in ``tests/test_cache_docs.py``.
"""

from __future__ import annotations

from pathlib import Path

import cache_models
import pytest
import torch

from airgraph_cache import cache_compile
from airgraph_core.targets.host import package
from airgraph_dynamo import CompilerConfig


@pytest.mark.slow
def test_cold_ge_cache_compiles_once_and_keeps_that_package(tmp_path: Path, monkeypatch) -> None:
    compiled: list[torch.fx.GraphModule] = []
    compile_package = package.compile_package

    def counting_compile(gm, tensors):
        compiled.append(gm)
        return compile_package(gm, tensors)

    monkeypatch.setattr(package, "compile_package", counting_compile)
    torch.manual_seed(0)
    model = cache_models.LinearModel()
    config = CompilerConfig()  # host inductor mode, the default
    cached = cache_compile(model._forward, config=config, cache_dir=str(tmp_path), ge_cache=True)
    x = torch.randn(3, 8)
    with torch.no_grad():
        want = model._forward(x)
        got = [cached(x), cached(x), cached(x.t().contiguous().t())]
    assert cached.status == "compiled"
    for g in got:
        assert cache_models.max_error(g, want) <= cache_models.ATOL
    # One specialization, compiled as its package, and the entry keeps those very bytes.
    assert len(compiled) == 1
    assert cached.entry_dir is not None
    kept = (cached.entry_dir / "host_0.pt2").read_bytes()
    assert kept == compiled[0].meta[package.PACKAGE_META]


@pytest.mark.parametrize("host_mode", ["inductor", "interpret"])
@pytest.mark.parametrize("ge_cache", [True, False])
def test_a_cold_trace_starts_the_vector_isa_check_first(monkeypatch, host_mode, ge_cache) -> None:
    """Inductor's ISA check (seconds of compiler runs) overlaps Dynamo's trace and the
    lowering on a cold start; interpret mode compiles nothing and needs no check."""
    from airgraph_cache import recipe
    from airgraph_core.targets.host import warm_hints

    started: list[bool] = []
    monkeypatch.setattr(
        warm_hints, "start_isa_probe", lambda import_first: started.append(import_first)
    )
    config = CompilerConfig()
    config.airgraph_config.host_mode = host_mode
    with recipe.cold_compile(config, ge_cache):
        assert started == ([True] if host_mode == "inductor" else [])
        assert package.packaging_active() == ge_cache
    assert not package.packaging_active()
