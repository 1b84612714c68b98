"""frozen_parameter with cache_compile: other weights of the same shapes are used, never stale.

Weights stay inputs of the cached program (flagged in GE's ``frozenInput``,
as TorchAir), so a warm start in a new process with other weights loads the
same entry and computes with the new weights; weights changed in place
between calls are read too.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import fresh_python
import pytest

# Slow: warm starts in fresh processes.
pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    import airgraph as torchair

    class Frozen(torch.nn.Module):
        def __init__(self, seed):
            super().__init__()
            torch.manual_seed(seed)
            self.lin = torch.nn.Linear(4, 4)
            self.register_buffer("shift", torch.randn(4))
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            config.experimental_config.frozen_parameter = True
            self.cached = torchair.inference.cache_compile(
                self._forward, config=config, cache_dir=sys.argv[1]
            )

        def forward(self, x):
            return self.cached(x)

        def _forward(self, x):
            return self.lin(x) + self.shift

    model = Frozen(int(sys.argv[2]))
    x = torch.randn(3, 4)
    errors = []
    with torch.no_grad():
        errors.append(float((model(x) - model._forward(x)).abs().max()))
        model.lin.weight.mul_(2)  # in place, after the first call
        errors.append(float((model(x) - model._forward(x)).abs().max()))
    print("RESULT" + json.dumps({"status": model.cached.status, "errors": errors}))
    """
)


def _run(cache_dir, seed):
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    proc = fresh_python.run(
        [sys.executable, "-c", SCRIPT, str(cache_dir), str(seed)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        preload=fresh_python.COMPILER,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, proc.stderr[-3000:]
    return json.loads(line[len("RESULT") :])


def test_other_weights_in_a_warm_start_are_used(tmp_path):
    cold = _run(tmp_path / "cache", seed=1)
    warm = _run(tmp_path / "cache", seed=2)  # same shapes, other values
    assert cold["status"] == "compiled"
    assert warm["status"] == "hit", warm
    for run in (cold, warm):
        assert max(run["errors"]) < 1e-5, run
