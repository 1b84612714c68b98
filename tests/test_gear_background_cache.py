"""cache_compile with ``gear_compile="background"`` and ``ge_cache=True``.

The cold start's trace starts the background compiles; the entry is packaged
after they finish, so it holds an AOTInductor package for every gear, and
the cached program serves every gear with eager's values (Inductor vs eager:
rtol=atol=1e-4). Without ``ge_cache`` the program compiles a gear the thread
has not reached in the calling thread, next to the thread's compiles.
"""

from __future__ import annotations

import json

import pytest
import torch

from airgraph_cache import cache_compile
from airgraph_dynamo import CompilerConfig, wait_for_gears
from airgraph_gears import set_dim_gears

# Slow: Inductor compiles and AOTInductor packages per gear.
pytestmark = pytest.mark.slow


class GearModel(torch.nn.Module):
    def __init__(self, cache_dir, ge_cache=True):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 4)
        config = CompilerConfig()
        config.airgraph_config.target = "host"
        config.airgraph_config.host_mode = "inductor"
        config.airgraph_config.gear_compile = "background"
        self.cached = cache_compile(
            self._forward, config=config, cache_dir=cache_dir, ge_cache=ge_cache
        )

    def forward(self, x):
        return self.cached(x)

    def _forward(self, x):
        return self.lin(x).relu()


def test_cold_start_packages_every_gear(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRGRAPH_CACHE_KEY", str(tmp_path / "key"))
    model = GearModel(tmp_path / "cache")
    x = torch.randn(2, 4)
    set_dim_gears(x, {0: [2, 8]})
    with torch.no_grad():
        torch.testing.assert_close(model(x), model._forward(x), rtol=1e-4, atol=1e-4)
        assert model.cached.status == "compiled"
        for batch in (8, 2):
            y = torch.randn(batch, 4)
            torch.testing.assert_close(model(y), model._forward(y), rtol=1e-4, atol=1e-4)
    assert wait_for_gears(timeout=300)
    with torch.no_grad():  # every gear now runs its compiled package
        for batch in (2, 8):
            y = torch.randn(batch, 4)
            torch.testing.assert_close(model(y), model._forward(y), rtol=1e-4, atol=1e-4)
    (program,) = (tmp_path / "cache").rglob("program.json")
    artifacts = json.loads(program.read_text())["artifacts"]
    shapes = sorted(a["meta"][0][0] for a in artifacts)  # each package's input signature
    assert shapes == [2, 8], artifacts
    for a in artifacts:
        assert (program.parent / a["file"]).stat().st_size > 0


def test_without_ge_cache_every_gear_right_while_the_thread_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRGRAPH_CACHE_KEY", str(tmp_path / "key"))
    model = GearModel(tmp_path / "cache", ge_cache=False)
    x = torch.randn(2, 4)
    set_dim_gears(x, {0: [2, 8]})
    with torch.no_grad():
        torch.testing.assert_close(model(x), model._forward(x), rtol=1e-4, atol=1e-4)
        assert model.cached.status == "compiled"
        for batch in (8, 2, 8):
            y = torch.randn(batch, 4)
            torch.testing.assert_close(model(y), model._forward(y), rtol=1e-4, atol=1e-4)
        assert wait_for_gears(timeout=300)
        for batch in (2, 8):
            y = torch.randn(batch, 4)
            torch.testing.assert_close(model(y), model._forward(y), rtol=1e-4, atol=1e-4)
