"""cache_compile with gears: the cached program serves every gear (including 1),
in the cold process and in a warm one, and refuses shapes outside the gears."""

from __future__ import annotations

import json
import sys
import textwrap

import fresh_python
import pytest

# Slow: cold and warm starts in fresh processes.
pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    import airgraph as torchair

    class GearModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(4, 4)
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            self.cached = torchair.inference.cache_compile(
                self._forward, config=config, cache_dir=sys.argv[1]
            )

        def forward(self, x, y):
            return self.cached(x, y)

        def _forward(self, x, y):
            return self.lin(x) + y

    model = GearModel()
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    torchair.inference.set_dim_gears(x, dim_gears={0: [1, 2, 8]})
    torchair.inference.set_dim_gears(y, dim_gears={0: [1, 2, 8]})
    errors = []
    with torch.no_grad():
        errors.append(float((model(x, y) - model._forward(x, y)).abs().max()))
        for batch in (1, 8, 2):
            a, b = torch.randn(batch, 4), torch.randn(batch, 4)
            errors.append(float((model(a, b) - model._forward(a, b)).abs().max()))
        try:
            model(torch.randn(3, 4), torch.randn(3, 4))
            outside = "ran"
        except Exception as e:
            outside = type(e).__name__ + ": " + str(e)
    from torch._dynamo.utils import counters
    print(json.dumps({
        "status": model.cached.status,
        "errors": errors,
        "outside": outside,
        "traces": int(counters["stats"]["unique_graphs"]) if "torch._dynamo" in sys.modules else 0,
    }))
    """
)


def _run(script, cache_dir):
    out = fresh_python.run(
        [sys.executable, str(script), str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        preload=fresh_python.COMPILER,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_gears_cold_and_warm(tmp_path):
    script = tmp_path / "gear_model.py"
    script.write_text(SCRIPT)
    cold = _run(script, tmp_path / "cache")
    assert cold["status"] == "compiled"
    assert cold["traces"] == 1
    warm = _run(script, tmp_path / "cache")
    assert warm["status"] == "hit"
    assert warm["traces"] == 0
    for result in (cold, warm):
        assert max(result["errors"]) < 1e-5, result["errors"]
        assert result["outside"].startswith("OutOfGearError"), result["outside"]
        assert "(1, 4)" in result["outside"] and "(8, 4)" in result["outside"]
