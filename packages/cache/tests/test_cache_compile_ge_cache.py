"""A cold ``ge_cache`` start compiles each host specialization once (issue 12 item 2).

The first call's Inductor compile *is* the AOTInductor package the entry keeps:
no in-process Inductor compile runs, one package compile per specialization,
and the published ``host_0.pt2`` holds the bytes of the package that served
the calls. Warm starts from such entries (fresh process, fresh Inductor
folder, nothing compiled) are tested in ``tests/test_cache_docs.py``.
"""

from __future__ import annotations

from pathlib import Path

import cache_models
import pytest
import torch

from airgraph_cache import cache_compile
from airgraph_core import _torch_compat
from airgraph_dynamo import CompilerConfig


@pytest.mark.slow
def test_cold_ge_cache_compiles_once_and_keeps_that_package(tmp_path: Path, monkeypatch) -> None:
    packages: list[bytes] = []
    save = _torch_compat.save_aoti_package

    def counting_save(exported, path):
        save(exported, path)
        packages.append(Path(path).read_bytes())

    def no_inductor(*args, **kwargs):
        raise AssertionError("a second, in-process Inductor compile")

    monkeypatch.setattr(_torch_compat, "save_aoti_package", counting_save)
    monkeypatch.setattr(_torch_compat, "compile_fx_static", no_inductor)
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
    assert len(packages) == 1
    assert cached.entry_dir is not None
    assert (cached.entry_dir / "host_0.pt2").read_bytes() == packages[0]
